package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// eventEcho serves c without a goroutine of its own: every notification
// reads the messages that have arrived, echoes them, and arms the next
// one. reads counts the notifications; the final read error goes to done.
func eventEcho(c *Conn, reads *atomic.Int64, done chan<- error) {
	ctx := context.Background()
	var buf []byte
	var serve func()
	serve = func() {
		reads.Add(1)
		typ, p, err := c.ReadMessageInto(ctx, buf)
		if err != nil {
			done <- err
			return
		}
		buf = p
		if err := c.WriteMessage(ctx, typ, p); err != nil {
			done <- err
			return
		}
		c.NotifyReadable(serve)
	}
	c.NotifyReadable(serve)
}

// idleState reports whether c holds a read buffer, taking readLock so as
// not to race with a notification that is finishing.
func holdsReader(c *Conn) bool {
	c.readLock <- struct{}{}
	defer unlock(c.readLock)
	return c.br != nil
}

// waitArmed waits until one notification is armed on c: the application's
// callback arms the next one after it has echoed, and a goroutine that
// looked at the transport arms it again before it ends. A goroutine left
// waiting in a read instead never does.
func waitArmed(t *testing.T, c *memConn) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); c.waiting() != 1; {
		if time.Now().After(end) {
			t.Fatalf("%d notifications armed after 10 s, want 1: a goroutine waits in a read", c.waiting())
		}
		runtime.Gosched()
	}
}

