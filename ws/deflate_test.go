package ws

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// wireCounter counts the bytes written to a connection.
type wireCounter struct {
	net.Conn
	written *atomic.Int64
}

func (c wireCounter) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// countingDial returns a NetDial that counts the bytes the client writes.
func countingDial(n *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wireCounter{nc, n}, nil
	}
}

// text returns n bytes of compressible text that differ with seed.
func text(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	words := strings.Fields("the quick brown fox jumps over lazy dog packets frames segments window deflate stack")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

func TestDeflateRoundTrip(t *testing.T) {
	t.Parallel()
	big := text(1, 1<<20)
	random := make([]byte, 100<<10)
	rc := rand.NewChaCha8([32]byte{2})
	rc.Read(random)
	modes := []struct {
		name      string
		srv, clnt CompressionOptions
	}{
		{"default", CompressionOptions{Enabled: true}, CompressionOptions{Enabled: true}},
		{"no context takeover", CompressionOptions{Enabled: true, ServerNoContextTakeover: true},
			CompressionOptions{Enabled: true, ClientNoContextTakeover: true}},
		{"best speed, every message", CompressionOptions{Enabled: true, Level: flate.BestSpeed, Threshold: -1},
			CompressionOptions{Enabled: true, Level: flate.HuffmanOnly, Threshold: -1}},
		{"server asks client for no context", CompressionOptions{Enabled: true, ClientNoContextTakeover: true},
			CompressionOptions{Enabled: true, ServerMaxWindowBits: 15}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			url, _ := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: m.srv, MaxMessageSize: 2 << 20}})
			var rsv1 atomic.Int64
			c := dial(t, url, &DialOptions{
				ConnOptions: ConnOptions{
					Compression:    m.clnt,
					MaxMessageSize: 2 << 20,
					FrameHook: FrameHookFunc(func(f *HookFrame) FrameVerdict {
						if f.Header.Rsv&Rsv1 != 0 {
							rsv1.Add(1)
						}
						return FrameVerdict{}
					}),
				},
			})
			if c.cfg.deflate == nil {
				t.Fatal("compression was not negotiated")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			type msg struct {
				typ   MessageType
				parts [][]byte
			}
			msgs := []msg{
				{MessageText, [][]byte{[]byte("hello")}},
				{MessageText, [][]byte{text(3, 1000)}},
				{MessageText, [][]byte{text(3, 1000)}},
				{MessageBinary, [][]byte{big}},
				{MessageBinary, [][]byte{random}},
				{MessageText, [][]byte{{}}},
				{MessageBinary, [][]byte{text(4, 300), text(5, 10), {}, text(6, 5000)}},
				{MessageText, [][]byte{[]byte("κόσμε "), text(7, 200)}},
			}
			for i, msg := range msgs {
				want := bytes.Join(msg.parts, nil)
				var err error
				if len(msg.parts) == 1 {
					err = c.WriteMessage(ctx, msg.typ, msg.parts[0])
				} else if i%2 == 0 {
					err = c.WriteFragmented(ctx, msg.typ, msg.parts...)
				} else {
					var w *MessageWriter
					if w, err = c.Writer(ctx, msg.typ); err == nil {
						for _, p := range msg.parts {
							w.Write(p)
						}
						err = w.Close()
					}
				}
				if err != nil {
					t.Fatalf("message %d: write: %v", i, err)
				}
				typ, got, err := c.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("message %d: read: %v", i, err)
				}
				if typ != msg.typ || !bytes.Equal(got, want) {
					t.Fatalf("message %d: got %v of %d bytes, want %v of %d", i, typ, len(got), msg.typ, len(want))
				}
			}
			if rsv1.Load() == 0 {
				t.Fatal("no frame had RSV1")
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeflateContextTakeover sends the same message ten times and checks
// that with context takeover the repeats cost a fraction of the first.
func TestDeflateContextTakeover(t *testing.T) {
	t.Parallel()
	msg := text(9, 4000)
	wire := func(o CompressionOptions) int64 {
		url, _ := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}}})
		var n atomic.Int64
		c := dial(t, url, &DialOptions{NetDial: countingDial(&n), ConnOptions: ConnOptions{Compression: o}})
		ctx := testContext(t)
		start := n.Load()
		for range 10 {
			if err := c.WriteMessage(ctx, MessageText, msg); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.ReadMessage(ctx); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("echo: %v", err)
			}
		}
		return n.Load() - start
	}
	takeover := wire(CompressionOptions{Enabled: true})
	none := wire(CompressionOptions{Enabled: true, ClientNoContextTakeover: true})
	plain := int64(10 * (len(msg) + 8))
	t.Logf("10 x %d bytes on the wire: %d uncompressed, %d without context takeover, %d with", len(msg), plain, none, takeover)
	if none >= plain || takeover*3 >= none {
		t.Fatalf("wire bytes: %d uncompressed, %d without context takeover, %d with", plain, none, takeover)
	}
}

