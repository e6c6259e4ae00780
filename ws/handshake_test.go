package ws

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAcceptKeyRFCSample(t *testing.T) {
	t.Parallel()
	// RFC 6455 §1.3.
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("AcceptKey = %q, want %q", got, want)
	}
}

const goodRequest = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

// request returns goodRequest with the named header lines replaced
// (an empty value removes the line) and extra lines appended.
func request(replace map[string]string, extra ...string) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(goodRequest, "\r\n"), "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		if i == 0 {
			name = "request-line"
		}
		if v, ok := replace[name]; ok {
			if v != "" {
				b.WriteString(v + "\r\n")
			}
			continue
		}
		b.WriteString(line + "\r\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

var handshakeTests = []struct {
	name     string
	req      string
	opts     *AcceptOptions
	status   int
	header   string // "Name: value" expected in the response
	protocol string
	rawOnly  bool // net/http answers this one before the handler runs
}{
	{name: "valid", req: request(nil), status: 101, header: "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
	{name: "POST", req: request(map[string]string{"request-line": "POST /chat HTTP/1.1"}, "Content-Length: 0"), status: 405, header: "Allow: GET"},
	{name: "HTTP/1.0", req: request(map[string]string{"request-line": "GET /chat HTTP/1.0"}), status: 400},
	{name: "HTTP/2.0", req: request(map[string]string{"request-line": "GET /chat HTTP/2.0"}), status: 505},
	{name: "no Host", req: request(map[string]string{"Host": ""}), status: 400},
	{name: "no Upgrade", req: request(map[string]string{"Upgrade": ""}), status: 426, header: "Upgrade: websocket"},
	{name: "Upgrade h2c", req: request(map[string]string{"Upgrade": "Upgrade: h2c"}), status: 426},
	{name: "Upgrade list", req: request(map[string]string{"Upgrade": "Upgrade: foo/1, WebSocket"}), status: 101},
	{name: "Connection keep-alive", req: request(map[string]string{"Connection": "Connection: keep-alive"}), status: 400},
	{name: "Connection list", req: request(map[string]string{"Connection": "Connection: keep-alive,  UPGRADE "}), status: 101},
	{name: "version 8", req: request(map[string]string{"Sec-WebSocket-Version": "Sec-WebSocket-Version: 8"}), status: 426, header: "Sec-WebSocket-Version: 13"},
	{name: "no version", req: request(map[string]string{"Sec-WebSocket-Version": ""}), status: 426, header: "Sec-WebSocket-Version: 13"},
	{name: "two versions", req: request(nil, "Sec-WebSocket-Version: 13"), status: 426, header: "Sec-WebSocket-Version: 13"},
	{name: "no key", req: request(map[string]string{"Sec-WebSocket-Key": ""}), status: 400},
	{name: "short key", req: request(map[string]string{"Sec-WebSocket-Key": "Sec-WebSocket-Key: AAAA"}), status: 400},
	{name: "17-byte key", req: request(map[string]string{"Sec-WebSocket-Key": "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="}), status: 400},
	{name: "key not base64", req: request(map[string]string{"Sec-WebSocket-Key": "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!"}), status: 400},
	{name: "two keys", req: request(nil, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="), status: 400},
	{name: "foreign origin", req: request(nil, "Origin: http://evil.example"), status: 403},
	{name: "foreign origin, CheckOrigin SameOrigin", req: request(nil, "Origin: http://evil.example"),
		opts: &AcceptOptions{CheckOrigin: SameOrigin}, status: 403},
	{name: "same origin", req: request(nil, "Origin: https://server.example.com"), status: 101},
	{name: "foreign origin, insecure switch", req: request(nil, "Origin: http://evil.example"),
		opts: &AcceptOptions{InsecureSkipOriginCheck: true}, status: 101},
	{name: "foreign origin, allowed by pattern", req: request(nil, "Origin: http://app.example.org"),
		opts: &AcceptOptions{OriginPatterns: []string{"*.example.org"}}, status: 101},
	{name: "first client offer wins", req: request(nil, "Sec-WebSocket-Protocol: x, chat", "Sec-WebSocket-Protocol: superchat"),
		opts: &AcceptOptions{Subprotocols: []string{"superchat", "chat"}}, status: 101, protocol: "chat", header: "Sec-WebSocket-Protocol: chat"},
	{name: "no common subprotocol", req: request(nil, "Sec-WebSocket-Protocol: x"),
		opts: &AcceptOptions{Subprotocols: []string{"chat"}}, status: 101},
	// Subprotocol names are compared as they are written, as browsers
	// compare the answer with their offer: "Chat" is not "chat".
	{name: "subprotocol in another case", req: request(nil, "Sec-WebSocket-Protocol: Chat"),
		opts: &AcceptOptions{Subprotocols: []string{"chat"}}, status: 101},
	// RFC 6455 §4.3 and §9.1: the offers are lists of tokens; §4.2.1: a
	// field that breaks its grammar is answered 400, whether or not the
	// server speaks a subprotocol or compression.
	{name: "subprotocol not a token", req: request(nil, "Sec-WebSocket-Protocol: ch at"), status: 400},
	{name: "subprotocol quoted", req: request(nil, `Sec-WebSocket-Protocol: "chat"`),
		opts: &AcceptOptions{Subprotocols: []string{"chat"}}, status: 400},
	{name: "subprotocol list with an empty element", req: request(nil, "Sec-WebSocket-Protocol: chat, , superchat"),
		opts: &AcceptOptions{Subprotocols: []string{"superchat"}}, status: 101, protocol: "superchat"},
	{name: "extension parameter without a name", req: request(nil, "Sec-WebSocket-Extensions: permessage-deflate; =x"), status: 400},
	{name: "extension with an empty parameter", req: request(nil, "Sec-WebSocket-Extensions: permessage-deflate;;"), status: 400},
	{name: "extension without a name", req: request(nil, "Sec-WebSocket-Extensions: ; a=1"), status: 400},
	{name: "malformed extension, compression on", req: request(nil, "Sec-WebSocket-Extensions: permessage-deflate; =x"),
		opts: &AcceptOptions{ConnOptions: ConnOptions{Compression: CompressionOptions{Enabled: true}}}, status: 400},
	{name: "unknown extension", req: request(nil, "Sec-WebSocket-Extensions: x-unknown; a=1; b=\"q\""), status: 101},
	// RFC 6455 §3, RFC 9112 §3.2: no fragment in the request target.
	{name: "target with a fragment", req: request(map[string]string{"request-line": "GET /chat#x HTTP/1.1"}), status: 400},
	{name: "target absolute with a fragment", req: request(map[string]string{"request-line": "GET http://server.example.com/chat#x HTTP/1.1"}), status: 400},
	{name: "target absolute http", req: request(map[string]string{"request-line": "GET http://server.example.com/chat HTTP/1.1"}), status: 101},
	{name: "target absolute wss", req: request(map[string]string{"request-line": "GET wss://server.example.com/chat HTTP/1.1"}), status: 101},
	{name: "target asterisk", req: request(map[string]string{"request-line": "GET * HTTP/1.1"}), status: 400},
	{name: "target authority", req: request(map[string]string{"request-line": "GET server.example.com:80 HTTP/1.1"}), status: 400},
	{name: "target ftp", req: request(map[string]string{"request-line": "GET ftp://server.example.com/chat HTTP/1.1"}), status: 400},
	{name: "target opaque", req: request(map[string]string{"request-line": "GET mailto:a@example.com HTTP/1.1"}), status: 400},
	{name: "target without host", req: request(map[string]string{"request-line": "GET http:/chat HTTP/1.1"}), status: 400},
	{name: "garbage", req: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", status: 400, rawOnly: true},
	{name: "head too large", req: request(nil, "X-Big: "+strings.Repeat("a", maxHandshakeSize)), status: 431, rawOnly: true},
	// RFC 9112 §5.1: whitespace between a field name and its colon is
	// answered 400, also for a second Host that a proxy in front may
	// take for the Host (http.ReadRequest keeps such a line under the
	// name "Host ", and net/http's server refuses it itself).
	{name: "space before a colon", req: request(nil, "Host : evil.example"), status: 400, rawOnly: true},
	{name: "tab before a colon", req: request(nil, "Origin\t: http://evil.example"), status: 400, rawOnly: true},
	// RFC 9112 §3.2: a Host that is not uri-host [":" port] is answered
	// 400.
	{name: "Host with a space", req: request(map[string]string{"Host": "Host: server.example.com evil.example"}), status: 400, rawOnly: true},
	{name: "Host with a path", req: request(map[string]string{"Host": "Host: server.example.com/chat"}), status: 400, rawOnly: true},
	{name: "Host with userinfo", req: request(map[string]string{"Host": "Host: evil.example@server.example.com"}), status: 400, rawOnly: true},
	{name: "Host IPv6 literal with a port", req: request(map[string]string{"Host": "Host: [fd00::2]:8080"}), status: 101},
}

func TestUpgradeHandshake(t *testing.T) {
	t.Parallel()
	for _, tt := range handshakeTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, cli := net.Pipe()
			done := make(chan struct{})
			// Also when expectResponse fails the test: the server's
			// goroutine reports before the test ends.
			defer func() { cli.Close(); <-done }()
			go func() {
				defer close(done)
				c, err := Upgrade(context.Background(), srv, tt.opts)
				if tt.status == 101 {
					if err != nil {
						t.Errorf("Upgrade: %v", err)
					} else if c.Subprotocol() != tt.protocol {
						t.Errorf("Subprotocol = %q, want %q", c.Subprotocol(), tt.protocol)
					}
				} else {
					var he *HandshakeError
					if !errors.As(err, &he) || he.Status != tt.status || !errors.Is(err, ErrBadHandshake) {
						t.Errorf("Upgrade error = %v, want a HandshakeError with status %d", err, tt.status)
					}
				}
				srv.Close()
			}()
			go io.WriteString(cli, tt.req)
			expectResponse(t, bufio.NewReader(cli), tt.status, tt.header)
		})
	}
}

func TestAcceptHandshake(t *testing.T) {
	t.Parallel()
	for _, tt := range handshakeTests {
		if tt.rawOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, errs := handlerServer(t, tt.opts, func(c *Conn) error {
				if c.Subprotocol() != tt.protocol {
					return fmt.Errorf("Subprotocol = %q, want %q", c.Subprotocol(), tt.protocol)
				}
				return nil
			})
			nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			go io.WriteString(nc, tt.req)
			expectResponse(t, bufio.NewReader(nc), tt.status, tt.header)
			nc.Close()
			if tt.status == 505 || (tt.name == "no Host") {
				return // net/http answered without calling the handler
			}
			err = recvErr(t, errs)
			if tt.status == 101 && err != nil {
				t.Fatal(err)
			}
			if tt.status != 101 && !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("Accept error = %v", err)
			}
		})
	}
}

