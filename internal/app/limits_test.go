package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/internal/retry"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

// memServe is serve's server on one end of an in-memory link, with a
// client stack on the other end.
type memServe struct {
	*server
	client      *sockets.Sockets
	clientStack *stack.Stack
	addr        netip.Addr   // the server's
	stop        func() error // shuts serve down and returns what it returned
}

// startMemServe runs serve's services (what Serve runs on a TUN) on an
// in-memory device named name until the test ends; cfg.Log, if set, gets
// what serve says, and cfg.Addrs, if set, replace demoServerAddr.
func startMemServe(t testing.TB, name string, cfg ServeConfig) *memServe {
	t.Helper()
	cdev, sdev := tun.Pipe(tun.PipeOptions{NameA: name + "-c", NameB: name})
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []netip.Prefix{demoServerAddr}
	}
	cfg.Port = DefaultPort
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	s, err := startStack(cfg, sdev, "in memory")
	if err != nil {
		cdev.Close()
		t.Fatal(err)
	}
	client, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{demoClientAddr}})
	if err != nil {
		s.st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-served
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
		client.Close()
	})
	select {
	case <-ready:
	case err := <-served:
		served <- err
		t.Fatalf("serve: %v", err)
	}
	return &memServe{server: s, client: sockets.New(client.Stack(), sockets.Options{}), clientStack: client.Stack(), addr: demoServerAddr.Addr(), stop: stop}
}

func (m *memServe) hostPort(port int) string {
	return net.JoinHostPort(m.addr.String(), fmt.Sprint(port))
}