func TestDeflateNegotiationServer(t *testing.T) {
	t.Parallel()
	on := CompressionOptions{Enabled: true}
	tests := []struct {
		name   string
		offers []string
		opts   CompressionOptions
		answer string // "" declines
	}{
		{"off", []string{"permessage-deflate"}, CompressionOptions{}, ""},
		{"plain", []string{"permessage-deflate"}, on, "permessage-deflate"},
		{"no offer", nil, on, ""},
		{"other extension", []string{"x-webkit-deflate-frame"}, on, ""},
		{"client bits without value", []string{"permessage-deflate; client_max_window_bits"}, on, "permessage-deflate"},
		{"client bits 10", []string{"permessage-deflate; client_max_window_bits=10"}, on, "permessage-deflate"},
		{"quoted value", []string{`permessage-deflate; client_max_window_bits="10"`}, on, "permessage-deflate"},
		{"server bits 15", []string{"permessage-deflate; server_max_window_bits=15"}, on, "permessage-deflate; server_max_window_bits=15"},
		{"server bits 10 declined", []string{"permessage-deflate; server_max_window_bits=10"}, on, ""},
		{"server bits 14 declined", []string{"permessage-deflate; server_max_window_bits=14"}, on, ""},
		{"server bits 10, then a fallback", []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"}, on, "permessage-deflate"},
		{"server no context", []string{"permessage-deflate; server_no_context_takeover"}, on, "permessage-deflate; server_no_context_takeover"},
		{"client no context", []string{"permessage-deflate; client_no_context_takeover"}, on, "permessage-deflate; client_no_context_takeover"},
		{"both", []string{"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}, on,
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"server option", []string{"permessage-deflate"}, CompressionOptions{Enabled: true, ServerNoContextTakeover: true, ClientNoContextTakeover: true},
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"unknown parameter", []string{"permessage-deflate; foo=1"}, on, ""},
		{"duplicate parameter", []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, on, ""},
		{"value on flag", []string{"permessage-deflate; server_no_context_takeover=1"}, on, ""},
		{"bits out of range", []string{"permessage-deflate; client_max_window_bits=16"}, on, ""},
		{"bits 7", []string{"permessage-deflate; server_max_window_bits=7"}, on, ""},
		{"bits leading zero", []string{"permessage-deflate; server_max_window_bits=015"}, on, ""},
		{"server bits without value", []string{"permessage-deflate; server_max_window_bits"}, on, ""},
		{"second header", []string{"x-foo", "permessage-deflate; client_max_window_bits"}, on, "permessage-deflate"},
		{"bad first, good second", []string{"permessage-deflate; foo, permessage-deflate; client_no_context_takeover"}, on,
			"permessage-deflate; client_no_context_takeover"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, o := range tt.offers {
				h.Add("Sec-WebSocket-Extensions", o)
			}
			_, answer, ok := negotiateDeflate(h, &tt.opts)
			if answer != tt.answer || ok != (tt.answer != "") {
				t.Fatalf("answer %q (ok %v), want %q", answer, ok, tt.answer)
			}
		})
	}
}

func TestDeflateNegotiationClient(t *testing.T) {
	t.Parallel()
	on := CompressionOptions{Enabled: true}
	tests := []struct {
		name    string
		answer  []string
		opts    CompressionOptions
		ok      bool
		enabled bool
	}{
		{"declined", nil, on, true, false},
		{"accepted", []string{"permessage-deflate"}, on, true, true},
		{"not offered", []string{"permessage-deflate"}, CompressionOptions{}, false, false},
		{"server no context", []string{"permessage-deflate; server_no_context_takeover"}, on, true, true},
		{"client no context", []string{"permessage-deflate; client_no_context_takeover"}, on, true, true},
		{"server bits 9", []string{"permessage-deflate; server_max_window_bits=9"}, on, true, true},
		{"server bits within offer", []string{"permessage-deflate; server_max_window_bits=10"},
			CompressionOptions{Enabled: true, ServerMaxWindowBits: 12}, true, true},
		{"server bits beyond offer", []string{"permessage-deflate; server_max_window_bits=13"},
			CompressionOptions{Enabled: true, ServerMaxWindowBits: 12}, false, false},
		{"server bits missing after offer", []string{"permessage-deflate"},
			CompressionOptions{Enabled: true, ServerMaxWindowBits: 12}, false, false},
		{"client bits not offered", []string{"permessage-deflate; client_max_window_bits=15"}, on, false, false},
		{"requested no context not granted", []string{"permessage-deflate"},
			CompressionOptions{Enabled: true, ServerNoContextTakeover: true}, false, false},
		{"unknown parameter", []string{"permessage-deflate; foo"}, on, false, false},
		{"duplicate", []string{"permessage-deflate; client_no_context_takeover; client_no_context_takeover"}, on, false, false},
		{"bits 16", []string{"permessage-deflate; server_max_window_bits=16"}, on, false, false},
		{"bits without value", []string{"permessage-deflate; server_max_window_bits"}, on, false, false},
		{"two extensions", []string{"permessage-deflate, permessage-deflate"}, on, false, false},
		{"other extension", []string{"x-webkit-deflate-frame"}, on, false, false},
		{"malformed", []string{"permessage-deflate; =1"}, on, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, a := range tt.answer {
				h.Add("Sec-WebSocket-Extensions", a)
			}
			p, err := checkDeflateAnswer(h, &tt.opts)
			if (err == nil) != tt.ok || (p != nil) != tt.enabled {
				t.Fatalf("params %+v, err %v; want ok %v, enabled %v", p, err, tt.ok, tt.enabled)
			}
		})
	}
	// What the client does with an answer it accepts.
	for _, tt := range []struct {
		answer string
		opts   CompressionOptions
		want   deflateParams
	}{
		{"permessage-deflate", on, deflateParams{serverMaxBits: 15, clientMaxBits: 15}},
		{"permessage-deflate; server_no_context_takeover", on, deflateParams{serverNoContext: true, serverMaxBits: 15, clientMaxBits: 15}},
		{"permessage-deflate; client_no_context_takeover", on, deflateParams{clientNoContext: true, serverMaxBits: 15, clientMaxBits: 15}},
		{"permessage-deflate; server_max_window_bits=9", on, deflateParams{serverMaxBits: 9, clientMaxBits: 15}},
		// The client keeps no context when it said so, granted or not.
		{"permessage-deflate", CompressionOptions{Enabled: true, ClientNoContextTakeover: true},
			deflateParams{clientNoContext: true, serverMaxBits: 15, clientMaxBits: 15}},
	} {
		h := http.Header{"Sec-Websocket-Extensions": {tt.answer}}
		if p, err := checkDeflateAnswer(h, &tt.opts); err != nil || p == nil || *p != tt.want {
			t.Errorf("answer %q with %+v: params %+v, %v; want %+v", tt.answer, tt.opts, p, err, tt.want)
		}
	}
}

