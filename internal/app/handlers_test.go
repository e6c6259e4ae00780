package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// TestChatSlowMember runs /chat with two members that read and one that
// reads nothing: the readers get every message in order while the slow
// member falls behind, the slow member is dropped with close 1008 once it
// is the limit behind (which it sees when it reads at last), and the room
// never held more than the limit and a line.
func TestChatSlowMember(t *testing.T) {
	const limit = 64 << 10
	h := &Handlers{ChatQueueLimit: limit}
	ctx, dial := serveChat(t, h, nil)
	members := h.room.size
	slow := dial(4096)
	fast := []*ws.Conn{dial(0), dial(0)}
	for members() < 3 {
		// Each join is broadcast; wait for the server to see all three.
		if _, _, err := fast[1].ReadMessage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The server side of the slow member.
	var slowSrv *ws.Conn
	h.room.mu.Lock()
	for c := range h.room.members {
		if c.RemoteAddr().String() == slow.LocalAddr().String() {
			slowSrv = c
		}
	}
	h.room.mu.Unlock()
	if slowSrv == nil {
		t.Fatal("the slow member is not in the chat")
	}

	// A fast member talks until the slow member has been dropped; both
	// fast members must hear every line, in order, meanwhile.
	pad := strings.Repeat("x", 8<<10)
	sent := 0
	for members() == 3 {
		if sent == 20000 {
			t.Fatalf("the slow member is still in the chat after %d messages", sent)
		}
		if held := h.room.heldBytes(); held >= limit+len(pad)+100 {
			t.Fatalf("the room holds %d bytes of lines, limit %d and a line", held, limit)
		}
		line := fmt.Sprintf("line %d %s", sent, pad)
		if err := fast[0].WriteMessage(ctx, ws.MessageText, []byte(line)); err != nil {
			t.Fatal(err)
		}
		for _, c := range fast {
			for {
				_, p, err := c.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("fast member after %d lines: %v", sent, err)
				}
				if strings.HasPrefix(string(p), "*") {
					continue // joins and leaves
				}
				_, got, _ := strings.Cut(string(p), ": ")
				if got != line {
					t.Fatalf("fast member got %.40q, want %.40q", got, line)
				}
				break
			}
		}
		sent++
	}
	t.Logf("slow member dropped after %d lines", sent)

	// The slow member reads at last: lines, then close 1008.
	for {
		_, p, err := slow.ReadMessage(ctx)
		if err != nil {
			if ws.CloseStatus(err) != ws.StatusPolicyViolation {
				t.Fatalf("slow member: %v, want close 1008", err)
			}
			break
		}
		if !strings.HasPrefix(string(p), "*") && !strings.Contains(string(p), ": line ") {
			t.Fatalf("slow member got %.40q", p)
		}
	}

	// The chat goes on for the others.
	if err := fast[1].WriteMessage(ctx, ws.MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	for {
		_, p, err := fast[0].ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(string(p), ": still here") {
			break
		}
	}
}

// TestAnnouncedBodyNeverSent: a request that announces a body and never
// sends it gets its answer at once and its connection closed, whether it
// is a WebSocket upgrade (400: an opening handshake has no body), the
// page, or a method no handler takes. Before, net/http waited to read the
// body before answering, for ever, and the connection held its place.
func TestAnnouncedBodyNeverSent(t *testing.T) {
	h := &Handlers{}
	srv := httptest.NewServer(h.Mux())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.CloseAll() })
	upgrade := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, tc := range []struct{ req, status string }{
		{"GET /echo HTTP/1.1\r\nHost: x\r\n" + upgrade + "Content-Length: 5\r\n\r\n", "400"},
		{"GET /echo HTTP/1.1\r\nHost: x\r\n" + upgrade + "Transfer-Encoding: chunked\r\n\r\n", "400"},
		{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", "200"},
		// a body of unknown length (ContentLength -1), never sent
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "200"},
		{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", "405"},
	} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(tc.req)); err != nil {
			t.Fatal(err)
		}
		// The answer, then the end of the connection, within the deadline.
		got, err := io.ReadAll(c)
		c.Close()
		line, _, _ := strings.Cut(string(got), "\r\n")
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("%.40q...: got %q, %v; want %s and the connection closed", tc.req, line, err, tc.status)
		}
	}
}

