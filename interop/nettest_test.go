package interop

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/internal/stacktest"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// These tests hold the net adapters of package sockets (Conn, Listener,
// PacketConn) to the contract code written for the net package relies
// on: golang.org/x/net/nettest's TestConn for stream connections, and the
// same contract, written out here, for what it does not cover (datagram
// sockets, listeners, net.ErrClosed and io.EOF).

// nettestTimeout bounds each wait of the hand-written checks.
const nettestTimeout = 20 * time.Second

// glassPair is a client and a server socket table on two userspace
// stacks wired back to back over tun.Pipe(popts), each made with opts.
func glassPair(t *testing.T, popts tun.PipeOptions, opts sockets.Options) (client, server *sockets.Sockets) {
	t.Helper()
	cst, sst, _ := stacktest.Pair(t, popts)
	return sockets.New(cst.Stack(), opts), sockets.New(sst.Stack(), opts)
}

// streamPipe returns a nettest.MakePipe that connects a dialer's
// connection to the one a listener accepts. dialedFirst puts the dialed
// connection first (nettest runs most checks on the first).
func streamPipe(l net.Listener, dial func(ctx context.Context, addr string) (net.Conn, error), dialedFirst bool) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		type accepted struct {
			c   net.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			c, err := l.Accept()
			ch <- accepted{c, err}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), nettestTimeout)
		defer cancel()
		dc, err := dial(ctx, l.Addr().String())
		if err != nil {
			// Nothing will come to the Accept: close the listener to
			// end it.
			l.Close()
			<-ch
			return nil, nil, nil, err
		}
		a := <-ch
		if a.err != nil {
			dc.Close()
			return nil, nil, nil, a.err
		}
		stop = func() {
			dc.Close()
			a.c.Close()
		}
		if dialedFirst {
			return dc, a.c, stop, nil
		}
		return a.c, dc, stop, nil
	}
}

// TestNettestGlassnetTCP runs nettest.TestConn on a TCP connection
// between two userspace stacks over an in-memory link, once with the
// dialed connection under test and once with the accepted one: on a
// plain link, on a slower one with a smaller MTU, within one stack (to
// its own address), with every call
// recorded, and under a call hook that makes every read and write short
// and wakes every blocked call once for nothing (which Conn's Read and
// Write must hide from their callers).
func TestNettestGlassnetTCP(t *testing.T) {
	shortAndSpurious := sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		return sockets.CallVerdict{MaxBytes: 512, Spurious: 1}
	})
	for _, tc := range []struct {
		name  string
		popts tun.PipeOptions
		opts  sockets.Options
		hook  sockets.CallHook
		// oneStack dials from the server's own stack.
		oneStack bool
	}{
		{name: "plain"},
		{name: "mtu1280-1ms", popts: tun.PipeOptions{MTU: 1280, Latency: time.Millisecond}},
		{name: "one-stack", oneStack: true},
		{name: "calllog", opts: sockets.Options{CallLog: io.Discard}},
		{name: "short-spurious", hook: shortAndSpurious},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, ss := glassPair(t, tc.popts, tc.opts)
			if tc.oneStack {
				cs = ss
			}
			if tc.hook != nil {
				cs.SetCallHook(tc.hook)
				ss.SetCallHook(tc.hook)
			}
			l, err := ss.Listener("tcp", stacktest.ServerPrefix.Addr().String()+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			dial := func(ctx context.Context, addr string) (net.Conn, error) { return cs.Dial(ctx, "tcp", addr) }
			t.Run("dialed", func(t *testing.T) { nettest.TestConn(t, streamPipe(l, dial, true)) })
			t.Run("accepted", func(t *testing.T) { nettest.TestConn(t, streamPipe(l, dial, false)) })
		})
	}
}

