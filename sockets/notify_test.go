package sockets

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/trace"
)

// fired is a NotifyReadable callback that counts its calls and signals the
// first.
type fired struct {
	n  atomic.Int32
	ch chan struct{}
}

func newFired() *fired { return &fired{ch: make(chan struct{}, 1)} }

func (f *fired) fn() {
	f.n.Add(1)
	select {
	case f.ch <- struct{}{}:
	default:
	}
}

// wait fails the test unless the callback runs before ctx ends.
func (f *fired) wait(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-f.ch:
	case <-ctx.Done():
		t.Fatalf("%s: callback never ran", what)
	}
}

// pending reports whether a socket's wait queue holds any entry: a pending
// notification is one, and nothing else registers on an untraced socket
// with no call asleep.
func pending(c net.Conn) bool { return !c.(*Conn).so.wq.IsEmpty() }

func TestNotifyReadable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// act makes the server side readable through the client.
		act func(t *testing.T, s *Sockets, client net.Conn)
		// check reads what the server side sees afterwards.
		check func(t *testing.T, server net.Conn)
	}{
		{
			name: "data",
			act: func(t *testing.T, _ *Sockets, client net.Conn) {
				_, err := client.Write([]byte("hello"))
				must(t, err)
			},
			check: func(t *testing.T, server net.Conn) {
				buf := make([]byte, 16)
				n, err := server.Read(buf)
				if err != nil || string(buf[:n]) != "hello" {
					t.Fatalf("Read = %q, %v; want hello", buf[:n], err)
				}
			},
		},
		{
			name: "FIN",
			act: func(t *testing.T, _ *Sockets, client net.Conn) {
				must(t, client.(*Conn).CloseWrite())
			},
			check: func(t *testing.T, server net.Conn) {
				if n, err := server.Read(make([]byte, 16)); n != 0 || err != io.EOF {
					t.Fatalf("Read = %d, %v; want 0, io.EOF", n, err)
				}
			},
		},
		{
			name: "RST",
			act: func(t *testing.T, s *Sockets, client net.Conn) {
				must(t, s.SetSockOpt(client.(*Conn).FD(), SOL_SOCKET, SO_LINGER, 0))
				must(t, client.Close())
			},
			check: func(t *testing.T, server net.Conn) {
				if _, err := server.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("Read: %v, want ECONNRESET", err)
				}
			},
		},
		{
			name: "Close",
			act:  func(t *testing.T, _ *Sockets, _ net.Conn) {},
			check: func(t *testing.T, server net.Conn) {
				if _, err := server.Read(make([]byte, 16)); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("Read: %v, want net.ErrClosed", err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSockets(t, Options{})
			client, server := pipe(t, s, "tcp4", "127.0.0.1:0")
			ctx := testContext(t)
			f := newFired()
			stop := server.(*Conn).NotifyReadable(f.fn)
			defer stop()
			if !pending(server) {
				t.Fatal("nothing registered on an idle socket's wait queue")
			}
			if tc.name == "Close" {
				must(t, server.Close())
			} else {
				tc.act(t, s, client)
			}
			f.wait(t, ctx, tc.name)
			tc.check(t, server)
			if pending(server) {
				t.Error("the entry is still on the wait queue after the callback ran")
			}
			if n := f.n.Load(); n != 1 {
				t.Errorf("callback ran %d times", n)
			}
		})
	}
}

// TestNotifyReadableAlready: a socket that is readable when asked is
// notified at once, whatever made it readable.
func TestNotifyReadableAlready(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"data", "FIN", "RST", "closed"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newSockets(t, Options{})
			client, server := pipe(t, s, "tcp4", "127.0.0.1:0")
			sfd := server.(*Conn).FD()
			switch name {
			case "data":
				_, err := client.Write([]byte("x"))
				must(t, err)
			case "FIN":
				must(t, client.(*Conn).CloseWrite())
			case "RST":
				must(t, s.SetSockOpt(client.(*Conn).FD(), SOL_SOCKET, SO_LINGER, 0))
				must(t, client.Close())
			case "closed":
				must(t, server.Close())
			}
			if name != "closed" {
				if r := pollOne(t, s, sfd, POLLIN, -1); r&(POLLIN|POLLHUP|POLLERR) == 0 {
					t.Fatalf("poll: %s", reventString(r))
				}
			}
			f := newFired()
			stop := server.(*Conn).NotifyReadable(f.fn)
			f.wait(t, testContext(t), name)
			stop()
			stop()
			if n := f.n.Load(); n != 1 {
				t.Errorf("callback ran %d times", n)
			}
		})
	}
}

// TestNotifyReadableStop: a stopped notification leaves nothing on the
// queue, so later data cannot reach it; a second notification armed after
// the data came shows that the data did arrive.
func TestNotifyReadableStop(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	client, server := pipe(t, s, "tcp4", "127.0.0.1:0")
	sc := server.(*Conn)
	stopped := newFired()
	stop := sc.NotifyReadable(stopped.fn)
	stop()
	if pending(server) {
		t.Fatal("stop left the entry on the wait queue")
	}
	stop() // idempotent
	_, err := client.Write([]byte("data"))
	must(t, err)
	f := newFired()
	defer sc.NotifyReadable(f.fn)()
	f.wait(t, testContext(t), "second notification")
	if n := stopped.n.Load(); n != 0 {
		t.Errorf("stopped callback ran %d times", n)
	}
}

