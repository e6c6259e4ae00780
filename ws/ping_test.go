package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// TestPingWithoutReader pings with no ReadMessage running: Ping reads the
// pong itself, and the message the server sent before answering is still
// the next ReadMessage's.
func TestPingWithoutReader(t *testing.T) {
	t.Parallel()
	url, errs := handlerServer(t, nil, func(c *Conn) error {
		ctx := context.Background()
		if err := c.WriteMessage(ctx, MessageText, []byte("before")); err != nil {
			return err
		}
		if err := c.WriteFragmented(ctx, MessageBinary, []byte("frag"), []byte("ments")); err != nil {
			return err
		}
		_, _, err := c.ReadMessage(ctx)
		return err
	})
	c := dial(t, url, nil)
	ctx := testContext(t)
	for i := range 3 {
		if err := c.Ping(ctx, fmt.Appendf(nil, "p%d", i)); err != nil {
			t.Fatalf("Ping %d: %v", i, err)
		}
	}
	if typ, p, err := c.ReadMessage(ctx); err != nil || typ != MessageText || string(p) != "before" {
		t.Fatalf("ReadMessage = %v %q, %v; want text \"before\"", typ, p, err)
	}
	if typ, p, err := c.ReadMessage(ctx); err != nil || typ != MessageBinary || string(p) != "fragments" {
		t.Fatalf("ReadMessage = %v %q, %v; want binary \"fragments\"", typ, p, err)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, errs); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server saw %v", err)
	}
	if err := c.Ping(testContext(t), nil); err == nil {
		t.Fatal("Ping on a closed connection succeeded")
	}
}

// TestPingWithoutReaderTimeout: a ctx that ends while Ping reads between
// messages leaves the connection usable.
func TestPingWithoutReaderTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	url, _ := handlerServer(t, nil, func(c *Conn) error {
		<-release // reads nothing, so no pong
		return echo(c)
	})
	c := dial(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx, []byte("p")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping = %v, want a deadline error", err)
	}
	close(release)
	// The pong for the first ping may come first; it is skipped.
	if err := c.Ping(testContext(t), []byte("q")); err != nil {
		t.Fatalf("second Ping: %v", err)
	}
	if err := c.WriteMessage(testContext(t), MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(testContext(t)); err != nil || string(p) != "still here" {
		t.Fatalf("ReadMessage = %q, %v", p, err)
	}
	c.Close(StatusNormalClosure, "")
}

func echo(c *Conn) error {
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
}

// TestPingRacesReadMessage starts a ReadMessage while Ping may be reading:
// both must finish, and every echoed message must arrive once, in order.
func TestPingRacesReadMessage(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	c := dial(t, url, nil)
	ctx := testContext(t)
	for i := range 50 {
		msg := fmt.Appendf(nil, "m%d", i)
		var wg sync.WaitGroup
		var pingErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			pingErr = c.Ping(ctx, fmt.Appendf(nil, "p%d", i))
		}()
		if err := c.WriteMessage(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.ReadMessage(ctx)
		wg.Wait()
		if err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("round %d: ReadMessage = %q, %v; want %q", i, p, err, msg)
		}
		if pingErr != nil {
			t.Fatalf("round %d: Ping: %v", i, pingErr)
		}
	}
	c.Close(StatusNormalClosure, "")
}