// TestNettestKernelTCP runs nettest.TestConn on a TCP connection between
// a userspace stack on a TUN and the kernel on the far side of it, inside
// a network namespace of the test's own: the glassnet connection is
// always the first, once dialed to a kernel listener and once accepted
// from a kernel dialer.
func TestNettestKernelTCP(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		prefix := netip.MustParsePrefix(stackAddr + "/24")
		socks := userspaceStack(t, prefix)
		host := tun.HostAddrFor(prefix).Addr()

		t.Run("glassnet-dials", func(t *testing.T) {
			kl, err := net.Listen("tcp", netip.AddrPortFrom(host, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			defer kl.Close()
			dial := func(ctx context.Context, addr string) (net.Conn, error) { return socks.Dial(ctx, "tcp", addr) }
			nettest.TestConn(t, streamPipe(kl, dial, true))
		})
		t.Run("kernel-dials", func(t *testing.T) {
			gl, err := socks.Listener("tcp", stackAddr+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer gl.Close()
			var d net.Dialer
			dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
			nettest.TestConn(t, streamPipe(gl, dial, false))
		})
	})
}

// wantTimeout fails the test unless err is a net.Error with Timeout()
// true that matches os.ErrDeadlineExceeded, as the net package's are.
func wantTimeout(t *testing.T, what string, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%s: %v, want a net.Error with Timeout() true", what, err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: %v, want os.ErrDeadlineExceeded", what, err)
	}
}

// wantClosed fails the test unless err matches net.ErrClosed.
func wantClosed(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("%s: %v, want net.ErrClosed", what, err)
	}
}

// await returns what fn returns, or fails the test when it is still
// blocked after nettestTimeout.
func await[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(nettestTimeout):
		t.Fatalf("%s still blocked after %v", what, nettestTimeout)
		panic("unreachable")
	}
}

