package interop

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/internal/rawws"
)

// The message limit serve runs with in TestHostileWebSocket: small, so
// that the limit cases cost little.
const hostileMaxMessage = 64 << 10

// TestHostileWebSocket is an RFC 6455 probe, in the manner of Autobahn's
// fuzzingclient, against glassnet serve on a TUN from the kernel's side:
// frames no client should send, one case per connection. For each it
// checks the close code serve answers with, that serve then ends the TCP
// connection with a FIN (neither a reset nor left open), and, once all
// have run, that glassnet ss counted every end under its own reason and
// nothing else. Refused upgrades are answered once, with Content-Length
// and Connection: close, also when the client's first frame follows its
// request in the same segment.
func TestHostileWebSocket(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		name := fmt.Sprintf("gnhw%d", os.Getpid()%100000)
		startServeArgs(t, "serve", "--tun", name, "--addr", netip.PrefixFrom(hostileStack, 24).String(),
			"--port", fmt.Sprint(hostilePort), "--max-message", fmt.Sprint(hostileMaxMessage))
		addr := netip.AddrPortFrom(hostileStack, hostilePort).String()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		table := func(t *testing.T) *ctl.Table { return ssTable(ctx, t, name) }
		base := table(t).Process.Goroutines
		want := map[string]uint64{} // the counters the cases should leave

		for _, tc := range hostileFrameCases() {
			t.Run(tc.name, func(t *testing.T) {
				c, br := hostileUpgrade(t, addr, "/echo", tc.ext, nil)
				defer c.Close()
				if _, err := c.Write(tc.send); err != nil {
					t.Fatalf("write: %v", err)
				}
				frames, end := readServerFrames(c, br)
				code, reason, closed := closeOf(frames)
				switch {
				case !closed:
					t.Errorf("no close frame; got %s, then %s", frameList(frames), end)
				case code != tc.code:
					t.Errorf("close %d %q, want %d; frames %s", code, reason, tc.code, frameList(frames))
				}
				if end != "eof" {
					t.Errorf("after the close frame serve's TCP connection %s, want it ended with a FIN", end)
				}
				if tc.check != nil {
					if err := tc.check(frames); err != nil {
						t.Error(err)
					}
				}
			})
			want[tc.counter()]++
		}

		t.Run("valid UTF-8 split at every byte", func(t *testing.T) {
			text := []byte("κόσμε 𝄞 € \u07ff\U0010ffff")
			for i := 1; i < len(text); i++ {
				c, br := hostileUpgrade(t, addr, "/echo", "", nil)
				c.Write(slices.Concat(rawws.ClientFrame(false, 0, 1, text[:i]), rawws.ClientFrame(true, 0, 0, text[i:]), rawws.CloseFrame(1000, "")))
				frames, end := readServerFrames(c, br)
				c.Close()
				if len(frames) < 1 || frames[0].op != 1 || !bytes.Equal(frames[0].payload, text) || end != "eof" {
					t.Errorf("split at %d: %s, then %s; want the text echoed, close and FIN", i, frameList(frames), end)
				}
				want["ws ends: close handshake"]++
			}
		})

		t.Run("first frame in the same write as the request", func(t *testing.T) {
			c, br := hostileUpgrade(t, addr, "/echo", "", slices.Concat(rawws.ClientFrame(true, 0, 1, []byte("early")), rawws.CloseFrame(1000, "")))
			defer c.Close()
			frames, end := readServerFrames(c, br)
			if len(frames) != 2 || frames[0].op != 1 || string(frames[0].payload) != "early" || end != "eof" {
				t.Errorf("%s, then %s; want \"early\" echoed, close and FIN", frameList(frames), end)
			}
			want["ws ends: close handshake"]++
		})

		for _, tc := range hostileRefusals() {
			t.Run("refused: "+tc.name, func(t *testing.T) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				// The client's first frame follows its request, as a
				// client that does not wait for the 101 sends it.
				if _, err := c.Write(slices.Concat([]byte(tc.request(addr)), rawws.ClientFrame(true, 0, 1, []byte("hi\r\n\r\n")))); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("read the response: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("%s %q, want %d", resp.Status, body, tc.status)
				}
				if resp.ContentLength != int64(len(body)) {
					t.Errorf("Content-Length %d for a body of %d bytes", resp.ContentLength, len(body))
				}
				if !resp.Close {
					t.Errorf("the %s does not say Connection: close", resp.Status)
				}
				if tc.header != "" {
					k, v, _ := strings.Cut(tc.header, ": ")
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				rest, err := io.ReadAll(br)
				if err != nil || len(rest) != 0 {
					t.Errorf("after the %s: %q, %v; want the connection ended", resp.Status, rest, err)
				}
			})
			want[fmt.Sprintf("ws upgrades refused %d", tc.status)]++
		}

		t.Run("counted", func(t *testing.T) {
			// Every key serve counts a WebSocket's end or an HTTP
			// refusal under, so that one counted under a wrong key
			// shows up as a surplus there.
			watched := func(k string) bool {
				return strings.HasPrefix(k, "ws ends: ") || strings.HasPrefix(k, "ws upgrades refused ") || strings.HasPrefix(k, "http requests refused")
			}
			waitCounters(ctx, t, name, watched, want)
		})

		t.Run("silent connections", func(t *testing.T) {
			// Upgraded and silent, and a request head never finished:
			// each holds a goroutine while it is open, and gives it back
			// when the peer goes.
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for range 100 {
				c, _ := hostileUpgrade(t, addr, "/echo", "", nil)
				conns = append(conns, c)
			}
			for range 100 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: x\r\n")
				conns = append(conns, c)
			}
			if g := table(t).Process.Goroutines; g < base+100 {
				t.Errorf("%d goroutines with 100 WebSockets open, %d before", g, base)
			}
		})

		// Every connection the probe made has ended; what served them
		// has too.
		waitGoroutines(ctx, t, name, base, "the probe")
	})
}

