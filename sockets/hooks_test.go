package sockets_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// tracedPair is p with fresh socket tables whose server side records its
// events into the returned ring.
func tracedPair(t *testing.T) (*stackPair, *trace.Ring) {
	t.Helper()
	p := newStackPair(t, tun.PipeOptions{MTU: 1280})
	ring := trace.NewRing(1 << 16)
	p.ss = sockets.New(p.server.Stack(), sockets.Options{Tracer: trace.New(ring), Node: "server"})
	return p, ring
}

// events returns the events named name (any name when "") about fd.
func events(ring *trace.Ring, fd int, names ...string) []trace.Event {
	var out []trace.Event
	for _, e := range ring.Events() {
		if fieldOf(e, "fd") != fd {
			continue
		}
		for _, n := range names {
			if e.Name == n {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func fieldOf(e trace.Event, key string) any {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// onFD returns a hook that gives v to the calls named name on fd and lets
// every other call pass.
func onFD(fd int, name string, v sockets.CallVerdict) sockets.CallHook {
	return sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		if c.FD == fd && c.Name == name {
			return v
		}
		return sockets.CallVerdict{}
	})
}

// A hook that caps every read at a random 1 to 13 bytes makes Recv return
// short, and the stream still arrives whole and in order.
func TestCallHookShortReads(t *testing.T) {
	p := newStackPair(t, tun.PipeOptions{MTU: 1280})
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)

	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	var capped atomic.Int64
	p.ss.SetCallHook(sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		if c.Name != "recv" || c.FD != sfd {
			return sockets.CallVerdict{}
		}
		mu.Lock()
		n := 1 + rng.IntN(13)
		mu.Unlock()
		capped.Add(1)
		return sockets.CallVerdict{MaxBytes: n, Verdict: hook.Verdict{Rule: "short"}}
	}))

	want := randomBytes(t, 48<<10)
	go func() {
		if _, err := p.cs.Send(ctx, cfd, want, 0); err == nil {
			p.cs.Shutdown(cfd, sockets.SHUT_WR)
		}
	}()
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := p.ss.Recv(ctx, sfd, buf, 0)
		check(t, err)
		if n > 13 {
			t.Fatalf("Recv returned %d bytes under a 13-byte cap", n)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes (sha %x), want %d (sha %x)", len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
	if capped.Load() < int64(len(want)/13) {
		t.Errorf("hook saw %d reads for %d bytes", capped.Load(), len(want))
	}
}

// Spurious wake-ups: a blocked Recv is woken three times with nothing to
// read; each time it re-checks, goes back to sleep, and the trace shows
// woken (spurious) followed by would-block. The real data still arrives.
func TestCallHookSpuriousWakeups(t *testing.T) {
	p, ring := tracedPair(t)
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)
	p.ss.SetCallHook(onFD(sfd, "recv", sockets.CallVerdict{
		Spurious: 3, Verdict: hook.Verdict{Reason: "test", Rule: "spurious"},
	}))

	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, err := p.ss.Recv(ctx, sfd, buf, 0)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	waitUntil(t, "three spurious wake-ups", func() bool {
		n := 0
		for _, e := range events(ring, sfd, "woken") {
			if fieldOf(e, "spurious") == true {
				n++
			}
		}
		return n == 3 && len(events(ring, sfd, "would-block")) == 4
	})
	if _, err := p.cs.Send(ctx, cfd, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "hello" {
		t.Fatalf("Recv = %q, want hello", s)
	}

	// The order on fd: verdict, then would-block and a spurious woken
	// three times, then the real sleep and the real wake-up.
	var seq []string
	for _, e := range events(ring, sfd, "verdict", "would-block", "woken", "recv") {
		name := e.Name
		if fieldOf(e, "spurious") == true {
			name += "(spurious)"
		}
		seq = append(seq, name)
	}
	want := "verdict would-block woken(spurious) would-block woken(spurious) would-block woken(spurious) would-block woken recv"
	if got := strings.Join(seq, " "); got != want {
		t.Errorf("events on fd %d:\n got %s\nwant %s", sfd, got, want)
	}
	v := events(ring, sfd, "verdict")
	if len(v) != 1 || fieldOf(v[0], "action") != "modify" || fieldOf(v[0], "rule") != "spurious" ||
		fieldOf(v[0], "reason") != "test" || fieldOf(v[0], "effect") != "3 spurious wake-ups" {
		t.Errorf("verdict events = %+v", v)
	}
}

// A late wake-up holds a blocked Recv for the delay after the data has
// arrived.
func TestCallHookLateWakeup(t *testing.T) {
	p, ring := tracedPair(t)
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)
	const delay = 150 * time.Millisecond
	p.ss.SetCallHook(onFD(sfd, "recv", sockets.CallVerdict{
		Verdict: hook.Verdict{Action: hook.Delay, Delay: delay, Rule: "late"},
	}))

	done := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 64)
		p.ss.Recv(ctx, sfd, buf, 0)
		done <- time.Now()
	}()
	waitUntil(t, "Recv to sleep", func() bool { return len(events(ring, sfd, "would-block")) > 0 })
	sent := time.Now()
	check(t, errOnly(p.cs.Send(ctx, cfd, []byte("x"), 0)))
	if took := (<-done).Sub(sent); took < delay {
		t.Errorf("Recv returned %v after the send, want at least %v", took, delay)
	}
	v := events(ring, sfd, "verdict")
	if len(v) != 1 || fieldOf(v[0], "action") != "delay" || fieldOf(v[0], "effect") != "wake-ups 150ms late" {
		t.Errorf("verdict events = %+v", v)
	}
}