// TestAcceptRefusalEndsConnection: a refused upgrade behind net/http is
// answered once, with Content-Length and Connection: close, and the
// connection ends. The client's first frame, sent in the same write as
// its request, is not read as a second request (net/http would answer
// it 400 on a connection kept alive, and count it as a bad request).
func TestAcceptRefusalEndsConnection(t *testing.T) {
	t.Parallel()
	// A masked text frame "hi\r\n\r\n" with a zero mask key: bytes
	// that end an HTTP head, as a frame may.
	frame := "\x81\x86\x00\x00\x00\x00hi\r\n\r\n"
	for _, tt := range handshakeTests {
		if tt.rawOnly || tt.status == 101 || tt.status == 505 || tt.name == "no Host" {
			continue // net/http answers these itself, or they succeed
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, errs := handlerServer(t, tt.opts, func(c *Conn) error { return nil })
			nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(nc, tt.req+frame)
			br := bufio.NewReader(nc)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading response: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d", resp.Status, tt.status)
			}
			if resp.ContentLength < 0 {
				t.Errorf("no Content-Length in the %d response", tt.status)
			}
			if !resp.Close {
				t.Errorf("the %d response does not say Connection: close (%q)", tt.status, resp.Header.Get("Connection"))
			}
			rest, err := io.ReadAll(br)
			if err != nil || len(rest) != 0 {
				t.Errorf("after the %d response: %q, %v; want the connection closed", tt.status, rest, err)
			}
			if err := recvErr(t, errs); !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("Accept error = %v", err)
			}
		})
	}
}