// TestHostileStalledReader: a client that sends /echo a message and stops
// reading before the echo is back holds serve's write, and the keepalive
// ping queued behind it, until the keepalive gives up (at --idle-timeout):
// serve then ends the connection and counts it as a keepalive failure
// (1011), not among "other errors".
func TestHostileStalledReader(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		name := fmt.Sprintf("gnhs%d", os.Getpid()%100000)
		startServeArgs(t, "serve", "--tun", name, "--addr", netip.PrefixFrom(hostileStack, 24).String(),
			"--port", fmt.Sprint(hostilePort), "--idle-timeout", "2s")
		addr := netip.AddrPortFrom(hostileStack, hostilePort).String()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A receive buffer the kernel keeps small: the echo fills it
		// and serve's send buffer, and waits.
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			return errors.Join(err, serr)
		}}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := hostileHandshake(t, nc, addr, "/echo", "", nil)
		defer c.Close()
		if _, err := c.Write(rawws.ClientFrame(true, 0, 2, make([]byte, 8<<20))); err != nil {
			t.Fatalf("send the message: %v", err)
		}
		for {
			tb := ssTable(ctx, t, name)
			if n := tb.Counters["ws ends: other errors"]; n != 0 {
				t.Fatalf("ws ends: other errors %d, want the stalled reader counted as a keepalive failure", n)
			}
			if tb.Counters["ws ends: failed 1011 (keepalive: no pong)"] == 1 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no keepalive failure counted: %v", tb.Counters)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// hostileFrameCase is what a client sends after the handshake and the
// close code serve must answer with.
type hostileFrameCase struct {
	name  string
	ext   string // Sec-WebSocket-Extensions offered
	send  []byte
	code  uint16
	check func([]serverFrame) error // what else must have arrived
	// echo is set when code is the client's own close code echoed,
	// not one serve failed the connection with.
	echo bool
}

// counter is the glassnet ss counter the case's end is counted under.
func (tc hostileFrameCase) counter() string {
	if tc.echo {
		return "ws ends: close handshake"
	}
	switch tc.code {
	case 1002:
		return "ws ends: failed 1002 (protocol error)"
	case 1007:
		return "ws ends: failed 1007 (invalid UTF-8)"
	case 1009:
		return "ws ends: failed 1009 (message too big)"
	}
	return "ws ends: close handshake"
}

func hostileFrameCases() []hostileFrameCase {
	const deflate = "permessage-deflate"
	var cs []hostileFrameCase
	add := func(name string, code uint16, send ...[]byte) {
		cs = append(cs, hostileFrameCase{name: name, send: slices.Concat(send...), code: code})
	}
	// Framing (Autobahn 3.x, 4.x, and lengths Autobahn does not try).
	for rsv := byte(1); rsv <= 7; rsv++ {
		add(fmt.Sprintf("RSV %d", rsv), 1002, rawws.ClientFrame(true, rsv, 1, []byte("hi")))
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 11, 12, 13, 14, 15} {
		add(fmt.Sprintf("opcode %d", op), 1002, rawws.ClientFrame(true, 0, op, []byte("x")))
	}
	add("64-bit length with the top bit set", 1002, append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, 0, 0, 0, 0))
	add("16-bit length for 5 bytes", 1002, rawws.ClientFrameLen(0x81, 16, []byte("hello")))
	add("64-bit length for 200 bytes", 1002, rawws.ClientFrameLen(0x81, 64, bytes.Repeat([]byte("a"), 200)))
	add("unmasked", 1002, []byte{0x81, 0x02, 'h', 'i'})
	// Pings and pongs (2.x).
	cs = append(cs, hostileFrameCase{name: "ping of 125 bytes", code: 1000,
		send:  slices.Concat(rawws.ClientFrame(true, 0, 9, bytes.Repeat([]byte("p"), 125)), rawws.CloseFrame(1000, "")),
		check: wantFrames(serverFrame{op: 10, payload: bytes.Repeat([]byte("p"), 125)})})
	add("ping of 126 bytes", 1002, rawws.ClientFrame(true, 0, 9, bytes.Repeat([]byte("p"), 126)))
	cs = append(cs, hostileFrameCase{name: "unsolicited pong", code: 1000,
		send:  slices.Concat(rawws.ClientFrame(true, 0, 10, []byte("x")), rawws.ClientFrame(true, 0, 1, []byte("after")), rawws.CloseFrame(1000, "")),
		check: wantFrames(serverFrame{op: 1, payload: []byte("after")})})
	cs = append(cs, hostileFrameCase{name: "ping inside a fragmented message", code: 1000,
		send: slices.Concat(rawws.ClientFrame(false, 0, 1, []byte("ab")), rawws.ClientFrame(true, 0, 9, []byte("p")),
			rawws.ClientFrame(true, 0, 0, []byte("cd")), rawws.CloseFrame(1000, "")),
		check: wantFrames(serverFrame{op: 10, payload: []byte("p")}, serverFrame{op: 1, payload: []byte("abcd")})})
	// Fragmentation (5.x).
	add("continuation without a start", 1002, rawws.ClientFrame(true, 0, 0, []byte("x")))
	add("new message inside a fragmented one", 1002, rawws.ClientFrame(false, 0, 1, []byte("a")), rawws.ClientFrame(true, 0, 1, []byte("b")))
	add("fragmented ping", 1002, rawws.ClientFrame(false, 0, 9, []byte("a")), rawws.ClientFrame(true, 0, 0, []byte("b")))
	add("fragmented close", 1002, rawws.ClientFrame(false, 0, 8, []byte{3, 0xe8}))
	// UTF-8 (6.x).
	add("invalid UTF-8 in one frame", 1007, rawws.ClientFrame(true, 0, 1, []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")))
	add("invalid UTF-8 across fragments", 1007, rawws.ClientFrame(false, 0, 1, []byte("\xce\xba\xe1")), rawws.ClientFrame(true, 0, 0, []byte("\xbd\xff")))
	for _, bad := range []string{"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xc2"} {
		add(fmt.Sprintf("invalid UTF-8 %x", bad), 1007, rawws.ClientFrame(true, 0, 1, []byte("ok"+bad)))
	}
	add("text ends inside a code point after fragments", 1007, rawws.ClientFrame(false, 0, 1, []byte("a")), rawws.ClientFrame(true, 0, 0, []byte("\xe2\x82")))
	// Close (7.x).
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		add(fmt.Sprintf("close %d", code), 1002, rawws.CloseFrame(code, ""))
	}
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cs = append(cs, hostileFrameCase{name: fmt.Sprintf("close %d", code), code: code, echo: true, send: rawws.CloseFrame(code, "reason")})
	}
	add("close of 1 byte", 1002, rawws.ClientFrame(true, 0, 8, []byte{3}))
	add("close with an invalid UTF-8 reason", 1007, rawws.CloseFrame(1000, "\xff\xfe"))
	add("close with a 124-byte reason", 1002, rawws.CloseFrame(1000, strings.Repeat("r", 124)))
	cs = append(cs, hostileFrameCase{name: "data after the close", code: 1000,
		send:  slices.Concat(rawws.CloseFrame(1000, ""), rawws.ClientFrame(true, 0, 1, []byte("more"))),
		check: func(fs []serverFrame) error { return onlyClose(fs) }})
	// Limits (9.x, at serve's --max-message).
	add("length announced over the limit", 1009, rawws.ClientFrameLen(0x82, 64, nil)[:2], u64(hostileMaxMessage+1), []byte{0, 0, 0, 0, 'a'})
	add("length announced 2^62", 1009, []byte{0x82, 0xff}, u64(1<<62), []byte{0, 0, 0, 0})
	add("fragments over the limit", 1009, rawws.ClientFrame(false, 0, 2, make([]byte, hostileMaxMessage/2)),
		rawws.ClientFrame(false, 0, 0, make([]byte, hostileMaxMessage/2)), rawws.ClientFrame(true, 0, 0, []byte{0}))
	big := bytes.Repeat([]byte("a"), hostileMaxMessage)
	cs = append(cs, hostileFrameCase{name: "a message at the limit", code: 1000,
		send: slices.Concat(rawws.ClientFrame(true, 0, 2, big), rawws.CloseFrame(1000, "")), check: wantFrames(serverFrame{op: 2, payload: big})})
	var tiny [][]byte
	for i := range big {
		op := byte(0)
		if i == 0 {
			op = 1
		}
		tiny = append(tiny, rawws.ClientFrame(i == len(big)-1, 0, op, big[i:i+1]))
	}
	cs = append(cs, hostileFrameCase{name: "a message at the limit in 1-byte fragments", code: 1000,
		send: slices.Concat(append(tiny, rawws.CloseFrame(1000, ""))...), check: wantFrames(serverFrame{op: 1, payload: big})})
	// permessage-deflate (RFC 7692), which serve accepts.
	zc := func(name string, code uint16, send ...[]byte) {
		cs = append(cs, hostileFrameCase{name: name, ext: deflate, send: slices.Concat(send...), code: code})
	}
	cs = append(cs, hostileFrameCase{name: "deflate: a compressed message", ext: deflate, code: 1000,
		send:  slices.Concat(rawws.ClientFrame(true, 4, 1, rawws.Deflate([]byte("hello hello hello"))), rawws.CloseFrame(1000, "")),
		check: wantText("hello hello hello")})
	zc("deflate: RSV1 on a ping", 1002, rawws.ClientFrame(true, 4, 9, []byte("x")))
	zc("deflate: RSV1 on a close", 1002, rawws.ClientFrame(true, 4, 8, []byte{3, 0xe8}))
	z := rawws.Deflate(bytes.Repeat([]byte("abcdefgh"), 100))
	zc("deflate: RSV1 on a continuation", 1002, rawws.ClientFrame(false, 4, 1, z[:5]), rawws.ClientFrame(true, 4, 0, z[5:]))
	zc("deflate: RSV2 with it", 1002, rawws.ClientFrame(true, 6, 1, z))
	zc("deflate: not DEFLATE data", 1002, rawws.ClientFrame(true, 4, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff}))
	zc("deflate: invalid UTF-8 inside", 1007, rawws.ClientFrame(true, 4, 1, rawws.Deflate([]byte("ok\xff"))))
	bomb := rawws.Deflate(make([]byte, 64*hostileMaxMessage))
	zc("deflate: a zip bomb", 1009, rawws.ClientFrame(true, 4, 2, bomb))
	var parts [][]byte
	for i := 0; i < len(bomb); i += 100 {
		op, rsv := byte(0), byte(0)
		if i == 0 {
			op, rsv = 2, 4
		}
		parts = append(parts, rawws.ClientFrame(i+100 >= len(bomb), rsv, op, bomb[i:min(i+100, len(bomb))]))
	}
	zc("deflate: a zip bomb in fragments", 1009, parts...)
	return cs
}

