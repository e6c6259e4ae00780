package sockets_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// lockedBuffer is a call log the test reads while stacks write to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// connPair returns a client Conn on p's client stack connected to a
// server Conn on a server socket table that logs its calls to log.
func connPair(t testing.TB, p *stackPair, log io.Writer) (client, server net.Conn) {
	t.Helper()
	return connPairHooked(t, p, log, nil)
}

// connPairHooked is connPair with h as the server table's call hook.
func connPairHooked(t testing.TB, p *stackPair, log io.Writer, h sockets.CallHook) (client, server net.Conn) {
	t.Helper()
	opts := sockets.Options{}
	if log != nil {
		opts.CallLog = log
	}
	ss := sockets.New(p.server.Stack(), opts)
	ss.SetCallHook(h)
	ln, err := ss.Listener("tcp4", serverIP.String()+":0")
	check(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = p.cs.Dial(stacksContext(t), "tcp4", ln.Addr().String())
	check(t, err)
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// sendAndCollect writes data on c, half-closes, and returns everything c
// reads back until end of stream.
func sendAndCollect(t *testing.T, c net.Conn, data []byte) []byte {
	t.Helper()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*sockets.Conn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	check(t, err)
	check(t, <-werr)
	return got
}

// zeroCopyLinks are the wires the zero-copy tests run over: with
// offloads, received super-packets reach the receive queue in views of
// 64 KiB chunks, which WriteTo hands on as they are.
var zeroCopyLinks = []struct {
	name string
	opts tun.PipeOptions
}{
	{"mtu1500", tun.PipeOptions{}},
	{"mtu1500-offload", tun.PipeOptions{Offload: true}},
	{"mtu1280-1ms", tun.PipeOptions{MTU: 1280, Latency: time.Millisecond}},
}

// TestConnCopyEcho: an echo server that is io.Copy(c, c) returns every
// byte in order, and moves them by reference (the call log says so; with
// WriteTo taken away io.Copy reads and writes through a buffer and the
// log has no such call).
func TestConnCopyEcho(t *testing.T) {
	for _, l := range zeroCopyLinks {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			p := newStackPair(t, l.opts)
			var log lockedBuffer
			c, srv := connPair(t, p, &log)
			copied := make(chan int64, 1)
			go func() {
				n, err := io.Copy(srv, srv)
				if err != nil {
					t.Errorf("server io.Copy: %v", err)
				}
				srv.(*sockets.Conn).CloseWrite()
				copied <- n
			}()
			data := randomBytes(t, 4<<20)
			got := sendAndCollect(t, c, data)
			if !bytes.Equal(got, data) {
				t.Fatalf("echo returned %d bytes, not the %d sent", len(got), len(data))
			}
			if n := <-copied; n != int64(len(data)) {
				t.Errorf("io.Copy returned %d, want %d", n, len(data))
			}
			if !strings.Contains(log.String(), "(by reference)") {
				t.Errorf("no call moved bytes by reference; call log:\n%.2000s", log.String())
			}
		})
	}
}

// TestConnCopyProxy: io.Copy from one connection into another (a proxy
// between two stacks) delivers the stream intact.
func TestConnCopyProxy(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{Offload: true})
	front, frontSrv := connPair(t, p, nil)
	back, backSrv := connPair(t, p, nil)
	go func() {
		if _, err := io.Copy(backSrv, frontSrv); err != nil {
			t.Errorf("proxy: %v", err)
		}
		backSrv.(*sockets.Conn).CloseWrite()
	}()
	data := randomBytes(t, 2<<20)
	go func() {
		if _, err := front.Write(data); err != nil {
			t.Error(err)
		}
		front.(*sockets.Conn).CloseWrite()
	}()
	got, err := io.ReadAll(back)
	check(t, err)
	if !bytes.Equal(got, data) {
		t.Fatalf("proxy delivered %d bytes, not the %d sent", len(got), len(data))
	}
}

// onlyReader hides everything of a reader but Read.
type onlyReader struct{ io.Reader }

// shortReader reads at most 1000 bytes at a time.
type shortReader struct{ r io.Reader }

func (s shortReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 1000)]) }

