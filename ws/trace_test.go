package ws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// recorder keeps a copy of every event.
type recorder struct {
	mu     sync.Mutex
	events []trace.Event
}

func (r *recorder) Emit(e *trace.Event) {
	r.mu.Lock()
	r.events = append(r.events, *e)
	r.mu.Unlock()
}

func (r *recorder) find(dir trace.Dir, name string) []trace.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []trace.Event
	for _, e := range r.events {
		if e.Dir == dir && e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func field(e trace.Event, key string) any {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

func TestTraceEvents(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rec := &recorder{}
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		c, err := Upgrade(context.Background(), nc, &AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(rec), Node: "server"}})
		if err != nil {
			nc.Close()
			done <- err
			return
		}
		for {
			typ, p, err := c.ReadMessage(context.Background())
			if err != nil {
				done <- err
				return
			}
			c.WriteMessage(context.Background(), typ, p)
		}
	}()
	c := dial(t, "ws://"+ln.Addr().String()+"/", nil)
	ctx := testContext(t)
	c.WriteMessage(ctx, MessageText, []byte("hello"))
	c.ReadMessage(ctx)
	c.WriteFragmented(ctx, MessageText, []byte("ab"), []byte("c"))
	c.ReadMessage(ctx)
	c.Close(StatusNormalClosure, "bye")
	if err := <-done; CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server ended with %v", err)
	}

	offsets := func(events []trace.Event) []int64 {
		var out []int64
		for _, e := range events {
			out = append(out, field(e, "offset").(int64))
		}
		return out
	}
	// Client frames are masked: 6-byte headers.
	in := rec.find(trace.In, "frame")
	if got, want := offsets(in), []int64{0, 11, 19, 26}; !slices.Equal(got, want) {
		t.Fatalf("in frame offsets %v, want %v", got, want)
	}
	if in[0].Summary != "FIN text len=5 masked" || in[0].Layer != trace.LayerWS || in[0].Node != "server" ||
		in[0].Conn != c.RemoteAddr().String()+"->"+c.LocalAddr().String() {
		t.Fatalf("first frame event %+v", in[0])
	}
	if field(in[1], "fin") != false || field(in[1], "opcode") != "text" || field(in[2], "opcode") != "continuation" {
		t.Fatalf("fragment fields %+v %+v", in[1].Fields, in[2].Fields)
	}
	out := rec.find(trace.Out, "frame")
	if got, want := offsets(out), []int64{0, 7, 12}; !slices.Equal(got, want) {
		t.Fatalf("out frame offsets %v, want %v", got, want)
	}
	if n := len(rec.find(trace.In, "unmask")); n != 4 {
		t.Fatalf("%d unmask events, want 4", n)
	}
	msgs := rec.find(trace.In, "message")
	if len(msgs) != 2 || msgs[0].Summary != `message text "hello" (5 bytes, 1 frame)` ||
		msgs[1].Summary != `message text "abc" (3 bytes, 2 frames)` || field(msgs[1], "fragments") != 2 {
		t.Fatalf("message events %+v", msgs)
	}
	if hs := rec.find(trace.In, "handshake"); len(hs) != 1 || !strings.HasPrefix(hs[0].Summary, "GET / HTTP/1.1") {
		t.Fatalf("handshake request events %+v", hs)
	}
	if hs := rec.find(trace.Out, "handshake"); len(hs) != 1 || !strings.HasPrefix(hs[0].Summary, "101 Switching Protocols") {
		t.Fatalf("handshake response events %+v", hs)
	}
	closes := rec.find(trace.In, "close")
	if len(closes) != 1 || field(closes[0], "code") != uint16(1000) || field(closes[0], "reason") != "bye" {
		t.Fatalf("close received events %+v", closes)
	}
	if sent := rec.find(trace.Out, "close"); len(sent) != 2 || sent[0].Summary != `close sent 1000 (normal closure) ""` {
		t.Fatalf("close sent events %+v", sent)
	}
}

func TestTraceQuotesAtMost40Bytes(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c := newConn(&fakeConn{}, nil, false, "", newConfig(0, 0, trace.New(rec), "n"))
	c.traceMessage(trace.In, MessageText, []byte(strings.Repeat("x", 100)), 3)
	got := rec.find(trace.In, "message")[0].Summary
	if want := `message text "` + strings.Repeat("x", 40) + `"... (100 bytes, 3 frames)`; got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
}

// A peer's reset must be in the trace as the reason the connection
// ended, not only as this side's own "tcp closed".
func TestTraceReset(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(rec), Node: "server"}})
	c := dial(t, url, nil)
	ctx := testContext(t)
	// The server is reading when the reset comes.
	if err := c.WriteMessage(ctx, MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(ctx); err != nil {
		t.Fatal(err)
	}
	c.NetConn().(*net.TCPConn).SetLinger(0)
	c.CloseNow()
	if err := recvErr(t, errs); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("server ended with %v, want ECONNRESET", err)
	}
	in := rec.find(trace.In, "close")
	if len(in) != 1 || in[0].Summary != "tcp reset by the peer (ECONNRESET)" {
		t.Fatalf("close events in %+v, want one saying the peer reset", in)
	}
}