// waitGoroutines waits until at most n goroutines run, and returns how
// many do.
func waitGoroutines(t *testing.T, n int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := runtime.NumGoroutine()
		if g <= n || time.Now().After(deadline) {
			return g
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNotifyReadableIdleHoldsNothing(t *testing.T) {
	// Not parallel: it counts goroutines.
	const conns = 200
	ctx := testContext(t)
	base := runtime.NumGoroutine()
	type pair struct {
		cli, srv *Conn
		sraw     *memConn
		reads    atomic.Int64
		done     chan error
	}
	pairs := make([]*pair, conns)
	for i := range pairs {
		cn, sn := memConnPair(0)
		// With a keepalive too: between pings it is a timer, not a
		// goroutine.
		scfg := newConfig(0, time.Second, nil, "")
		scfg.keepAlive = time.Hour
		p := &pair{
			cli:  newConn(cn, nil, true, "", newConfig(0, time.Second, nil, "")),
			srv:  newConn(sn, nil, false, "", scfg),
			sraw: sn,
			done: make(chan error, 1),
		}
		p.srv.startKeepAlive()
		pairs[i] = p
		eventEcho(p.srv, &p.reads, p.done)
	}
	t.Cleanup(func() {
		for _, p := range pairs {
			p.cli.CloseNow()
			p.srv.CloseNow()
		}
	})
	echo := func(p *pair, msg []byte) {
		t.Helper()
		if err := p.cli.WriteMessage(ctx, MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := p.cli.ReadMessage(ctx)
		if err != nil || typ != MessageBinary || !bytes.Equal(got, msg) {
			t.Fatalf("echo: %v %q %v, want %q", typ, got, err, msg)
		}
	}
	for i, p := range pairs {
		echo(p, []byte(fmt.Sprintf("hello %d", i)))
	}

	// Every connection is idle now: no goroutine is left behind for it
	// and no connection holds a read buffer.
	if g := waitGoroutines(t, base+conns/20); g > base+conns/20 {
		t.Fatalf("%d goroutines for %d idle connections (%d before)", g-base, conns, base)
	}
	for i, p := range pairs {
		waitArmed(t, p.sraw)
		if holdsReader(p.srv) || holdsReader(p.cli) {
			t.Fatalf("connection %d holds a read buffer while idle", i)
		}
	}

	// A ping is answered without waking the application.
	before := pairs[0].reads.Load()
	if err := pairs[0].cli.Ping(ctx, []byte("are you there")); err != nil {
		t.Fatal(err)
	}
	if n := pairs[0].reads.Load(); n != before {
		t.Fatalf("a ping woke the application (%d notifications, %d before)", n, before)
	}

	// Both ends ping at once: the server's Ping reads its pong itself
	// while its notification is armed, which then must not be left
	// waiting in a read.
	for _, p := range pairs[3:6] {
		srvPing := make(chan error, 1)
		go func() { srvPing <- p.srv.Ping(ctx, []byte("from the server")) }()
		// The client has no reader but Ping: it pings until the server's
		// ping has been answered on the way.
	answered:
		for {
			if err := p.cli.Ping(ctx, []byte("from the client")); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-srvPing:
				if err != nil {
					t.Fatal(err)
				}
				break answered
			default:
			}
		}
	}
	if g := waitGoroutines(t, base+conns/20); g > base+conns/20 {
		t.Fatalf("%d goroutines for %d idle connections after pings", g-base, conns)
	}
	for _, p := range pairs[3:6] {
		waitArmed(t, p.sraw)
		if holdsReader(p.srv) {
			t.Fatal("a connection holds a read buffer after pings")
		}
	}

	// Messages that arrive later, large and fragmented ones too, are read
	// correctly.
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	for _, p := range pairs[:10] {
		echo(p, big)
		if err := p.cli.WriteFragmented(ctx, MessageText, []byte("frag"), []byte("men"), []byte("ted")); err != nil {
			t.Fatal(err)
		}
		if _, got, err := p.cli.ReadMessage(ctx); err != nil || string(got) != "fragmented" {
			t.Fatalf("fragmented echo: %q %v", got, err)
		}
	}
	if g := waitGoroutines(t, base+conns/20); g > base+conns/20 {
		t.Fatalf("%d goroutines for %d idle connections after more traffic", g-base, conns)
	}

	// The end of the connection wakes the application too.
	p := pairs[1]
	if err := p.cli.Close(StatusGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if CloseStatus(err) != StatusGoingAway {
			t.Fatalf("server read %v, want close 1001", err)
		}
	case <-ctx.Done():
		t.Fatal("the close frame did not wake the application")
	}
	p = pairs[2]
	p.cli.CloseNow()
	select {
	case err := <-p.done:
		if CloseStatus(err) != StatusAbnormalClosure || !errors.Is(err, io.EOF) {
			t.Fatalf("server read %v, want 1006 with EOF", err)
		}
	case <-ctx.Done():
		t.Fatal("TCP closing did not wake the application")
	}
}

func TestNotifyReadable(t *testing.T) {
	t.Parallel()
	type transport struct {
		name string
		pair func() (net.Conn, net.Conn)
	}
	for _, tr := range []transport{
		{"notifying transport", func() (net.Conn, net.Conn) { a, b := memConnPair(0); return a, b }},
		{"plain net.Conn", func() (net.Conn, net.Conn) { return net.Pipe() }},
	} {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			cn, sn := tr.pair()
			cli := newConn(cn, nil, true, "", newConfig(0, time.Second, nil, ""))
			srv := newConn(sn, nil, false, "", newConfig(0, time.Second, nil, ""))
			defer cli.CloseNow()
			defer srv.CloseNow()

			t.Run("message", func(t *testing.T) {
				fired := make(chan struct{})
				srv.NotifyReadable(func() { close(fired) })
				go cli.WriteMessage(ctx, MessageText, []byte("later"))
				<-fired
				typ, p, err := srv.ReadMessage(ctx)
				if err != nil || typ != MessageText || string(p) != "later" {
					t.Fatalf("got %v %q %v", typ, p, err)
				}
			})
			t.Run("two messages", func(t *testing.T) {
				// Two messages in one write: after the first is read the
				// second is buffered, and the notification fires without
				// the transport.
				go cli.WriteFragmented(ctx, MessageText, []byte("one"))
				go cli.WriteMessage(ctx, MessageText, []byte("two"))
				for range 2 {
					fired := make(chan struct{})
					srv.NotifyReadable(func() { close(fired) })
					<-fired
					if _, _, err := srv.ReadMessage(ctx); err != nil {
						t.Fatal(err)
					}
				}
			})
			t.Run("stop", func(t *testing.T) {
				var calls atomic.Int32
				stop := srv.NotifyReadable(func() { calls.Add(1) })
				stop()
				stop()
				fired := make(chan struct{})
				srv.NotifyReadable(func() { close(fired) })
				go cli.WriteMessage(ctx, MessageBinary, []byte{1})
				<-fired
				if _, _, err := srv.ReadMessage(ctx); err != nil {
					t.Fatal(err)
				}
				if calls.Load() != 0 {
					t.Fatal("a stopped notification was called")
				}
			})
			t.Run("ping is answered without a call", func(t *testing.T) {
				var calls atomic.Int32
				stop := srv.NotifyReadable(func() { calls.Add(1) })
				if err := cli.Ping(ctx, []byte("p")); err != nil {
					t.Fatal(err)
				}
				stop()
				if calls.Load() != 0 {
					t.Fatal("a ping called the notification")
				}
			})
			t.Run("close", func(t *testing.T) {
				fired := make(chan struct{})
				srv.NotifyReadable(func() { close(fired) })
				go cli.Close(StatusNormalClosure, "done")
				<-fired
				_, _, err := srv.ReadMessage(ctx)
				if CloseStatus(err) != StatusNormalClosure {
					t.Fatalf("got %v, want close 1000", err)
				}
				// Once the read side has ended, notifications fire at once.
				fired = make(chan struct{})
				srv.NotifyReadable(func() { close(fired) })
				<-fired
			})
		})
	}
}

// TestNotifyReadableReset has the peer reset a kernel TCP connection while
// a notification waits: the notification fires and ReadMessage reports
// the reset, which the kernel reports only to the first read.
func TestNotifyReadableReset(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	srv := newConn(b, nil, false, "", newConfig(0, time.Second, nil, ""))
	defer srv.CloseNow()
	fired := make(chan struct{})
	srv.NotifyReadable(func() { close(fired) })
	a.(*net.TCPConn).SetLinger(0)
	a.Close()
	<-fired
	_, _, err := srv.ReadMessage(testContext(t))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("got %v, want ECONNRESET", err)
	}
}
