package ws_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/stacktest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

// These tests run the WebSocket server on one netstack stack (net/http on
// a sockets Listener) and the client on another, wired back to back over
// tun.Pipe with an MTU of 1280, so that large frames span many segments and
// one segment can carry the end of one frame and the start of the next.

var (
	clientPrefix = stacktest.ClientPrefix
	serverPrefix = stacktest.ServerPrefix
)

// linkMTU is small enough that a frame of a few kilobytes needs several
// segments.
const linkMTU = 1280

// wsPair is a client stack and a server stack with an HTTP server on port
// 80 of the server stack.
type wsPair struct {
	client, server *netstack.Stack
	cs, ss         *sockets.Sockets
	clientDev      *tun.PipeEnd
	url            string // ws://10.0.0.2

	results map[string]chan error
}

// wsHandler runs on the server side of one WebSocket connection; what it
// returns is delivered on the route's results channel.
type wsHandler func(p *wsPair, c *ws.Conn) error

// startWS builds the two stacks and serves each route (a path such as
// "/echo") with ws.Accept and its handler. Everything is shut down when the
// test ends: the HTTP server, the stacks, then the handlers are waited for.
func startWS(t *testing.T, routes map[string]wsHandler) *wsPair {
	t.Helper()
	// Cleanups run last first: the handlers are waited for after the
	// stacks close (which ends their connections), and the HTTP server
	// closes before the stacks.
	var handlers sync.WaitGroup
	t.Cleanup(handlers.Wait)
	client, server, cdev := stacktest.Pair(t, tun.PipeOptions{MTU: linkMTU})
	p := &wsPair{
		client: client, server: server,
		cs:        sockets.New(client.Stack(), sockets.Options{}),
		ss:        sockets.New(server.Stack(), sockets.Options{}),
		clientDev: cdev,
		url:       "ws://" + serverPrefix.Addr().String(),
		results:   make(map[string]chan error),
	}

	mux := http.NewServeMux()
	for path, fn := range routes {
		results := make(chan error, 64)
		p.results[path] = results
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			handlers.Add(1)
			defer handlers.Done()
			c, err := ws.Accept(w, r, nil)
			if err != nil {
				results <- err
				return
			}
			err = fn(p, c)
			c.CloseNow()
			results <- err
		})
	}
	ln, err := p.ss.Listener("tcp4", net.JoinHostPort(serverPrefix.Addr().String(), "80"))
	if err != nil {
		client.Close()
		server.Close()
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return p
}

func stacksContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialWS connects from the client stack to path on the server stack.
func (p *wsPair) dial(t *testing.T, path string) *ws.Conn {
	t.Helper()
	c, resp, err := ws.Dial(stacksContext(t), p.url+path, &ws.DialOptions{NetDial: p.cs.DialContext})
	if err != nil {
		t.Fatalf("Dial %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("Dial %s: status %s", path, resp.Status)
	}
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != clientPrefix.Addr() {
		t.Fatalf("client conn is bound to %v, want %v", got, clientPrefix.Addr())
	}
	t.Cleanup(func() { c.CloseNow() })
	watchdog(t, c)
	return c
}

// watchdog closes c if the test still runs a minute on, twice the 30 s
// of stacksContext: a read or ping that its context failed to end then
// returns, and the test fails saying why instead of hanging until the
// test binary's timeout.
func watchdog(t *testing.T, c *ws.Conn) {
	t.Helper()
	var fired atomic.Bool
	tm := time.AfterFunc(time.Minute, func() {
		fired.Store(true)
		c.CloseNow()
	})
	t.Cleanup(func() {
		tm.Stop()
		if fired.Load() {
			t.Errorf("the connection was still open after a minute; the test closed it")
		}
	})
}

// result waits for the next handler result of path.
func (p *wsPair) result(t *testing.T, path string) error {
	t.Helper()
	select {
	case err := <-p.results[path]:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("no result from the %s handler after 30 s", path)
		return nil
	}
}

// echoHandler echoes every message until reading fails, and returns that
// error.
func echoHandler(_ *wsPair, c *ws.Conn) error {
	ctx := context.Background()
	for {
		typ, msg, err := c.ReadMessage(ctx)
		if err != nil {
			return err
		}
		if err := c.WriteMessage(ctx, typ, msg); err != nil {
			return err
		}
	}
}

// expectMessage reads one message and checks it.
func expectMessage(t *testing.T, c *ws.Conn, typ ws.MessageType, want []byte) {
	t.Helper()
	gotTyp, got, err := c.ReadMessage(stacksContext(t))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if gotTyp != typ || !bytes.Equal(got, want) {
		t.Fatalf("got %v message of %d bytes, want %v of %d bytes", gotTyp, len(got), typ, len(want))
	}
}

// wantClose checks that err is a *CloseError with code and reason.
func wantClose(t *testing.T, who string, err error, code ws.StatusCode, reason string) {
	t.Helper()
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
		t.Fatalf("%s saw %v, want a CloseError %v %q", who, err, code, reason)
	}
}