// TestConcurrentPingsWithoutReader: several Pings at once, no reader; one
// of them reads for all.
func TestConcurrentPingsWithoutReader(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	c := dial(t, url, nil)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- c.Ping(ctx, fmt.Appendf(nil, "p%d", i%3)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Close(StatusNormalClosure, "")
}

// TestPingSamePayloadGivesUp: of two Pings with the same payload, one
// that gives up before the pong comes leaves the other waiting for it,
// which the pong then ends.
func TestPingSamePayloadGivesUp(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	url, _ := handlerServer(t, nil, func(c *Conn) error {
		<-release // reads nothing, so no pong yet
		return echo(c)
	})
	c := dial(t, url, nil)
	ctx := testContext(t)
	second := make(chan error, 1)
	go func() { second <- c.Ping(ctx, []byte("same")) }()
	for waiting := 0; waiting == 0; {
		if ctx.Err() != nil {
			t.Fatal("the second Ping never waited")
		}
		time.Sleep(time.Millisecond)
		c.mu.Lock()
		waiting = len(c.pings["same"])
		c.mu.Unlock()
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Ping(short, []byte("same")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first Ping = %v, want its deadline", err)
	}
	close(release)
	if err := await(t, second, "the Ping still waiting"); err != nil {
		t.Fatalf("second Ping = %v, want its pong", err)
	}
}

// TestPingBufferLimit: messages Ping keeps count against the maximum
// message size; past it the connection fails with 1009.
func TestPingBufferLimit(t *testing.T) {
	t.Parallel()
	url, errs := handlerServer(t, nil, func(c *Conn) error {
		ctx := context.Background()
		for range 2 {
			if err := c.WriteMessage(ctx, MessageBinary, make([]byte, 600)); err != nil {
				return err
			}
		}
		_, _, err := c.ReadMessage(ctx)
		return err
	})
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{MaxMessageSize: 1000}})
	if err := c.Ping(testContext(t), nil); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("Ping = %v, want ErrMessageTooBig", err)
	}
	if err := recvErr(t, errs); CloseStatus(err) != StatusMessageTooBig {
		t.Fatalf("server saw %v, want close 1009", err)
	}
	// The message kept before the limit is still delivered, then the error.
	if _, p, err := c.ReadMessage(testContext(t)); err != nil || len(p) != 600 {
		t.Fatalf("ReadMessage = %d bytes, %v", len(p), err)
	}
	if _, _, err := c.ReadMessage(testContext(t)); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("ReadMessage = %v, want ErrMessageTooBig", err)
	}
}

// TestKeepAliveDeadPeer: a server that never reads (so never answers a
// ping) is detected by the client's keepalive, which sends close 1011 and
// closes TCP; the client's reader learns why.
func TestKeepAliveDeadPeer(t *testing.T) {
	t.Parallel()
	type seen struct {
		pings int
		code  StatusCode
		err   error
	}
	got := make(chan seen, 1)
	url, _ := handlerServer(t, nil, func(c *Conn) error {
		// A raw peer: read frames off the wire and never answer.
		var s seen
		for {
			f, err := ReadFrame(c.NetConn())
			if err != nil {
				s.err = err
				break
			}
			if f.Header.Opcode == OpPing {
				s.pings++
			}
			if f.Header.Opcode == OpClose {
				s.code, _, s.err = ParseClosePayload(f.Payload)
				break
			}
		}
		got <- s
		return nil
	})
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{KeepAlive: 100 * time.Millisecond}})
	if c.CloseSent() {
		t.Fatal("CloseSent on a new connection")
	}
	// The read ends with the keepalive's error, not at the test
	// context's deadline (10 s): that is the keepalive noticing.
	_, _, err := c.ReadMessage(testContext(t))
	if !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("ReadMessage = %v, want ErrKeepAliveTimeout", err)
	}
	if !c.CloseSent() {
		t.Error("CloseSent false after the keepalive's close")
	}
	s := await(t, got, "the raw peer to see the keepalive's close or the end of TCP")
	if s.pings != 1 || s.code != StatusInternalError || s.err != nil {
		t.Fatalf("peer saw %d pings, close %v (%v); want 1 ping, close 1011", s.pings, s.code, s.err)
	}
}

// TestKeepAliveNoReader: the server's keepalive, with no reader on the
// server, detects a client that stopped reading.
func TestKeepAliveNoReader(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	url, _ := handlerServer(t, &AcceptOptions{ConnOptions: ConnOptions{KeepAlive: 50 * time.Millisecond}}, func(c *Conn) error {
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			ended <- errors.New("the connection still open after 10 s")
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := c.ReadMessage(ctx)
		ended <- err
		return err
	})
	dial(t, url, nil) // never reads
	if err := await(t, ended, "the server's keepalive to end its read"); !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("server ReadMessage = %v, want ErrKeepAliveTimeout", err)
	}
}

