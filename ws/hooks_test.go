package ws_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// dialHooked dials path with a frame hook and a tracer on the client.
func (p *wsPair) dialHooked(t *testing.T, path string, h ws.FrameHook, tr *trace.Tracer) *ws.Conn {
	t.Helper()
	c, _, err := ws.Dial(stacksContext(t), p.url+path, &ws.DialOptions{
		NetDial: p.cs.DialContext,
		ConnOptions: ws.ConnOptions{
			FrameHook: h,
			Tracer:    tr,
			Node:      "client",
		},
	})
	if err != nil {
		t.Fatalf("Dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	watchdog(t, c)
	return c
}

// hookedEcho is echoHandler with h installed on the server's side first.
func hookedEcho(h ws.FrameHook) wsHandler {
	return func(p *wsPair, c *ws.Conn) error {
		c.SetFrameHook(h)
		return echoHandler(p, c)
	}
}

func textOnly(dir trace.Dir) ws.FrameMatch {
	return ws.FrameMatch{Dir: dir, Opcodes: []ws.Opcode{ws.OpText}}
}

// A hook on the server's read side rewrites text in flight: the server
// receives (and echoes) what the hook made of the client's message, with
// the length re-encoded when the payload grows.
func TestFrameHookRewrite(t *testing.T) {
	t.Parallel()
	rewrite := &ws.FrameRule{
		Name:  "ws in text : upper",
		Match: textOnly(trace.In),
		Edit: func(f *ws.HookFrame) {
			if bytes.Equal(f.Payload, []byte("grow")) {
				f.Payload = []byte("grown to more than 125 bytes: " + string(bytes.Repeat([]byte("x"), 200)))
				return
			}
			f.Payload = bytes.ToUpper(f.Payload)
		},
		Verdict: ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Modify, Reason: "shout"}},
	}
	p := startWS(t, map[string]wsHandler{"/echo": hookedEcho(rewrite)})
	c := p.dial(t, "/echo")
	ctx := stacksContext(t)
	for _, m := range []struct{ send, want string }{
		{"hello", "HELLO"},
		{"grow", "grown to more than 125 bytes: " + string(bytes.Repeat([]byte("x"), 200))},
		{"ünïcode", "ÜNÏCODE"},
	} {
		if err := c.WriteMessage(ctx, ws.MessageText, []byte(m.send)); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, c, ws.MessageText, []byte(m.want))
	}
	// Binary messages do not match the rule.
	if err := c.WriteMessage(ctx, ws.MessageBinary, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, c, ws.MessageBinary, []byte("hello"))
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.result(t, "/echo"); ws.CloseStatus(err) != ws.StatusNormalClosure {
		t.Fatalf("server: %v", err)
	}
}

// readInBackground reads messages from c until it fails, so that pongs are
// processed; the messages go on msgs and the final error on done.
func readInBackground(c *ws.Conn) (msgs <-chan string, done <-chan error) {
	m := make(chan string, 16)
	d := make(chan error, 1)
	go func() {
		for {
			_, msg, err := c.ReadMessage(context.Background())
			if err != nil {
				d <- err
				return
			}
			m <- string(msg)
		}
	}()
	return m, d
}

// Dropping the client's pings (a rule "ws out opcode ping : drop"): no pong
// comes back and Ping times out; without the hook the next Ping works.
func TestFrameHookDropPing(t *testing.T) {
	t.Parallel()
	p := startWS(t, map[string]wsHandler{"/echo": echoHandler})
	ring := trace.NewRing(1024)
	drop := &ws.FrameRule{
		Name:    "ws out opcode ping : drop",
		Match:   ws.FrameMatch{Dir: trace.Out, Opcodes: []ws.Opcode{ws.OpPing}},
		Verdict: ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Drop, Reason: "no pings"}},
	}
	counted := ws.CountFrames(drop)
	c := p.dialHooked(t, "/echo", counted, trace.New(ring))
	_, done := readInBackground(c)

	ctx, cancel := context.WithTimeout(stacksContext(t), 300*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx, []byte("lost")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping with pings dropped = %v, want a deadline error", err)
	}
	var verdicts []trace.Event
	for _, e := range ring.Events() {
		if e.Name == "verdict" {
			verdicts = append(verdicts, e)
		}
	}
	if len(verdicts) != 1 || e2s(verdicts[0], "action") != "drop" || e2s(verdicts[0], "rule") != drop.Name ||
		e2s(verdicts[0], "reason") != "no pings" || e2s(verdicts[0], "opcode") != "ping" || verdicts[0].Layer != trace.LayerWS {
		t.Errorf("verdict events = %+v", verdicts)
	}

	want := hook.VerdictKey{Point: string(trace.Out), Unit: "ping", Action: hook.Drop, Reason: "no pings"}
	if got := counted.Counts(); len(got) != 1 || got[want] != 1 {
		t.Errorf("Counts = %v, want %v once", got, want)
	}

	c.SetFrameHook(nil)
	if err := c.Ping(stacksContext(t), []byte("found")); err != nil {
		t.Fatalf("Ping without the hook: %v", err)
	}
	if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-done
	p.result(t, "/echo")
}

