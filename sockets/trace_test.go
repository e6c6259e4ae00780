package sockets

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// recorder keeps copies of the events a Tracer emits.
type recorder struct {
	mu     sync.Mutex
	events []trace.Event
}

func (r *recorder) Emit(e *trace.Event) {
	r.mu.Lock()
	ev := *e
	ev.Fields = append([]trace.Field(nil), e.Fields...)
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// find returns the events with the given name whose field fd equals fd.
func (r *recorder) find(name string, fd int) []trace.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []trace.Event
	for _, e := range r.events {
		if e.Name == name && field(e, "fd") == fd {
			out = append(out, e)
		}
	}
	return out
}

// all returns a copy of the events recorded so far.
func (r *recorder) all() []trace.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]trace.Event(nil), r.events...)
}

func field(e trace.Event, key string) any {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

func TestTraceReceivePath(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := newSockets(t, Options{Tracer: trace.New(rec), Node: "server"})
	ctx := testContext(t)
	c, srv := connectedPair(t, s, AF_INET)
	defer s.Close(c)

	got := make(chan int, 2)
	go func() {
		buf := make([]byte, 64)
		for range 2 {
			n, err := s.Recv(ctx, srv, buf, 0)
			if err != nil {
				t.Error(err)
			}
			got <- n
		}
	}()
	// Let the reader go to sleep before anything arrives.
	for len(rec.find("would-block", srv)) == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Send(ctx, c, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	<-got
	if _, err := s.Send(ctx, c, []byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	<-got
	must(t, s.Close(srv))

	woken := rec.find("woken", srv)
	if len(woken) == 0 || !strings.Contains(woken[0].Summary, "EventIn") || woken[0].Dir != trace.In || woken[0].Layer != trace.LayerSocket {
		t.Fatalf("woken events = %+v, want one naming EventIn", woken)
	}
	recvs := rec.find("recv", srv)
	if len(recvs) != 2 {
		t.Fatalf("recv events = %+v, want 2", recvs)
	}
	for i, want := range []struct {
		n      int
		offset uint64
	}{{5, 0}, {3, 5}} {
		e := recvs[i]
		if field(e, "n") != want.n || field(e, "offset") != want.offset || e.Node != "server" {
			t.Errorf("recv %d = %+v, want n=%d offset=%d", i, e, want.n, want.offset)
		}
	}
	if want := "copied 3 bytes at offset 5"; recvs[1].Summary != want {
		t.Errorf("summary = %q, want %q", recvs[1].Summary, want)
	}
	cl, _ := s.GetSockName(c)
	if !strings.HasSuffix(recvs[0].Conn, "->"+cl.String()) {
		t.Errorf("conn = %q, want local->%v", recvs[0].Conn, cl)
	}
	sends := rec.find("send", c)
	if len(sends) != 2 || field(sends[1], "offset") != uint64(5) || sends[1].Dir != trace.Out {
		t.Errorf("send events = %+v", sends)
	}
	// Every connect event names the connection, the one in progress too
	// (the endpoint has no peer address before it is connected).
	for _, e := range rec.find("connect", c) {
		if want := cl.String() + "->"; !strings.HasPrefix(e.Conn, want) || strings.HasSuffix(e.Conn, "->") {
			t.Errorf("connect event %q names %q, want %s and the peer", e.Summary, e.Conn, want)
		}
	}
	for _, name := range []string{"accept", "connect", "close"} {
		found := false
		for _, e := range rec.all() {
			found = found || e.Name == name
		}
		if !found {
			t.Errorf("no %q event", name)
		}
	}
}

func TestTraceAcceptWakeUp(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s := newSockets(t, Options{Tracer: trace.New(rec)})
	ctx := testContext(t)
	lfd, addr := listenFD(t, s, AF_INET, 4)
	defer s.Close(lfd)
	accepted := make(chan int, 1)
	go func() {
		fd, _, err := s.Accept(ctx, lfd)
		if err != nil {
			t.Error(err)
		}
		accepted <- fd
	}()
	for len(rec.find("would-block", lfd)) == 0 {
		time.Sleep(time.Millisecond)
	}
	c := mustSocket(t, s, AF_INET, SOCK_STREAM)
	defer s.Close(c)
	must(t, s.Connect(ctx, c, addr))
	defer s.Close(<-accepted)

	wb := rec.find("would-block", lfd)[0]
	if wb.Summary != "accept: accept queue empty, going to sleep" || wb.Dir != trace.In {
		t.Errorf("would-block = %+v", wb)
	}
	if w := rec.find("woken", lfd); len(w) == 0 || !strings.Contains(w[0].Summary, "EventIn") {
		t.Errorf("woken = %+v, want EventIn", w)
	}
	acc := rec.find("accept", lfd)
	if len(acc) != 1 || field(acc[0], "waited") != true || !strings.HasPrefix(acc[0].Summary, "connection accepted after wake-up") {
		t.Errorf("accept = %+v", acc)
	}
}

// BenchmarkSendRecvSmall measures one small Send and the Recv that picks it
// up; with tracing off the socket layer adds no allocations of its own to
// what netstack does per segment.
func BenchmarkSendRecvSmall(b *testing.B) {
	s := newSockets(b, Options{})
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