// TestUpgradeAnsweredByMuxCloses: an upgrade request that no WebSocket
// takes (a path serve does not have, the page) is answered once, with
// Connection: close, and the connection ends; the frame the client sent
// behind it is not read as a second request.
func TestUpgradeAnsweredByMuxCloses(t *testing.T) {
	h := &Handlers{}
	srv := httptest.NewServer(h.Mux())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.CloseAll() })
	upgrade := "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	frame := ws.AppendHeader(nil, ws.Header{Fin: true, Opcode: ws.OpText, Masked: true, Length: 5})
	frame = append(frame, "hello"...)
	for _, tc := range []struct{ path, status string }{{"/nope", "404"}, {"/echo/", "404"}, {"/", "200"}} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(append([]byte("GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n"+upgrade), frame...)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Errorf("%s: %v after %q; want the connection closed after the answer", tc.path, err, got)
			continue
		}
		if n := strings.Count(string(got), "HTTP/1.1 "); n != 1 || !strings.HasPrefix(string(got), "HTTP/1.1 "+tc.status+" ") || !strings.Contains(string(got), "\r\nConnection: close\r\n") {
			t.Errorf("%s: got %d answers, %.60q; want one %s with Connection: close", tc.path, n, got, tc.status)
		}
	}
}

// TestChatMessageBoundedByQueue: a /chat line is copied into every
// member's queue, so a line longer than the queue limit is refused with
// 1009 instead of costing MaxMessage bytes per member; a line within the
// limit is still broadcast.
func TestChatMessageBoundedByQueue(t *testing.T) {
	const limit = 64 << 10
	h := &Handlers{ChatQueueLimit: limit, MaxMessage: 16 << 20}
	t.Cleanup(func() { h.CloseAll() })
	ctx, dial, _ := serveHandlers(t, h, "/chat")
	c := dial(&ws.DialOptions{ConnOptions: ws.ConnOptions{MaxMessageSize: 32 << 20}})
	// readLine returns the next line that is not a join or a leave.
	readLine := func() (string, error) {
		for {
			_, p, err := c.ReadMessage(ctx)
			if err != nil || !strings.HasPrefix(string(p), "*") {
				return string(p), err
			}
		}
	}

	within := strings.Repeat("a", limit)
	if err := c.WriteMessage(ctx, ws.MessageText, []byte(within)); err != nil {
		t.Fatal(err)
	}
	if got, err := readLine(); err != nil || !strings.HasSuffix(got, ": "+within) {
		t.Fatalf("a line of %d bytes: got %d bytes, %v; want it broadcast", limit, len(got), err)
	}
	if err := c.WriteMessage(ctx, ws.MessageText, []byte(within+"a")); err != nil {
		t.Fatal(err)
	}
	if got, err := readLine(); ws.CloseStatus(err) != ws.StatusMessageTooBig {
		t.Fatalf("a line of %d bytes: got %d bytes, %v; want close 1009", limit+1, len(got), err)
	}
}