func TestStacksEcho(t *testing.T) {
	t.Parallel()
	p := startWS(t, map[string]wsHandler{"/echo": echoHandler})
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>11)
	}
	text := bytes.Repeat([]byte("glassnet ✓ "), (1<<20)/13)
	tests := []struct {
		name   string
		typ    ws.MessageType
		parts  [][]byte
		writer bool // send the parts with Conn.Writer, one frame per Write
	}{
		{"text", ws.MessageText, [][]byte{[]byte("hello across the link")}, false},
		{"binary", ws.MessageBinary, [][]byte{{0, 1, 2, 0xfe, 0xff}}, false},
		{"empty text", ws.MessageText, [][]byte{{}}, false},
		{"empty binary", ws.MessageBinary, nil, false},
		{"125 bytes", ws.MessageBinary, [][]byte{big[:125]}, false},
		{"126 bytes, 16-bit length", ws.MessageBinary, [][]byte{big[:126]}, false},
		{"one MTU", ws.MessageBinary, [][]byte{big[:linkMTU]}, false},
		{"4000 bytes over four segments", ws.MessageBinary, [][]byte{big[:4000]}, false},
		{"65536 bytes, 64-bit length", ws.MessageBinary, [][]byte{big[:65536]}, false},
		{"fragmented", ws.MessageText, [][]byte{[]byte("frag"), []byte("men"), []byte("ted")}, false},
		{"fragments larger than a segment", ws.MessageBinary, [][]byte{big[:3000], big[3000:3001], big[3001:9000]}, false},
		{"code point split across fragments", ws.MessageText, [][]byte{[]byte("a\xe2"), []byte("\x82"), []byte("\xacz")}, false},
		{"Writer", ws.MessageText, [][]byte{[]byte("one "), []byte("two "), []byte("three")}, true},
		{"Writer with large frames", ws.MessageBinary, [][]byte{big[:5000], big[5000:70000]}, true},
		{"1 MiB binary", ws.MessageBinary, [][]byte{big}, false},
		{"1 MiB text fragmented", ws.MessageText, [][]byte{text[:300001], text[300001:]}, false},
	}
	t.Run("messages", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ctx := stacksContext(t)
				c := p.dial(t, "/echo")
				want := bytes.Join(tt.parts, nil)
				packets := p.clientDev.Stats().PacketsWritten
				var err error
				switch {
				case tt.writer:
					var w *ws.MessageWriter
					if w, err = c.Writer(ctx, tt.typ); err != nil {
						t.Fatal(err)
					}
					for _, part := range tt.parts {
						if n, err := w.Write(part); err != nil || n != len(part) {
							t.Fatalf("MessageWriter.Write = %d, %v", n, err)
						}
					}
					err = w.Close()
				case len(tt.parts) == 1:
					err = c.WriteMessage(ctx, tt.typ, tt.parts[0])
				default:
					err = c.WriteFragmented(ctx, tt.typ, tt.parts...)
				}
				if err != nil {
					t.Fatalf("write: %v", err)
				}
				expectMessage(t, c, tt.typ, want)
				if len(want) >= 64<<10 {
					// Other subtests share the link, so this is a lower
					// bound: at least one segment per MSS of payload.
					sent := p.clientDev.Stats().PacketsWritten - packets
					if min := uint64(len(want) / (linkMTU - 40)); sent < min {
						t.Errorf("%d bytes left the client in %d packets, want at least %d", len(want), sent, min)
					}
				}
				if err := c.Close(ws.StatusNormalClosure, tt.name); err != nil {
					t.Fatalf("Close: %v", err)
				}
			})
		}
	})
	for range tests {
		// Each echo handler ends with the client's close frame, code and
		// reason as sent (the names are the reasons, all shorter than 123
		// bytes).
		err := p.result(t, "/echo")
		if ws.CloseStatus(err) != ws.StatusNormalClosure {
			t.Errorf("echo handler ended with %v, want a normal closure", err)
		}
	}
}

