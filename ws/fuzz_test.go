package ws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// frameSeeds are nasty inputs for the frame parsers.
var frameSeeds = [][]byte{
	{},
	{0x81},
	{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'},
	{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
	{0x82, 0xfe, 0x00, 0x7e, 1, 2, 3, 4},                               // 16-bit length, truncated payload
	{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},                // 64-bit length with the top bit
	{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},       // huge length, no mask
	{0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'},      // non-minimal 16-bit length
	{0xf3, 0x80, 0, 0, 0, 0},                                           // RSV bits and opcode 3
	{0x09, 0x80, 0, 0, 0, 0},                                           // fragmented ping
	{0x88, 0x81, 0, 0, 0, 0, 3},                                        // close with 1 byte
	{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed},                               // close 1005 on the wire
	{0x88, 0x84, 0, 0, 0, 0, 0x03, 0xe8, 0xc0, 0xaf},                   // close with an overlong reason
	{0x01, 0x82, 0, 0, 0, 0, 0xe2, 0x82, 0x80, 0x81, 0, 0, 0, 0, 0xac}, // split code point
	{0x01, 0x81, 0, 0, 0, 0, 'a', 0x81, 0x81, 0, 0, 0, 0, 'b'},         // text inside a message
	{0x00, 0x81, 0, 0, 0, 0, 'a'},                                      // continuation first
	{0x89, 0x80, 1, 2, 3, 4, 0x8a, 0x80, 1, 2, 3, 4, 0x88, 0x80, 1, 2, 3, 4},
}

// FuzzReadFrame feeds arbitrary bytes to the frame parsers and to a
// server-side Conn. Nothing may panic; whatever parses must re-encode to
// the same header.
func FuzzReadFrame(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, n, err := ParseHeader(data); err == nil {
			b := AppendHeader(nil, h)
			h2, n2, err := ParseHeader(b)
			if err != nil || h2 != h || n2 > n {
				t.Fatalf("re-encoding %+v gave %+v, %d, %v", h, h2, n2, err)
			}
		}
		r := bytes.NewReader(data)
		for {
			fr, err := ReadFrame(r)
			if err != nil {
				break
			}
			if int64(len(fr.Payload)) != fr.Header.Length {
				t.Fatalf("payload %d bytes, header says %d", len(fr.Payload), fr.Header.Length)
			}
		}
		readAllValid(t, newConn(&fakeConn{r: bytes.NewReader(data)}, nil, false, "", newConfig(1<<16, time.Second, nil, "")))

		// With a memory budget, whatever the frames, the read gives back
		// all it charged.
		bcfg := newConfig(1<<20, time.Second, nil, "")
		bcfg.budget = NewMemoryBudget(1 << 17)
		readAllValid(t, newConn(&fakeConn{r: bytes.NewReader(data)}, nil, false, "", bcfg))
		if n := bcfg.budget.InUse(); n != 0 {
			t.Fatalf("%d bytes still charged after the read ended", n)
		}

		// Through a hook that drops, lengthens and duplicates frames,
		// the frame events still name where frames were on the wire:
		// in order, inside the input.
		var offs []int64
		tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
			if e.Layer == trace.LayerWS && e.Name == "frame" && e.Dir == trace.In {
				offs = append(offs, e.Field("ws_offset").(int64))
			}
		}))
		cfg := newConfig(1<<16, time.Second, tr, "")
		cfg.frameHook = FrameHookFunc(func(f *HookFrame) FrameVerdict {
			switch len(f.Payload) % 3 {
			case 0:
				return FrameVerdict{Verdict: hook.Verdict{Action: hook.Drop}}
			case 1:
				f.Payload = append(f.Payload, f.Payload...)
				return FrameVerdict{}
			}
			return FrameVerdict{Verdict: hook.Verdict{Action: hook.Duplicate, Copies: 1}}
		})
		readAllValid(t, newConn(&fakeConn{r: bytes.NewReader(data)}, nil, false, "", cfg))
		for i, o := range offs {
			if o < 0 || o >= int64(len(data)) || i > 0 && o <= offs[i-1] {
				t.Fatalf("frame events at %v for %d bytes of input", offs, len(data))
			}
		}
	})
}

// readAllValid reads c's messages until an error, failing t on a text
// message that is not UTF-8.
func readAllValid(t *testing.T, c *Conn) {
	t.Helper()
	for {
		typ, p, err := c.ReadMessage(context.Background())
		if err != nil {
			return
		}
		if typ == MessageText && !utf8.Valid(p) {
			t.Fatalf("delivered invalid UTF-8 %q", p)
		}
	}
}