// TestWSEndsCounted: the upgrades refused and the ways WebSockets end are
// counted for glassnet ss, one key per kind.
func TestWSEndsCounted(t *testing.T) {
	h := &Handlers{}
	t.Cleanup(func() { h.CloseAll() })
	ctx, dial, addr := serveHandlers(t, h, "/echo")
	url := "ws://" + addr + "/echo"

	// A page on another site: 403.
	foreign := &ws.DialOptions{Header: map[string][]string{"Origin": {"http://evil.example"}}}
	if _, _, err := ws.Dial(ctx, url, foreign); err == nil {
		t.Fatal("an upgrade from a foreign origin was accepted")
	}
	// A close handshake.
	if err := dial(nil).Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	// A reset.
	c := dial(nil)
	if err := c.WriteMessage(ctx, ws.MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(ctx); err != nil {
		t.Fatal(err)
	}
	c.NetConn().(*net.TCPConn).SetLinger(0)
	c.CloseNow()
	// A FIN without a close frame: 1006.
	c = dial(nil)
	if err := c.WriteMessage(ctx, ws.MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(ctx); err != nil {
		t.Fatal(err)
	}
	c.NetConn().Close()
	// A text frame that is not UTF-8 (masked with a zero key): 1007.
	raw := func(frame []byte) {
		nc, _ := rawUpgrade(t, addr)
		nc.Write(frame)
		// The server answers with a close and half-closes; closing here
		// too spares it the wait for this side's close.
		io.Copy(io.Discard, nc)
		nc.Close()
	}
	raw([]byte{0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe})
	// An unmasked client frame: 1002.
	raw([]byte{0x81, 0x02, 'h', 'i'})

	want := map[string]uint64{
		"ws upgrades refused 403":                          1,
		"ws ends: close handshake":                         1,
		"ws ends: tcp reset by the peer":                   1,
		"ws ends: failed 1002 (protocol error)":            1,
		"ws ends: tcp closed without a close frame (1006)": 1,
		"ws ends: failed 1007 (invalid UTF-8)":             1,
	}
	waitEnds(t, h, want)
}

// TestWSEndsCloseNotAnswered: a WebSocket serve closes for being idle,
// whose peer answers its pings but never its close frame, is ended with a
// reset after the close timeout and counted as a close not answered, not
// among "other errors".
func TestWSEndsCloseNotAnswered(t *testing.T) {
	t.Parallel()
	// Pinged every second: time enough for a pong under load.
	h := &Handlers{IdleTimeout: 3 * time.Second}
	t.Cleanup(func() { h.CloseAll() })
	_, _, addr := serveHandlers(t, h, "/echo")
	nc, br := rawUpgrade(t, addr)
	var closed bool
	for {
		f, err := ws.ReadFrame(br)
		if err != nil {
			break // the reset
		}
		switch f.Header.Opcode {
		case ws.OpPing:
			pong := ws.NewFrame(true, ws.OpPong, f.Payload)
			pong.Header.Masked = true
			if err := ws.WriteFrame(nc, pong); err != nil {
				t.Fatal(err)
			}
		case ws.OpClose:
			closed = true // and not answered
		}
	}
	if !closed {
		t.Fatal("the connection ended without a close frame")
	}
	waitEnds(t, h, map[string]uint64{"ws ends: close not answered (reset)": 1})
}

// waitEnds waits until h's counts of how WebSockets ended are want.
func waitEnds(t *testing.T, h *Handlers, want map[string]uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		got := map[string]uint64{}
		h.ends.counters(got)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters %v, want %v", got, want)
		}
	}
}

// TestWSEndsResetAfterFIN: a client that sends a message, half-closes and
// resets while the echo is on its way (close(2) with unread data) makes the
// echo's write fail with EPIPE, which Linux reports for a reset after the
// peer's FIN; it is counted as the reset it is, not as another error.
func TestWSEndsResetAfterFIN(t *testing.T) {
	h := &Handlers{MaxMessage: 64 << 20}
	t.Cleanup(func() { h.CloseAll() })
	ctx, dial, _ := serveHandlers(t, h, "/echo")
	c := dial(&ws.DialOptions{ConnOptions: ws.ConnOptions{MaxMessageSize: 64 << 20}})
	// More than loopback's buffers hold: the echo's write waits for room.
	if err := c.WriteMessage(ctx, ws.MessageBinary, make([]byte, 32<<20)); err != nil {
		t.Fatal(err)
	}
	tc := c.NetConn().(*net.TCPConn)
	if err := tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// The echo has begun once its first byte arrives.
	if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	tc.SetLinger(0)
	tc.Close()
	want := map[string]uint64{"ws ends: tcp reset by the peer": 1}
	waitEnds(t, h, want)
}