func errOnly(_ int, err error) error { return err }

// Forced EAGAIN: a nonblocking Recv on a socket with data buffered returns
// EAGAIN while the hook is installed, and the data once it is removed.
func TestCallHookForcedEAGAIN(t *testing.T) {
	p, ring := tracedPair(t)
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)
	check(t, errOnly(p.cs.Send(ctx, cfd, []byte("data"), 0)))
	if r := pollFor(t, p.ss, sfd, sockets.POLLIN); r&sockets.POLLIN == 0 {
		t.Fatalf("revents %#x, want POLLIN", r)
	}
	check(t, p.ss.SetNonblock(sfd, true))
	p.ss.SetCallHook(onFD(sfd, "recv", sockets.CallVerdict{Err: syscall.EAGAIN, Verdict: hook.Verdict{Rule: "eagain"}}))
	buf := make([]byte, 64)
	for range 3 {
		if n, err := p.ss.Recv(ctx, sfd, buf, 0); !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("Recv with the hook = %d, %v; want EAGAIN", n, err)
		}
	}
	if r := pollFor(t, p.ss, sfd, sockets.POLLIN); r&sockets.POLLIN == 0 {
		t.Fatalf("revents %#x after forced EAGAIN, want POLLIN (the data is still there)", r)
	}
	p.ss.SetCallHook(nil)
	n, err := p.ss.Recv(ctx, sfd, buf, 0)
	if err != nil || string(buf[:n]) != "data" {
		t.Fatalf("Recv without the hook = %q, %v", buf[:n], err)
	}
	v := events(ring, sfd, "verdict")
	if len(v) != 3 || fieldOf(v[0], "effect") != "forced EAGAIN" || fieldOf(v[0], "rule") != "eagain" {
		t.Errorf("verdict events = %+v", v)
	}
	if got := p.ss.CallVerdicts(); len(got) != 1 || got[hook.VerdictKey{Point: "recv", Action: hook.Modify}] != 3 {
		t.Errorf("CallVerdicts = %v", got)
	}
}