func e2s(e trace.Event, key string) any {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// A ping injected after a text frame is answered by the server: the client
// sees the pong carrying the injected payload come back.
func TestFrameHookInjectPing(t *testing.T) {
	t.Parallel()
	p := startWS(t, map[string]wsHandler{"/echo": echoHandler})
	pong := make(chan struct{})
	var once sync.Once
	h := ws.FrameRules{
		&ws.FrameRule{
			Match: textOnly(trace.Out),
			Verdict: ws.FrameVerdict{
				Verdict: hook.Verdict{Action: hook.Inject, Rule: "inject"},
				Frames:  []ws.Frame{ws.NewFrame(true, ws.OpPing, []byte("injected"))},
			},
		},
		ws.FrameHookFunc(func(f *ws.HookFrame) ws.FrameVerdict {
			if f.Dir == trace.In && f.Header.Opcode == ws.OpPong && string(f.Payload) == "injected" {
				once.Do(func() { close(pong) })
			}
			return ws.FrameVerdict{}
		}),
	}
	c := p.dialHooked(t, "/echo", h, nil)
	ctx := stacksContext(t)
	if err := c.WriteMessage(ctx, ws.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, c, ws.MessageText, []byte("hi"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-pong:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no pong for the injected ping after 20 s")
		}
		// The pong is read by ReadMessage: keep one reading.
		rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, msg, err := c.ReadMessage(rctx)
		cancel()
		if err == nil {
			t.Fatalf("unexpected message %q", msg)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ReadMessage: %v", err)
		}
	}
}

// A 10 KB message split into 4 fragments on the way out arrives at the
// server as 4 frames (seen by a hook there) and is reassembled intact.
func TestFrameHookSplit(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	observe := ws.FrameHookFunc(func(f *ws.HookFrame) ws.FrameVerdict {
		if f.Dir == trace.In && !f.Header.Opcode.IsControl() {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%v fin=%v len=%d", f.Header.Opcode, f.Header.Fin, len(f.Payload)))
			mu.Unlock()
		}
		return ws.FrameVerdict{}
	})
	p := startWS(t, map[string]wsHandler{"/echo": hookedEcho(observe)})
	split := &ws.FrameRule{
		Match:   ws.FrameMatch{Dir: trace.Out, Opcodes: []ws.Opcode{ws.OpBinary}},
		Verdict: ws.FrameVerdict{Split: 4, Verdict: hook.Verdict{Rule: "split"}},
	}
	c := p.dialHooked(t, "/echo", split, nil)
	msg := make([]byte, 10<<10)
	rand.Read(msg)
	if err := c.WriteMessage(stacksContext(t), ws.MessageBinary, msg); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, c, ws.MessageBinary, msg)
	mu.Lock()
	got := fmt.Sprint(seen)
	mu.Unlock()
	want := "[binary fin=false len=2560 continuation fin=false len=2560 continuation fin=false len=2560 continuation fin=true len=2560]"
	if got != want {
		t.Errorf("server read frames %s, want %s", got, want)
	}
}

// Modifying a text frame into invalid UTF-8 makes the receiver fail the
// connection with 1007 (RFC 6455 §8.1), as if the peer had sent it.
func TestFrameHookInvalidUTF8(t *testing.T) {
	t.Parallel()
	p := startWS(t, map[string]wsHandler{"/echo": echoHandler})
	corrupt := &ws.FrameRule{
		Match:   textOnly(trace.Out),
		Edit:    func(f *ws.HookFrame) { f.Payload = append(f.Payload, 0xff) },
		Verdict: ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Modify, Rule: "corrupt"}},
	}
	c := p.dialHooked(t, "/echo", corrupt, nil)
	ctx := stacksContext(t)
	if err := c.WriteMessage(ctx, ws.MessageText, []byte("valid")); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadMessage(ctx)
	if ws.CloseStatus(err) != ws.StatusInvalidPayload {
		t.Fatalf("client read %v, want a close with 1007", err)
	}
	if err := p.result(t, "/echo"); !errors.Is(err, ws.ErrInvalidUTF8) {
		t.Fatalf("server: %v, want ErrInvalidUTF8", err)
	}
}