// expectResponse reads an HTTP response and checks its status, one header
// and, for a rejection, that the body names the problem.
func expectResponse(t *testing.T, br *bufio.Reader, status int, header string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %s (%s), want %d", resp.Status, body, status)
	}
	if header != "" {
		name, value, _ := strings.Cut(header, ": ")
		if got := resp.Header.Get(name); got != value {
			t.Fatalf("%s: %q, want %q", name, got, value)
		}
	}
	if status != 101 {
		body, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(string(body), "ws: ") && status != 505 && status != 400 {
			t.Fatalf("body %q does not name the problem", body)
		}
	}
}

func TestClientChecksResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		resp    func(accept string) string
		opts    *DialOptions
		wantErr string
	}{
		{"ok", func(a string) string { return ok101(a, "") }, nil, ""},
		{"subprotocol", func(a string) string { return ok101(a, "Sec-WebSocket-Protocol: chat\r\n") },
			&DialOptions{Subprotocols: []string{"superchat", "chat"}}, ""},
		{"status 403", func(string) string {
			return "HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope\n"
		}, nil, "expected status 101 Switching Protocols, got 403 Forbidden: nope"},
		{"no Upgrade", func(a string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + a + "\r\n\r\n"
		}, nil, "Upgrade header"},
		{"Connection close", func(a string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Accept: " + a + "\r\n\r\n"
		}, nil, "Connection header"},
		{"wrong accept", func(string) string { return ok101("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "") }, nil, "Sec-WebSocket-Accept is"},
		{"extension", func(a string) string { return ok101(a, "Sec-WebSocket-Extensions: permessage-deflate\r\n") },
			nil, "extension \"permessage-deflate\" that was not offered"},
		{"unoffered subprotocol", func(a string) string { return ok101(a, "Sec-WebSocket-Protocol: x\r\n") },
			&DialOptions{Subprotocols: []string{"chat"}}, "subprotocol \"x\" that was not offered"},
		{"offered subprotocol in another case", func(a string) string { return ok101(a, "Sec-WebSocket-Protocol: CHAT\r\n") },
			&DialOptions{Subprotocols: []string{"chat"}}, "subprotocol \"CHAT\" that was not offered"},
		{"subprotocol without offer", func(a string) string { return ok101(a, "Sec-WebSocket-Protocol: chat\r\n") },
			nil, "not offered"},
		{"two subprotocols in one header", func(a string) string { return ok101(a, "Sec-WebSocket-Protocol: chat, superchat\r\n") },
			&DialOptions{Subprotocols: []string{"superchat", "chat"}}, "more than one subprotocol"},
		{"two subprotocol headers", func(a string) string {
			return ok101(a, "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n")
		}, &DialOptions{Subprotocols: []string{"superchat", "chat"}}, "more than one subprotocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, cli := net.Pipe()
			defer cli.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer srv.Close()
				r, err := http.ReadRequest(bufio.NewReader(srv))
				if err != nil {
					t.Errorf("ReadRequest: %v", err)
					return
				}
				key := r.Header.Get("Sec-WebSocket-Key")
				if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 ||
					r.Method != "GET" || r.RequestURI != "/x?y=1" || r.Host != "example.com" ||
					r.Header.Get("Sec-WebSocket-Version") != "13" || !headerHasToken(r.Header, "Connection", "upgrade") ||
					!headerHasToken(r.Header, "Upgrade", "websocket") || r.Header.Get("X-Extra") != "1" {
					t.Errorf("bad request: %s %s %v", r.Method, r.RequestURI, r.Header)
				}
				io.WriteString(srv, tt.resp(AcceptKey(key)))
			}()
			opts := tt.opts
			if opts == nil {
				opts = &DialOptions{}
			}
			opts.Header = http.Header{"X-Extra": {"1"}}
			c, resp, err := Client(testContext(t), cli, "ws://example.com/x?y=1", opts)
			<-done
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := resp.Header.Get("Sec-WebSocket-Protocol"); c.Subprotocol() != want {
					t.Fatalf("Subprotocol = %q, want %q", c.Subprotocol(), want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if resp == nil {
				t.Fatal("no response returned with the error")
			}
		})
	}
}

func ok101(accept, extra string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		accept + "\r\n" + extra + "\r\n"
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if _, _, err := Dial(ctx, "ftp://example.com/", nil); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Fatalf("err = %v", err)
	}
	opts := &DialOptions{Header: http.Header{"Sec-Websocket-Key": {"x"}}}
	if _, _, err := Dial(ctx, "ws://127.0.0.1:1/", opts); err == nil {
		t.Fatal("dial to port 1 succeeded")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	used := false
	opts = &DialOptions{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		used = true
		return nil, errors.New("no route")
	}}
	if _, _, err := Dial(ctx, "ws://"+ln.Addr().String()+"/", opts); err == nil || !used {
		t.Fatalf("NetDial not used: %v", err)
	}
}

func TestOriginCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		host     string
		origin   string // "" sends no Origin header
		origin2  string // a second Origin header
		empty    bool   // an Origin header without a value
		patterns []string
		skip     bool
		check    func(*http.Request) error
		ok       bool
	}{
		{name: "no Origin", host: "10.200.0.2:8080", ok: true},
		{name: "same host and port", host: "10.200.0.2:8080", origin: "http://10.200.0.2:8080", ok: true},
		{name: "same host, https", host: "example.com", origin: "https://example.com", ok: true},
		{name: "host case differs", host: "Example.COM", origin: "http://example.com", ok: true},
		{name: "other port", host: "10.200.0.2:8080", origin: "http://10.200.0.2:8081"},
		{name: "port missing", host: "10.200.0.2:8080", origin: "http://10.200.0.2"},
		{name: "other host", host: "10.200.0.2:8080", origin: "http://evil.example"},
		{name: "host as prefix", host: "example.com", origin: "http://example.com.evil.example"},
		{name: "host as suffix", host: "example.com", origin: "http://evilexample.com"},
		{name: "userinfo trick", host: "example.com", origin: "http://example.com@evil.example"},
		{name: "userinfo before the host", host: "example.com", origin: "http://evil.example@example.com"},
		{name: "a path", host: "example.com", origin: "http://example.com/page"},
		{name: "trailing slash", host: "example.com", origin: "http://example.com/", ok: true},
		{name: "a query", host: "example.com", origin: "http://example.com?x=1"},
		{name: "a fragment", host: "example.com", origin: "http://example.com#x"},
		{name: "two Origin headers, same host first", host: "example.com", origin: "http://example.com", origin2: "http://evil.example"},
		{name: "two Origin headers, both the host", host: "example.com", origin: "http://example.com", origin2: "http://example.com"},
		{name: "null origin", host: "example.com", origin: "null"},
		{name: "empty Origin header", host: "example.com", empty: true},
		{name: "no scheme", host: "example.com", origin: "example.com"},
		{name: "not a URL", host: "example.com", origin: "http://%zz"},
		{name: "file page", host: "example.com", origin: "file://"},
		{name: "pattern exact", host: "10.200.0.2:8080", origin: "http://localhost:3000", patterns: []string{"localhost:3000"}, ok: true},
		{name: "pattern glob port", host: "10.200.0.2:8080", origin: "http://localhost:3000", patterns: []string{"localhost:*"}, ok: true},
		{name: "pattern glob does not cross port", host: "x", origin: "http://localhost:3000", patterns: []string{"localhost"}},
		{name: "pattern subdomain", host: "x", origin: "https://a.example.com", patterns: []string{"*.example.com"}, ok: true},
		{name: "pattern subdomain not apex", host: "x", origin: "https://example.com", patterns: []string{"*.example.com"}},
		{name: "pattern case", host: "x", origin: "https://A.Example.com", patterns: []string{"*.EXAMPLE.com"}, ok: true},
		{name: "pattern second of two", host: "x", origin: "http://b.test", patterns: []string{"a.test", "b.test"}, ok: true},
		{name: "pattern with scheme", host: "x", origin: "https://app.test", patterns: []string{"https://app.test"}, ok: true},
		{name: "pattern with scheme, other scheme", host: "x", origin: "http://app.test", patterns: []string{"https://app.test"}},
		{name: "bad pattern", host: "x", origin: "http://a.test", patterns: []string{"[a"}},
		{name: "pattern does not allow null", host: "x", origin: "null", patterns: []string{"*"}},
		{name: "insecure switch", host: "x", origin: "http://evil.example", skip: true, ok: true},
		{name: "insecure switch over CheckOrigin", host: "x", origin: "http://evil.example", skip: true,
			check: func(*http.Request) error { return errors.New("no") }, ok: true},
		{name: "CheckOrigin replaces the rule", host: "x", origin: "http://evil.example",
			check: func(*http.Request) error { return nil }, ok: true},
		{name: "CheckOrigin refuses", host: "x", check: func(*http.Request) error { return errors.New("no") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			replace := map[string]string{"Host": "Host: " + tt.host}
			var extra []string
			if tt.origin != "" {
				extra = append(extra, "Origin: "+tt.origin)
			}
			if tt.origin2 != "" {
				extra = append(extra, "Origin: "+tt.origin2)
			}
			if tt.empty {
				extra = append(extra, "Origin:")
			}
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(request(replace, extra...))))
			if err != nil {
				t.Fatal(err)
			}
			opts := &AcceptOptions{OriginPatterns: tt.patterns, InsecureSkipOriginCheck: tt.skip, CheckOrigin: tt.check}
			_, herr := checkRequest(r, opts)
			switch {
			case tt.ok && herr != nil:
				t.Fatalf("refused: %v", herr)
			case !tt.ok && herr == nil:
				t.Fatal("accepted")
			case !tt.ok && (herr.Status != http.StatusForbidden || !strings.Contains(herr.Reason, "origin")):
				t.Fatalf("refusal %d %q, want 403 naming the origin", herr.Status, herr.Reason)
			}
		})
	}
}

