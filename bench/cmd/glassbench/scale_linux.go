package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// meter measures one server process and this one (the client) over an
// interval: CPU time and, where perf counters open, system calls.
type meter struct {
	srv   *serverProc
	sperf *perfSet
	cperf *perfSet

	s0, c0 perfCounts
	serr   error
	cerr   error
	scpu0  time.Duration
	ccpu0  time.Duration
	r0     retransCounts
	rerr   error
	l0     linkCounts
	lerr   error
}

// link is the server's link counters with the kernel's.
func (m *meter) link() (linkCounts, error) {
	l, err := m.srv.link()
	if err != nil {
		return l, err
	}
	return l, kernelSegs(&l)
}

func (m *meter) start() {
	m.serr, m.cerr = nil, nil
	if m.sperf != nil {
		m.s0, m.serr = m.sperf.Read()
	}
	if m.cperf != nil {
		m.c0, m.cerr = m.cperf.Read()
	}
	m.r0, m.rerr = m.retrans()
	m.l0, m.lerr = m.link()
	m.scpu0, _ = m.srv.cpu()
	m.ccpu0 = selfCPU()
}

func (m *meter) retrans() (retransCounts, error) {
	r, err := m.srv.retrans()
	if err != nil {
		return r, err
	}
	if err = kernelRetrans(&r); err != nil {
		return r, err
	}
	rx, tx, err := linkDrops()
	r.LinkDrops, r.LinkTxDrops = rx+tx, tx
	return r, err
}

// stop adds the interval since start to server and client, and the
// retransmissions to rt.
func (m *meter) stop(c *cost) error {
	server, client := &c.Server, &c.Client
	ccpu := selfCPU()
	scpu, err := m.srv.cpu()
	if err != nil {
		return fmt.Errorf("server CPU: %w", err)
	}
	r1, err := m.retrans()
	if err = errors.Join(m.rerr, err); err != nil {
		return fmt.Errorf("retransmissions: %w", err)
	}
	c.Retrans = c.Retrans.add(r1.sub(m.r0))
	l1, err := m.link()
	if err = errors.Join(m.lerr, err); err != nil {
		return fmt.Errorf("link counters: %w", err)
	}
	c.Link = c.Link.add(l1.sub(m.l0))
	server.CPU += scpu - m.scpu0
	client.CPU += ccpu - m.ccpu0
	read := func(p *perfSet, before perfCounts, berr error, u *usage) {
		if p == nil {
			return
		}
		if berr == nil {
			var after perfCounts
			after, berr = p.Read()
			if berr == nil {
				u.Sys = addCounts(u.Sys, after.Sub(before))
				return
			}
		}
		u.SysErr = berr.Error()
	}
	read(m.sperf, m.s0, m.serr, server)
	read(m.cperf, m.c0, m.cerr, client)
	return nil
}

// countClient opens the client's system call counters for meters. Call it
// after the servers have started: the counters are inherited by every
// thread and process this one starts later, so a server started after
// them would be counted as the client too. It returns why they could not
// be opened ("" when they were) and how to close them.
func countClient(meters ...*meter) (func(), string) {
	p, err := openSysCounts(0)
	if err != nil {
		return func() {}, err.Error()
	}
	for _, m := range meters {
		if m != nil {
			m.cperf = p
		}
	}
	return func() { p.Close() }, ""
}

