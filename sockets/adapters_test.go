package sockets

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"

	"github.com/glassnet/glassnet/internal/echobench"
)

// pipe returns both ends of a TCP connection made with the adapters.
func pipe(t testing.TB, s *Sockets, network, address string) (client, server net.Conn) {
	t.Helper()
	ln, err := s.Listener(network, address)
	must(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = s.Dial(testContext(t), network, ln.Addr().String())
	must(t, err)
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	ln, err := s.Listener("tcp", ":0")
	must(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.URL.Path, r.RemoteAddr)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	tr := &http.Transport{DialContext: s.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	port := ln.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "[::1]", "localhost"} {
		for i := range 3 {
			url := fmt.Sprintf("http://%s:%d/p%d", host, port, i)
			resp, err := client.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !bytes.HasPrefix(body, fmt.Appendf(nil, "hello /p%d from ", i)) {
				t.Fatalf("GET %s = %d %q, %v", url, resp.StatusCode, body, err)
			}
		}
	}
}

func TestConnDeadlines(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})

	t.Run("read", func(t *testing.T) {
		t.Parallel()
		c, srv := pipe(t, s, "tcp4", "127.0.0.1:0")
		start := time.Now()
		must(t, srv.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err := srv.Read(make([]byte, 8))
		checkTimeout(t, err, "read")
		if time.Since(start) < 20*time.Millisecond {
			t.Errorf("Read returned before the deadline")
		}
		// An expired deadline fails at once even with data queued.
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		_, err = srv.Read(make([]byte, 8))
		checkTimeout(t, err, "read")
		// Clearing it makes the data readable.
		must(t, srv.SetReadDeadline(time.Time{}))
		if n, err := srv.Read(make([]byte, 8)); n != 1 || err != nil {
			t.Fatalf("Read after clearing deadline = %d, %v", n, err)
		}
	})

	t.Run("extend while blocked", func(t *testing.T) {
		t.Parallel()
		_, srv := pipe(t, s, "tcp", "[::1]:0")
		must(t, srv.SetReadDeadline(time.Now().Add(time.Hour)))
		// Once the Read sleeps under the hour's deadline, bring it in.
		wakesBlockedRead(t, srv, time.Now().Add(10*time.Millisecond))
	})

	t.Run("set while blocked without one", func(t *testing.T) {
		t.Parallel()
		_, srv := pipe(t, s, "tcp4", "127.0.0.1:0")
		wakesBlockedRead(t, srv, time.Now().Add(-time.Second))
	})

	t.Run("idle holds no channel", func(t *testing.T) {
		t.Parallel()
		c, srv := pipe(t, s, "tcp4", "127.0.0.1:0")
		sc := srv.(*Conn)
		must(t, sc.SetDeadline(time.Now().Add(time.Hour)))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Read(make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
		must(t, sc.SetDeadline(time.Time{}))
		sc.rd.mu.Lock()
		sc.wd.mu.Lock()
		defer sc.rd.mu.Unlock()
		defer sc.wd.mu.Unlock()
		if sc.rd.ch.Load() != nil || sc.wd.ch.Load() != nil || sc.rd.timer != nil || sc.wd.timer != nil {
			t.Fatal("a Conn with its deadlines cleared still holds a channel or timer")
		}
	})

	t.Run("write", func(t *testing.T) {
		t.Parallel()
		c, _ := pipe(t, s, "tcp4", "127.0.0.1:0")
		// The peer never reads: the windows and buffers fill, then the
		// write deadline fires.
		must(t, c.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
		buf := make([]byte, 1<<20)
		var err error
		total := 0
		for err == nil && total < 1<<30 {
			var n int
			n, err = c.Write(buf)
			total += n
		}
		checkTimeout(t, err, "write")
	})
}

func checkTimeout(t *testing.T, err error, op string) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%s error %v is not a timeout", op, err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s error %v does not wrap os.ErrDeadlineExceeded", op, err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op || oe.Source == nil || oe.Addr == nil {
		t.Fatalf("%s error %#v is not a complete *net.OpError", op, err)
	}
}

func TestConnCloseContract(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})

	t.Run("EOF after CloseWrite", func(t *testing.T) {
		t.Parallel()
		c, srv := pipe(t, s, "tcp", "127.0.0.1:0")
		if _, err := c.Write([]byte("bye")); err != nil {
			t.Fatal(err)
		}
		must(t, c.(*Conn).CloseWrite())
		got, err := io.ReadAll(srv)
		if err != nil || string(got) != "bye" {
			t.Fatalf("ReadAll = %q, %v", got, err)
		}
		if _, err := srv.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read after EOF = %v, want io.EOF", err)
		}
		// The other direction still works after the half-close.
		if _, err := srv.Write([]byte("ok")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("no")); !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("Write after CloseWrite = %v, want EPIPE", err)
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ok" {
			t.Fatalf("ReadFull = %q, %v", buf, err)
		}
	})

	t.Run("ErrClosed", func(t *testing.T) {
		t.Parallel()
		c, _ := pipe(t, s, "tcp", "127.0.0.1:0")
		errc := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 1))
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond)
		must(t, c.Close())
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked Read after Close = %v, want net.ErrClosed", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v, want net.ErrClosed", err)
		}
	})

	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		c, srv := pipe(t, s, "tcp", "127.0.0.1:0")
		must(t, s.SetSockOpt(srv.(*Conn).FD(), SOL_SOCKET, SO_LINGER, 0))
		must(t, srv.Close())
		_, err := c.Read(make([]byte, 1))
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) || oe.Op != "read" || oe.Net != "tcp" {
			t.Fatalf("Read after RST = %#v, want *net.OpError wrapping ECONNRESET", err)
		}
	})

	t.Run("listener", func(t *testing.T) {
		t.Parallel()
		ln, err := s.Listener("tcp4", "127.0.0.1:0")
		must(t, err)
		errc := make(chan error, 1)
		go func() {
			_, err := ln.Accept()
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond)
		must(t, ln.Close())
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	})
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	ctx := testContext(t)

	_, err := s.Dial(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", closedPort(t, s)))
	var oe *net.OpError
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) || oe.Op != "dial" || oe.Addr == nil {
		t.Fatalf("Dial to closed port = %#v, want dial *net.OpError wrapping ECONNREFUSED", err)
	}

	// A listener whose queue is full drops the SYN, so the dial waits
	// until the context's deadline.
	ln, err := s.Listener("tcp4", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	must(t, s.Listen(ln.FD(), 0))
	first, err := s.Dial(ctx, "tcp", ln.Addr().String())
	must(t, err)
	defer first.Close()
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = s.Dial(dctx, "tcp", ln.Addr().String())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial past deadline = %v, want a timeout matching context.DeadlineExceeded", err)
	}

	for _, addr := range []string{"example.com:80", "127.0.0.1", "127.0.0.1:http-nope"} {
		if _, err := s.Dial(ctx, "tcp", addr); err == nil {
			t.Errorf("Dial(%q) succeeded", addr)
		}
	}
	if _, err := s.Dial(ctx, "unix", "/tmp/x"); err == nil {
		t.Errorf("Dial(unix) succeeded")
	}
	if len(s.Table()) != 2 {
		t.Errorf("failed dials left sockets behind: %+v", s.Table())
	}
}