// TestKeepAliveHealthyIdle: an idle connection whose peer answers pings
// stays open over five pings, with and without a reader on the side that
// pings.
func TestKeepAliveHealthyIdle(t *testing.T) {
	t.Parallel()
	for _, reader := range []bool{false, true} {
		t.Run(fmt.Sprintf("reader=%v", reader), func(t *testing.T) {
			t.Parallel()
			// The server counts the keepalive's pings as they arrive. The
			// interval (1 s) leaves room for a pong on a loaded machine: a
			// pong later than the interval fails the connection by design.
			const pings = 3
			var seen atomic.Int32
			fifth := make(chan struct{})
			count := FrameHookFunc(func(f *HookFrame) FrameVerdict {
				if f.Dir == trace.In && f.Header.Opcode == OpPing && seen.Add(1) == pings {
					close(fifth)
				}
				return FrameVerdict{}
			})
			url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{FrameHook: count}})
			c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{KeepAlive: time.Second}})
			ctx := testContext(t)
			got := make(chan []byte, 1)
			if reader {
				go func() {
					_, p, _ := c.ReadMessage(ctx)
					got <- p
				}()
			}
			select {
			case <-fifth:
			case <-ctx.Done():
				t.Fatalf("the server saw %d keepalive pings, want %d", seen.Load(), pings)
			}
			if err := c.WriteMessage(ctx, MessageText, []byte("alive")); err != nil {
				t.Fatal(err)
			}
			var p []byte
			if reader {
				p = <-got
			} else {
				var err error
				if _, p, err = c.ReadMessage(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if string(p) != "alive" {
				t.Fatalf("read %q", p)
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
			if err := recvErr(t, errs); CloseStatus(err) != StatusNormalClosure {
				t.Fatalf("server saw %v", err)
			}
		})
	}
}

// failWriteConn reads from r and refuses every write with err.
type failWriteConn struct {
	fakeConn
	err error
}

func (f *failWriteConn) Write([]byte) (int, error) { return 0, f.err }

// TestPongWriteFailureEndsRead: a ping whose pong cannot be written ends
// the read with that error; the read does not go on to the next message
// as if the ping had been answered.
func TestPongWriteFailureEndsRead(t *testing.T) {
	t.Parallel()
	var in bytes.Buffer
	for _, f := range []Frame{masked(true, OpPing, []byte("p")), masked(true, OpText, []byte("hi"))} {
		if err := WriteFrame(&in, f); err != nil {
			t.Fatal(err)
		}
	}
	broken := errors.New("link down")
	c := newConn(&failWriteConn{fakeConn{r: &in}, broken}, nil, false, "", newConfig(0, time.Second, nil, ""))
	defer c.CloseNow()
	if typ, p, err := c.ReadMessage(context.Background()); !errors.Is(err, broken) {
		t.Fatalf("ReadMessage = %v %q, %v; want the pong's write error", typ, p, err)
	}
}

// TestPingPongInsideMessage: a pong that arrives between the fragments of
// a message while Ping reads ends the Ping only once the message is
// whole, and the message is kept for the next ReadMessage.
func TestPingPongInsideMessage(t *testing.T) {
	t.Parallel()
	srv, cli := net.Pipe()
	c := newConn(srv, nil, false, "", newConfig(0, time.Second, nil, ""))
	defer c.CloseNow()
	peer := make(chan error, 1)
	go func() {
		if f, err := ReadFrame(cli); err != nil || f.Header.Opcode != OpPing {
			peer <- fmt.Errorf("peer read %v, %v; want the ping", f.Header, err)
			return
		}
		var b bytes.Buffer
		for _, f := range []Frame{
			masked(false, OpText, []byte("hel")),
			masked(true, OpPong, []byte("p1")),
			masked(true, OpContinuation, []byte("lo")),
		} {
			WriteFrame(&b, f)
		}
		_, err := cli.Write(b.Bytes())
		peer <- err
	}()
	ctx := testContext(t)
	if err := c.Ping(ctx, []byte("p1")); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := await(t, peer, "the peer's write of the message around the pong; Ping returned before reading it all"); err != nil {
		t.Fatal(err)
	}
	if typ, p, err := c.ReadMessage(ctx); err != nil || typ != MessageText || string(p) != "hello" {
		t.Fatalf("ReadMessage = %v %q, %v; want the text message read around the pong", typ, p, err)
	}
}