// TestNetContractStream checks what nettest.TestConn leaves out on a TCP
// connection between two userspace stacks: io.EOF once the peer has
// closed, net.ErrClosed from every call after Close and from a Read or a
// Write that Close interrupts.
func TestNetContractStream(t *testing.T) {
	cs, ss := glassPair(t, tun.PipeOptions{}, sockets.Options{})
	l, err := ss.Listener("tcp", stacktest.ServerPrefix.Addr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return cs.Dial(ctx, "tcp", addr) }
	pipe := streamPipe(l, dial, true)
	open := func(t *testing.T) (c1, c2 net.Conn) {
		t.Helper()
		c1, c2, stop, err := pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return c1, c2
	}

	t.Run("EOFAfterPeerClose", func(t *testing.T) {
		c1, c2 := open(t)
		if _, err := c2.Write([]byte("last")); err != nil {
			t.Fatal(err)
		}
		c2.Close()
		type result struct {
			b   []byte
			err error
		}
		r := await(t, "ReadAll", func() result {
			b, err := io.ReadAll(c1)
			return result{b, err}
		})
		if r.err != nil || string(r.b) != "last" {
			t.Errorf("ReadAll = %q, %v; want %q, nil", r.b, r.err, "last")
		}
		if n, err := c1.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
		}
	})
	t.Run("CallsAfterClose", func(t *testing.T) {
		c1, _ := open(t)
		if err := c1.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		_, err := c1.Read(make([]byte, 1))
		wantClosed(t, "Read", err)
		_, err = c1.Write([]byte("x"))
		wantClosed(t, "Write", err)
		wantClosed(t, "SetDeadline", c1.SetDeadline(time.Now()))
		wantClosed(t, "SetReadDeadline", c1.SetReadDeadline(time.Now()))
		wantClosed(t, "SetWriteDeadline", c1.SetWriteDeadline(time.Now()))
		wantClosed(t, "second Close", c1.Close())
		if c1.LocalAddr() == nil || c1.RemoteAddr() == nil {
			t.Errorf("addresses after Close: %v, %v; want both kept", c1.LocalAddr(), c1.RemoteAddr())
		}
	})
	t.Run("CloseUnblocksRead", func(t *testing.T) {
		c1, _ := open(t)
		errc := make(chan error, 1)
		go func() {
			_, err := c1.Read(make([]byte, 1))
			errc <- err
		}()
		c1.Close()
		wantClosed(t, "blocked Read", await(t, "Read", func() error { return <-errc }))
	})
	t.Run("CloseUnblocksWrite", func(t *testing.T) {
		c1, _ := open(t)
		errc := make(chan error, 1)
		go func() {
			// Far more than both send and receive buffers hold:
			// the peer reads nothing.
			_, err := c1.Write(make([]byte, 64<<20))
			errc <- err
		}()
		c1.Close()
		wantClosed(t, "blocked Write", await(t, "Write", func() error { return <-errc }))
	})
	// A call hook that holds every recv and send, released by nothing,
	// keeps the calls from touching the endpoint: a deadline or Close
	// must still end them, as the net package's do.
	t.Run("HeldCalls", func(t *testing.T) {
		cs, ss := glassPair(t, tun.PipeOptions{}, sockets.Options{})
		l, err := ss.Listener("tcp", stacktest.ServerPrefix.Addr().String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		c1, _, stop, err := streamPipe(l, func(ctx context.Context, addr string) (net.Conn, error) { return cs.Dial(ctx, "tcp", addr) }, true)()
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		cs.SetCallHook(sockets.CallHookFunc(func(*sockets.Call) sockets.CallVerdict {
			return sockets.CallVerdict{Verdict: hook.Verdict{Action: hook.Hold}}
		}))
		defer cs.SetCallHook(nil)
		read := func() error { _, err := c1.Read(make([]byte, 1)); return err }
		write := func() error { _, err := c1.Write([]byte("x")); return err }

		c1.SetDeadline(time.Now().Add(20 * time.Millisecond))
		wantTimeout(t, "held Read", await(t, "held Read", read))
		wantTimeout(t, "held Write", await(t, "held Write", write))

		c1.SetDeadline(time.Time{})
		errc := make(chan error, 2)
		go func() { errc <- read() }()
		go func() { errc <- write() }()
		c1.Close()
		for range 2 {
			wantClosed(t, "held call", await(t, "held call", func() error { return <-errc }))
		}
	})
	t.Run("HeldAccept", func(t *testing.T) {
		_, ss := glassPair(t, tun.PipeOptions{}, sockets.Options{})
		ss.SetCallHook(sockets.CallHookFunc(func(*sockets.Call) sockets.CallVerdict {
			return sockets.CallVerdict{Verdict: hook.Verdict{Action: hook.Hold}}
		}))
		defer ss.SetCallHook(nil)
		l, err := ss.Listener("tcp", stacktest.ServerPrefix.Addr().String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { _, err := l.Accept(); errc <- err }()
		l.Close()
		wantClosed(t, "held Accept", await(t, "held Accept", func() error { return <-errc }))
	})
	t.Run("DeadlineExceeded", func(t *testing.T) {
		c1, _ := open(t)
		c1.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := c1.Read(make([]byte, 1))
		wantTimeout(t, "Read", err)
		c1.SetWriteDeadline(time.Now().Add(-time.Second))
		_, err = c1.Write([]byte("x"))
		wantTimeout(t, "Write", err)
	})
}

// TestNetContractListener checks a Listener against net.Listener's
// contract: Close unblocks a pending Accept with net.ErrClosed, Accept
// after Close reports it too, and Addr stays the same throughout.
func TestNetContractListener(t *testing.T) {
	_, ss := glassPair(t, tun.PipeOptions{}, sockets.Options{})
	l, err := ss.Listener("tcp", stacktest.ServerPrefix.Addr().String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	before := l.Addr().String()
	if ap, err := netip.ParseAddrPort(before); err != nil || ap.Port() == 0 {
		t.Fatalf("Addr = %s, want the bound address and port", before)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantClosed(t, "pending Accept", await(t, "Accept", func() error { return <-errc }))
	_, err = l.Accept()
	wantClosed(t, "Accept after Close", err)
	wantClosed(t, "second Close", l.Close())
	if after := l.Addr().String(); after != before {
		t.Errorf("Addr after Close = %s, want %s", after, before)
	}
}

// TestNetContractPacket checks a PacketConn, listening and connected,
// against the net.PacketConn contract nettest has no battery for:
// deadlines in the past and the future and set while a call is blocked,
// with errors that are timeouts and match os.ErrDeadlineExceeded;
// reads that work again once a deadline is cleared; Close unblocking
// ReadFrom and Read with net.ErrClosed; and every call after Close
// reporting net.ErrClosed.
func TestNetContractPacket(t *testing.T) {
	cs, ss := glassPair(t, tun.PipeOptions{}, sockets.Options{})
	server := stacktest.ServerPrefix.Addr().String() + ":0"

	listen := func(t *testing.T) *sockets.PacketConn {
		t.Helper()
		pc, err := ss.ListenPacket("udp", server)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	dial := func(t *testing.T, to net.Addr) net.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), nettestTimeout)
		defer cancel()
		c, err := cs.Dial(ctx, "udp", to.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	readFrom := func(pc net.PacketConn) func() error {
		return func() error {
			_, _, err := pc.ReadFrom(make([]byte, 64))
			return err
		}
	}
	read := func(c net.Conn) func() error {
		return func() error {
			_, err := c.Read(make([]byte, 64))
			return err
		}
	}

	t.Run("PastReadDeadline", func(t *testing.T) {
		pc := listen(t)
		pc.SetReadDeadline(time.Now().Add(-time.Second))
		wantTimeout(t, "ReadFrom", readFrom(pc)())
		wantTimeout(t, "ReadFrom again", readFrom(pc)())
	})
	t.Run("FutureReadDeadline", func(t *testing.T) {
		pc := listen(t)
		pc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		wantTimeout(t, "ReadFrom", await(t, "ReadFrom", readFrom(pc)))
	})
	t.Run("DeadlineSetWhileBlocked", func(t *testing.T) {
		pc := listen(t)
		errc := make(chan error, 1)
		go func() { errc <- readFrom(pc)() }()
		pc.SetDeadline(time.Now())
		wantTimeout(t, "blocked ReadFrom", await(t, "ReadFrom", func() error { return <-errc }))
	})
	t.Run("ReadAfterDeadlineCleared", func(t *testing.T) {
		pc := listen(t)
		c := dial(t, pc.LocalAddr())
		pc.SetReadDeadline(time.Now().Add(-time.Second))
		wantTimeout(t, "ReadFrom", readFrom(pc)())
		pc.SetReadDeadline(time.Time{})
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		type result struct {
			n    int
			from net.Addr
			err  error
		}
		r := await(t, "ReadFrom", func() result {
			n, from, err := pc.ReadFrom(buf)
			return result{n, from, err}
		})
		if r.err != nil || string(buf[:r.n]) != "ping" || r.from.String() != c.LocalAddr().String() {
			t.Errorf("ReadFrom = %q, %v, %v; want %q from %v", buf[:r.n], r.from, r.err, "ping", c.LocalAddr())
		}
	})
	t.Run("PastWriteDeadline", func(t *testing.T) {
		pc := listen(t)
		c := dial(t, pc.LocalAddr())
		pc.SetWriteDeadline(time.Now().Add(-time.Second))
		_, err := pc.WriteTo([]byte("x"), c.LocalAddr())
		wantTimeout(t, "WriteTo", err)
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		_, err = c.Write([]byte("x"))
		wantTimeout(t, "Write", err)
	})
	t.Run("ConnectedReadDeadline", func(t *testing.T) {
		pc := listen(t)
		c := dial(t, pc.LocalAddr())
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		wantTimeout(t, "Read", await(t, "Read", read(c)))
	})
	t.Run("CloseUnblocksReadFrom", func(t *testing.T) {
		pc := listen(t)
		errc := make(chan error, 1)
		go func() { errc <- readFrom(pc)() }()
		pc.Close()
		wantClosed(t, "blocked ReadFrom", await(t, "ReadFrom", func() error { return <-errc }))
	})
	t.Run("CloseUnblocksRead", func(t *testing.T) {
		pc := listen(t)
		c := dial(t, pc.LocalAddr())
		errc := make(chan error, 1)
		go func() { errc <- read(c)() }()
		c.Close()
		wantClosed(t, "blocked Read", await(t, "Read", func() error { return <-errc }))
	})
	t.Run("CallsAfterClose", func(t *testing.T) {
		pc := listen(t)
		to := pc.LocalAddr()
		if err := pc.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wantClosed(t, "ReadFrom", readFrom(pc)())
		_, err := pc.WriteTo([]byte("x"), to)
		wantClosed(t, "WriteTo", err)
		wantClosed(t, "SetDeadline", pc.SetDeadline(time.Now()))
		wantClosed(t, "SetReadDeadline", pc.SetReadDeadline(time.Now()))
		wantClosed(t, "SetWriteDeadline", pc.SetWriteDeadline(time.Now()))
		wantClosed(t, "second Close", pc.Close())
		if pc.LocalAddr() == nil {
			t.Error("LocalAddr after Close is nil, want the bound address")
		}
	})
}