func TestBulk1MiB(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	c, srv := pipe(t, s, "tcp", "127.0.0.1:0")
	data := make([]byte, 1<<20)
	rand.Read(data)
	go func() {
		if _, err := c.Write(data); err != nil {
			t.Error(err)
		}
		c.(*Conn).CloseWrite()
	}()
	got, err := io.ReadAll(srv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, want the 1 MiB sent", len(got))
	}
}

func TestPacketConn(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	pc, err := s.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	defer pc.Close()
	c, err := s.Dial(testContext(t), "udp", pc.LocalAddr().String())
	must(t, err)
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != c.LocalAddr().String() {
		t.Fatalf("ReadFrom = %q from %v, %v", buf[:n], from, err)
	}
	if _, err := pc.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	must(t, pc.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	if _, _, err := pc.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom past deadline = %v", err)
	}
}

func BenchmarkConnThroughput(b *testing.B) {
	s := newSockets(b, Options{})
	c, srv := pipe(b, s, "tcp", "127.0.0.1:0")
	buf := make([]byte, 64<<10)
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, srv)
		close(done)
	}()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.(*Conn).CloseWrite()
	<-done
}

// TestDeadlineReuse: calls without a deadline take no channel, so they
// allocate nothing, and a deadline set and cleared gives its channel back.
func TestDeadlineReuse(t *testing.T) {
	var d deadline
	clk := tcpip.NewStdClock()
	avg := testing.AllocsPerRun(200, func() {
		d.enter()
		if d.done() != nil {
			t.Fatal("a call without a deadline has a channel")
		}
		d.leave()
	})
	if avg != 0 {
		t.Errorf("%.2f allocations per call without a deadline", avg)
	}
	for range 3 {
		d.set(time.Now().Add(time.Hour), clk)
		d.set(time.Time{}, clk)
	}
	if d.ch.Load() != nil {
		t.Error("an idle deadline holds a channel")
	}
}