// Read-side verdicts on the client: a dropped message vanishes, a
// duplicated one arrives twice, a delayed one arrives no sooner than the
// delay.
func TestFrameHookReadVerdicts(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	var delayedAt atomic.Int64
	h := ws.FrameHookFunc(func(f *ws.HookFrame) ws.FrameVerdict {
		if f.Dir != trace.In {
			return ws.FrameVerdict{}
		}
		switch string(f.Payload) {
		case "drop":
			return ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Drop}}
		case "twice":
			return ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Duplicate, Copies: 1}}
		case "late":
			delayedAt.Store(time.Now().UnixNano())
			return ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Delay, Delay: delay}}
		}
		return ws.FrameVerdict{}
	})
	p := startWS(t, map[string]wsHandler{"/echo": echoHandler})
	c := p.dialHooked(t, "/echo", h, nil)
	ctx := stacksContext(t)
	for _, m := range []string{"one", "drop", "twice", "late", "end"} {
		if err := c.WriteMessage(ctx, ws.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < 5 {
		_, msg, err := c.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("ReadMessage after %q: %v", got, err)
		}
		got = append(got, string(msg))
		if string(msg) == "late" {
			if took := time.Since(time.Unix(0, delayedAt.Load())); took < delay {
				t.Errorf("delayed frame delivered after %v, want at least %v", took, delay)
			}
		}
	}
	if fmt.Sprint(got) != "[one twice twice late end]" {
		t.Errorf("client read %q", got)
	}
}

func TestFrameMatch(t *testing.T) {
	t.Parallel()
	yes := true
	f := &ws.HookFrame{Frame: ws.NewFrame(true, ws.OpText, []byte("hello")), Dir: trace.Out, Client: true}
	for _, tc := range []struct {
		name string
		m    ws.FrameMatch
		want bool
	}{
		{"zero", ws.FrameMatch{}, true},
		{"dir", ws.FrameMatch{Dir: trace.In}, false},
		{"opcode", ws.FrameMatch{Opcodes: []ws.Opcode{ws.OpPing, ws.OpText}}, true},
		{"other opcode", ws.FrameMatch{Opcodes: []ws.Opcode{ws.OpPing}}, false},
		{"fin", ws.FrameMatch{Fin: &yes}, true},
		{"length", ws.FrameMatch{Length: func(n int64) bool { return n > 10 }}, false},
		{"contains", ws.FrameMatch{Contains: []byte("ell")}, true},
		{"side", ws.FrameMatch{Side: "server"}, false},
	} {
		if got := tc.m.Matches(f); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, s := range []string{"ping", "TEXT", "continuation", "0xa"} {
		if _, err := ws.ParseOpcode(s); err != nil {
			t.Errorf("ParseOpcode(%q): %v", s, err)
		}
	}
	if _, err := ws.ParseOpcode("pingg"); err == nil {
		t.Error("ParseOpcode(pingg) succeeded")
	}
}

// Socket-call hooks under WebSocket: with every server recv cut to at most
// 3 bytes and the client's sends cut to at most 1000, frames are parsed
// from many short reads and messages still arrive intact.
func TestSocketShortReadsUnderWS(t *testing.T) {
	t.Parallel()
	p := startWS(t, map[string]wsHandler{"/echo": echoHandler})
	p.ss.SetCallHook(sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		if c.Name == "recv" {
			return sockets.CallVerdict{MaxBytes: 3}
		}
		return sockets.CallVerdict{}
	}))
	p.cs.SetCallHook(sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		if c.Name == "send" {
			return sockets.CallVerdict{MaxBytes: 1000}
		}
		return sockets.CallVerdict{}
	}))
	c := p.dial(t, "/echo")
	msg := make([]byte, 20<<10)
	rand.Read(msg)
	for _, typ := range []ws.MessageType{ws.MessageBinary, ws.MessageText} {
		m := msg
		if typ == ws.MessageText {
			m = bytes.Repeat([]byte("ü"), 5000)
		}
		if err := c.WriteMessage(stacksContext(t), typ, m); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, c, typ, m)
	}
}