func TestCheckOriginPattern(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"example.com", "*.example.com", "localhost:*", "https://app.test", "http://*.test", "*://app.test", "10.0.0.?:80[0-9][0-9]"} {
		if err := CheckOriginPattern(p); err != nil {
			t.Errorf("CheckOriginPattern(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "[a", "a\\", "[]", "ftp://app.test", "chrome-extension://app.test", "https://"} {
		if err := CheckOriginPattern(p); err == nil {
			t.Errorf("CheckOriginPattern(%q) passed", p)
		}
	}
}

// TestAcceptAnnouncedBody: an upgrade request that announces a body and
// never sends it gets its 400 at once, and the connection ends, behind
// net/http (which would otherwise wait to read the body, for ever).
func TestAcceptAnnouncedBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := Accept(w, r, nil); err == nil {
			c.CloseNow()
		}
	}))
	t.Cleanup(srv.Close)
	for _, body := range []string{"Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n"} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+body+"\r\n")
		got, err := io.ReadAll(c)
		c.Close()
		if line, _, _ := strings.Cut(string(got), "\r\n"); err != nil || line != "HTTP/1.1 400 Bad Request" {
			t.Errorf("%s: got %q, %v; want 400 and the connection closed", strings.TrimSpace(body), line, err)
		}
	}
}