// TestCloseAllPeerNotReading: serve's shutdown does not wait out the close
// timeout (5 s) for a client that reads nothing, whose send buffer the
// echo has filled: CloseAll ends it after closeAllWait, with the clients
// that do read closed normally.
func TestCloseAllPeerNotReading(t *testing.T) {
	h := &Handlers{MaxMessage: 32 << 20}
	ctx, dial, _ := serveHandlers(t, h, "/echo")
	stuck := dial(&ws.DialOptions{ConnOptions: ws.ConnOptions{MaxMessageSize: 32 << 20}})
	good := dial(nil)
	goodDone := make(chan error, 1)
	go func() {
		_, _, err := good.ReadMessage(ctx)
		goodDone <- err
	}()
	// 16 MiB echoed to a client that never reads: the echo's write waits
	// for room that never comes.
	if err := stuck.WriteMessage(ctx, ws.MessageBinary, make([]byte, 16<<20)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	h.CloseAll()
	if took := time.Since(start); took > 3*closeAllWait {
		t.Errorf("CloseAll took %v with a client that reads nothing, want about %v", took, closeAllWait)
	}
	if err := <-goodDone; ws.CloseStatus(err) != ws.StatusGoingAway {
		t.Errorf("the client that reads got %v, want close 1001", err)
	}
}

// TestCloseAllUpgradeUnderWay: a WebSocket whose upgrade is under way when
// CloseAll begins gets its close 1001 from CloseAll, before CloseAll
// returns, as the open ones do. It used to get it from the upgrade once
// CloseAll had returned, and serve, which closes its stack after
// CloseAll, reset a client that had connected just before ^C instead.
func TestCloseAllUpgradeUnderWay(t *testing.T) {
	var closeSent atomic.Bool
	h := &Handlers{FrameHook: ws.FrameHookFunc(func(f *ws.HookFrame) ws.FrameVerdict {
		if f.Dir == trace.Out && f.Header.Opcode == ws.OpClose {
			closeSent.Store(true)
		}
		return ws.FrameVerdict{}
	})}
	srv := httptest.NewUnstartedServer(h.Mux())
	conns := make(chan *gatedConn, 1)
	srv.Listener = shutListener{gatedListener{srv.Listener, conns}}
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := testCtx(t)

	read := make(chan error, 1)
	go func() {
		c, _, err := ws.Dial(ctx, "ws://"+srv.Listener.Addr().String()+"/echo", nil)
		if err != nil {
			read <- err
			return
		}
		defer c.CloseNow()
		_, _, err = c.ReadMessage(ctx)
		read <- err
	}()
	// The upgrade is under way: its 101 waits at the gate.
	gate := <-conns
	for !gate.waiting.Load() {
		if ctx.Err() != nil {
			t.Fatal("the server never wrote its 101")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		h.CloseAll()
		close(closed)
	}()
	for closing := false; !closing; {
		if ctx.Err() != nil {
			t.Fatal("CloseAll never began")
		}
		time.Sleep(time.Millisecond)
		h.mu.Lock()
		closing = h.closing
		h.mu.Unlock()
	}
	close(gate.open)
	<-closed
	if !closeSent.Load() {
		t.Error("CloseAll returned before the WebSocket upgraded while it ran got its close frame")
	}
	if err := <-read; ws.CloseStatus(err) != ws.StatusGoingAway {
		t.Errorf("the client read %v, want close 1001", err)
	}
}

// shutListener is a gatedListener whose connections start with the gate
// shut.
type shutListener struct{ gatedListener }

func (l shutListener) Accept() (net.Conn, error) {
	c, err := l.gatedListener.Accept()
	if err != nil {
		return nil, err
	}
	c.(*gatedConn).shut.Store(true)
	return c, nil
}

// serveHandlers serves h's handlers on a test server and returns a context
// for the test, a function that dials path there, and the server's
// address.
func serveHandlers(t *testing.T, h *Handlers, path string) (context.Context, func(*ws.DialOptions) *ws.Conn, string) {
	t.Helper()
	srv := httptest.NewServer(h.Mux())
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	url := "ws://" + addr + path
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, func(opts *ws.DialOptions) *ws.Conn {
		t.Helper()
		c, _, err := ws.Dial(ctx, url, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}, addr
}

// serveChat serves h's /chat on the kernel's loopback, through wrap's
// listener if wrap is not nil, and returns a context for the test and a
// dial for members whose sockets have a receive buffer of rcvbuf bytes.
func serveChat(t *testing.T, h *Handlers, wrap func(net.Listener) net.Listener) (context.Context, func(rcvbuf int) *ws.Conn) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h.Mux())
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.CloseAll() })
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/chat"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, func(rcvbuf int) *ws.Conn { return dialChat(t, ctx, url, rcvbuf) }
}