func (m *memServe) dial(t *testing.T, port int) net.Conn {
	t.Helper()
	c, err := m.client.Dial(testCtx(t), "tcp", m.hostPort(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (m *memServe) dialWS(t testing.TB, path string, opts *ws.DialOptions) (*ws.Conn, *http.Response, error) {
	t.Helper()
	if opts == nil {
		opts = &ws.DialOptions{}
	}
	opts.NetDial = m.client.DialContext
	c, resp, err := ws.Dial(testCtx(t), "ws://"+m.hostPort(DefaultPort)+path, opts)
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

// waitCounter waits until serve's counter name has the value want.
func (m *memServe) waitCounter(t *testing.T, name string, want uint64) {
	t.Helper()
	ctx := testCtx(t)
	for {
		got := m.counters()[name]
		if got == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("counter %q is %d, want %d", name, got, want)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echoOnce proves c is served: a byte goes to the echo and comes back.
func echoOnce(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("echo: %v", err)
	}
}

// TestServeMaxConns fills serve's connection bound with real connections
// and checks that past it a TCP echo connection is reset, a plain HTTP
// request and a WebSocket upgrade get 503, each refusal is counted, and a
// place that frees up is taken again.
func TestServeMaxConns(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "maxconns0", ServeConfig{MaxConns: 2, IdleTimeout: -1})

	echo1 := m.dial(t, EchoPort)
	echoOnce(t, echo1)
	wsc, _, err := m.dialWS(t, "/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	m.waitCounter(t, "conns held by services", 2)

	// A third echo connection: the handshake completes in the stack, then
	// the service resets it.
	expectReset(t, m, EchoPort)
	// Plain HTTP: 503 naming the bound.
	hc := m.dial(t, DefaultPort)
	fmt.Fprintf(hc, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", m.hostPort(DefaultPort))
	resp, err := http.ReadResponse(bufio.NewReader(hc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "too many connections (at most 2)") || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("GET / past the bound: %s, Retry-After %q, %q", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	// A WebSocket upgrade: 503 before any upgrade.
	_, resp, err = m.dialWS(t, "/echo", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade past the bound: %v (response %v), want 503", err, resp)
	}
	m.waitCounter(t, "conns refused (max-conns)", 3)
	m.waitCounter(t, "conns held by services", 2)

	// The WebSocket leaves; its place goes to a new upgrade.
	if err := wsc.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	m.waitCounter(t, "conns held by services", 1)
	wsc2, _, err := m.dialWS(t, "/echo", nil)
	if err != nil {
		t.Fatalf("upgrade after a place freed up: %v", err)
	}
	ctx := testCtx(t)
	if err := wsc2.WriteMessage(ctx, ws.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := wsc2.ReadMessage(ctx); err != nil || string(p) != "hi" {
		t.Fatalf("echo over the new WebSocket: %q, %v", p, err)
	}
	wsc2.Close(ws.StatusNormalClosure, "")
	echo1.Close()
	m.waitCounter(t, "conns held by services", 0)
}

// TestServeMaxConnsRefusingBound checks that HTTP connections past the
// bound that never send a request are not all held to be answered: past
// maxRefusing of them, more are reset at once.
func TestServeMaxConnsRefusingBound(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "refusing0", ServeConfig{MaxConns: 1, IdleTimeout: -1})
	echoOnce(t, m.dial(t, EchoPort))
	var refused []net.Conn
	for range maxRefusing {
		refused = append(refused, m.dial(t, DefaultPort))
	}
	m.waitCounter(t, "conns refused (max-conns)", maxRefusing)
	expectReset(t, m, DefaultPort)
	// Once the refused connections close, the next one is answered 503
	// again: their places among the refusing are given back.
	for _, c := range refused {
		c.Close()
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		// Until the server has seen them close, a new one is reset.
		var resp *http.Response
		c, err := m.client.Dial(testCtx(t), "tcp", m.hostPort(DefaultPort))
		if err == nil {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", m.hostPort(DefaultPort))
			resp, err = http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
		}
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the refused connections closed: %v, %v; want 503", resp, err)
		}
	}
}

// expectReset connects to port and expects a reset, which may come
// before the dial returns or on the first read.
func expectReset(t *testing.T, m *memServe, port int) {
	t.Helper()
	c, err := m.client.Dial(testCtx(t), "tcp", m.hostPort(port))
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("port %d past the bound: %v, want ECONNRESET", port, err)
	}
}

// pingCounter counts the pings a WebSocket client reads.
type pingCounter struct {
	mu sync.Mutex
	n  int
}

func (p *pingCounter) Emit(e *trace.Event) {
	if e.Name != "frame" || e.Dir != trace.In {
		return
	}
	for _, f := range e.Fields {
		if f.Key == "opcode" && f.Value == ws.OpPing.String() {
			p.mu.Lock()
			p.n++
			p.mu.Unlock()
		}
	}
}

func (p *pingCounter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// TestServeIdleTimeout checks that serve pings a silent WebSocket and
// closes it with 1001, and closes silent TCP echo and discard
// connections, counting each.
func TestServeIdleTimeout(t *testing.T) {
	t.Parallel()
	// The ping comes a third of an idle timeout after the last message, the
	// close a whole one after it, and the pong must be back within a third
	// (or the keepalive fails the connection with 1011): 2 s leaves 667 ms
	// for the client's reader to answer on a machine busy enough to hold it
	// back; with 1 s, 333 ms, which a loaded machine under the race
	// detector can take.
	const idle = 2 * time.Second
	m := startMemServe(t, "idle0", ServeConfig{IdleTimeout: idle})
	ctx := testCtx(t)

	for _, path := range []string{"/echo", "/chat"} {
		pings := &pingCounter{}
		c, _, err := m.dialWS(t, path, &ws.DialOptions{ConnOptions: ws.ConnOptions{Tracer: trace.New(pings)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(ctx, ws.MessageText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		// Read until the server closes: the echo or the chat lines come
		// first, then the close.
		var ce *ws.CloseError
		for {
			_, _, err := c.ReadMessage(ctx)
			if err == nil {
				continue
			}
			if !errors.As(err, &ce) {
				t.Fatalf("%s: read: %v, want a close from the server", path, err)
			}
			break
		}
		if ce.Code != ws.StatusGoingAway || ce.Reason != "idle for 2s" {
			t.Errorf("%s: closed with %d %q, want 1001 \"idle for 2s\"", path, ce.Code, ce.Reason)
		}
		if pings.count() == 0 {
			t.Errorf("%s: closed without a ping before", path)
		}
	}
	for _, port := range []int{EchoPort, DiscardPort} {
		c := m.dial(t, port)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if port == EchoPort {
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("port %d: read %d, %v; want the server's FIN (EOF)", port, n, err)
		}
	}
	m.waitCounter(t, "conns closed idle (idle-timeout)", 4)
	m.waitCounter(t, "conns held by services", 0)
}

// TestCloseIdleKeepsActive checks the idle timer's decision itself,
// without waiting: a WebSocket with a message less than IdleTimeout ago
// stays open, one silent for IdleTimeout is closed with 1001.
func TestCloseIdleKeepsActive(t *testing.T) {
	t.Parallel()
	const idle = time.Hour
	m := startMemServe(t, "active0", ServeConfig{IdleTimeout: idle})
	ctx := testCtx(t)
	c, _, err := m.dialWS(t, "/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func() error {
		if err := c.WriteMessage(ctx, ws.MessageText, []byte("hi")); err != nil {
			return err
		}
		_, _, err := c.ReadMessage(ctx)
		return err
	}
	if err := roundTrip(); err != nil {
		t.Fatal(err)
	}
	m.h.mu.Lock()
	var sc *ws.Conn
	var cl *wsClient
	for k, v := range m.h.clients {
		sc, cl = k, v
	}
	m.h.mu.Unlock()
	// The echo notes its activity after its write, which the client may
	// have read before: wait for the note, or it would come after the
	// times set below, and closeIdle would see bytes it had not noted.
	// Wait for the client's TCP to acknowledge the echo too: a send queue
	// that shrank since closeIdle's last look is a peer reading slowly.
	settled := func() {
		t.Helper()
		for q, _ := sc.SendQueued(); q != 0 || sc.BytesRead() != cl.read.Load() || sc.BytesWritten() != cl.wrote.Load(); q, _ = sc.SendQueued() {
			if ctx.Err() != nil {
				t.Fatal("the echo did not note its last write")
			}
			time.Sleep(time.Millisecond)
		}
	}

	settled()
	cl.last.Store(time.Now().Add(-idle / 2).UnixNano())
	m.h.closeIdle(sc, cl)
	if err := roundTrip(); err != nil {
		t.Fatalf("a WebSocket active half the idle time ago was closed: %v", err)
	}
	if n := m.limit.idle.Load(); n != 0 {
		t.Fatalf("%d connections counted idle", n)
	}

	settled()
	cl.last.Store(time.Now().Add(-idle).UnixNano())
	closed := make(chan struct{})
	go func() { // the close handshake needs the client reading
		defer close(closed)
		m.h.closeIdle(sc, cl)
	}()
	defer func() { <-closed }()
	_, _, err = c.ReadMessage(ctx)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway || ce.Reason != "idle for 1h0m0s" {
		t.Fatalf("read after the idle time: %v, want close 1001 \"idle for 1h0m0s\"", err)
	}
	m.waitCounter(t, "conns closed idle (idle-timeout)", 1)
}

// TestServeOrigin checks serve's origin rule on real upgrades: the page's
// own origin and clients without Origin pass, a foreign page gets 403
// unless --allow-origin names it.
func TestServeOrigin(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "origin0", ServeConfig{AllowOrigins: []string{"localhost:*"}})
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"", http.StatusSwitchingProtocols},
		{"http://" + m.hostPort(DefaultPort), http.StatusSwitchingProtocols},
		{"http://localhost:3000", http.StatusSwitchingProtocols},
		{"http://evil.example", http.StatusForbidden},
		{"http://" + m.addr.String(), http.StatusForbidden}, // another port
		{"null", http.StatusForbidden},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := m.dialWS(t, "/chat", &ws.DialOptions{Header: h})
		if resp == nil {
			t.Fatalf("Origin %q: no response: %v", tc.origin, err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("Origin %q: %s (%v), want %d", tc.origin, resp.Status, err, tc.status)
		}
		if c != nil {
			c.Close(ws.StatusNormalClosure, "")
		}
	}
}

// TestServePathCounters: glassnet ss shows the fast path's counters, the
// device's writes moving with the traffic and TCP's timers at zero on a
// lossless link.
func TestServePathCounters(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "pathcounters0", ServeConfig{IdleTimeout: -1})
	before := m.counters()
	for _, name := range []string{"device writes", "packets queued out", "tcp retransmission timeouts",
		"tcp tail loss probes", "tcp delayed acks by timer", "tcp segment queue drops", "gso super-packets in"} {
		if _, ok := before[name]; !ok {
			t.Errorf("glassnet ss counters lack %q", name)
		}
	}
	echoOnce(t, m.dial(t, EchoPort))
	after := m.counters()
	if after["device writes"] <= before["device writes"] {
		t.Errorf("device writes %d after an echo, %d before: the counter does not follow the writes", after["device writes"], before["device writes"])
	}
	for _, name := range []string{"tcp retransmission timeouts", "tcp segment queue drops"} {
		if after[name] != 0 {
			t.Errorf("%s = %d on a lossless link", name, after[name])
		}
	}
}

// offsets is an offsetConn whose offsets a test sets.
type offsets struct{ r, w int64 }

func (o *offsets) StreamOffsets() (int64, int64) { return o.r, o.w }

// TestIdleWatch checks the TCP services' idle decision without waiting:
// silence counts from the byte last seen, not from the last look, so a
// connection that moved a byte just after one look closes one idle after
// it (it closed two idles after it: the look that saw the byte started a
// whole idle again).
func TestIdleWatch(t *testing.T) {
	t.Parallel()
	const idle = 20 * time.Second
	t0 := time.Unix(1000, 0)
	o := &offsets{}
	w := newIdleWatch(idle, t0, o)
	if p := w.period(); p != time.Second {
		t.Errorf("period %v for idle %v, want 1s", p, idle)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	o.r, o.w = 1, 1 // a byte echoed at 0.1 s
	if w.expired(at(1*time.Second), o) {
		t.Fatal("expired on the look that saw a byte")
	}
	if w.expired(at(20*time.Second), o) {
		t.Error("expired 19 s after the byte was seen")
	}
	if !w.expired(at(21*time.Second), o) {
		t.Error("not expired 20 s after the byte was seen")
	}
	// Silent from the start: expired one idle after it.
	w = newIdleWatch(idle, t0, o)
	if w.expired(at(19*time.Second), o) || !w.expired(at(20*time.Second), o) {
		t.Error("a silent connection did not expire at exactly one idle")
	}
	if p := newIdleWatch(100*time.Millisecond, t0, o).period(); p != 10*time.Millisecond {
		t.Errorf("period %v for idle 100ms, want 10ms", p)
	}
}

// failingListener's Accept fails with err every time.
type failingListener struct {
	err   error
	calls int
}

func (l *failingListener) Accept() (net.Conn, error) { l.calls++; return nil, l.err }
func (l *failingListener) Close() error              { return nil }
func (l *failingListener) Addr() net.Addr            { return &net.TCPAddr{Port: 7} }

// TestServeTCPAcceptErrors checks that the echo and discard services
// answer accept errors as UDP echo does: counted, retried after a pause,
// and after a run of them ended with a message (they ended at the first,
// without a word, while serve went on announcing them). (A shortage such
// as EMFILE is waited out instead: retry.TestLoopWaitsOutShortage.)
func TestServeTCPAcceptErrors(t *testing.T) {
	t.Parallel()
	l := &failingListener{err: syscall.EPROTO}
	var (
		n   atomic.Uint64
		log strings.Builder
	)
	serveTCP(l, func(net.Conn) {}, nil, &retry.Loop{What: "tcp accept on :7", Errors: &n, Log: &log})
	if l.calls != retry.MaxErrors || n.Load() != retry.MaxErrors {
		t.Errorf("%d accepts, %d errors counted; want %d of each", l.calls, n.Load(), retry.MaxErrors)
	}
	if !strings.Contains(log.String(), "tcp accept on :7 gives up after 10 errors in a row; the last: protocol error") {
		t.Errorf("logged %q", log.String())
	}
}

// TestServeIdleTimeoutUpload sends one message slowly, a few hundred bytes
// at a time over several idle timeouts: the server must neither close it
// as idle (the message was not whole, so nothing counted) nor fail it for
// an unanswered ping (the pong waits behind the frame), and must echo it.
func TestServeIdleTimeoutUpload(t *testing.T) {
	t.Parallel()
	// With a frame rule too: the hook's filter reads whole frames before
	// the parser sees any of them.
	for _, rules := range []Rules{{}, {Ingress: []string{"ws ping : delay 1ms"}}} {
		t.Run(fmt.Sprint(rules.Ingress), func(t *testing.T) {
			t.Parallel()
			slowUpload(t, rules)
		})
	}
}

func slowUpload(t *testing.T, rules Rules) {
	// The keepalive pings every third of the idle timeout and fails the
	// connection when no byte of the frame came meanwhile: a piece every
	// 100 ms leaves a machine busy enough to hold the process back for
	// half a second (667 ms less 100) before the test fails. With 1 s
	// and a piece every 250 ms, 83 ms was enough, and a full test run
	// under the race detector on two cores met it.
	const idle = 2 * time.Second
	m := startMemServe(t, "upload"+strconv.Itoa(len(rules.Ingress)), ServeConfig{IdleTimeout: idle, Rules: rules})
	ctx := testCtx(t)
	c, _, err := m.dialWS(t, "/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("slow upload "), 400)
	key := [4]byte{1, 2, 3, 4}
	wire := ws.AppendHeader(nil, ws.Header{Fin: true, Opcode: ws.OpBinary, Masked: true, Mask: key, Length: int64(len(payload))})
	masked := bytes.Clone(payload)
	ws.Mask(key, 0, masked)
	nc := c.NetConn()
	if _, err := nc.Write(wire); err != nil {
		t.Fatal(err)
	}
	// 4800 bytes in 60 pieces, 100 ms apart: 6 s, three idle timeouts.
	for off := 0; off < len(masked); off += 80 {
		time.Sleep(100 * time.Millisecond)
		if _, err := nc.Write(masked[off:min(off+80, len(masked))]); err != nil {
			t.Fatalf("writing the message at byte %d: %v (the server gave up on it)", off, err)
		}
	}
	_, got, err := c.ReadMessage(ctx)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo of the slow message: %d bytes, %v; want the %d sent", len(got), err, len(payload))
	}
}

// TestServeKeepAlive checks that serve's connections have TCP keepalive
// on, with Go's times, so that one to a peer that vanished is found out
// even with --idle-timeout 0 (such connections were held for ever).
func TestServeKeepAlive(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "keepalive0", ServeConfig{IdleTimeout: -1})
	for _, port := range []int{EchoPort, DiscardPort, DefaultPort} {
		c := m.dial(t, port)
		local := netip.MustParseAddrPort(c.LocalAddr().String())
		fd := -1
		for deadline := time.Now().Add(10 * time.Second); fd < 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("port %d's connection not accepted within 10 s", port)
			}
			for _, r := range m.socks.Snapshot() {
				if r.Peer == local && r.FD >= 0 {
					fd = r.FD
				}
			}
		}
		for _, o := range []struct {
			level, name, want int
			what              string
		}{
			{sockets.SOL_SOCKET, sockets.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
			{sockets.IPPROTO_TCP, sockets.TCP_KEEPIDLE, 15, "TCP_KEEPIDLE"},
			{sockets.IPPROTO_TCP, sockets.TCP_KEEPINTVL, 15, "TCP_KEEPINTVL"},
			{sockets.IPPROTO_TCP, sockets.TCP_KEEPCNT, 9, "TCP_KEEPCNT"},
		} {
			if v, err := m.socks.GetSockOpt(fd, o.level, o.name); err != nil || v != o.want {
				t.Errorf("port %d: %s = %d, %v; want %d", port, o.what, v, err, o.want)
			}
		}
	}
}

// TestServeShutdownEndsWithFIN: at shutdown a WebSocket client gets close
// 1001 and its connection ends as TCP ends it, with FINs both ways; the
// stack does not reset it after, while its peer is still answering (nor a
// connection in TIME-WAIT when the stack closes).
func TestServeShutdownEndsWithFIN(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	pcap := &syncWriter{w: &buf}
	// The peer's answers take 60 ms to come back.
	m := startMemServe(t, "shutfin0", ServeConfig{PCAP: pcap, Rules: Rules{Egress: []string{"delay 30ms"}, Ingress: []string{"delay 30ms"}}})
	c, _, err := m.dialWS(t, "/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(context.Background()); err != nil {
				read <- err
				return
			}
		}
	}()
	if err := m.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	var ce *ws.CloseError
	if err := <-read; !errors.As(err, &ce) || ce.Code != 1001 {
		t.Fatalf("the client read %v, not close 1001", err)
	}
	pcap.mu.Lock()
	evs, err := trace.ReadPCAP(bytes.NewReader(buf.Bytes()), "server")
	pcap.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	fins := map[trace.Dir]int{}
	for _, e := range evs {
		flags, _ := e.Field("flags").(string)
		if strings.Contains(flags, "R") {
			t.Errorf("packet %d: %s", e.ID, e.Summary)
		}
		if strings.Contains(flags, "F") {
			fins[e.Dir]++
		}
	}
	if fins[trace.In] == 0 || fins[trace.Out] == 0 {
		t.Errorf("FINs in and out: %v", fins)
	}
}

// pauseAt101 holds the goroutine that emits the first 101 answer of an
// upgrade (ws.Accept, after it took the connection over from net/http)
// until release is closed.
type pauseAt101 struct {
	once    sync.Once
	paused  chan struct{}
	release chan struct{}
}

func (p *pauseAt101) Emit(e *trace.Event) {
	if e.Layer != trace.LayerWS || e.Name != "handshake" || e.Dir != trace.Out || !strings.HasPrefix(e.Summary, "101 ") {
		return
	}
	p.once.Do(func() {
		close(p.paused)
		<-p.release
	})
}

// TestServeMaxConnsDuringUpgrade: a WebSocket keeps the place its HTTP
// connection had in --max-conns without a moment free between the two, in
// which another connection could take it: at the bound, a request that
// comes while an upgrade is under way is answered 503.
func TestServeMaxConnsDuringUpgrade(t *testing.T) {
	t.Parallel()
	p := &pauseAt101{paused: make(chan struct{}), release: make(chan struct{})}
	lim := &connLimit{max: 1, reset: func(c net.Conn) { c.Close() }}
	h := &Handlers{Tracer: trace.New(p), limit: lim}
	srv := httptest.NewUnstartedServer(h.Mux())
	lim.limitHTTP(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.CloseAll() })
	released := sync.OnceFunc(func() { close(p.release) })
	t.Cleanup(released)
	addr := srv.Listener.Addr().String()
	upgraded := make(chan error, 1)
	go func() {
		c, _, err := ws.Dial(testCtx(t), "ws://"+addr+"/echo", nil)
		if err == nil {
			t.Cleanup(func() { c.CloseNow() })
		}
		upgraded <- err
	}()
	<-p.paused // the upgrade has taken its connection over from net/http
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a request during an upgrade at a bound of 1: %s, want 503", resp.Status)
	}
	released()
	if err := <-upgraded; err != nil {
		t.Fatal(err)
	}
	// The handler takes its place once the sink lets it go on.
	for ctx := testCtx(t); lim.held.Load() != 1; time.Sleep(time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatalf("%d connections held, want the WebSocket's 1", lim.held.Load())
		}
	}
}

// TestServeCountsRefusedHTTP: requests that net/http answers itself,
// without a handler (a malformed request line, a head too large, an
// Expect it does not know, a Transfer-Encoding it does not take, an HTTP
// version it does not speak), are counted for glassnet ss, each with the
// status the counter's name lists; a good request is not.
func TestServeCountsRefusedHTTP(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "refusedhttp0", ServeConfig{IdleTimeout: -1})
	const name = "http requests refused (400, 417, 431, 501, 505) or cut short"
	exchange := func(req string) string {
		t.Helper()
		c := m.dial(t, DefaultPort)
		// A head too large is answered before it is all read, and the
		// rest of the write may find the connection reset.
		go io.WriteString(c, req)
		b, _ := io.ReadAll(c) // each request here ends its connection
		c.Close()
		return string(b)
	}
	if got := exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("a good request: %.40q", got)
	}
	if got := exchange("GARBAGE\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Fatalf("a malformed request line: %.40q", got)
	}
	if got := exchange("GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Fatalf("a head of 2 MiB: %.40q", got)
	}
	if got := exchange("GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 417 ") {
		t.Fatalf("an Expect other than 100-continue: %.40q", got)
	}
	if got := exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 501 ") {
		t.Fatalf("a Transfer-Encoding other than chunked: %.40q", got)
	}
	if got := exchange("GET / HTTP/2.0\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 505 ") {
		t.Fatalf("HTTP/2.0 in a request line: %.40q", got)
	}
	m.waitCounter(t, name, 5)
}