// TestPassedDeadlineAllocs: a deadline set in the past while no channel
// is out (net/http ends every request's background read so, and a
// hijack's) takes a channel that is closed already, shared, instead of
// making one to close; the call that holds a channel still has it closed.
func TestPassedDeadlineAllocs(t *testing.T) {
	var d deadline
	clk := tcpip.NewStdClock()
	past := time.Unix(1, 0)
	avg := testing.AllocsPerRun(200, func() {
		d.set(past, clk)
		if !d.passed() {
			t.Fatal("a deadline in the past has not passed")
		}
		d.set(time.Time{}, clk)
		if d.passed() {
			t.Fatal("a cleared deadline has passed")
		}
	})
	if avg != 0 {
		t.Errorf("%.2f allocations per deadline set in the past and cleared, want 0", avg)
	}
	held := d.hold()
	d.set(past, clk)
	if !isClosed(held) {
		t.Error("a deadline in the past left the channel a call holds open")
	}
	d.set(time.Time{}, clk)
	if d.passed() || d.ch.Load() != nil {
		t.Error("a cleared deadline kept its passed channel")
	}
}

// TestReadWithoutDeadlineTakesNoChannel: a Read without a deadline sleeps
// on its wait queue alone, with no deadline channel to select on, and a
// deadline set meanwhile still wakes it (wakesBlockedRead).
func TestReadWithoutDeadlineTakesNoChannel(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	_, srv := pipe(t, s, "tcp4", "127.0.0.1:0")
	sc := srv.(*Conn)
	errc := make(chan error, 1)
	go func() {
		_, err := srv.Read(make([]byte, 8))
		errc <- err
	}()
	for sc.so.wq.IsEmpty() {
		time.Sleep(time.Millisecond)
	}
	if sc.rd.done() != nil {
		t.Error("a Read without a deadline holds a deadline channel")
	}
	must(t, srv.SetReadDeadline(time.Now().Add(-time.Second)))
	select {
	case err := <-errc:
		checkTimeout(t, err, "read")
	case <-testContext(t).Done():
		t.Fatal("a deadline set during a Read did not wake it")
	}
}

// wakesBlockedRead starts a Read on srv, waits until it is asleep on the
// socket's wait queue, sets the read deadline d and checks that the Read
// wakes with a timeout.
func wakesBlockedRead(t *testing.T, srv net.Conn, d time.Time) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := srv.Read(make([]byte, 8))
		errc <- err
	}()
	so := srv.(*Conn).so
	for so.wq.IsEmpty() {
		time.Sleep(time.Millisecond)
	}
	must(t, srv.SetReadDeadline(d))
	select {
	case err := <-errc:
		checkTimeout(t, err, "read")
	case <-testContext(t).Done():
		t.Fatal("a deadline set during a Read did not wake it")
	}
}