// deadlineRecorder is a net.Conn that records the deadlines set on it.
type deadlineRecorder struct {
	net.Conn
	mu        sync.Mutex
	deadlines []time.Time
}

func (d *deadlineRecorder) SetDeadline(t time.Time) error {
	d.mu.Lock()
	d.deadlines = append(d.deadlines, t)
	d.mu.Unlock()
	return d.Conn.SetDeadline(t)
}

// TestUpgradeHandshakeTimeout: a client that connects and sends its
// request only in part does not hold Upgrade for ever when ctx has no
// deadline: AcceptOptions.HandshakeTimeout, DefaultHandshakeTimeout
// unless set, bounds the handshake.
func TestUpgradeHandshakeTimeout(t *testing.T) {
	t.Parallel()
	t.Run("set", func(t *testing.T) {
		t.Parallel()
		srv, cli := net.Pipe()
		defer cli.Close()
		defer srv.Close()
		go io.WriteString(cli, "GET /chat HTTP/1.1\r\nHost: server.example.com\r\n")
		_, err := Upgrade(context.Background(), srv, &AcceptOptions{HandshakeTimeout: time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Upgrade = %v, want the handshake timed out", err)
		}
	})
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		srv, cli := net.Pipe()
		defer cli.Close()
		rec := &deadlineRecorder{Conn: srv}
		defer rec.Close()
		go func() {
			io.WriteString(cli, request(nil))
			io.Copy(io.Discard, cli)
		}()
		start := time.Now()
		if _, err := Upgrade(context.Background(), rec, nil); err != nil {
			t.Fatal(err)
		}
		end := time.Now()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.deadlines) == 0 || rec.deadlines[0].IsZero() {
			t.Fatalf("deadlines set %v, want one DefaultHandshakeTimeout ahead first", rec.deadlines)
		}
		if d := rec.deadlines[0]; d.Before(start.Add(DefaultHandshakeTimeout)) || d.After(end.Add(DefaultHandshakeTimeout)) {
			t.Errorf("deadline %v, want DefaultHandshakeTimeout (%v) after the call began (%v)", d, DefaultHandshakeTimeout, start)
		}
		if last := rec.deadlines[len(rec.deadlines)-1]; !last.IsZero() {
			t.Errorf("the connection is left with deadline %v, want none", last)
		}
	})
}

