package ws

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// countingConn reports stream offsets the way *sockets.Conn does: the
// bytes received and sent on the connection so far.
type countingConn struct {
	net.Conn
	read, written atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func (c *countingConn) StreamOffsets() (int64, int64) { return c.read.Load(), c.written.Load() }

type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: nc}, nil
}

// frameOffsets returns the offset, ws_offset and offset_from of the
// recorded frame events of one direction.
func frameOffsets(rec *recorder, dir trace.Dir) (abs, rel []int64, from []string) {
	for _, e := range rec.find(dir, "frame") {
		abs = append(abs, field(e, "offset").(int64))
		rel = append(rel, field(e, "ws_offset").(int64))
		from = append(from, field(e, "offset_from").(string))
	}
	return abs, rel, from
}

// upgradeWithFrames dials the server at url and sends, in one write, an
// upgrade request with frames right behind it; it returns the connection
// (closed when the test ends) and the request.
func upgradeWithFrames(t *testing.T, url string, frames ...Frame) (net.Conn, string) {
	t.Helper()
	addr := strings.TrimPrefix(url, "http://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	var b bytes.Buffer
	b.WriteString(req)
	for _, f := range frames {
		WriteFrame(&b, f)
	}
	if _, err := nc.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return nc, req
}

// TestStreamOffsetsAccept sends a request with a frame right behind it in
// one write, so that net/http has read the frame's bytes before the
// hijack: the server's frame offsets must still be TCP stream offsets.
func TestStreamOffsetsAccept(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	done := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(rec), Node: "server"}})
		if err != nil {
			done <- err
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for range 2 {
			typ, p, err := c.ReadMessage(ctx)
			if err != nil {
				done <- err
				return
			}
			c.WriteMessage(ctx, typ, p)
		}
		done <- nil
	}))
	srv.Listener = countingListener{srv.Listener}
	srv.Start()
	defer srv.Close()

	nc, req := upgradeWithFrames(t, srv.URL,
		masked(true, OpText, []byte("early")),      // 11 bytes
		masked(true, OpBinary, []byte{1, 2, 3, 4})) // 10 bytes
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	head := int64(len(responseHead(serverHandshake{accept: AcceptKey("dGhlIHNhbXBsZSBub25jZQ==")}, nil)))
	for range 2 {
		if _, err := ReadFrame(br); err != nil {
			t.Fatal(err)
		}
	}
	if err := recvErr(t, done); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	abs, rel, from := frameOffsets(rec, trace.In)
	n := int64(len(req))
	if fmt.Sprint(abs) != fmt.Sprint([]int64{n, n + 11}) || fmt.Sprint(rel) != "[0 11]" || fmt.Sprint(from) != "[tcp tcp]" {
		t.Errorf("in frames: offset %v ws_offset %v from %v; want offsets [%d %d]", abs, rel, from, n, n+11)
	}
	abs, rel, _ = frameOffsets(rec, trace.Out)
	if fmt.Sprint(abs) != fmt.Sprint([]int64{head, head + 7}) || fmt.Sprint(rel) != "[0 7]" {
		t.Errorf("out frames: offset %v ws_offset %v; want offsets [%d %d]", abs, rel, head, head+7)
	}
	if hl := field(rec.find(trace.In, "frame")[0], "header_len"); hl != 6 {
		t.Errorf("header_len %v, want 6", hl)
	}
}

// TestStreamOffsetsUpgradeAndDial checks both ends when neither has
// bytes left over from the handshake.
func TestStreamOffsetsUpgradeAndDial(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srec, crec := &recorder{}, &recorder{}
	var reqLen, respLen atomic.Int64
	done := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		nc := &countingConn{Conn: raw}
		c, err := Upgrade(context.Background(), nc, &AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(srec), Node: "server"}})
		if err != nil {
			raw.Close()
			done <- err
			return
		}
		defer c.CloseNow()
		r, w := nc.StreamOffsets()
		reqLen.Store(r)
		respLen.Store(w)
		typ, p, err := c.ReadMessage(context.Background())
		if err == nil {
			err = c.WriteMessage(context.Background(), typ, p)
		}
		done <- err
	}()
	c, _, err := Dial(testContext(t), "ws://"+ln.Addr().String()+"/", &DialOptions{
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: nc}, nil
		},
		ConnOptions: ConnOptions{Tracer: trace.New(crec), Node: "client"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx := testContext(t)
	if err := c.WriteMessage(ctx, MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(ctx); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, done); err != nil {
		t.Fatal(err)
	}
	q, s := reqLen.Load(), respLen.Load()
	for _, tc := range []struct {
		rec  *recorder
		dir  trace.Dir
		want int64
	}{
		{srec, trace.In, q}, {srec, trace.Out, s}, {crec, trace.Out, q}, {crec, trace.In, s},
	} {
		abs, _, from := frameOffsets(tc.rec, tc.dir)
		if len(abs) != 1 || abs[0] != tc.want || from[0] != "tcp" {
			t.Errorf("%s %s frames at %v (%v), want [%d]", tc.rec.events[0].Node, tc.dir, abs, from, tc.want)
		}
	}
}

// TestStreamOffsetsHookedReads has a hook lengthen one frame read, drop
// the next and duplicate the one after: each frame event must still say
// where its frame was on the wire, and what it was there (the parser
// found the frames the hook made at other offsets, and every later frame
// of the connection was placed in the wrong packets).
func TestStreamOffsetsHookedReads(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	fh := FrameHookFunc(func(f *HookFrame) FrameVerdict {
		if f.Dir != trace.In {
			return FrameVerdict{}
		}
		switch string(f.Payload) {
		case "early":
			f.Payload = []byte("early, and edited")
		case "\x01\x02\x03\x04":
			return FrameVerdict{Verdict: hook.Verdict{Action: hook.Drop}}
		case "x":
			return FrameVerdict{Verdict: hook.Verdict{Action: hook.Duplicate, Copies: 1}}
		}
		return FrameVerdict{}
	})
	done := make(chan []string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(rec), Node: "server", FrameHook: fh}})
		if err != nil {
			done <- []string{err.Error()}
			return
		}
		defer c.CloseNow()
		var got []string
		for range 4 {
			_, p, err := c.ReadMessage(context.Background())
			if err != nil {
				got = append(got, err.Error())
				break
			}
			got = append(got, string(p))
		}
		done <- got
	}))
	srv.Listener = countingListener{srv.Listener}
	srv.Start()
	defer srv.Close()

	_, req := upgradeWithFrames(t, srv.URL,
		masked(true, OpText, []byte("early")),      // 11 bytes
		masked(true, OpBinary, []byte{1, 2, 3, 4}), // 10 bytes
		masked(true, OpText, []byte("x")),          // 7 bytes
		masked(true, OpText, []byte("last")))       // 10 bytes
	select {
	case got := <-done:
		if want := "[early, and edited x x last]"; fmt.Sprint(got) != want {
			t.Fatalf("messages %v, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server read no four messages")
	}
	abs, _, _ := frameOffsets(rec, trace.In)
	n := int64(len(req))
	if want := fmt.Sprint([]int64{n, n + 11, n + 21, n + 28}); fmt.Sprint(abs) != want {
		t.Errorf("in frames at %v, want %s: where they were on the wire", abs, want)
	}
	var lens []any
	for _, e := range rec.find(trace.In, "frame") {
		lens = append(lens, field(e, "len"))
	}
	if fmt.Sprint(lens) != "[5 4 1 4]" {
		t.Errorf("in frames of lengths %v, want [5 4 1 4]: as they arrived", lens)
	}
}