// hostileRefusal is an upgrade request serve refuses.
type hostileRefusal struct {
	name    string
	request func(host string) string
	status  int
	header  string // "Name: value" the answer must carry
}

func hostileRefusals() []hostileRefusal {
	req := func(method, lines string) func(string) string {
		return func(host string) string {
			return method + " /echo HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + lines + "\r\n"
		}
	}
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	const v13 = "Sec-WebSocket-Version: 13\r\n"
	return []hostileRefusal{
		{"foreign origin", req("GET", key+v13+"Origin: http://evil.example\r\n"), 403, ""},
		{"version 8", req("GET", key+"Sec-WebSocket-Version: 8\r\n"), 426, "Sec-WebSocket-Version: 13"},
		{"no version", req("GET", key), 426, "Sec-WebSocket-Version: 13"},
		{"no key", req("GET", v13), 400, ""},
		{"two keys", req("GET", key+key+v13), 400, ""},
		{"a key of 15 bytes", req("GET", "Sec-WebSocket-Key: YWFhYWFhYWFhYWFhYWFh\r\n"+v13), 400, ""},
		{"POST", req("POST", key+v13+"Content-Length: 0\r\n"), 405, "Allow: GET"},
		{"no Upgrade", func(host string) string {
			return "GET /echo HTTP/1.1\r\nHost: " + host + "\r\nConnection: Upgrade\r\n" + key + v13 + "\r\n"
		}, 426, "Upgrade: websocket"},
	}
}