// TestDialHandshakeTimeout: Dial to a server that accepts the connection
// and never answers returns once its handshake timeout runs out, with a
// context that has no deadline; a negative timeout leaves only ctx.
func TestDialHandshakeTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // reads nothing, answers nothing
		}
	}()
	url := "ws://" + ln.Addr().String() + "/"
	done := make(chan error, 1)
	go func() {
		_, _, err := Dial(context.Background(), url, &DialOptions{HandshakeTimeout: 50 * time.Millisecond})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want the handshake timed out", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Dial to a server that never answers did not return")
	}
	// Negative: ctx alone bounds it.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _, err := Dial(ctx, url, &DialOptions{HandshakeTimeout: -1})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Dial with no timeout returned before its ctx ended: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Dial after its ctx was cancelled = %v, want context.Canceled", err)
	}
}

// maxHandshakeAllocs is TestHandshakeAllocs's limit: validating a browser's
// upgrade request and encoding its 101 took 13 allocations when each
// lookup of a Sec-WebSocket-* header made its name's canonical form anew,
// the header checks collected every token into a slice, the key was
// decoded into a new slice, the accept value was hashed and encoded
// through three more, the origin check was a closure and the response
// grew its buffer as it went. What is left: the accept value, the 101's
// bytes, and the Origin parsed as a URL.
const maxHandshakeAllocs = 3