// TestDeflateClientRejectsBadAnswer dials servers that answer the offer
// wrongly and expects the handshake to fail with the reason.
func TestDeflateClientRejectsBadAnswer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				r, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
					"Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n\r\n",
					AcceptKey(r.Header.Get("Sec-WebSocket-Key")))
				io.Copy(io.Discard, nc)
			}()
		}
	}()
	_, _, err = Dial(testContext(t), "ws://"+ln.Addr().String(), &DialOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}}})
	if !errors.Is(err, ErrBadHandshake) || !strings.Contains(err.Error(), "client_max_window_bits") {
		t.Fatalf("Dial: %v, want a handshake error about client_max_window_bits", err)
	}
}

// deflateRaw compresses p as one message for the wire, tail stripped.
func deflateRaw(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write(p)
	fw.Flush()
	return bytes.TrimSuffix(b.Bytes(), deflateTail)
}

// rawDeflateClient is rawClient offering permessage-deflate.
func rawDeflateClient(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", addr)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Extensions") != "permessage-deflate" {
		t.Fatalf("status %s, extensions %q", resp.Status, resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	return nc, br
}

func TestDeflateViolations(t *testing.T) {
	t.Parallel()
	hello := deflateRaw(t, []byte("hello"))
	bomb := deflateRaw(t, make([]byte, 8<<20))
	tests := []struct {
		name   string
		frames []Frame
		code   StatusCode
		err    error
	}{
		{"RSV1 on continuation", []Frame{masked(false, OpText, []byte("a")), withRsv(masked(true, OpContinuation, []byte("b")), Rsv1)},
			1002, ErrCompressedControl},
		{"RSV1 on continuation of compressed", []Frame{withRsv(masked(false, OpText, hello[:2]), Rsv1), withRsv(masked(true, OpContinuation, hello[2:]), Rsv1)},
			1002, ErrReservedBits},
		{"RSV1 on ping", []Frame{withRsv(masked(true, OpPing, nil), Rsv1)}, 1002, ErrCompressedControl},
		{"RSV1 on close", []Frame{withRsv(masked(true, OpClose, nil), Rsv1)}, 1002, ErrProtocol},
		{"RSV2 with deflate", []Frame{withRsv(masked(true, OpText, hello), Rsv1|Rsv2)}, 1002, ErrReservedBits},
		{"not deflate", []Frame{withRsv(masked(true, OpBinary, []byte{0xff, 0xff, 0xff}), Rsv1)}, 1002, ErrBadCompressedData},
		{"invalid UTF-8 inside", []Frame{withRsv(masked(true, OpText, deflateRaw(t, []byte("ok\xff"))), Rsv1)}, 1007, ErrInvalidUTF8},
		{"zip bomb", []Frame{withRsv(masked(true, OpBinary, bomb), Rsv1)}, 1009, ErrMessageTooBig},
		// UTF-8 is checked as the text inflates (fail fast): the
		// invalid first byte is found before the limit is reached.
		{"invalid UTF-8 before a bomb", []Frame{withRsv(masked(true, OpText, deflateRaw(t, append([]byte{0xff}, make([]byte, 8<<20)...))), Rsv1)}, 1007, ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{MaxMessageSize: 64 << 10, Compression: CompressionOptions{Enabled: true}}})
			nc, br := rawDeflateClient(t, url)
			writeFrames(t, nc, tt.frames...)
			if code, _ := readClose(t, br); code != tt.code {
				t.Fatalf("close code %v, want %v", code, tt.code)
			}
			nc.Close()
			if err := recvErr(t, errs); !errors.Is(err, tt.err) {
				t.Fatalf("server error %v, want %v", err, tt.err)
			}
		})
	}
}

