package sockets

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTraceAcceptQueue(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := newSockets(t, Options{Tracer: trace.New(rec), Node: "server"})
	ctx := testContext(t)
	lfd, addr := listenFD(t, s, AF_INET, 4)
	defer s.Close(lfd)

	// Two connections complete their handshakes before anyone accepts.
	for range 2 {
		c := mustSocket(t, s, AF_INET, SOCK_STREAM)
		defer s.Close(c)
		must(t, s.Connect(ctx, c, addr))
	}
	waitFor(t, "two accept-queue events", func() bool { return len(rec.find("accept-queue", lfd)) == 2 })
	for i, e := range rec.find("accept-queue", lfd) {
		want := int64(i + 1)
		if field(e, "depth") != want || e.Dir != trace.In || e.Layer != trace.LayerSocket || e.Node != "server" {
			t.Errorf("accept-queue %d = %+v, want depth %d", i, e, want)
		}
		if e.Conn != addr.String() {
			t.Errorf("accept-queue conn = %q, want the listener's %v", e.Conn, addr)
		}
	}
	if want := "connection ready in the accept queue, depth 2"; rec.find("accept-queue", lfd)[1].Summary != want {
		t.Errorf("summary = %q, want %q", rec.find("accept-queue", lfd)[1].Summary, want)
	}

	for i, left := range []int64{1, 0} {
		fd, _, err := s.Accept(ctx, lfd)
		must(t, err)
		defer s.Close(fd)
		acc := rec.find("accept", lfd)
		if len(acc) != i+1 || field(acc[i], "depth") != left || field(acc[i], "waited") != false {
			t.Fatalf("accept events = %+v, want depth %d left", acc, left)
		}
	}
	// The listener's wake-ups were reported as queue events, not as
	// plain wakes.
	if w := rec.find("wake", lfd); len(w) != 0 {
		t.Errorf("listener wake events = %+v", w)
	}
}

func TestTraceWake(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := newSockets(t, Options{Tracer: trace.New(rec)})
	ctx := testContext(t)
	c, srv := connectedPair(t, s, AF_INET)
	defer s.Close(c)

	// Nobody is asleep on srv: the wake-up is reported all the same.
	if _, err := s.Send(ctx, c, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a wake on the receiver", func() bool { return len(rec.find("wake", srv)) > 0 })
	e := rec.find("wake", srv)[0]
	if field(e, "events") != "EventIn" || e.Dir != trace.In || e.Summary != "wait queue notified: EventIn" {
		t.Errorf("wake = %+v, want EventIn", e)
	}
	cl, _ := s.GetSockName(c)
	if !strings.HasSuffix(e.Conn, "->"+cl.String()) {
		t.Errorf("wake conn = %q, want ...->%v", e.Conn, cl)
	}
	// ACKs that free half of a full send buffer wake its writers:
	// EventOut on the sender. (The handshake has already made the
	// sender writable, and a few bytes acknowledged wake no one: fill
	// the buffer first, on a connection of its own.)
	c2, srv2 := connectedPair(t, s, AF_INET)
	defer s.Close(c2)
	defer s.Close(srv2)
	must(t, s.SetNonblock(c2, true))
	must(t, s.SetSockOpt(c2, SOL_SOCKET, SO_SNDBUF, 64<<10))
	// The count is taken before each send: once a send has found the
	// buffer full, any later EventOut is the one this test waits for,
	// even one that the ACKs of data already in flight bring before the
	// reader drains anything (the receive window may hold it all).
	chunk := make([]byte, 16<<10)
	var full int
	for {
		full = outWakes(rec, c2)
		_, err := s.Send(ctx, c2, chunk, 0)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		must(t, err)
	}
	buf := make([]byte, 64<<10)
	waitFor(t, "an EventOut wake on the sender as the reader drains it", func() bool {
		s.Recv(ctx, srv2, buf, MSG_DONTWAIT)
		return outWakes(rec, c2) > full
	})
	// The peer's FIN makes the socket readable (end of stream): another
	// EventIn.
	must(t, s.Shutdown(c, SHUT_WR))
	waitFor(t, "a second EventIn wake on the receiver", func() bool { return len(rec.find("wake", srv)) >= 2 })
	// Close takes the watcher off the queue.
	so, err := s.lookup(srv)
	must(t, err)
	must(t, s.Close(srv))
	if ev := so.wq.Events(); ev != 0 {
		t.Errorf("wait queue events after Close = %#x, want none", ev)
	}
}

// TestNoWaiterEntriesUntraced checks that a socket table without a Tracer
// leaves netstack's wait queues empty when no call is blocked, so that
// notifications cost what they cost without glassnet; and that tracing
// adds exactly one entry per socket.
func TestNoWaiterEntriesUntraced(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tracer *trace.Tracer
		want   bool
	}{
		{"untraced", nil, false},
		{"traced", trace.New(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSockets(t, Options{Tracer: tc.tracer})
			ctx := testContext(t)
			lfd, addr := listenFD(t, s, AF_INET, 4)
			defer s.Close(lfd)
			c := mustSocket(t, s, AF_INET, SOCK_STREAM)
			defer s.Close(c)
			must(t, s.Connect(ctx, c, addr))
			srv, _, err := s.Accept(ctx, lfd)
			must(t, err)
			defer s.Close(srv)
			for _, fd := range []int{lfd, c, srv} {
				so, err := s.lookup(fd)
				must(t, err)
				got := so.wq.Events()
				if (got != 0) != tc.want || (tc.want && got != watchMask) {
					t.Errorf("fd %d: wait queue events = %#x", fd, got)
				}
			}
		})
	}
}

// BenchmarkSendRecvSmallTraced is BenchmarkSendRecvSmall with a tracer
// that discards: the cost of building the events, wakes included.
func BenchmarkSendRecvSmallTraced(b *testing.B) {
	s := newSockets(b, Options{Tracer: trace.New(trace.SinkFunc(func(*trace.Event) {}))})
	c, srv := connectedPair(b, s, AF_INET)
	defer s.Close(c)
	defer s.Close(srv)
	ctx := context.Background()
	msg := []byte("0123456789")
	buf := make([]byte, 64)
	b.ReportAllocs()
	for range b.N {
		if _, err := s.Send(ctx, c, msg, 0); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < len(msg); {
			m, err := s.Recv(ctx, srv, buf, 0)
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
	}
}

// outWakes counts the wake events on fd that report EventOut.
func outWakes(rec *recorder, fd int) int {
	n := 0
	for _, e := range rec.find("wake", fd) {
		if strings.Contains(field(e, "events").(string), "EventOut") {
			n++
		}
	}
	return n
}