// TestKeepAliveBlockedWrite: when the keepalive fails a connection whose
// peer stopped reading while a message was on its way to it, the write
// that was blocked ends with ErrKeepAliveTimeout, as the read side does,
// not with a bare error about a closed connection. (On a loaded machine
// the keepalive may fail the connection before the write begins; the
// write then says so as well, as TestKeepAliveWriteAfterFailure checks.)
func TestKeepAliveBlockedWrite(t *testing.T) {
	t.Parallel()
	url, errs := handlerServer(t, &AcceptOptions{ConnOptions: ConnOptions{KeepAlive: 50 * time.Millisecond}}, func(c *Conn) error {
		// More than the socket buffers on the way hold: the write
		// waits for a reader that never comes.
		return c.WriteMessage(context.Background(), MessageBinary, make([]byte, 64<<20))
	})
	dial(t, url, nil) // never reads
	if err := recvErr(t, errs); !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("server WriteMessage = %v, want ErrKeepAliveTimeout", err)
	}
}

// TestKeepAliveWriteAfterFailure: a write after the keepalive failed the
// connection says why the close frame was sent.
func TestKeepAliveWriteAfterFailure(t *testing.T) {
	t.Parallel()
	url, errs := handlerServer(t, &AcceptOptions{ConnOptions: ConnOptions{KeepAlive: 50 * time.Millisecond}}, func(c *Conn) error {
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			return errors.New("the keepalive left the connection open for 10 s")
		}
		return c.WriteMessage(context.Background(), MessageText, []byte("late"))
	})
	dial(t, url, nil) // never reads
	if err := recvErr(t, errs); !errors.Is(err, ErrKeepAliveTimeout) || !errors.Is(err, ErrCloseSent) {
		t.Fatalf("server WriteMessage = %v, want ErrKeepAliveTimeout and ErrCloseSent", err)
	}
}

// slowInterval is the keepalive interval of the tests whose peer reads or
// sends slowly but never stops: an allowance for a loaded machine, where a
// test process can go without the CPU for a few hundred milliseconds. A
// peer that moves no byte for a whole interval is a gone one by design,
// so the interval must be longer than the longest such pause.
const slowInterval = time.Second

