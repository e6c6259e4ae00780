package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestWSProcCost runs glassnet's echo server in a process of its own, as
// the ws section does, and checks what is counted there: CPU time, and, with
// perf events, about one write system call per echoed 64-byte message (the
// server writes each echo once; the client's writes are in this process and
// not counted).
func TestWSProcCost(t *testing.T) {
	var k serverKind
	for _, sk := range serverKinds {
		if sk.name == "glassnet" {
			k = sk
		}
	}
	tg, err := startWSChild(k)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	if tg.proc == nil {
		t.Fatal("glassnet's kernel-socket server runs in this process")
	}
	// This process makes many system calls of its own meanwhile, which
	// must not be counted as the server's.
	stop := make(chan struct{})
	noise := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				noise <- n
				return
			default:
			}
			syscall.Getpid()
			n++
		}
	}()
	const dur = 200 * time.Millisecond
	res, err := wsEcho(tg, 64, 2, dur, "")
	close(stop)
	own := <-noise
	if err != nil {
		t.Fatal(err)
	}
	if res.costErr != nil {
		t.Fatal(res.costErr)
	}
	if res.cost.CPU <= 0 {
		t.Errorf("CPU per message %v ns", res.cost.CPU)
	}
	if tg.proc.perf == nil {
		if os.Geteuid() == 0 || os.Getenv("GLASSNET_REQUIRE_PRIVILEGED") == "1" {
			t.Fatalf("no perf counters: %v", tg.proc.perfErr)
		}
		t.Skipf("no system call counts: %v", tg.proc.perfErr)
	}
	c := res.cost
	if c.Writes < 0.99 || c.Writes > 1.1 {
		t.Errorf("%.3f writes per echoed message in the server's process, want about 1", c.Writes)
	}
	if c.Syscalls < c.Reads+c.Writes || c.Reads < 0.99 {
		t.Errorf("per message: %.3f system calls, %.3f reads, %.3f writes", c.Syscalls, c.Reads, c.Writes)
	}
	// An echo costs the server a few system calls; this process made
	// own/msgs more per message.
	msgs := res.rate * dur.Seconds()
	if c.Syscalls > 10 {
		t.Errorf("%.1f system calls per message counted for the server; this process made %.1f per message", c.Syscalls, float64(own)/msgs)
	}
	t.Logf("per message: %+v; this process's own getpid calls: %.1f", c, float64(own)/msgs)
}

// TestWSProcGC counts the collections of a server process that makes
// garbage (gorilla allocates about ten times per 4 KiB echo), and that
// -ws-gc off's environment stops them.
func TestWSProcGC(t *testing.T) {
	var k serverKind
	for _, sk := range serverKinds {
		if sk.name == "gorilla" {
			k = sk
		}
	}
	for _, tc := range []struct {
		env []string
		gc  bool
	}{
		{nil, true},
		{[]string{"GOGC=off", "GOMEMLIMIT=" + wsGCLimit}, false},
	} {
		tg, err := startWSChild(k, tc.env...)
		if err != nil {
			t.Fatal(err)
		}
		res, err := wsEcho(tg, 4<<10, 2, 300*time.Millisecond, "")
		tg.close()
		if err != nil {
			t.Fatal(err)
		}
		if res.costErr != nil {
			t.Fatal(res.costErr)
		}
		msgs := res.rate * 0.3
		if got := res.cost.GCRate > 0; got != tc.gc {
			t.Errorf("env %q: %.1f collections a second over %.0f messages", tc.env, res.cost.GCRate, msgs)
		}
	}
}

// TestWSEchoTurns measures two server processes in turns: each takes every
// turn, the two share the same stretch of time (the spans from each one's
// first turn to its last overlap, which measuring one after the other
// would not), and each one's cost is its own, about one write per echo.
func TestWSEchoTurns(t *testing.T) {
	var ts []*wsTarget
	for _, sk := range serverKinds {
		if sk.name != "glassnet" && sk.name != "gorilla" {
			continue
		}
		tg, err := startWSChild(sk)
		if err != nil {
			t.Fatal(err)
		}
		defer tg.close()
		ts = append(ts, tg)
	}
	const turns = 4
	res, errs := wsEchoTurns(ts, 64, 2, 200*time.Millisecond, turns, 1, func(*wsTarget) string { return "" })
	for i, r := range res {
		if errs[i] != nil {
			t.Fatalf("%s: %v", ts[i].name, errs[i])
		}
		if r.costErr != nil {
			t.Fatalf("%s: %v", ts[i].name, r.costErr)
		}
		if r.turns != turns || r.rate <= 0 {
			t.Errorf("%s: %d turns, %.0f messages a second; want %d turns", ts[i].name, r.turns, r.rate, turns)
		}
		if ts[i].proc.perf != nil && (r.cost.Writes < 0.99 || r.cost.Writes > 1.1) {
			t.Errorf("%s: %.3f writes per echoed message in its process, want about 1", ts[i].name, r.cost.Writes)
		}
	}
	a, b := res[0], res[1]
	if !a.begun.Before(b.done) || !b.begun.Before(a.done) {
		t.Errorf("the two were measured one after the other: %v to %v, then %v to %v", a.begun, a.done, b.begun, b.done)
	}
}