// A forced zero window: the server holds its reads, its receive buffer
// fills, it advertises a zero window, and the client's sends stall with a
// growing Send-Q. After Release every byte arrives intact.
func TestCallHookZeroWindow(t *testing.T) {
	p, ring := tracedPair(t)
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)
	z := sockets.NewZeroWindow(sfd)
	p.ss.SetCallHook(z)

	want := randomBytes(t, 4<<20)
	received := make(chan []byte, 1)
	go func() {
		b, err := recvToEOF(t, p.ss, sfd)
		if err != nil {
			t.Errorf("server Recv: %v", err)
		}
		received <- b
	}()

	// Fill everything the client can queue.
	check(t, p.cs.SetNonblock(cfd, true))
	sent := 0
	waitUntil(t, "the client's sends to stall", func() bool {
		n, err := p.cs.Send(ctx, cfd, want[sent:], 0)
		sent += n
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("Send: %v", err)
		}
		if sent == len(want) {
			t.Fatalf("all %d bytes went through a zero window", sent)
		}
		return errors.Is(err, syscall.EAGAIN) && zeroWindow(p.cs, cfd)
	})
	// Nothing moves while the window is closed.
	time.Sleep(100 * time.Millisecond)
	if n, err := p.cs.Send(ctx, cfd, want[sent:], 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Send into a zero window = %d, %v; want EAGAIN", n, err)
	}
	// The bytes the client has written and the server stack has not
	// received are queued on the client: its Send-Q.
	srv := row(p.ss, sfd)
	sendQ := row(p.cs, cfd).SendQ
	if sendQ <= 0 || srv.RecvQ == 0 {
		t.Errorf("client Send-Q %d, server Recv-Q %d: want both non-zero", sendQ, srv.RecvQ)
	}
	if sendQ+srv.RecvQ != sent {
		t.Errorf("client Send-Q %d + server Recv-Q %d = %d, want the %d bytes sent", sendQ, srv.RecvQ, sendQ+srv.RecvQ, sent)
	}
	if len(events(ring, sfd, "verdict")) == 0 || len(events(ring, sfd, "recv")) != 0 {
		t.Errorf("want a hold verdict and no recv on the server")
	}
	t.Logf("stalled after %d bytes: client Send-Q %d, server Recv-Q %d", sent, sendQ, srv.RecvQ)

	z.Release()
	check(t, p.cs.SetNonblock(cfd, false))
	check(t, errOnly(p.cs.Send(ctx, cfd, want[sent:], 0)))
	check(t, p.cs.Shutdown(cfd, sockets.SHUT_WR))
	if got := <-received; !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes (sha %x), want %d (sha %x)", len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
	if len(events(ring, sfd, "released")) == 0 {
		t.Error("no released event")
	}
}

// zeroWindow reports whether fd's peer advertises a zero window.
func zeroWindow(s *sockets.Sockets, fd int) bool {
	for _, r := range s.Snapshot() {
		if r.FD == fd && r.TCP != nil && r.TCP.Windows {
			return r.TCP.SndWnd == 0
		}
	}
	return false
}

func row(s *sockets.Sockets, fd int) sockets.SocketInfo {
	for _, r := range s.Table() {
		if r.FD == fd {
			return r
		}
	}
	return sockets.SocketInfo{}
}

// Send verdicts: a dropped send reports success and its bytes never
// arrive; a delayed send returns no sooner than the delay.
func TestCallHookSendDropAndDelay(t *testing.T) {
	p := newStackPair(t, tun.PipeOptions{MTU: 1280})
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)
	const delay = 100 * time.Millisecond
	p.cs.SetCallHook(sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		switch {
		case c.Name != "send":
		case bytes.HasPrefix(c.Buf, []byte("drop")):
			return sockets.CallVerdict{Verdict: hook.Verdict{Action: hook.Drop, Reason: "test"}}
		case bytes.HasPrefix(c.Buf, []byte("slow")):
			return sockets.CallVerdict{Verdict: hook.Verdict{Action: hook.Delay, Delay: delay}}
		}
		return sockets.CallVerdict{}
	}))
	for _, m := range []string{"one ", "drop this ", "two "} {
		n, err := p.cs.Send(ctx, cfd, []byte(m), 0)
		if err != nil || n != len(m) {
			t.Fatalf("Send(%q) = %d, %v", m, n, err)
		}
	}
	start := time.Now()
	check(t, errOnly(p.cs.Send(ctx, cfd, []byte("slow"), 0)))
	if took := time.Since(start); took < delay {
		t.Errorf("delayed Send took %v, want at least %v", took, delay)
	}
	check(t, p.cs.Shutdown(cfd, sockets.SHUT_WR))
	got, err := recvToEOF(t, p.ss, sfd)
	check(t, err)
	if string(got) != "one two slow" {
		t.Fatalf("server got %q, want %q", got, "one two slow")
	}
}

