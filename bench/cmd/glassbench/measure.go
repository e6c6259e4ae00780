package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// echoResult is one wsEcho measurement: messages per second, the p50 and
// p99 round trip, and, for a server in a process of its own, what that
// process spent per message (costErr says why not, when it could not be
// measured).
type echoResult struct {
	rate     float64
	p50, p99 time.Duration
	cost     wsCost
	costErr  error
	// turns is how many turns it took (wsEchoTurns), begun and ended
	// when the first began and the last ended.
	turns       int
	begun, done time.Time
}

// wsEcho runs conns clients, each echoing size-byte messages back to back
// for dur. When t's server runs in a process of its own, its cost is
// measured from the first message to the last (not the handshakes), and
// with prof set a CPU profile of it is written there.
func wsEcho(t *wsTarget, size, conns int, dur time.Duration, prof string) (echoResult, error) {
	res, errs := wsEchoTurns([]*wsTarget{t}, size, conns, dur, 1, 0, func(*wsTarget) string { return prof })
	return res[0], errs[0]
}

// wsEchoTurns measures the targets ts in turns: each gets conns clients,
// all connected first; then the targets echo one after another, each for
// dur/turns at a time, until each has echoed for dur in all. Turn k
// starts with target (k+first) % len(ts), so that none always follows
// the same one. A target's rate, round trips and cost are over its own
// turns alone. Taking turns a fraction of a second long gives every target
// the same share of what the machine does meanwhile (other work, CPUs
// that halt or do not between messages, which changes from one fraction
// of a second to the next on a virtual machine), where measuring each
// target for the whole of dur in a row gives each a different stretch of
// it. A target whose echo fails leaves the turns; its error is in errs.
// prof names the file of a target's CPU profile, or "".
func wsEchoTurns(ts []*wsTarget, size, conns int, dur time.Duration, turns, first int, prof func(*wsTarget) string) ([]echoResult, []error) {
	res := make([]echoResult, len(ts))
	errs := make([]error, len(ts))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runs := make([]*echoRun, len(ts))
	defer func() {
		for _, r := range runs {
			if r != nil {
				r.close()
			}
		}
	}()
	for i, t := range ts {
		r := &echoRun{clients: make([]*rawClient, conns)}
		runs[i] = r
		for j := range r.clients {
			c, err := dialRaw(ctx, t, size)
			if err != nil {
				r.err = fmt.Errorf("dial: %w", err)
				break
			}
			r.clients[j] = c
		}
		if r.err == nil && t.proc != nil {
			r.m = &costMeter{p: t.proc, prof: prof(t)}
		}
	}
	turn := dur / time.Duration(turns)
	for k := range turns {
		for j := range ts {
			if r := runs[(j+k+first)%len(ts)]; r.err == nil {
				r.run(turn)
			}
		}
	}
	for i, r := range runs {
		res[i], errs[i] = r.result()
	}
	return res, errs
}

// echoRun is one target's clients in wsEchoTurns and what they measured.
type echoRun struct {
	clients []*rawClient
	m       *costMeter // nil when the server is not in a process of its own
	lats    []time.Duration
	el      time.Duration
	turns   int
	begun   time.Time
	done    time.Time
	err     error
}

// run echoes on every client for dur, adding to what r has measured.
func (r *echoRun) run(dur time.Duration) {
	if r.m != nil {
		r.m.begin()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := time.Now()
	if r.turns == 0 {
		r.begun = start
	}
	r.turns++
	deadline := start.Add(dur)
	// An echo that does not come back fails the measurement as a stall
	// (os.ErrDeadlineExceeded) instead of holding up the run.
	for _, c := range r.clients {
		c.nc.SetDeadline(deadline.Add(bulkTimeout))
	}
	for _, c := range r.clients {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			for {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				if err := c.echo(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			r.lats = append(r.lats, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r.done = time.Now()
	r.el += r.done.Sub(start)
	if r.m != nil {
		r.m.pause()
	}
	if len(errs) > 0 {
		r.err = errs[0]
	}
}

// result is what r measured over all its turns.
func (r *echoRun) result() (res echoResult, err error) {
	res.turns, res.begun, res.done = r.turns, r.begun, r.done
	if r.m != nil {
		res.cost, res.costErr = r.m.end(len(r.lats))
	}
	if r.err != nil {
		return res, r.err
	}
	if len(r.lats) == 0 {
		return res, fmt.Errorf("no message completed in %v", r.el)
	}
	slices.Sort(r.lats)
	res.rate, res.p50, res.p99 = float64(len(r.lats))/r.el.Seconds(), r.lats[len(r.lats)/2], r.lats[len(r.lats)*99/100]
	return res, nil
}

func (r *echoRun) close() {
	for _, c := range r.clients {
		if c != nil {
			c.Close()
		}
	}
}

// wsAllocs echoes count messages on one connection and returns the heap
// allocations and bytes allocated per message in the whole process; the
// client allocates nothing per message on kernel loopback, so that is the
// server's cost. On the userspace stack it includes the client's stack and
// socket too.
func wsAllocs(t *wsTarget, size, count int) (allocs, bytes float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dialRaw(ctx, t, size)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	for range 20 {
		if err := c.echo(); err != nil {
			return 0, 0, err
		}
	}
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	for range count {
		if err := c.echo(); err != nil {
			return 0, 0, err
		}
	}
	runtime.ReadMemStats(&b)
	n := float64(count)
	return float64(b.Mallocs-a.Mallocs) / n, float64(b.TotalAlloc-a.TotalAlloc) / n, nil
}

// inUse is heap in use plus goroutine stacks after a full collection.
func inUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// idleMem opens n WebSocket connections to a fresh server of kind k (with
// its idle handler, if it has one), echoes one message on each so that
// every server connection is back to waiting for the next,
// and returns the server's memory (heap in use plus stacks) and goroutines
// per idle connection. On the userspace stack the client stack is silenced
// and closed before the measurement, so only the server's side remains; on
// kernel loopback the client's *net.TCPConn (a few hundred bytes) is in the
// number for every server alike.
func idleMem(k serverKind, n int) (perConn, goroutines float64, err error) {
	if k.idle != nil {
		k.handler = k.idle
	}
	t, err := startWS(k)
	if err != nil {
		return 0, 0, err
	}
	defer t.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	warm, err := dialRaw(ctx, t, 64)
	if err != nil {
		return 0, 0, err
	}
	if err := warm.echo(); err != nil {
		return 0, 0, err
	}
	warm.Close()
	time.Sleep(100 * time.Millisecond)
	base := inUse()
	g0 := runtime.NumGoroutine()
	clients := make([]*rawClient, n)
	sem := make(chan struct{}, 64)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	for i := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialRaw(ctx, t, 64)
			if err == nil {
				err = c.echo()
			}
			if err != nil {
				mu.Lock()
				ferr = err
				mu.Unlock()
				return
			}
			c.buf, c.frame = nil, nil
			clients[i] = c
		})
	}
	wg.Wait()
	if ferr != nil {
		return 0, 0, ferr
	}
	if t.pair != nil {
		t.pair.dropClient()
		clients = nil
	}
	time.Sleep(200 * time.Millisecond)
	after := inUse()
	g1 := runtime.NumGoroutine()
	runtime.KeepAlive(clients)
	for _, c := range clients {
		c.Close()
	}
	return (float64(after) - float64(base)) / float64(n), float64(g1-g0) / float64(n), nil
}