// TestKeepAliveSlowReader: a peer that reads a long message slowly, so
// that the keepalive's ping waits behind it for longer than the interval,
// is not taken for a dead one: the message arrives whole and the write
// ends without error.
func TestKeepAliveSlowReader(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	url, errs := handlerServer(t, &AcceptOptions{ConnOptions: ConnOptions{KeepAlive: slowInterval}}, func(c *Conn) error {
		// Small buffers on both sides: the write lasts as long as the
		// peer takes to read.
		c.NetConn().(*net.TCPConn).SetWriteBuffer(16 << 10)
		return c.WriteMessage(context.Background(), MessageBinary, make([]byte, size))
	})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	ctx := testContext(t)
	nc, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	// At most 16 KiB every 15 ms: the 4 MiB take 256 reads, at least
	// 3.84 s, longer than a keepalive that took the slow reader for a
	// dead one would leave the connection open (two intervals and the
	// second it gives its close frame); the ping goes out after the
	// message.
	c, _, err := Client(ctx, slowReader{nc}, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, p, err := c.ReadMessage(ctx); err != nil || len(p) != size {
		t.Fatalf("ReadMessage = %d bytes, %v; want %d", len(p), err, size)
	}
	if err := recvErr(t, errs); err != nil {
		t.Fatalf("server WriteMessage = %v, want the message written", err)
	}
}

// slowReader is a connection that reads at most 16 KiB at a time, after a
// pause of 15 ms.
type slowReader struct{ net.Conn }

func (r slowReader) Read(p []byte) (int, error) {
	time.Sleep(15 * time.Millisecond)
	return r.Conn.Read(p[:min(len(p), 16<<10)])
}

// TestKeepAliveLongIncomingFrame: a peer in the middle of a long frame
// cannot answer a ping before the frame ends; while the frame's bytes
// keep coming, the keepalive waits rather than failing the connection.
// The peer sends a piece of the frame each time it sees a ping and
// answers the pings only after the frame, so each ping outlives its
// interval; a keepalive that ignored the frame's progress would close
// the connection (1011) at the first one instead of sending a second.
// With a frame hook installed the bytes are counted by the hook's
// reader, so both ways are run.
func TestKeepAliveLongIncomingFrame(t *testing.T) {
	t.Parallel()
	for _, hooked := range []bool{false, true} {
		t.Run(fmt.Sprintf("hook=%v", hooked), func(t *testing.T) {
			t.Parallel()
			const pings = 2
			opts := &AcceptOptions{ConnOptions: ConnOptions{KeepAlive: slowInterval}}
			if hooked {
				opts.FrameHook = FrameHookFunc(func(*HookFrame) FrameVerdict { return FrameVerdict{} })
			}
			url, errs := handlerServer(t, opts, func(c *Conn) error {
				typ, p, err := c.ReadMessage(context.Background())
				if err != nil {
					return err
				}
				return c.WriteMessage(context.Background(), typ, p)
			})
			nc, br := rawClient(t, url)
			payload := bytes.Repeat([]byte("0123456789"), 300)
			var frame bytes.Buffer
			if err := WriteFrame(&frame, masked(true, OpBinary, payload)); err != nil {
				t.Fatal(err)
			}
			wire := frame.Bytes()
			piece := len(wire) / (pings + 2)
			if _, err := nc.Write(wire[:piece]); err != nil {
				t.Fatal(err)
			}
			wire = wire[piece:]
			var seen [][]byte
			for len(seen) < pings {
				f, err := ReadFrame(br)
				if err != nil {
					t.Fatalf("after %d pings: %v", len(seen), err)
				}
				if f.Header.Opcode != OpPing {
					code, reason, _ := ParseClosePayload(f.Payload)
					t.Fatalf("after %d pings the server sent %v (%v %q), want another ping while the frame arrives", len(seen), f.Header.Opcode, code, reason)
				}
				seen = append(seen, f.Payload)
				if _, err := nc.Write(wire[:piece]); err != nil {
					t.Fatal(err)
				}
				wire = wire[piece:]
			}
			var rest bytes.Buffer
			rest.Write(wire)
			for _, p := range seen {
				WriteFrame(&rest, masked(true, OpPong, p))
			}
			if _, err := nc.Write(rest.Bytes()); err != nil {
				t.Fatal(err)
			}
			for {
				f, err := ReadFrame(br)
				if err != nil {
					t.Fatalf("reading the echo: %v", err)
				}
				if f.Header.Opcode == OpPing {
					writeFrames(t, nc, masked(true, OpPong, f.Payload))
					continue
				}
				if f.Header.Opcode != OpBinary || !bytes.Equal(f.Payload, payload) {
					t.Fatalf("server sent %v with %d bytes, want the %d-byte echo", f.Header.Opcode, len(f.Payload), len(payload))
				}
				break
			}
			if err := recvErr(t, errs); err != nil {
				t.Fatalf("server: %v", err)
			}
		})
	}
}

// opaqueConn hides the transport's SyscallConn, and so its send queue,
// from the Conn on top.
type opaqueConn struct{ net.Conn }

// slowPeerServer serves one connection on 127.0.0.1: it sets the
// server's send buffer to sndbuf, hides the transport when opaque, and
// upgrades with a keepalive of slowInterval. The handler writes a message of
// size bytes and waits for the client's "done"; its result comes on the
// returned channel. The client reads at most 16 KiB every 15 ms through a
// 16 KiB receive buffer, so that the message takes longer than the
// interval to read.
func slowPeerServer(t *testing.T, size, sndbuf int, opaque bool) (*Conn, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	errs := make(chan error, 1)
	go func() {
		errs <- func() error {
			tc, err := ln.Accept()
			if err != nil {
				return err
			}
			tc.(*net.TCPConn).SetWriteBuffer(sndbuf)
			var nc net.Conn = tc
			if opaque {
				nc = opaqueConn{tc}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Upgrade(ctx, nc, &AcceptOptions{ConnOptions: ConnOptions{KeepAlive: slowInterval}})
			if err != nil {
				tc.Close()
				return err
			}
			defer c.CloseNow()
			if _, ok := c.SendQueued(); ok == opaque {
				return fmt.Errorf("SendQueued tells = %v on a transport that hides it = %v", ok, opaque)
			}
			if err := c.WriteMessage(ctx, MessageBinary, make([]byte, size)); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			if _, p, err := c.ReadMessage(ctx); err != nil || string(p) != "done" {
				return fmt.Errorf("read %q, %w; want done", p, err)
			}
			return nil
		}()
	}()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	ctx := testContext(t)
	nc, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Client(ctx, slowReader{nc}, "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, errs
}

// TestKeepAliveSlowReaderWhere: a peer slowly reading a long message is
// not taken for a gone one wherever the message waits while the ping
// waits behind it. In the write, on a transport that does not tell its
// send queue, the write's progress tells; in the transport's send buffer
// after the write returned, the send queue falling tells.
func TestKeepAliveSlowReaderWhere(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		size, sndbuf int
		opaque       bool
	}{
		// 4 MiB through a 16 KiB send buffer: the write lasts the 3.84 s
		// the reader takes.
		{"in the write", 4 << 20, 16 << 10, true},
		// 4 MiB into a 4 MiB send buffer, which Linux doubles: the write
		// returns at once and the ping waits the 3.84 s the reader takes.
		{"in the send buffer", 4 << 20, 4 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !tc.opaque {
				// The send queue is Linux's (SIOCOUTQ), and the send
				// buffer at most net.core.wmem_max.
				b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
				if err != nil {
					t.Skipf("no send queue to read: %v", err)
				}
				if most, _ := strconv.Atoi(strings.TrimSpace(string(b))); most < tc.sndbuf {
					t.Skipf("net.core.wmem_max is %d, below the %d the message needs", most, tc.sndbuf)
				}
			}
			c, errs := slowPeerServer(t, tc.size, tc.sndbuf, tc.opaque)
			ctx := testContext(t)
			if _, p, err := c.ReadMessage(ctx); err != nil || len(p) != tc.size {
				t.Fatalf("ReadMessage = %d bytes, %v; want %d (the server's keepalive gave up on a slow reader?)", len(p), err, tc.size)
			}
			if err := c.WriteMessage(ctx, MessageText, []byte("done")); err != nil {
				t.Fatal(err)
			}
			if err := await(t, errs, "the server's handler"); err != nil {
				t.Fatalf("server: %v", err)
			}
		})
	}
}

// TestPingWriteFailure: a ping that cannot be written returns the write's
// error at once, rather than waiting for a pong to a ping never sent.
func TestPingWriteFailure(t *testing.T) {
	t.Parallel()
	srv, cli := net.Pipe() // a peer that sends nothing
	defer cli.Close()
	broken := errors.New("link down")
	c := newConn(failWrites{srv, broken}, nil, false, "", newConfig(0, time.Second, nil, ""))
	defer c.CloseNow()
	if err := c.Ping(testContext(t), []byte("p")); !errors.Is(err, broken) {
		t.Fatalf("Ping = %v, want the write's error", err)
	}
}

// failWrites is a connection that refuses every write with err.
type failWrites struct {
	net.Conn
	err error
}

func (f failWrites) Write([]byte) (int, error) { return 0, f.err }

// TestPingNotSentKeepsConn: a ping whose context ends before the
// transport takes a byte of it (a peer not reading, a full send buffer)
// is not sent, and the connection goes on: the stream holds no half
// frame. The keepalive's ping behind a long write ends that way when the
// write lock comes just before the pong is due; it used to fail a
// connection whose peer was reading.
func TestPingNotSentKeepsConn(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	snc, cnc := net.Pipe()
	srv := newConn(snc, nil, false, "", (&AcceptOptions{ConnOptions: ConnOptions{Tracer: trace.New(rec), Node: "server"}}).config())
	cli := newConn(cnc, nil, true, "", (&DialOptions{}).config())
	defer srv.CloseNow()
	defer cli.CloseNow()

	// net.Pipe takes nothing until the other side reads.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := srv.Ping(ctx, []byte("unsent"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping = %v, want a deadline exceeded", err)
	}
	drops := rec.find(trace.Out, "drop")
	if len(drops) != 1 || field(drops[0], "reason") != DropNotSent || field(drops[0], "len") != 6 {
		t.Errorf("drop events %+v, want one %q of 6 bytes", drops, DropNotSent)
	}

	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		typ, p, err := cli.ReadMessage(ctx)
		if err == nil && (typ != MessageText || string(p) != "after") {
			err = fmt.Errorf("read %v %q, want text \"after\"", typ, p)
		}
		got <- err
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WriteMessage(ctx, MessageText, []byte("after")); err != nil {
		t.Fatalf("write after the unsent ping: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatalf("the client: %v", err)
	}
}