// scaleChild runs the scale section's measurements in the namespace.
func scaleChild(params []byte) (any, error) {
	var p scaleParams
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	if err := nsSetup(); err != nil {
		return nil, err
	}
	type target struct {
		name  string
		spec  serverSpec
		srv   *serverProc
		m     *meter
		note  string
		noteU string // why system calls are not counted
	}
	start := func(name string, spec serverSpec) *target {
		t := &target{name: name, spec: spec}
		srv, err := startServer(spec)
		if err != nil {
			t.note = err.Error()
			return t
		}
		t.srv = srv
		t.m = &meter{srv: srv}
		if t.m.sperf, err = openSysCounts(srv.pid()); err != nil {
			t.noteU = err.Error()
		}
		return t
	}
	stopAll := func(ts []*target) {
		for _, t := range ts {
			if t.m != nil && t.m.sperf != nil {
				t.m.sperf.Close()
			}
			if t.srv != nil {
				t.srv.stop()
			}
		}
	}
	var res scaleResult

	// Bulk echo.
	bulkTs := []*target{start(bulkKernel, serverSpec{Net: "kernel", App: "tcp-echo"}), start(bulkTUN, serverSpec{Net: "tun", App: "tcp-echo"}),
		start(bulkRelay, serverSpec{Net: "relay", App: "tcp-echo"})}
	closeCounts, cperfErr := countClient(bulkTs[0].m, bulkTs[1].m, bulkTs[2].m)
	rows := map[[2]int]*bulkRow{}
	for _, n := range p.ConnCounts {
		for i, t := range bulkTs {
			r := &bulkRow{Path: t.name, Conns: n, Note: t.note}
			if t.noteU != "" {
				r.Server.SysErr = t.noteU
			}
			r.Client.SysErr = cperfErr
			rows[[2]int{n, i}] = r
		}
	}
	for round := range p.Rounds {
		for _, n := range p.ConnCounts {
			for k := range bulkTs {
				i := (k + round) % len(bulkTs)
				t, r := bulkTs[i], rows[[2]int{n, i}]
				if t.srv == nil {
					continue
				}
				bytes, el, err := bulkConns(t.srv.addr, n, p.Total, t.m, &r.cost, &r.Tally, &r.reports)
				if err != nil {
					r.Note = err.Error()
					continue
				}
				r.Bytes += bytes
				r.Rates = append(r.Rates, float64(bytes)/el.Seconds())
				if r.Tally.Stalls+r.Tally.Errors > 0 && r.Note == "" && t.spec.Net != "kernel" {
					r.Note = "server stack counters after the first failure: " + t.srv.stats()
				}
			}
		}
	}
	// Every byte of the relay's rows went through it: were its server
	// reachable another way, the rows would measure that way.
	for i, t := range bulkTs {
		if t.spec.Net != "relay" || t.srv == nil {
			continue
		}
		var sent int64
		for _, n := range p.ConnCounts {
			sent += rows[[2]int{n, i}].Bytes
		}
		got, err := t.srv.relayed()
		if err == nil {
			err = relayedAll(got, sent)
		}
		if err != nil {
			for _, n := range p.ConnCounts {
				rows[[2]int{n, i}].Note = err.Error()
			}
		}
	}
	for _, n := range p.ConnCounts {
		for i := range bulkTs {
			r := rows[[2]int{n, i}]
			r.RTT = spreadOf(r.reports)
			res.Bulk = append(res.Bulk, *r)
		}
	}
	closeCounts()
	stopAll(bulkTs)

	// Connections per second.
	connTs := []*target{start(connTUN, serverSpec{Net: "tun", App: "glassnet-ws"}), start(connKernel, serverSpec{Net: "kernel", App: "glassnet-ws"}), start(connGorilla, serverSpec{Net: "kernel", App: "gorilla-ws"})}
	defer stopAll(connTs)
	closeCounts, cperfErr = countClient(connTs[0].m, connTs[1].m, connTs[2].m)
	defer closeCounts()
	crows := make([]connRow, len(connTs))
	for i, t := range connTs {
		crows[i] = connRow{Name: t.name, Note: t.note}
		if t.noteU != "" {
			crows[i].Server.SysErr = t.noteU
		}
		crows[i].Client.SysErr = cperfErr
	}
	for round := range p.Rounds {
		for k := range connTs {
			i := (k + round) % len(connTs)
			t, r := connTs[i], &crows[i]
			if t.srv == nil {
				continue
			}
			n, el, err := connRate(t.srv.addr, p.ConnDur, p.ConnWorkers, t.m, &r.cost, &r.Tally)
			if err != nil {
				r.Note = err.Error()
				continue
			}
			r.Conns += n
			r.Rates = append(r.Rates, float64(n)/el.Seconds())
		}
	}
	res.Connect = crows
	return res, nil
}

