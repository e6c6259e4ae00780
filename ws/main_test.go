package ws

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/leaktest"
)

// TestMain fails the run if the tests leave goroutines behind.
func TestMain(m *testing.M) { leaktest.Main(m) }

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echoServer starts a net/http server on 127.0.0.1 whose handler accepts
// with opts and echoes every message. Each handler's final read error is
// sent on the returned channel.
func echoServer(t *testing.T, opts *AcceptOptions) (url string, errs <-chan error) {
	t.Helper()
	return handlerServer(t, opts, func(c *Conn) error {
		ctx := context.Background()
		for {
			typ, p, err := c.ReadMessage(ctx)
			if err != nil {
				return err
			}
			if err := c.WriteMessage(ctx, typ, p); err != nil {
				return err
			}
		}
	})
}

// handlerServer starts a net/http server on 127.0.0.1 that accepts with
// opts and runs fn; fn's result is sent on the returned channel.
func handlerServer(t *testing.T, opts *AcceptOptions, fn func(c *Conn) error) (url string, errs <-chan error) {
	t.Helper()
	ch := make(chan error, 16)
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, err := Accept(w, r, opts)
		if err != nil {
			ch <- err
			return
		}
		err = fn(c)
		c.CloseNow()
		ch <- err
	}))
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ch
}

func dial(t *testing.T, url string, opts *DialOptions) *Conn {
	t.Helper()
	c, _, err := Dial(testContext(t), url, opts)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	closeAfter(t, func() { c.CloseNow() })
	return c
}

func recvErr(t *testing.T, errs <-chan error) error {
	t.Helper()
	select {
	case err := <-errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the server's result")
		return nil
	}
}

// closeAfter runs closeConn if the test still runs a minute on, six times
// testContext's 10 s: a read or ping that its context failed to end then
// returns, and the test fails saying why instead of hanging until the
// test binary's timeout.
func closeAfter(t *testing.T, closeConn func()) {
	t.Helper()
	var fired atomic.Bool
	tm := time.AfterFunc(time.Minute, func() {
		fired.Store(true)
		closeConn()
	})
	t.Cleanup(func() {
		tm.Stop()
		if fired.Load() {
			t.Errorf("the connection was still open after a minute; the test closed it")
		}
	})
}

// await returns the next value from ch, or fails the test, saying what
// it waited for, when none comes within 10 s: a test that waits on a
// channel fails on its own rather than at the test binary's timeout.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing after 10 s: %s", what)
		panic("unreachable")
	}
}

// rawClient performs the opening handshake by hand on a TCP connection to
// url and returns the connection and a reader positioned after the 101
// response, for writing and reading raw frames.
func rawClient(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %s", resp.Status)
	}
	return nc, br
}

// masked returns a client frame with a fixed masking key.
func masked(fin bool, op Opcode, payload []byte) Frame {
	f := NewFrame(fin, op, payload)
	f.Header.Masked = true
	f.Header.Mask = [4]byte{0x37, 0xfa, 0x21, 0x3d}
	return f
}

func writeFrames(t *testing.T, w io.Writer, frames ...Frame) {
	t.Helper()
	var b bytes.Buffer
	for _, f := range frames {
		if err := WriteFrame(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// readClose reads frames until a close frame and returns its code.
func readClose(t *testing.T, r io.Reader) (StatusCode, string) {
	t.Helper()
	for {
		f, err := ReadFrame(r)
		if err != nil {
			t.Fatalf("reading the close frame: %v", err)
		}
		if f.Header.Opcode != OpClose {
			continue
		}
		if len(f.Payload) < 2 {
			return StatusNoStatusRcvd, ""
		}
		return StatusCode(uint16(f.Payload[0])<<8 | uint16(f.Payload[1])), string(f.Payload[2:])
	}
}

// fakeConn is a net.Conn that reads from r and discards writes.
type fakeConn struct {
	r io.Reader
}

func (f *fakeConn) Read(p []byte) (int, error)       { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// recordConn is a fakeConn that counts the bytes written to it.
type recordConn struct {
	fakeConn
	mu sync.Mutex
	n  int
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.n += len(p)
	r.mu.Unlock()
	return len(p), nil
}

func (r *recordConn) written() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