// TestDeflateBombMemory inflates 32 MiB of zeros against a 1 MiB limit
// and checks that the work stops at the limit.
func TestDeflateBombMemory(t *testing.T) {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 32 {
		fw.Write(zeros)
	}
	fw.Flush()
	d := newDeflateState(deflateParams{serverMaxBits: 15, clientMaxBits: 15}, false, &CompressionOptions{Enabled: true})
	d.zbuf = bytes.TrimSuffix(b.Bytes(), deflateTail)
	t.Logf("bomb: %d compressed bytes for 32 MiB", len(d.zbuf))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	msg, err := d.inflate(nil, 1<<20, nil, &msgMemory{}, new(int64))
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("inflate: %v, want ErrMessageTooBig", err)
	}
	if len(msg) > 1<<20+1 {
		t.Fatalf("inflated %d bytes, limit 1 MiB", len(msg))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("stopped after %d bytes, %d bytes allocated, %v", len(msg), alloc, elapsed)
	if alloc > 8<<20 {
		t.Fatalf("allocated %d bytes inflating against a 1 MiB limit", alloc)
	}
}

// TestDeflateIdleMemory measures the heap held per idle connection pair
// after one message each way, with and without compression.
func TestDeflateIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory")
	}
	const n = 50
	measure := func(o CompressionOptions) float64 {
		var wg sync.WaitGroup
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			wg.Add(1)
			defer wg.Done()
			c, err := Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{Compression: o}})
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, p, err := c.ReadMessage(context.Background())
				if err != nil || c.WriteMessage(context.Background(), typ, p) != nil {
					return
				}
			}
		}))
		defer func() {
			srv.Close()
			wg.Wait()
		}()
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		ctx := testContext(t)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]*Conn, n)
		// (closed before the server's handlers are waited for, also when
		// the test fails half way: a handler waits on its client)
		defer func() {
			for _, c := range conns {
				if c != nil {
					c.CloseNow()
				}
			}
		}()
		for i := range conns {
			c, _, err := Dial(ctx, url, &DialOptions{ConnOptions: ConnOptions{Compression: o}})
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
			msg := text(uint64(i), 8<<10)
			if err := c.WriteMessage(ctx, MessageText, msg); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ReadMessage(ctx); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	}
	off := measure(CompressionOptions{})
	on := measure(CompressionOptions{Enabled: true})
	noCtx := measure(CompressionOptions{Enabled: true, ServerNoContextTakeover: true, ClientNoContextTakeover: true})
	t.Logf("heap per idle connection (client and server side): %.0f KiB off, %.0f KiB with context takeover, %.0f KiB without",
		off/1024, on/1024, noCtx/1024)
	if on-off > 200<<10 {
		t.Fatalf("compression costs %.0f KiB per idle connection", (on-off)/1024)
	}
}

func FuzzDeflateRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), []byte("hello"), uint8(0))
	f.Add([]byte{}, []byte{0}, uint8(1))
	f.Add(bytes.Repeat([]byte("abc"), 20000), bytes.Repeat([]byte("abc"), 20000), uint8(2))
	f.Add(make([]byte, 70000), []byte("x"), uint8(3))
	f.Fuzz(func(t *testing.T, a, b []byte, mode uint8) {
		p := deflateParams{serverMaxBits: 15, clientMaxBits: 15, serverNoContext: mode&1 != 0, clientNoContext: mode&2 != 0}
		levels := []int{flate.DefaultCompression, flate.BestSpeed, flate.HuffmanOnly, flate.BestCompression}
		o := &CompressionOptions{Enabled: true, Level: levels[int(mode>>2)%len(levels)]}
		w := newDeflateState(p, true, o)
		r := newDeflateState(p, false, o)
		for _, msg := range [][]byte{a, b, a, b} {
			m := w.compressor()
			half := len(msg) / 2
			var z []byte
			for i, part := range [][]byte{msg[:half], msg[half:]} {
				zp, err := m.part(part, i == 1)
				if err != nil {
					t.Fatal(err)
				}
				z = append(z, zp...)
				m.commit(part)
			}
			m.done()
			r.zbuf = append(r.zbuf[:0], z...)
			got, err := r.inflate(nil, 0, nil, &msgMemory{}, new(int64))
			if err != nil {
				t.Fatalf("inflate: %v", err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("round trip of %d bytes gave %d", len(msg), len(got))
			}
		}
	})
}