// bulkConns opens n connections to the echo server at addr, then sends
// total/n bytes on each at once and reads them back. It returns the bytes
// echoed (on every connection, stalled or not) and the time from the
// start until the last connection ended; what that time cost goes to cs,
// every connection's transfer to tl, and what each client socket reported
// of its TCP at the end (TCP_INFO) to infos.
func bulkConns(addr string, n int, total int64, m *meter, cs *cost, tl *tally, infos *[]senderInfo) (int64, time.Duration, error) {
	share := total / int64(n)
	ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
	defer cancel()
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	reports := make([]senderInfo, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var d net.Dialer
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = d.DialContext(ctx, "tcp", addr)
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	src := make([]byte, 64<<10) // only read from: shared by the writers
	var got atomic.Int64
	m.start()
	start := time.Now()
	deadline := start.Add(bulkTimeout)
	var last atomic.Int64 // end of the last transfer, ns since start
	for i, c := range conns {
		if c == nil {
			continue
		}
		c.SetDeadline(deadline)
		wg.Go(func() {
			werr := make(chan error, 1)
			go func() {
				var err error
				for left := share; left > 0 && err == nil; {
					k, werr := c.Write(src[:min(left, int64(len(src)))])
					left -= int64(k)
					err = werr
				}
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			buf := make([]byte, 64<<10)
			k, err := io.CopyBuffer(io.Discard, io.LimitReader(struct{ io.Reader }{c}, share), buf)
			got.Add(k)
			reports[i] = senderTCPInfo(c)
			if err == nil && k != share {
				err = fmt.Errorf("echo: got %d of %d bytes", k, share)
			}
			if err != nil {
				c.Close() // ends the writer too
			}
			errs[i] = errors.Join(err, <-werr)
			for el := int64(time.Since(start)); ; {
				l := last.Load()
				if el <= l || last.CompareAndSwap(l, el) {
					break
				}
			}
		})
	}
	wg.Wait()
	if err := m.stop(cs); err != nil {
		return 0, 0, err
	}
	for _, err := range errs {
		tl.add(err)
	}
	*infos = append(*infos, reports...)
	el := time.Duration(last.Load())
	if el <= 0 {
		el = time.Since(start)
	}
	return got.Load(), el, nil
}

// connRate opens WebSocket connections to addr for dur, workers at a time,
// each closed as soon as the server's 101 is in; it returns how many it
// completed and the time taken, and counts every attempt in tl.
func connRate(addr string, dur time.Duration, workers int, m *meter, cs *cost, tl *tally) (int64, time.Duration, error) {
	var (
		n  atomic.Int64
		wg sync.WaitGroup
		d  net.Dialer
	)
	tls := make([]tally, workers)
	m.start()
	start := time.Now()
	deadline := start.Add(dur)
	for i := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
				c, err := dialUpgrade(ctx, &d, addr)
				cancel()
				if err == nil {
					err = c.Close()
				}
				if err == nil {
					n.Add(1)
				}
				tls[i].add(err)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err := m.stop(cs); err != nil {
		return 0, 0, err
	}
	for _, t := range tls {
		mergeTally(tl, t)
	}
	return n.Load(), el, nil
}

// mergeTally adds src's counts to dst; dst keeps its first failure if it
// has one.
func mergeTally(dst *tally, src tally) {
	dst.Transfers += src.Transfers
	dst.Stalls += src.Stalls
	dst.Errors += src.Errors
	if dst.First == "" {
		dst.First = src.First
	}
}
