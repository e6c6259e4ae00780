package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// manyChild runs in the namespace: it creates the veth pair, starts one
// server process per row, opens p.Conns connections to each, and echoes
// on every row in turn, round by round.
func manyChild(params []byte) (any, error) {
	var p manyParams
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	if err := nsSetup(); err != nil {
		return nil, err
	}
	// Without the veth pair the AF_PACKET row says why and the others run.
	vethErr := addVeth()
	type target struct {
		row manyRow
		srv *serverProc
		cl  *echoClient
		m   *meter
	}
	var ts []*target
	defer func() {
		for _, t := range ts {
			if t.cl != nil {
				t.cl.close()
			}
			if t.m != nil && t.m.sperf != nil {
				t.m.sperf.Close()
			}
			if t.srv != nil {
				t.srv.stop()
			}
		}
	}()
	var ms []*meter
	for _, r := range manyRows {
		t := &target{row: manyRow{Name: r.name}}
		ts = append(ts, t)
		if r.spec.Net == "packet" && vethErr != nil {
			t.row.Note = "veth pair: " + vethErr.Error()
			continue
		}
		srv, err := startServer(r.spec)
		if err != nil {
			t.row.Note = err.Error()
			continue
		}
		t.srv = srv
		t.m = &meter{srv: srv}
		ms = append(ms, t.m)
		if t.m.sperf, err = openSysCounts(srv.pid()); err != nil {
			t.row.Server.SysErr = err.Error()
		}
	}
	closeCounts, cperfErr := countClient(ms...)
	defer closeCounts()
	for _, t := range ts {
		t.row.Client.SysErr = cperfErr
		if t.srv == nil {
			continue
		}
		var err error
		t.cl, err = dialEchoClient(t.srv.addr, p.Conns, p.Size, p.Workers)
		if err != nil {
			t.row.Note = err.Error()
			continue
		}
		t.row.Conns = t.cl.live()
		t.row.Failed += p.Conns - t.row.Conns
		if t.cl.firstErr != "" {
			t.row.FirstErr = "dial: " + t.cl.firstErr
		}
	}
	for round := range p.Rounds {
		for k := range ts {
			// The first row of each round moves on by one, so that no
			// row always runs right after the same other.
			t := ts[(k+round)%len(ts)]
			if t.cl == nil || t.cl.live() == 0 {
				continue
			}
			t.m.start()
			res := t.cl.round(p.Dur, p.Drain)
			if err := t.m.stop(&t.row.cost); err != nil {
				t.row.Note = err.Error()
			}
			t.row.addRound(res)
			if res.stalled+res.failed > 0 && t.row.StackStats == "" {
				t.row.StackStats = t.srv.stats()
			}
		}
	}
	rows := make([]manyRow, len(ts))
	for i, t := range ts {
		if manyRows[i].spec.Net == "relay" && t.srv != nil && t.row.Msgs > 0 {
			// Every message went through the relay: were its server
			// reachable another way, the row would measure that way.
			n, err := t.srv.relayed()
			if err == nil {
				err = relayedAll(n, t.row.Msgs*int64(p.Size))
			}
			if err != nil {
				t.row.Note = err.Error()
			}
		}
		rows[i] = t.row
	}
	return rows, nil
}

// echoRound is what one round on one row did.
type echoRound struct {
	msgs            int64
	elapsed         time.Duration
	p50, p99        time.Duration
	stalled, failed int
	firstErr        string
}

func (r *manyRow) addRound(res echoRound) {
	r.Msgs += res.msgs
	r.Wall += res.elapsed
	r.Stalled += res.stalled
	r.Failed += res.failed
	if res.firstErr != "" && r.FirstErr == "" {
		r.FirstErr = res.firstErr
	}
	if res.msgs > 0 {
		r.Rates = append(r.Rates, float64(res.msgs)/res.elapsed.Seconds())
		r.P50s = append(r.P50s, res.p50)
		r.P99s = append(r.P99s, res.p99)
	} else {
		r.Rates = append(r.Rates, 0)
	}
}

// echoClient is the client of the many section: nonblocking sockets
// spread over a few worker threads, each waiting on its own epoll set.
// Every connection has one message in flight: it sends the frame, and when
// the whole echo is back it sends the next one at once. Per message that
// is one write(2) and one read(2), plus an epoll_wait(2) shared by the
// connections that became readable together.
type echoClient struct {
	frame, reply []byte
	workers      []*echoWorker
	firstErr     string // the first connection that failed to open
}

type echoWorker struct {
	epfd   int
	conns  []*echoConn
	events []unix.EpollEvent
	lats   []time.Duration
}

type echoConn struct {
	fd   int
	dead bool
	got  int
	buf  []byte
	t0   time.Time
}