// TestStacksPing pings in both directions: each side's reader answers the
// other's pings and delivers the pongs to the waiting Ping.
func TestStacksPing(t *testing.T) {
	t.Parallel()
	payloads := [][]byte{nil, []byte("abc"), bytes.Repeat([]byte{0xa5}, ws.MaxControlPayload)}
	p := startWS(t, map[string]wsHandler{"/ping": func(_ *wsPair, c *ws.Conn) error {
		ctx := context.Background()
		msgs := make(chan string, 4)
		readErr := make(chan error, 1)
		go func() {
			for {
				_, msg, err := c.ReadMessage(ctx)
				if err != nil {
					readErr <- err
					return
				}
				msgs <- string(msg)
			}
		}()
		for _, pl := range payloads {
			if err := c.Ping(ctx, pl); err != nil {
				return fmt.Errorf("server Ping(%d bytes): %w", len(pl), err)
			}
		}
		if msg := <-msgs; msg != "done pinging" {
			return fmt.Errorf("server read %q", msg)
		}
		if err := c.Close(ws.StatusNormalClosure, "pinged"); err != nil {
			return fmt.Errorf("server Close: %w", err)
		}
		if err := <-readErr; ws.CloseStatus(err) != ws.StatusNormalClosure {
			return fmt.Errorf("server reader ended with %v", err)
		}
		return nil
	}})
	ctx := stacksContext(t)
	c := p.dial(t, "/ping")
	readErr := make(chan error, 1)
	go func() {
		_, msg, err := c.ReadMessage(ctx)
		if err == nil {
			err = fmt.Errorf("unexpected message %q", msg)
		}
		readErr <- err
	}()
	for _, pl := range payloads {
		if err := c.Ping(ctx, pl); err != nil {
			t.Fatalf("client Ping(%d bytes): %v", len(pl), err)
		}
	}
	if err := c.Ping(ctx, make([]byte, ws.MaxControlPayload+1)); !errors.Is(err, ws.ErrControlTooLong) {
		t.Fatalf("Ping(126 bytes) = %v, want ErrControlTooLong", err)
	}
	if err := c.WriteMessage(ctx, ws.MessageText, []byte("done pinging")); err != nil {
		t.Fatal(err)
	}
	wantClose(t, "client reader", <-readErr, ws.StatusNormalClosure, "pinged")
	if err := p.result(t, "/ping"); err != nil {
		t.Fatalf("server: %v", err)
	}
}

// TestStacksCloseHandshake closes from either side and checks the code and
// reason the other side reads.
func TestStacksCloseHandshake(t *testing.T) {
	t.Parallel()
	p := startWS(t, map[string]wsHandler{
		"/echo": echoHandler,
		"/server-closes": func(_ *wsPair, c *ws.Conn) error {
			if _, msg, err := c.ReadMessage(context.Background()); err != nil || string(msg) != "ready" {
				return fmt.Errorf("read %q, %v", msg, err)
			}
			return c.Close(4000, "server done")
		},
	})
	t.Run("client initiates", func(t *testing.T) {
		t.Parallel()
		ctx := stacksContext(t)
		c := p.dial(t, "/echo")
		if err := c.WriteMessage(ctx, ws.MessageText, []byte("before the close")); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, c, ws.MessageText, []byte("before the close"))
		if err := c.Close(ws.StatusGoingAway, "client leaving"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		wantClose(t, "server", p.result(t, "/echo"), ws.StatusGoingAway, "client leaving")
		// The server echoed the code without a reason (RFC 6455 §5.5.1).
		_, _, err := c.ReadMessage(ctx)
		wantClose(t, "client read after Close", err, ws.StatusGoingAway, "")
		if err := c.WriteMessage(ctx, ws.MessageText, []byte("late")); err == nil {
			t.Fatal("WriteMessage after Close succeeded")
		}
	})
	t.Run("server initiates", func(t *testing.T) {
		t.Parallel()
		ctx := stacksContext(t)
		c := p.dial(t, "/server-closes")
		if err := c.WriteMessage(ctx, ws.MessageText, []byte("ready")); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.ReadMessage(ctx)
		wantClose(t, "client", err, 4000, "server done")
		if err := p.result(t, "/server-closes"); err != nil {
			t.Fatalf("server Close: %v", err)
		}
		if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
			t.Fatalf("client Close after the handshake: %v", err)
		}
	})
}