// TestListenerDeadline: Listener.SetDeadline bounds Accept as
// net.TCPListener's does: a deadline passed fails it at once, one brought
// in wakes an Accept already waiting, a cleared one lets it take the next
// connection, and after Close it is net.ErrClosed.
func TestListenerDeadline(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	ln, err := s.Listener("tcp4", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	checkAcceptTimeout := func(err error) {
		t.Helper()
		var ne net.Error
		var oe *net.OpError
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "accept" || oe.Addr == nil {
			t.Fatalf("Accept past its deadline: %#v, want a *net.OpError accept timeout wrapping os.ErrDeadlineExceeded", err)
		}
	}
	must(t, ln.SetDeadline(time.Now().Add(-time.Second)))
	_, err = ln.Accept()
	checkAcceptTimeout(err)

	// An Accept asleep under an hour's deadline, or under none, wakes
	// when one is brought in.
	errc := make(chan error, 1)
	for _, before := range []time.Time{time.Now().Add(time.Hour), {}} {
		must(t, ln.SetDeadline(before))
		go func() {
			_, err := ln.Accept()
			errc <- err
		}()
		for ln.so.wq.IsEmpty() {
			time.Sleep(time.Millisecond)
		}
		must(t, ln.SetDeadline(time.Now().Add(10*time.Millisecond)))
		select {
		case err := <-errc:
			checkAcceptTimeout(err)
		case <-testContext(t).Done():
			t.Fatalf("a deadline set during an Accept (deadline before: %v) did not wake it", before)
		}
	}

	// Cleared, Accept takes the next connection.
	must(t, ln.SetDeadline(time.Time{}))
	go func() {
		c, err := ln.Accept()
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	c, err := s.Dial(testContext(t), "tcp4", ln.Addr().String())
	must(t, err)
	defer c.Close()
	if err := <-errc; err != nil {
		t.Fatalf("Accept with the deadline cleared: %v", err)
	}

	must(t, ln.Close())
	if err := ln.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetDeadline after Close: %v, want net.ErrClosed", err)
	}
}

// TestDeadlineOnStackClock: a Conn's deadline is measured on its stack's
// clock, so it does not pass while that clock stands still (the browser
// view pauses it while a step or a held send waits for a person), and it
// passes when the clock moves on, whatever the wall clock did.
func TestDeadlineOnStackClock(t *testing.T) {
	t.Parallel()
	clk := faketime.NewManualClock()
	st, destroy := loopbackStackWith(clk)
	t.Cleanup(destroy)
	s := New(st, Options{})
	ln, err := s.Listener("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := s.Dial(testContext(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if srv := <-accepted; srv != nil {
		defer srv.Close()
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Read returned %v after a 50 ms deadline that the stack's clock has not reached", err)
	case <-time.After(300 * time.Millisecond):
	}
	clk.Advance(60 * time.Millisecond)
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want the deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the deadline did not pass when the stack's clock did")
	}
}

// TestConnAddrsMadeOnce checks that a Conn's addresses are made when the
// Conn is, as the net package's are: LocalAddr and RemoteAddr return the
// same values every time, without allocating, and an unconnected
// datagram Conn's RemoteAddr is a nil interface.
func TestConnAddrsMadeOnce(t *testing.T) {
	s := newSockets(t, Options{})
	client, server := pipe(t, s, "tcp4", "127.0.0.1:0")
	for _, c := range []net.Conn{client, server} {
		if c.LocalAddr() != c.LocalAddr() || c.RemoteAddr() != c.RemoteAddr() {
			t.Errorf("%v -> %v: LocalAddr or RemoteAddr made anew for each call", c.LocalAddr(), c.RemoteAddr())
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = c.LocalAddr(), c.RemoteAddr() }); n != 0 {
			t.Errorf("LocalAddr and RemoteAddr allocate %v times per call", n)
		}
	}
	if client.LocalAddr().String() != server.RemoteAddr().String() || client.RemoteAddr().String() != server.LocalAddr().String() {
		t.Errorf("client %v -> %v, server %v -> %v", client.LocalAddr(), client.RemoteAddr(), server.LocalAddr(), server.RemoteAddr())
	}
	pc, err := s.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	defer pc.Close()
	if ra := pc.RemoteAddr(); ra != nil {
		t.Errorf("unconnected datagram socket: RemoteAddr = %#v, want nil", ra)
	}
}

// BenchmarkConnEchoSmall is a 64-byte echo between two Conns of one stack:
// a Write, the peer's Read and Write, and the Read of the echo, each Read
// usually asleep until its bytes come (the wait path of a busy server).
func BenchmarkConnEchoSmall(b *testing.B) {
	s := newSockets(b, Options{})
	c, srv := pipe(b, s, "tcp", "127.0.0.1:0")
	echobench.Run(b, c, srv, 64)
}