// dialChat opens a WebSocket to url whose socket has a receive buffer of
// rcvbuf bytes (0: the kernel's), so that the kernel holds little of what
// a member that does not read is sent.
func dialChat(t *testing.T, ctx context.Context, url string, rcvbuf int) *ws.Conn {
	t.Helper()
	opts := &ws.DialOptions{}
	if rcvbuf > 0 {
		opts.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
				})
				return nil
			}}
			return d.DialContext(ctx, network, addr)
		}
	}
	c, _, err := ws.Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestIdleEchoReadSlowly checks that an echo the peer reads slowly, over
// several idle timeouts, is not taken for silence: serve neither closes
// it as idle nor fails it for a ping that waits behind the echo, and the
// whole echo arrives.
func TestIdleEchoReadSlowly(t *testing.T) {
	t.Parallel()
	// The keepalive pings every third of the idle timeout and fails the
	// connection when neither a pong nor a byte of the message came in
	// that time. With 600 ms, on two busy cores running this package's
	// tests in parallel under the race detector, the message's bytes
	// stopped for longer than those 200 ms about one run in six, and the
	// connection failed with 1011 while the client was still writing.
	const idle = 2 * time.Second
	m := startMemServe(t, "slowread0", ServeConfig{IdleTimeout: idle})
	// The client's receive buffer is small, as an application's that
	// reads slowly soon makes it: what the server sent waits in the
	// server's send queue, not acknowledged in the client's buffer.
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 64 << 10, Max: 64 << 10}
	moderate := tcpip.TCPModerateReceiveBufferOption(false)
	for _, o := range []tcpip.SettableTransportProtocolOption{&rcv, &moderate} {
		if err := m.clientStack.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testCtx(t)
	c, _, err := m.dialWS(t, "/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3 MiB at no more than 400 KB/s: the echo's write lasts while
	// the server's send buffer takes it, and the buffer's last
	// megabyte takes longer than an idle timeout to be read.
	msg := bytes.Repeat([]byte("slowly read "), (3<<20)/12)
	start := time.Now()
	if err := c.WriteMessage(ctx, ws.MessageBinary, msg); err != nil {
		t.Fatalf("writing the message: %v after %v (%v)", err, time.Since(start), m.counters())
	}
	want := int64(ws.Header{Fin: true, Opcode: ws.OpBinary, Length: int64(len(msg))}.Size() + len(msg))
	nc := c.NetConn()
	buf := make([]byte, 8<<10)
	start = time.Now()
	var got int64
	for got < want {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := nc.Read(buf[:min(int64(len(buf)), want-got)])
		got += int64(n)
		if err != nil {
			t.Fatalf("reading the echo: %v after %d of %d bytes in %v (%v)", err, got, want, time.Since(start), m.counters())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d < 2*idle {
		t.Logf("the echo was read in %v, within two idle timeouts: the test proves less", d)
	}
	counters := m.counters()
	for _, k := range []string{"conns closed idle (idle-timeout)", "ws ends: failed 1011 (keepalive: no pong)"} {
		if counters[k] != 0 {
			t.Errorf("%s = %d, want 0 for a peer reading its echo", k, counters[k])
		}
	}
}

// TestIdleDeadPeerFailsFirst checks that a WebSocket whose peer answers
// no ping ends one way: failed by the keepalive (1011) before the idle
// timer would close it (1001), for every such connection.
func TestIdleDeadPeerFailsFirst(t *testing.T) {
	t.Parallel()
	// The keepalive fails a connection two thirds of an idle timeout
	// after the last message, the idle timer closes it after a whole
	// one: 2 s leaves the keepalive 667 ms to be late on a loaded
	// machine before the idle timer comes first.
	const idle = 2 * time.Second
	m := startMemServe(t, "deadpeer0", ServeConfig{IdleTimeout: idle})
	const n = 8
	for range n {
		c, _, err := m.dialWS(t, "/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = c // never read: no pong goes back
	}
	m.waitCounter(t, "ws ends: failed 1011 (keepalive: no pong)", n)
	if k := m.counters()["conns closed idle (idle-timeout)"]; k != 0 {
		t.Errorf("%d of %d dead peers closed as idle, want every one failed by the keepalive", k, n)
	}
}