// FuzzHandshakeRequest feeds arbitrary bytes to the server's request
// parser and checks the outcome is a well-formed answer.
func FuzzHandshakeRequest(f *testing.F) {
	f.Add([]byte(request(nil)))
	f.Add([]byte(request(nil, "Sec-WebSocket-Protocol: chat, , superchat ,")))
	f.Add([]byte(request(map[string]string{"request-line": "GET / HTTP/9.9"})))
	f.Add([]byte(request(map[string]string{"Connection": "Connection: ,,,upgrade,,"})))
	f.Add([]byte(request(map[string]string{"Sec-WebSocket-Key": "Sec-WebSocket-Key: ===="})))
	f.Add([]byte(request(nil, "Content-Length: 5")))
	f.Add([]byte(request(nil, "Transfer-Encoding: chunked")))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET http://x/ HTTP/1.1\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: \x00\r\n\r\n"))
	f.Add([]byte(request(nil, "Origin: http://evil.example")))
	f.Add([]byte(request(nil, "Origin: null")))
	f.Add([]byte(request(nil, "Origin: http://%zz")))
	f.Add([]byte(request(nil, "Origin: http://a.example.org:8080")))
	f.Add([]byte(request(nil, "Origin: https://server.example.com@evil.example")))
	opts := &AcceptOptions{Subprotocols: []string{"chat", "superchat"}, OriginPatterns: []string{"*.example.org:*", "https://app.test"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, hs, herr := readRequest(bufio.NewReader(bytes.NewReader(data)), opts)
		if herr != nil {
			if herr.Status != 0 && (herr.Status < 400 || herr.Status > 599) {
				t.Fatalf("rejection with status %d", herr.Status)
			}
			if herr.Status != 0 {
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(rejectResponse(herr))), nil)
				if err != nil || resp.StatusCode != herr.Status {
					t.Fatalf("rejection does not parse: %v", err)
				}
			}
			if !errors.Is(herr, ErrBadHandshake) {
				t.Fatal("HandshakeError does not match ErrBadHandshake")
			}
			return
		}
		if r == nil || hs.accept != AcceptKey(strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))) {
			t.Fatalf("accepted request with a wrong accept value")
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(responseHead(hs, nil))), nil)
		if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != hs.accept {
			t.Fatalf("101 response does not parse: %v", err)
		}
		if hs.subprotocol != "" && hs.subprotocol != "chat" && hs.subprotocol != "superchat" {
			t.Fatalf("chose %q", hs.subprotocol)
		}
	})
}

// FuzzUTF8 compares the incremental validator with utf8.Valid at every
// split point.
func FuzzUTF8(f *testing.F) {
	for _, s := range utf8Cases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUTF8Splits(t, data)
	})
}

// answerConn plays a server that answers the client's handshake with
// resp, in which "{accept}" stands for the right Sec-WebSocket-Accept
// value, so that the fuzzer reaches past that check.
type answerConn struct {
	fakeConn
	resp []byte
	req  bytes.Buffer
}

func (a *answerConn) Write(p []byte) (int, error) { return a.req.Write(p) }

func (a *answerConn) Read(p []byte) (int, error) {
	if a.r == nil {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(a.req.Bytes())))
		if err != nil {
			return 0, err
		}
		a.r = bytes.NewReader(bytes.ReplaceAll(a.resp, []byte("{accept}"), []byte(AcceptKey(req.Header.Get("Sec-WebSocket-Key")))))
	}
	return a.r.Read(p)
}

// FuzzHandshakeResponse feeds arbitrary answers, and frames after them, to
// the client's handshake. Nothing may panic; a connection is made only
// from a 101 with the right accept value and an offered subprotocol, and
// it delivers only valid text.
func FuzzHandshakeResponse(f *testing.F) {
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
	f.Add([]byte(ok+"\r\n"), false)
	f.Add([]byte(ok+"Sec-WebSocket-Protocol: chat\r\n\r\n\x81\x02hi\x88\x02\x03\xe8"), false)
	f.Add([]byte(ok+"Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"), false)
	f.Add([]byte(ok+"Sec-WebSocket-Protocol: other\r\n\r\n"), false)
	f.Add([]byte(ok+"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00"), true)
	f.Add([]byte(ok+"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8; client_max_window_bits=9\r\n\r\n"), true)
	f.Add([]byte(ok+"Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n\r\n"), true)
	f.Add([]byte(ok+"Sec-WebSocket-Extensions: x-unknown\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: xxxx\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), false)
	f.Add([]byte("HTTP/1.0 101\r\n\r\n"), false)
	f.Add([]byte("\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, resp []byte, compress bool) {
		nc := &answerConn{resp: resp}
		opts := &DialOptions{Subprotocols: []string{"chat", "superchat"}}
		opts.Compression.Enabled = compress
		c, r, err := Client(context.Background(), nc, "ws://server.example/chat", opts)
		if err != nil {
			if c != nil {
				t.Fatal("a connection and an error")
			}
			return
		}
		if r.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("connected on status %d", r.StatusCode)
		}
		req, _ := http.ReadRequest(bufio.NewReader(bytes.NewReader(nc.req.Bytes())))
		if r.Header.Get("Sec-WebSocket-Accept") != AcceptKey(req.Header.Get("Sec-WebSocket-Key")) {
			t.Fatal("connected with a wrong accept value")
		}
		if p := c.Subprotocol(); p != "" && p != "chat" && p != "superchat" {
			t.Fatalf("connected with subprotocol %q, not offered", p)
		}
		readAllValid(t, c)
	})
}