// dialEchoClient opens n WebSocket connections to addr, 64 at a time, and
// spreads them over workers epoll sets. A connection that fails to open
// is left out (live counts the others) and the first failure kept.
func dialEchoClient(addr string, n, size, workers int) (*echoClient, error) {
	cl := &echoClient{frame: encodeFrame(size), reply: echoReply(messagePayload(size))}
	if cl.reply == nil {
		return nil, fmt.Errorf("message size %d is too large for the many client", size)
	}
	for range max(workers, 1) {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			cl.close()
			return nil, err
		}
		cl.workers = append(cl.workers, &echoWorker{epfd: epfd, events: make([]unix.EpollEvent, 256)})
	}
	fds := make([]int, n)
	errs := make([]error, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var d net.Dialer
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fds[i], errs[i] = dialRawFD(ctx, &d, addr)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			if cl.firstErr == "" {
				cl.firstErr = errs[i].Error()
			}
			continue
		}
		w := cl.workers[i%len(cl.workers)]
		c := &echoConn{fd: fds[i], buf: make([]byte, len(cl.reply)+64)}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(len(w.conns))}
		if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			unix.Close(c.fd)
			cl.close()
			return nil, err
		}
		w.conns = append(w.conns, c)
	}
	return cl, nil
}

// dialRawFD opens a WebSocket connection and returns its socket as a
// nonblocking descriptor of its own, out of the Go runtime's poller.
func dialRawFD(ctx context.Context, d *net.Dialer, addr string) (int, error) {
	c, err := dialUpgrade(ctx, d, addr)
	if err != nil {
		return -1, err
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// live counts the connections still open.
func (cl *echoClient) live() int {
	n := 0
	for _, w := range cl.workers {
		for _, c := range w.conns {
			if !c.dead {
				n++
			}
		}
	}
	return n
}

func (cl *echoClient) close() {
	for _, w := range cl.workers {
		for _, c := range w.conns {
			if !c.dead {
				unix.Close(c.fd)
				c.dead = true
			}
		}
		unix.Close(w.epfd)
	}
}

// round echoes on every live connection for dur: each sends its next
// message as soon as the last one's echo is back, and none after dur.
// Messages still in flight drain for up to drain; those that do not
// arrive count as stalled and their connections are closed (the next
// rounds run without them).
func (cl *echoClient) round(dur, drain time.Duration) echoRound {
	start := time.Now()
	deadline := start.Add(dur)
	res := make([]echoRound, len(cl.workers))
	var wg sync.WaitGroup
	for i, w := range cl.workers {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			res[i] = w.round(cl.frame, cl.reply, deadline, drain)
		})
	}
	wg.Wait()
	// The workers started together: the round lasted as long as the
	// slowest one.
	var r echoRound
	for _, x := range res {
		r.msgs += x.msgs
		r.stalled += x.stalled
		r.failed += x.failed
		r.elapsed = max(r.elapsed, x.elapsed)
		if r.firstErr == "" {
			r.firstErr = x.firstErr
		}
	}
	var lats []time.Duration
	for _, w := range cl.workers {
		lats = append(lats, w.lats...)
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		r.p50, r.p99 = lats[len(lats)/2], lats[len(lats)*99/100]
	}
	return r
}

func (w *echoWorker) kill(c *echoConn) {
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	c.dead = true
}

func (w *echoWorker) round(frame, reply []byte, deadline time.Time, drain time.Duration) echoRound {
	var r echoRound
	start := time.Now()
	w.lats = w.lats[:0]
	fail := func(c *echoConn, err error) {
		r.failed++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		w.kill(c)
	}
	inFlight := 0
	send := func(c *echoConn, now time.Time) bool {
		c.got, c.t0 = 0, now
		n, err := unix.Write(c.fd, frame)
		if err == nil && n != len(frame) {
			err = fmt.Errorf("short write: %d of %d bytes", n, len(frame))
		}
		if err != nil {
			fail(c, fmt.Errorf("write: %w", err))
			return false
		}
		return true
	}
	for _, c := range w.conns {
		if !c.dead && send(c, time.Now()) {
			inFlight++
		}
	}
	giveUp := deadline.Add(drain)
	for inFlight > 0 {
		if time.Now().After(giveUp) {
			break
		}
		n, err := unix.EpollWait(w.epfd, w.events, 10)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			r.firstErr = "epoll_wait: " + err.Error()
			break
		}
		now := time.Now()
		for _, ev := range w.events[:n] {
			c := w.conns[ev.Fd]
			if c.dead {
				continue
			}
			m, err := unix.Read(c.fd, c.buf[c.got:])
			if err == unix.EAGAIN {
				continue
			}
			if err == nil && m == 0 {
				err = errors.New("connection closed by the server")
			}
			if err != nil {
				fail(c, fmt.Errorf("read: %w", err))
				inFlight--
				continue
			}
			c.got += m
			if c.got < len(reply) {
				continue
			}
			if c.got > len(reply) || !bytes.Equal(c.buf[:c.got], reply) {
				fail(c, fmt.Errorf("echo differs from the message: got % x", c.buf[:min(c.got, 16)]))
				inFlight--
				continue
			}
			r.msgs++
			w.lats = append(w.lats, now.Sub(c.t0))
			if !now.Before(deadline) || !send(c, now) {
				inFlight--
			}
		}
	}
	r.elapsed = time.Since(start)
	if inFlight > 0 {
		for _, c := range w.conns {
			if !c.dead && c.got < len(reply) && !c.t0.IsZero() {
				// Still waiting for its echo.
				r.stalled++
				w.kill(c)
			}
		}
		if r.firstErr == "" {
			r.firstErr = fmt.Sprintf("%d echoes not back %v after the round", r.stalled, drain)
		}
	}
	for _, c := range w.conns {
		c.t0 = time.Time{}
	}
	return r
}
