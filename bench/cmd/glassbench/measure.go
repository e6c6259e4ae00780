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
}

// wsEcho runs conns clients, each echoing size-byte messages back to back
// for dur. When t's server runs in a process of its own, its cost is
// measured from the first message to the last (not the handshakes), and
// with prof set a CPU profile of it is written there.
func wsEcho(t *wsTarget, size, conns int, dur time.Duration, prof string) (res echoResult, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := make([]*rawClient, conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clients {
		if clients[i], err = dialRaw(ctx, t, size); err != nil {
			return res, fmt.Errorf("dial: %w", err)
		}
	}
	var m *costMeter
	if t.proc != nil {
		m = &costMeter{p: t.proc, prof: prof}
		m.begin()
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lats []time.Duration
		errs []error
	)
	start := time.Now()
	deadline := start.Add(dur)
	// An echo that does not come back fails the measurement as a stall
	// (os.ErrDeadlineExceeded) instead of holding up the run.
	for _, c := range clients {
		c.nc.SetDeadline(deadline.Add(bulkTimeout))
	}
	for _, c := range clients {
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
			lats = append(lats, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	if m != nil {
		res.cost, res.costErr = m.end(len(lats))
	}
	if len(errs) > 0 {
		return res, errs[0]
	}
	if len(lats) == 0 {
		return res, fmt.Errorf("no message completed in %v", dur)
	}
	slices.Sort(lats)
	res.rate, res.p50, res.p99 = float64(len(lats))/el.Seconds(), lats[len(lats)/2], lats[len(lats)*99/100]
	return res, nil
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