// A close frame that cannot be written (the peer reads nothing, so the
// write under way holds the stream past the close timeout) must be in the
// trace as not sent, with its code, not only as "tcp closed".
func TestTraceCloseNotSent(t *testing.T) {
	t.Parallel()
	rec, tr, writing := recordWrites()
	opts := &AcceptOptions{ConnOptions: ConnOptions{Tracer: tr, Node: "server", CloseTimeout: 100 * time.Millisecond}}
	url, errs := handlerServer(t, opts, func(c *Conn) error {
		// Small buffers on both sides: the message cannot be written
		// whole while the peer does not read.
		c.NetConn().(*net.TCPConn).SetWriteBuffer(4 << 10)
		go c.WriteMessage(context.Background(), MessageBinary, make([]byte, 1<<20))
		<-writing
		return c.Close(StatusGoingAway, "server shutting down")
	})
	nc, _ := rawClient(t, url) // and never read
	nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	if err := recvErr(t, errs); err == nil {
		t.Fatal("Close succeeded with a peer that reads nothing")
	}
	var why []string
	for _, e := range rec.find(trace.Out, "close") {
		why = append(why, e.Summary)
	}
	if len(why) == 0 || !strings.HasPrefix(why[0], `close not sent 1001 (going away) "server shutting down": `) {
		t.Fatalf("close events out %q, want the close frame not sent first", why)
	}
}

// TestTraceHandshakeBounded: the handshake event repeats a request cut to
// a readable length: 10,000 offered subprotocols and a 10,000-byte URI
// made one event of 100 KB.
func TestTraceHandshakeBounded(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	protos := make([]string, 10000)
	for i := range protos {
		protos[i] = fmt.Sprintf("p%d", i)
	}
	req := httptest.NewRequest("GET", "/"+strings.Repeat("a", 10000), nil)
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", strings.Join(protos, ", "))
	traceRequest(trace.New(rec), "server", "c", req)
	hs := rec.find(trace.In, "handshake")
	if len(hs) != 1 {
		t.Fatalf("handshake events %+v", hs)
	}
	s := hs[0].Summary
	if len(s) > 1000 || !strings.Contains(s, "(and 9984 more)") || !strings.Contains(s, "…(10001 bytes)") {
		t.Errorf("the handshake event has %d bytes: %.300s", len(s), s)
	}
}

// recordWrites returns a recorder, a tracer that feeds it, and a channel
// that receives once the write of a binary data frame has begun.
func recordWrites() (*recorder, *trace.Tracer, <-chan struct{}) {
	rec := &recorder{}
	writing := make(chan struct{}, 1)
	tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
		rec.Emit(e)
		if e.Dir == trace.Out && e.Name == "frame" && strings.Contains(e.Summary, "binary") {
			select {
			case writing <- struct{}{}:
			default:
			}
		}
	}))
	return rec, tr, writing
}

// TestTraceFINWithoutClose: TCP ending without a close frame is traced
// as such, so that the trace does not read as an orderly close.
func TestTraceFINWithoutClose(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c := newConn(&fakeConn{r: strings.NewReader("")}, nil, false, "", newConfig(0, time.Second, trace.New(rec), "server"))
	defer c.CloseNow()
	if _, _, err := c.ReadMessage(context.Background()); CloseStatus(err) != StatusAbnormalClosure {
		t.Fatalf("ReadMessage = %v, want 1006", err)
	}
	var got []string
	for _, e := range rec.find(trace.In, "close") {
		got = append(got, e.Summary)
	}
	if len(got) != 1 || got[0] != "tcp closed without a close frame (1006)" {
		t.Errorf("close events in %q, want the one saying TCP closed without a close frame", got)
	}
}

// TestTraceCompressedMessage: a compressed message read is traced as a
// message event with its decompressed bytes and its frames, as an
// uncompressed one is.
func TestTraceCompressedMessage(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true, Threshold: -1}}})
	rec := &recorder{}
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true, Threshold: -1}, Tracer: trace.New(rec)}})
	if c.cfg.deflate == nil {
		t.Fatal("compression was not negotiated")
	}
	ctx := testContext(t)
	if err := c.WriteMessage(ctx, MessageText, []byte("hello hello hello")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := rec.find(trace.In, "message")
	if len(msgs) != 1 || msgs[0].Summary != `message text "hello hello hello" (17 bytes, 1 frame)` {
		t.Fatalf("message events %+v, want one for the compressed echo", msgs)
	}
}

// TestTraceRejectedHandshake: Accept traces the error response it writes
// to a request it refuses, with the status.
func TestTraceRejectedHandshake(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	req := httptest.NewRequest("GET", "/", nil) // no Upgrade
	w := httptest.NewRecorder()
	if _, err := Accept(w, req, &AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(rec)}}); err == nil {
		t.Fatal("Accept took a request without Upgrade")
	}
	hs := rec.find(trace.Out, "handshake")
	if len(hs) != 1 || field(hs[0], "status") != w.Code || !strings.HasPrefix(hs[0].Summary, fmt.Sprint(w.Code)) {
		t.Fatalf("handshake response events %+v, want one with the status %d", hs, w.Code)
	}
}

// TestClipTraced: a string up to maxTraced bytes is traced whole; a longer
// one is cut there and says how long it was.
func TestClipTraced(t *testing.T) {
	t.Parallel()
	whole := strings.Repeat("a", maxTraced)
	if got := clipTraced(whole); got != whole {
		t.Errorf("clipTraced of %d bytes = %q, want it whole", len(whole), got)
	}
	if got, want := clipTraced(whole+"b"), whole+"…(257 bytes)"; got != want {
		t.Errorf("clipTraced of %d bytes = %q, want %q", len(whole)+1, got, want)
	}
}