// TestHookSeesCompressedFragments: a hook is told which frames carry a
// compressed message, its continuations (which have no RSV1) included,
// both ways, and that the next message, sent plain, is not.
func TestHookSeesCompressedFragments(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}}})
	type seen struct {
		dir        trace.Dir
		op         Opcode
		rsv1, comp bool
	}
	var mu sync.Mutex
	var frames []seen
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{
		Compression: CompressionOptions{Enabled: true},
		FrameHook: FrameHookFunc(func(f *HookFrame) FrameVerdict {
			mu.Lock()
			frames = append(frames, seen{f.Dir, f.Header.Opcode, f.Header.Rsv&Rsv1 != 0, f.Compressed})
			mu.Unlock()
			return FrameVerdict{}
		}),
	}})
	ctx := testContext(t)
	// long enough to be compressed, in three frames; then two short parts
	// under the threshold, sent as they are
	if err := c.WriteFragmented(ctx, MessageText, text(1, 400), text(2, 400), text(3, 400)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFragmented(ctx, MessageText, []byte("hi"), []byte("there")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, _, err := c.ReadMessage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var out, in []seen
	for _, f := range frames {
		if f.op.IsControl() {
			continue
		}
		if f.dir == trace.Out {
			out = append(out, f)
		} else {
			in = append(in, f)
		}
	}
	if len(out) != 5 {
		t.Fatalf("%d data frames out, want 5: %+v", len(out), out)
	}
	for i, f := range out {
		if want := i < 3; f.comp != want || f.rsv1 != (i == 0) {
			t.Errorf("frame %d out (%v, rsv1 %v): compressed %v, want %v", i, f.op, f.rsv1, f.comp, want)
		}
	}
	// the echo of the compressed message comes compressed, the other not
	if len(in) < 2 || !in[0].comp || !in[0].rsv1 || in[len(in)-1].comp {
		t.Errorf("data frames in: %+v, want the first compressed and the last not", in)
	}
}

// TestDeflateFinalBlocks sends messages whose data a block with BFINAL
// set ends, as RFC 7692 §7.2.3.4 lets a sender flush, followed by more
// data: the server must inflate all of it (it returned what came before
// the first such block, and dropped the rest without a word).
func TestDeflateFinalBlocks(t *testing.T) {
	t.Parallel()
	final := func(p string) []byte {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestCompression)
		fw.Write([]byte(p))
		fw.Close()
		return b.Bytes()
	}
	two := append(append(final("Hello "), final("World")...), 0x00)
	tests := []struct {
		name   string
		frames []Frame
		want   string
	}{
		{"RFC 7692 7.2.3.4", []Frame{withRsv(masked(true, OpText, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), Rsv1)}, "Hello"},
		{"two final blocks", []Frame{withRsv(masked(true, OpText, two), Rsv1)}, "Hello World"},
		{"two final blocks, two frames", []Frame{withRsv(masked(false, OpText, two[:5]), Rsv1), masked(true, OpContinuation, two[5:])}, "Hello World"},
		// A compressed message of no bytes is the empty message, as
		// zlib (python3-websockets, node ws) reads it.
		{"empty", []Frame{withRsv(masked(true, OpText, nil), Rsv1)}, ""},
		{"empty, two frames", []Frame{withRsv(masked(false, OpText, nil), Rsv1), masked(true, OpContinuation, nil)}, ""},
		{"then a flushed block", []Frame{withRsv(masked(true, OpText, append(final("Hello "), deflateRaw(t, []byte("World"))...)), Rsv1)}, "Hello World"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, _ := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}}})
			nc, br := rawDeflateClient(t, url)
			writeFrames(t, nc, tt.frames...)
			f, err := ReadFrame(br)
			if err != nil {
				t.Fatal(err)
			}
			got := f.Payload
			if f.Header.Rsv&Rsv1 != 0 {
				if got, err = io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(f.Payload), bytes.NewReader(deflateTail), bytes.NewReader(finalBlock)))); err != nil {
					t.Fatal(err)
				}
			}
			if f.Header.Opcode != OpText || string(got) != tt.want {
				t.Fatalf("echo %v %q, want text %q", f.Header.Opcode, got, tt.want)
			}
		})
	}
}

// TestSplitCompressed has a hook split a compressed message into four
// fragments on its way out: only the first may carry RSV1, and the
// message must inflate as it was (the fragments kept RSV1 and the peer
// failed the connection with 1002).
func TestSplitCompressed(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}}})
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{
		Compression: CompressionOptions{Enabled: true},
		FrameHook: FrameHookFunc(func(f *HookFrame) FrameVerdict {
			if f.Dir == trace.Out && !f.Header.Opcode.IsControl() {
				return FrameVerdict{Split: 4}
			}
			return FrameVerdict{}
		}),
	}})
	ctx := testContext(t)
	msg := text(7, 2000)
	if err := c.WriteMessage(ctx, MessageText, msg); err != nil {
		t.Fatal(err)
	}
	typ, got, err := c.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("echo of a split compressed message: %v", err)
	}
	if typ != MessageText || !bytes.Equal(got, msg) {
		t.Fatalf("echo %v of %d bytes, want the %d bytes sent", typ, len(got), len(msg))
	}
}