// TestConnReadFromShortReads: a reader that yields a little at a time
// still delivers every byte through ReadFrom (each read is copied into a
// view of its size).
func TestConnReadFromShortReads(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{})
	c, srv := connPair(t, p, nil)
	data := randomBytes(t, 300<<10)
	go func() {
		n, err := io.Copy(srv, shortReader{bytes.NewReader(data)})
		if err != nil || n != int64(len(data)) {
			t.Errorf("io.Copy into the Conn = %d, %v; want %d", n, err, len(data))
		}
		srv.(*sockets.Conn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	check(t, err)
	if !bytes.Equal(got, data) {
		t.Fatalf("peer read %d bytes, not the %d sent", len(got), len(data))
	}
}

// TestConnReadFrom: io.Copy from a plain reader into a Conn reads into
// the views it sends (ReadFrom), and the peer gets every byte.
func TestConnReadFrom(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{})
	var log lockedBuffer
	c, srv := connPair(t, p, &log)
	data := randomBytes(t, 1<<20+123)
	go func() {
		n, err := io.Copy(srv, onlyReader{bytes.NewReader(data)})
		if err != nil || n != int64(len(data)) {
			t.Errorf("io.Copy into the Conn = %d, %v; want %d", n, err, len(data))
		}
		srv.(*sockets.Conn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	check(t, err)
	if !bytes.Equal(got, data) {
		t.Fatalf("peer read %d bytes, not the %d sent", len(got), len(data))
	}
	if !strings.Contains(log.String(), "send(") || !strings.Contains(log.String(), "(by reference)") {
		t.Errorf("ReadFrom did not send by reference; call log:\n%.2000s", log.String())
	}
}

// failingWriter takes limit bytes, then fails.
type failingWriter struct {
	n, limit int
}

var errWriter = errors.New("writer full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		m := w.limit - w.n
		w.n = w.limit
		return m, errWriter
	}
	w.n += len(p)
	return len(p), nil
}

// TestConnWriteToWriters: into io.Discard WriteTo counts every byte;
// into a writer that fails it returns that writer's error and what it
// took.
func TestConnWriteToWriters(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{Offload: true})
	c, srv := connPair(t, p, nil)
	data := randomBytes(t, 3<<20)
	go func() {
		c.Write(data)
		c.(*sockets.Conn).CloseWrite()
	}()
	n, err := srv.(io.WriterTo).WriteTo(io.Discard)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("WriteTo(io.Discard) = %d, %v; want %d, nil", n, err, len(data))
	}

	c2, srv2 := connPair(t, p, nil)
	go c2.Write(data)
	w := &failingWriter{limit: 100000}
	n, err = srv2.(io.WriterTo).WriteTo(w)
	if !errors.Is(err, errWriter) || n != int64(w.limit) {
		t.Fatalf("WriteTo(a failing writer) = %d, %v; want %d, %v", n, err, w.limit, errWriter)
	}
}

// TestConnWriteToDeadline: a read deadline ends a WriteTo waiting for
// bytes with a timeout, as it ends Read; a closed Conn ends it with
// net.ErrClosed.
func TestConnWriteToDeadline(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{})
	_, srv := connPair(t, p, nil)
	check(t, srv.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := srv.(io.WriterTo).WriteTo(io.Discard)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("WriteTo past the read deadline = %v, want a timeout", err)
	}
	srv.Close()
	if _, err := srv.(io.WriterTo).WriteTo(io.Discard); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close = %v, want net.ErrClosed", err)
	}
}

// TestConnCopyWithCallHook: with a call hook installed, which sees each
// call's bytes, io.Copy goes through Read and Write and the hook's
// verdicts apply (here: reads of at most 1000 bytes).
func TestConnCopyWithCallHook(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{})
	var log lockedBuffer
	var mu sync.Mutex
	recvs := 0
	c, srv := connPairHooked(t, p, &log, sockets.CallHookFunc(func(call *sockets.Call) sockets.CallVerdict {
		if call.Name == "recv" {
			mu.Lock()
			recvs++
			mu.Unlock()
			return sockets.CallVerdict{MaxBytes: 1000}
		}
		return sockets.CallVerdict{}
	}))
	go func() {
		io.Copy(srv, srv)
		srv.(*sockets.Conn).CloseWrite()
	}()
	data := randomBytes(t, 100000)
	got := sendAndCollect(t, c, data)
	if !bytes.Equal(got, data) {
		t.Fatalf("echo returned %d bytes, not the %d sent", len(got), len(data))
	}
	mu.Lock()
	defer mu.Unlock()
	if recvs < len(data)/1000 {
		t.Errorf("the hook saw %d recv calls, want at least %d (one per 1000 bytes)", recvs, len(data)/1000)
	}
	if strings.Contains(log.String(), "(by reference)") {
		t.Errorf("bytes moved by reference past the call hook")
	}
}

// BenchmarkConnCopyEcho: 256 KiB writes through an io.Copy(c, c) echo on
// the other stack, which moves the views by reference. Over the
// per-packet link each write the echo makes is a chain of segment-sized
// views that the sender cuts into segments again (glassnet patch 12 in
// third_party/gvisor keeps each cut to the views it moves).
func BenchmarkConnCopyEcho(b *testing.B) {
	for _, l := range zeroCopyLinks[:2] {
		b.Run(l.name, func(b *testing.B) {
			p := newStackPair(b, l.opts)
			c, srv := connPair(b, p, nil)
			go func() {
				io.Copy(srv, srv)
				srv.(*sockets.Conn).CloseWrite()
			}()
			buf := make([]byte, 256<<10)
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, c, int64(b.N)*int64(len(buf)))
				done <- err
			}()
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