// TestHandshakeAllocs holds the allocations of the server's side of an
// opening handshake once net/http has parsed the request: checkRequest and
// responseHead, with an Origin header to check as a browser sends it.
func TestHandshakeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	r := httptest.NewRequest(http.MethodGet, "/echo", nil)
	r.Host = "example.com"
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Origin", "http://example.com")
	opts := &AcceptOptions{}
	var head []byte
	n := testing.AllocsPerRun(200, func() {
		hs, herr := checkRequest(r, opts)
		if herr != nil {
			t.Fatal(herr)
		}
		head = responseHead(hs, nil)
	})
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if string(head) != want {
		t.Fatalf("response head %q, want %q", head, want)
	}
	t.Logf("%.1f allocations per handshake", n)
	if n > maxHandshakeAllocs {
		t.Errorf("%.1f allocations per handshake, want at most %d", n, maxHandshakeAllocs)
	}
}

// TestUpgradePeerGoneBeforeRequest: a client that closes before sending
// anything gets no answer; Upgrade's error has Status 0.
func TestUpgradePeerGoneBeforeRequest(t *testing.T) {
	t.Parallel()
	rc := &recordConn{fakeConn: fakeConn{r: strings.NewReader("")}}
	_, err := Upgrade(testContext(t), rc, nil)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != 0 || rc.written() != 0 {
		t.Fatalf("Upgrade = %v (%d bytes answered), want a HandshakeError with Status 0 and no answer", err, rc.written())
	}
}