// hostileUpgrade opens a WebSocket to serve with a request of its own,
// offering ext if not empty, with early written in the same write.
func hostileUpgrade(t *testing.T, addr, path, ext string, early []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return hostileHandshake(t, c, addr, path, ext, early)
}

// hostileHandshake is hostileUpgrade on a connection already open.
func hostileHandshake(t *testing.T, c net.Conn, addr, path, ext string, early []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var key [16]byte
	rand.Read(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\nSec-WebSocket-Version: 13\r\n"
	if ext != "" {
		req += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	if _, err := c.Write(append([]byte(req+"\r\n"), early...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		t.Fatalf("upgrade: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		t.Fatalf("upgrade: %s", resp.Status)
	}
	if ext != "" && resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		c.Close()
		t.Fatalf("upgrade: serve declined %s", ext)
	}
	return c, br
}

// serverFrame is a frame serve sent.
type serverFrame struct {
	op      byte
	payload []byte
}

// readServerFrames reads frames until serve ends the connection and says
// how it ended: "eof" (a FIN), "reset", or "still open" when the read
// deadline came first.
func readServerFrames(c net.Conn, br *bufio.Reader) ([]serverFrame, string) {
	var frames []serverFrame
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return frames, endOf(err)
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return frames, endOf(err)
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return frames, endOf(err)
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if h[1]&0x80 != 0 || n > 1<<24 {
			return frames, fmt.Sprintf("sent a frame no server sends (% x, length %d)", h, n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return frames, endOf(err)
		}
		frames = append(frames, serverFrame{op: h[0] & 0x0f, payload: p})
	}
}

func endOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "still open"
	}
	return err.Error()
}

// closeOf returns the code and reason of the first close frame.
func closeOf(frames []serverFrame) (uint16, string, bool) {
	for _, f := range frames {
		if f.op == 8 {
			if len(f.payload) < 2 {
				return 1005, "", true
			}
			return binary.BigEndian.Uint16(f.payload), string(f.payload[2:]), true
		}
	}
	return 0, "", false
}

func frameList(frames []serverFrame) string {
	var b strings.Builder
	b.WriteString("[")
	for i, f := range frames {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "op%d:%d:%.40q", f.op, len(f.payload), f.payload)
	}
	return b.String() + "]"
}