// closeWrite half-closes the TCP connection under c: FIN, no close frame.
func closeWrite(c *ws.Conn) error {
	cw, ok := c.NetConn().(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("%T has no CloseWrite", c.NetConn())
	}
	return cw.CloseWrite()
}

// setBuf sets a buffer size (SO_SNDBUF or SO_RCVBUF) of the TCP
// connection under c, a socket of s.
func setBuf(s *sockets.Sockets, c *ws.Conn, opt, n int) error {
	sc, ok := c.NetConn().(*sockets.Conn)
	if !ok {
		return fmt.Errorf("%T is not a *sockets.Conn", c.NetConn())
	}
	return s.SetSockOpt(sc.FD(), sockets.SOL_SOCKET, opt, n)
}

// reset closes the TCP connection under c with SO_LINGER 0, so that the
// stack sends RST instead of FIN.
func reset(s *sockets.Sockets, c *ws.Conn) error {
	sc, ok := c.NetConn().(*sockets.Conn)
	if !ok {
		return fmt.Errorf("%T is not a *sockets.Conn", c.NetConn())
	}
	if err := s.SetSockOpt(sc.FD(), sockets.SOL_SOCKET, sockets.SO_LINGER, 0); err != nil {
		return err
	}
	return c.CloseNow()
}

// The three ways a connection ends, as the other side must see them.
var endings = []struct {
	name  string
	end   func(s *sockets.Sockets, c *ws.Conn) error
	check func(t *testing.T, who string, err error)
}{
	{
		"clean close",
		func(_ *sockets.Sockets, c *ws.Conn) error { return c.Close(4001, "clean ending") },
		func(t *testing.T, who string, err error) {
			t.Helper()
			wantClose(t, who, err, 4001, "clean ending")
		},
	},
	{
		"FIN without a close frame",
		func(_ *sockets.Sockets, c *ws.Conn) error { return closeWrite(c) },
		func(t *testing.T, who string, err error) {
			t.Helper()
			if ws.CloseStatus(err) != ws.StatusAbnormalClosure || !errors.Is(err, io.EOF) {
				t.Fatalf("%s saw %v, want a CloseError 1006 wrapping io.EOF", who, err)
			}
		},
	},
	{
		"RST",
		func(s *sockets.Sockets, c *ws.Conn) error { return reset(s, c) },
		func(t *testing.T, who string, err error) {
			t.Helper()
			if !errors.Is(err, syscall.ECONNRESET) || ws.CloseStatus(err) != 0 {
				t.Fatalf("%s saw %v, want ECONNRESET and no close status", who, err)
			}
		},
	},
}

// TestStacksEndings ends a connection in each of the three ways, from the
// server and from the client, and checks what the other side reads.
func TestStacksEndings(t *testing.T) {
	t.Parallel()
	routes := map[string]wsHandler{"/echo": echoHandler}
	for i, e := range endings {
		routes[fmt.Sprintf("/server-ends/%d", i)] = func(p *wsPair, c *ws.Conn) error {
			ctx := context.Background()
			// Read the client's message first: its request and frame are
			// consumed and it is waiting in ReadMessage.
			if _, msg, err := c.ReadMessage(ctx); err != nil || string(msg) != "ready" {
				return fmt.Errorf("read %q, %v", msg, err)
			}
			if err := e.end(p.ss, c); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			// After a half-close the client's answer is its own FIN.
			if e.name == "FIN without a close frame" {
				_, _, err := c.ReadMessage(ctx)
				return err
			}
			return nil
		}
	}
	p := startWS(t, routes)
	for i, e := range endings {
		t.Run("server "+e.name, func(t *testing.T) {
			t.Parallel()
			ctx := stacksContext(t)
			path := fmt.Sprintf("/server-ends/%d", i)
			c := p.dial(t, path)
			if err := c.WriteMessage(ctx, ws.MessageText, []byte("ready")); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.ReadMessage(ctx)
			e.check(t, "client", err)
			srvErr := p.result(t, path)
			if e.name == "FIN without a close frame" {
				// The client's reader closed TCP on the FIN: the server
				// sees the same abnormal closure.
				e.check(t, "server", srvErr)
			} else if srvErr != nil {
				t.Fatalf("server: %v", srvErr)
			}
		})
	}
	t.Run("client", func(t *testing.T) {
		// The echo handlers share one results channel: these run one
		// after another.
		for _, e := range endings {
			t.Run(e.name, func(t *testing.T) {
				ctx := stacksContext(t)
				c := p.dial(t, "/echo")
				if err := c.WriteMessage(ctx, ws.MessageText, []byte("ready")); err != nil {
					t.Fatal(err)
				}
				expectMessage(t, c, ws.MessageText, []byte("ready"))
				fin := e.name == "FIN without a close frame"
				clientErr := make(chan error, 1)
				if fin {
					// The server answers the FIN by closing TCP, which
					// the client's reader sees.
					go func() {
						_, _, err := c.ReadMessage(ctx)
						clientErr <- err
					}()
				}
				if err := e.end(p.cs, c); err != nil {
					t.Fatalf("%s: %v", e.name, err)
				}
				e.check(t, "server", p.result(t, "/echo"))
				if fin {
					e.check(t, "client", <-clientErr)
				}
			})
		}
	})
}

