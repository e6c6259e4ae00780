package app

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRequestHeadBounded: serve's HTTP server answers a request whose
// head is longer than maxRequestHead with 431 and closes, without reading
// it whole (net/http's own bound is 1 MiB), and still takes a head of
// ordinary size (a browser's, with its cookies) and one of maxRequestHead
// bytes exactly.
func TestRequestHeadBounded(t *testing.T) {
	t.Parallel()
	h := &Handlers{}
	srv := newHTTPServer(h.Mux())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); h.CloseAll() })
	for _, tc := range []struct {
		head   int // bytes, the request line and the blank line included
		status string
	}{
		{8 << 10, "200"},
		{maxRequestHead, "200"},
		// net/http reads 4 KiB past its MaxHeaderBytes before it
		// answers 431: a head of up to 20 KiB passed.
		{maxRequestHead + 1, "431"},
		{maxRequestHead + 4<<10, "431"},
		{900 << 10, "431"},
	} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		const start, end = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: ", "\r\n\r\n"
		req := start + strings.Repeat("a", tc.head-len(start)-len(end)) + end
		go c.Write([]byte(req))
		got, _ := io.ReadAll(c)
		c.Close()
		line, _, _ := strings.Cut(string(got), "\r\n")
		if !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("a head of %d bytes: %q, want %s", len(req), line, tc.status)
		}
	}
}