// wantFrames checks that the frames before the close are these.
func wantFrames(want ...serverFrame) func([]serverFrame) error {
	return func(got []serverFrame) error {
		if len(got) != len(want)+1 {
			return fmt.Errorf("frames %s, want %d and the close", frameList(got), len(want))
		}
		for i, w := range want {
			if got[i].op != w.op || !bytes.Equal(got[i].payload, w.payload) {
				return fmt.Errorf("frame %d: %s, want op%d with %d bytes", i, frameList(got[i:i+1]), w.op, len(w.payload))
			}
		}
		return nil
	}
}

// wantText checks that the one message echoed, compressed or not, is s.
func wantText(s string) func([]serverFrame) error {
	return func(got []serverFrame) error {
		if len(got) != 2 || got[0].op != 1 {
			return fmt.Errorf("frames %s, want one text message and the close", frameList(got))
		}
		p := got[0].payload
		if string(p) != s {
			// serve may compress its answer.
			in, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
			if err != nil || string(in) != s {
				return fmt.Errorf("echo %q (inflated %q, %v), want %q", p, in, err, s)
			}
		}
		return nil
	}
}

func onlyClose(frames []serverFrame) error {
	if len(frames) != 1 {
		return fmt.Errorf("frames %s, want the close only", frameList(frames))
	}
	return nil
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