// TestStacksConcurrentConns runs several connections at once over the
// link, each writing messages that span segments while the others do.
func TestStacksConcurrentConns(t *testing.T) {
	t.Parallel()
	p := startWS(t, map[string]wsHandler{"/echo": echoHandler})
	const conns, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	ctx := stacksContext(t)
	for i := range conns {
		c := p.dial(t, "/echo")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				msg := []byte(strings.Repeat(fmt.Sprintf("conn %d message %d;", i, j), 200+j))
				if err := c.WriteMessage(ctx, ws.MessageText, msg); err != nil {
					errs <- err
					return
				}
				typ, got, err := c.ReadMessage(ctx)
				if err != nil || typ != ws.MessageText || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("conn %d message %d: got %v %d bytes, %v", i, j, typ, len(got), err)
					return
				}
			}
			errs <- c.Close(ws.StatusNormalClosure, "")
		}()
	}
	wg.Wait()
	for range conns {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if err := p.result(t, "/echo"); ws.CloseStatus(err) != ws.StatusNormalClosure {
			t.Errorf("echo handler ended with %v", err)
		}
	}
}

// TestStacksResetWhileWriting: a client that resets while the server's
// echo of a large message waits for room makes the echo's write fail with
// ECONNRESET, and with EPIPE when the client had sent its FIN first, as
// Linux reports the two (README, How a WebSocket connection ends).
func TestStacksResetWhileWriting(t *testing.T) {
	t.Parallel()
	// Small buffers on the echo's way (the server's send buffer, the
	// client's receive buffer): a message of 1 MiB is then more than
	// they hold, where with the stacks' own buffers, which grow to
	// 4 MiB, it took 16 MiB, and that many bytes through two stacks under
	// the race detector outlasted the test's 30 s on a loaded machine.
	const buf = 64 << 10
	echo := func(p *wsPair, c *ws.Conn) error {
		if err := setBuf(p.ss, c, sockets.SO_SNDBUF, buf); err != nil {
			return err
		}
		return echoHandler(p, c)
	}
	p := startWS(t, map[string]wsHandler{"/echo": echo})
	for _, tc := range []struct {
		name string
		fin  bool
		want error
	}{
		{"reset", false, syscall.ECONNRESET},
		{"FIN, then reset", true, syscall.EPIPE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := stacksContext(t)
			c := p.dial(t, "/echo")
			if err := setBuf(p.cs, c, sockets.SO_RCVBUF, buf); err != nil {
				t.Fatal(err)
			}
			// Several times what the two buffers hold (an echo of
			// 200 KiB already waits): the echo waits.
			if err := c.WriteMessage(ctx, ws.MessageBinary, make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
			if tc.fin {
				if err := closeWrite(c); err != nil {
					t.Fatal(err)
				}
			}
			// The echo has begun once its first byte arrives.
			if _, err := io.ReadFull(c.NetConn(), make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			if err := reset(p.cs, c); err != nil {
				t.Fatal(err)
			}
			if err := p.result(t, "/echo"); !errors.Is(err, tc.want) {
				t.Fatalf("server: %v, want %v", err, tc.want)
			}
		})
	}
}