// Accept sees the hook too: spurious wake-ups of a blocked Accept.
func TestCallHookAcceptSpurious(t *testing.T) {
	p, ring := tracedPair(t)
	ctx := stacksContext(t)
	lfd, addr := p.listen(t, 4)
	p.ss.SetCallHook(onFD(lfd, "accept", sockets.CallVerdict{Spurious: 2}))
	accepted := make(chan error, 1)
	go func() {
		fd, _, err := p.ss.Accept(ctx, lfd)
		if err == nil {
			p.ss.Close(fd)
		}
		accepted <- err
	}()
	waitUntil(t, "Accept to sleep after its spurious wake-ups", func() bool {
		return len(events(ring, lfd, "would-block")) == 3
	})
	cfd := socket(t, p.cs, sockets.SOCK_STREAM)
	check(t, p.cs.Connect(ctx, cfd, addr))
	check(t, <-accepted)
}

// Holds end when the hook is replaced, not only on Release.
func TestCallHookReplaceReleasesHold(t *testing.T) {
	p := newStackPair(t, tun.PipeOptions{})
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)
	zw := sockets.NewZeroWindow(-1)
	held := make(chan struct{}, 1)
	p.ss.SetCallHook(sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		v := zw.Decide(c)
		if v.Verdict.Action == hook.Hold {
			select {
			case held <- struct{}{}:
			default:
			}
		}
		return v
	}))
	check(t, errOnly(p.cs.Send(ctx, cfd, []byte("x"), 0)))
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 8)
		_, err := p.ss.Recv(ctx, sfd, buf, 0)
		got <- err
	}()
	<-held // the Recv was told to hold: only the replacement below ends it
	select {
	case err := <-got:
		t.Fatalf("held Recv returned: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.ss.SetCallHook(nil)
	check(t, <-got)
	if p.ss.CallHook() != nil {
		t.Error("CallHook after SetCallHook(nil) is not nil")
	}
}

// A held call on a nonblocking socket returns EAGAIN at once instead of
// waiting; a held call on a blocking socket that is closed meanwhile
// returns EBADF, as a recv blocked in the kernel does.
func TestCallHookHoldNonblockAndClose(t *testing.T) {
	p := newStackPair(t, tun.PipeOptions{})
	cfd, sfd := p.connect(t)
	ctx := stacksContext(t)
	check(t, errOnly(p.cs.Send(ctx, cfd, []byte("x"), 0)))
	asked := make(chan struct{}, 16)
	p.ss.SetCallHook(sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		if c.FD != sfd || c.Name != "recv" {
			return sockets.CallVerdict{}
		}
		asked <- struct{}{}
		return sockets.CallVerdict{Verdict: hook.Verdict{Action: hook.Hold, Reason: "test"}}
	}))
	buf := make([]byte, 8)
	check(t, p.ss.SetNonblock(sfd, true))
	if n, err := p.ss.Recv(ctx, sfd, buf, 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("held Recv on a nonblocking socket = %d, %v; want EAGAIN", n, err)
	}
	<-asked
	check(t, p.ss.SetNonblock(sfd, false))
	got := make(chan error, 1)
	go func() {
		_, err := p.ss.Recv(ctx, sfd, buf, 0)
		got <- err
	}()
	<-asked // the Recv is held
	check(t, p.ss.Close(sfd))
	if err := <-got; !errors.Is(err, syscall.EBADF) {
		t.Fatalf("held Recv, then Close = %v; want EBADF", err)
	}
}

// TCP_KEEPIDLE and TCP_KEEPINTVL take a number of seconds from 1, as on
// Linux: 0 is EINVAL, not "off".
func TestKeepaliveOptionRange(t *testing.T) {
	p := newStackPair(t, tun.PipeOptions{})
	fd := socket(t, p.cs, sockets.SOCK_STREAM)
	for _, opt := range []int{sockets.TCP_KEEPIDLE, sockets.TCP_KEEPINTVL} {
		if err := p.cs.SetSockOpt(fd, sockets.IPPROTO_TCP, opt, 0); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetSockOpt(TCP option %d, 0) = %v, want EINVAL", opt, err)
		}
		check(t, p.cs.SetSockOpt(fd, sockets.IPPROTO_TCP, opt, 1))
	}
}