// TestDeflateLargestLimit: a message limit as large as an int64 goes
// (what --max-message takes) still reads compressed messages; the room
// left for their compressed bytes once overflowed and refused every one
// with 1009.
func TestDeflateLargestLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{math.MaxInt64, math.MaxInt64 / 9 * 8, 1 << 20} {
		url, _ := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}, MaxMessageSize: limit}})
		c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}, MaxMessageSize: limit}})
		if c.cfg.deflate == nil {
			t.Fatal("compression was not negotiated")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		want := text(9, 5000)
		if err := c.WriteMessage(ctx, MessageText, want); err != nil {
			t.Fatalf("limit %d: write: %v", limit, err)
		}
		typ, got, err := c.ReadMessage(ctx)
		cancel()
		if err != nil || typ != MessageText || !bytes.Equal(got, want) {
			t.Fatalf("limit %d: read %v of %d bytes, %v; want the text message of %d bytes back", limit, typ, len(got), err, len(want))
		}
		c.Close(StatusNormalClosure, "")
	}
}

// TestDeflateHistoryOnlyWithTakeover: the reader keeps the history of
// what it inflated only when the peer keeps its context; otherwise an idle
// connection holds nothing of the last message.
func TestDeflateHistoryOnlyWithTakeover(t *testing.T) {
	t.Parallel()
	msg := text(3, 2000)
	for _, noContext := range []bool{false, true} {
		p := deflateParams{serverMaxBits: 15, clientMaxBits: 15, clientNoContext: noContext}
		o := &CompressionOptions{Enabled: true}
		w, r := newDeflateState(p, true, o), newDeflateState(p, false, o)
		m := w.compressor()
		z, err := m.part(msg, true)
		if err != nil {
			t.Fatal(err)
		}
		m.commit(msg)
		m.done()
		r.zbuf = append(r.zbuf[:0], z...)
		if got, err := r.inflate(nil, 0, nil, &msgMemory{}, new(int64)); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("inflate: %d bytes, %v", len(got), err)
		}
		if kept := len(r.rdict); noContext != (kept == 0) {
			t.Errorf("client_no_context_takeover %v: the server kept %d bytes of history", noContext, kept)
		}
	}
}

// enteredWrite is a connection that tells entered when a Write starts.
type enteredWrite struct {
	net.Conn
	entered chan<- struct{}
}

func (e *enteredWrite) Write(p []byte) (int, error) {
	e.entered <- struct{}{}
	return e.Conn.Write(p)
}

// TestCompressedWriteWaitHoldsNoCompressor has server Conns with
// permessage-deflate each write a compressed message to a peer that
// reads nothing (a net.Pipe, whose writes wait for the reader): while
// the writes wait, the heap holds their compressed bytes, not a
// flate.Writer each (787 KiB at the default level), which went back to
// its pool before the frame was written. A chat broadcast to many peers
// that stopped reading would otherwise pin one compressor per peer.
func TestCompressedWriteWaitHoldsNoCompressor(t *testing.T) {
	const conns = 24
	entered := make(chan struct{}, conns)
	var ends []net.Conn
	var cs []*Conn
	defer func() {
		for _, c := range cs {
			c.CloseNow()
		}
		for _, e := range ends {
			e.Close()
		}
	}()
	msg := bytes.Repeat([]byte("a line of chat, "), 64)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	errs := make(chan error, conns)
	for range conns {
		srv, cli := net.Pipe()
		ends = append(ends, cli)
		cfg := newConfig(0, time.Second, nil, "")
		cfg.deflate = newDeflateState(deflateParams{serverMaxBits: 15, clientMaxBits: 15}, false, &CompressionOptions{Enabled: true})
		c := newConn(&enteredWrite{Conn: srv, entered: entered}, nil, false, "", cfg)
		cs = append(cs, c)
		go func() { errs <- c.WriteMessage(context.Background(), MessageText, msg) }()
	}
	for range conns {
		<-entered
	}
	// Twice: sync.Pool keeps what it held for one collection more.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d bytes with %d compressed writes waiting", grew, conns)
	if grew > conns*256<<10 {
		t.Errorf("heap grew by %d bytes with %d compressed writes waiting: a compressor each", grew, conns)
	}
	for _, e := range ends {
		e.Close()
	}
	for range conns {
		if err := <-errs; err == nil {
			t.Error("a write to a closed pipe succeeded")
		}
	}
}