// TestNotifyOnce drives the state machine directly: many notifications
// racing with each other and with stop run fn at most once, and exactly
// once when stop comes too late.
func TestNotifyOnce(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	_, server := pipe(t, s, "tcp4", "127.0.0.1:0")
	so := server.(*Conn).so
	for round := range 200 {
		var calls atomic.Int32
		done := make(chan struct{})
		n := &notifier{s: s, so: so, fn: func() { calls.Add(1); close(done) }}
		n.entry.Init(n, readMask)
		so.wq.EventRegister(&n.entry)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { n.NotifyEvent(waiter.EventIn) })
		}
		stopFirst := round%2 == 0
		if stopFirst {
			n.stop()
		}
		wg.Wait()
		n.stop()
		if n.state.Load() == notifyFired {
			<-done
		}
		if c := calls.Load(); c > 1 || (!stopFirst && c != 1) {
			t.Fatalf("round %d: fn ran %d times", round, c)
		}
	}
	// Every fired round's goroutine unregistered its entry, and every
	// stopped round's stop did.
	deadline := time.Now().Add(10 * time.Second)
	for pending(server) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if pending(server) {
		t.Fatal("entries left on the wait queue")
	}
}

// TestNotifyReadableEcho serves a connection from notifications only: each
// callback reads what is there, echoes it and waits again.
func TestNotifyReadableEcho(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	client, server := pipe(t, s, "tcp4", "127.0.0.1:0")
	sc := server.(*Conn)
	ended := make(chan error, 1)
	buf := make([]byte, 4096)
	var serve func()
	serve = func() {
		n, err := sc.Read(buf)
		if err != nil {
			ended <- err
			return
		}
		if _, err := sc.Write(buf[:n]); err != nil {
			ended <- err
			return
		}
		sc.NotifyReadable(serve)
	}
	sc.NotifyReadable(serve)

	want := bytes.Repeat([]byte("0123456789"), 10)
	got := make([]byte, len(want))
	for i := range 100 {
		_, err := client.Write(want)
		must(t, err)
		if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("echo %d: %q, %v", i, got, err)
		}
	}
	must(t, client.(*Conn).CloseWrite())
	select {
	case err := <-ended:
		if err != io.EOF {
			t.Fatalf("server read ended with %v, want io.EOF", err)
		}
	case <-testContext(t).Done():
		t.Fatal("the server never saw the FIN")
	}
}

// TestNotifyReadableNoGoroutines: waiting costs no goroutine, over many
// sockets; all of them fire once the data comes.
func TestNotifyReadableNoGoroutines(t *testing.T) {
	t.Parallel()
	const n = 200
	s := newSockets(t, Options{})
	ctx := testContext(t)
	ln, err := s.Listener("tcp4", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	clients := make([]net.Conn, n)
	servers := make([]net.Conn, n)
	for i := range n {
		clients[i], err = s.Dial(ctx, "tcp4", ln.Addr().String())
		must(t, err)
		defer clients[i].Close()
		servers[i], err = ln.Accept()
		must(t, err)
		defer servers[i].Close()
	}
	var wg sync.WaitGroup
	wg.Add(n)
	var calls atomic.Int32
	before := runtime.NumGoroutine()
	for _, c := range servers {
		stop := c.(*Conn).NotifyReadable(func() { calls.Add(1); wg.Done() })
		defer stop()
	}
	// Other parallel tests start and end goroutines too; n pending
	// notifications must not have added anything near n.
	if d := runtime.NumGoroutine() - before; d >= n/2 {
		t.Fatalf("%d goroutines more with %d notifications pending", d, n)
	}
	for _, c := range clients {
		_, err := c.Write([]byte("x"))
		must(t, err)
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		t.Fatalf("%d of %d callbacks ran", calls.Load(), n)
	}
	if c := calls.Load(); c != n {
		t.Fatalf("%d callbacks for %d sockets", c, n)
	}
}

func TestNotifyWritable(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	client, server := pipe(t, s, "tcp4", "127.0.0.1:0")
	ctx := testContext(t)
	sc := server.(*Conn)

	// A connected socket with room is writable at once.
	f := newFired()
	sc.NotifyWritable(f.fn)
	f.wait(t, ctx, "writable with an empty send buffer")

	// Fill the send buffer and the peer's receive window.
	fd := sc.FD()
	must(t, s.SetNonblock(fd, true))
	chunk := make([]byte, 64<<10)
	for {
		_, err := s.Send(ctx, fd, chunk, 0)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		must(t, err)
	}
	f = newFired()
	stop := sc.NotifyWritable(f.fn)
	defer stop()
	if !pending(server) {
		t.Fatal("a full send buffer notified at once")
	}
	// The peer reads: ACKs open the window, the send buffer drains.
	go io.Copy(io.Discard, client)
	f.wait(t, ctx, "writable after the peer read")
	if _, err := s.Send(ctx, fd, chunk, 0); err != nil {
		t.Fatalf("Send after the notification: %v", err)
	}
}

// TestNotifyTraced: a traced socket reports each firing.
func TestNotifyTraced(t *testing.T) {
	t.Parallel()
	ring := trace.NewRing(1024)
	tr := trace.New(ring)
	s := newSockets(t, Options{Tracer: tr, Node: "server"})
	client, server := pipe(t, s, "tcp4", "127.0.0.1:0")
	f := newFired()
	stop := server.(*Conn).NotifyReadable(f.fn)
	defer stop()
	_, err := client.Write([]byte("x"))
	must(t, err)
	f.wait(t, testContext(t), "traced")
	fd := server.(*Conn).FD()
	for _, e := range ring.Events() {
		if e.Name == "notified" && e.Field("fd") == fd {
			return
		}
	}
	t.Fatalf("no notified event for fd %d", fd)
}
