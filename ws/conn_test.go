package ws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestEcho(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tests := []struct {
		name  string
		typ   MessageType
		parts [][]byte // more than one: sent fragmented
	}{
		{"text", MessageText, [][]byte{[]byte("hello")}},
		{"binary", MessageBinary, [][]byte{{0, 1, 2, 0xff}}},
		{"empty text", MessageText, [][]byte{{}}},
		{"empty binary", MessageBinary, nil},
		{"fragmented", MessageText, [][]byte{[]byte("frag"), []byte("men"), []byte("ted")}},
		{"code point split across fragments", MessageText, [][]byte{[]byte("a\xe2"), []byte("\x82"), []byte("\xacz")}},
		{"1 MiB", MessageBinary, [][]byte{big}},
		{"1 MiB text fragmented", MessageText, [][]byte{big[:300000], big[300000:]}},
		{"126 bytes", MessageBinary, [][]byte{big[:126]}},
		{"65536 bytes", MessageBinary, [][]byte{big[:65536]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := dial(t, url, nil)
			var err error
			if len(tt.parts) > 1 {
				err = c.WriteFragmented(ctx, tt.typ, tt.parts...)
			} else if len(tt.parts) == 1 {
				err = c.WriteMessage(ctx, tt.typ, tt.parts[0])
			} else {
				err = c.WriteFragmented(ctx, tt.typ)
			}
			if err != nil {
				t.Fatal(err)
			}
			typ, p, err := c.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := bytes.Join(tt.parts, nil); typ != tt.typ || !bytes.Equal(p, want) {
				t.Fatalf("got %v %d bytes, want %v %d bytes", typ, len(p), tt.typ, len(want))
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}

func TestWriterSendsOneFramePerWrite(t *testing.T) {
	t.Parallel()
	srv, cli := net.Pipe()
	c := newConn(srv, nil, false, "", newConfig(0, time.Second, nil, ""))
	defer c.CloseNow()
	done := make(chan error, 1)
	go func() {
		w, err := c.Writer(context.Background(), MessageText)
		if err == nil {
			w.Write([]byte("one"))
			c.writeControl(context.Background(), OpPing, []byte("between"))
			w.Write([]byte("two"))
			err = w.Close()
		}
		done <- err
	}()
	want := []Frame{
		NewFrame(false, OpText, []byte("one")),
		NewFrame(true, OpPing, []byte("between")),
		NewFrame(false, OpContinuation, []byte("two")),
		NewFrame(true, OpContinuation, []byte{}),
	}
	for _, w := range want {
		f, err := ReadFrame(cli)
		if err != nil {
			t.Fatal(err)
		}
		if f.Header.Fin != w.Header.Fin || f.Header.Opcode != w.Header.Opcode || !bytes.Equal(f.Payload, w.Payload) || f.Header.Masked {
			t.Fatalf("got %v %q, want %v %q", f.Header, f.Payload, w.Header, w.Payload)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cli.Close()
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	c := dial(t, url, nil)
	ctx := testContext(t)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				msg := []byte(strings.Repeat(string(rune('a'+i)), 100+i))
				if i%2 == 0 {
					c.WriteMessage(ctx, MessageText, msg)
				} else {
					c.WriteFragmented(ctx, MessageText, msg[:50], msg[50:])
				}
			}
		}()
	}
	for range writers * each {
		_, p, err := c.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Trim(string(p), string(p[:1])) != "" {
			t.Fatalf("interleaved message %q", p)
		}
	}
	wg.Wait()
	c.Close(StatusNormalClosure, "")
}

func TestPing(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	c := dial(t, url, nil)
	ctx := testContext(t)
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage(ctx)
		readErr <- err
	}()
	for _, p := range []string{"", "abc", strings.Repeat("x", 125)} {
		if err := c.Ping(ctx, []byte(p)); err != nil {
			t.Fatalf("Ping(%d bytes): %v", len(p), err)
		}
	}
	if err := c.Ping(ctx, make([]byte, 126)); !errors.Is(err, ErrControlTooLong) {
		t.Fatalf("Ping(126 bytes) = %v", err)
	}
	if err := c.Close(StatusNormalClosure, "done"); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("read after close: %v", err)
	}
}

// TestRawClientExchange drives the server with raw frames and checks the
// raw answer.
func TestRawClientExchange(t *testing.T) {
	t.Parallel()
	url, errs := echoServer(t, nil)
	nc, br := rawClient(t, url)
	writeFrames(t, nc,
		masked(true, OpPong, []byte("unsolicited")),
		masked(false, OpText, []byte("hel")),
		masked(true, OpPing, []byte("between")),
		masked(true, OpContinuation, []byte("lo")),
	)
	want := []Frame{NewFrame(true, OpPong, []byte("between")), NewFrame(true, OpText, []byte("hello"))}
	for _, w := range want {
		f, err := ReadFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if f.Header != w.Header || !bytes.Equal(f.Payload, w.Payload) {
			t.Fatalf("got %v %q, want %v %q", f.Header, f.Payload, w.Header, w.Payload)
		}
	}
	writeFrames(t, nc, masked(true, OpClose, ClosePayload(3001, "app")))
	if code, _ := readClose(t, br); code != 3001 {
		t.Fatalf("echoed close code %v, want 3001", code)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("server did not close TCP after the close handshake: %v", err)
	}
	var ce *CloseError
	if err := recvErr(t, errs); !errors.As(err, &ce) || ce.Code != 3001 || ce.Reason != "app" {
		t.Fatalf("server read error %v, want CloseError 3001 app", err)
	}
}

func TestProtocolViolations(t *testing.T) {
	t.Parallel()
	tooLong := make([]byte, 126)
	tests := []struct {
		name   string
		frames []Frame
		raw    []byte // written after frames
		code   StatusCode
		err    error
	}{
		{name: "unmasked client frame", frames: []Frame{NewFrame(true, OpText, []byte("hi"))}, code: 1002, err: ErrUnmaskedFrame},
		{name: "RSV1", frames: []Frame{withRsv(masked(true, OpText, []byte("hi")), Rsv1)}, code: 1002, err: ErrReservedBits},
		{name: "RSV2", frames: []Frame{withRsv(masked(true, OpBinary, nil), Rsv2)}, code: 1002, err: ErrReservedBits},
		{name: "RSV3 on ping", frames: []Frame{withRsv(masked(true, OpPing, nil), Rsv3)}, code: 1002, err: ErrReservedBits},
		{name: "opcode 3", frames: []Frame{masked(true, 3, nil)}, code: 1002, err: ErrUnknownOpcode},
		{name: "opcode 0xb", frames: []Frame{masked(true, 0xb, nil)}, code: 1002, err: ErrUnknownOpcode},
		{name: "fragmented ping", frames: []Frame{masked(false, OpPing, nil)}, code: 1002, err: ErrFragmentedControl},
		{name: "fragmented close", frames: []Frame{masked(false, OpClose, nil)}, code: 1002, err: ErrFragmentedControl},
		{name: "ping of 126 bytes", frames: []Frame{masked(true, OpPing, tooLong)}, code: 1002, err: ErrControlTooLong},
		{name: "continuation first", frames: []Frame{masked(true, OpContinuation, []byte("x"))}, code: 1002, err: ErrUnexpectedContinuation},
		{name: "text inside fragmented message", frames: []Frame{masked(false, OpText, []byte("a")), masked(true, OpText, []byte("b"))},
			code: 1002, err: ErrExpectedContinuation},
		{name: "64-bit length with top bit", raw: []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, code: 1002, err: ErrLengthOverflow},
		{name: "invalid UTF-8", frames: []Frame{masked(true, OpText, []byte("ok\xff"))}, code: 1007, err: ErrInvalidUTF8},
		{name: "surrogate in text", frames: []Frame{masked(true, OpText, []byte("\xed\xa0\x80"))}, code: 1007, err: ErrInvalidUTF8},
		{name: "invalid UTF-8 fails fast", frames: []Frame{masked(false, OpText, []byte("\xce\xba\xe1\xbd")), masked(false, OpContinuation, []byte("\xff"))},
			code: 1007, err: ErrInvalidUTF8},
		{name: "text ends inside a code point", frames: []Frame{masked(false, OpText, []byte("a")), masked(true, OpContinuation, []byte("\xe2\x82"))},
			code: 1007, err: ErrInvalidUTF8},
		{name: "invalid UTF-8 close reason", frames: []Frame{masked(true, OpClose, append(ClosePayload(1000, ""), 0xc0, 0xaf))}, code: 1007, err: ErrInvalidUTF8},
		{name: "too big", frames: []Frame{masked(true, OpBinary, make([]byte, 1025))}, code: 1009, err: ErrMessageTooBig},
		{name: "too big in fragments", frames: []Frame{masked(false, OpText, make([]byte, 600)), masked(true, OpContinuation, make([]byte, 600))},
			code: 1009, err: ErrMessageTooBig},
		{name: "close payload of 1 byte", frames: []Frame{masked(true, OpClose, []byte{3})}, code: 1002, err: ErrBadClosePayload},
	}
	for _, bad := range []StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535} {
		tests = append(tests, struct {
			name   string
			frames []Frame
			raw    []byte
			code   StatusCode
			err    error
		}{name: "close code " + bad.String(), frames: []Frame{masked(true, OpClose, []byte{byte(bad >> 8), byte(bad)})}, code: 1002, err: ErrBadCloseCode})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{MaxMessageSize: 1024}})
			nc, br := rawClient(t, url)
			writeFrames(t, nc, tt.frames...)
			nc.Write(tt.raw)
			if code, _ := readClose(t, br); code != tt.code {
				t.Fatalf("close code %v, want %v", code, tt.code)
			}
			nc.Close()
			err := recvErr(t, errs)
			if !errors.Is(err, tt.err) {
				t.Fatalf("server error %v, want %v", err, tt.err)
			}
		})
	}
}

func withRsv(f Frame, rsv byte) Frame {
	f.Header.Rsv = rsv
	return f
}

func TestClientRejectsMaskedServerFrame(t *testing.T) {
	t.Parallel()
	srv, cli := net.Pipe()
	c := newConn(cli, nil, true, "", newConfig(0, time.Second, nil, ""))
	defer c.CloseNow()
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage(context.Background())
		errc <- err
	}()
	writeFrames(t, srv, masked(true, OpText, []byte("hi")))
	// The client writes its close frame before ReadMessage returns; a
	// client that took the frame returns first, and writes nothing.
	type read struct {
		f   Frame
		err error
	}
	frames := make(chan read, 1)
	go func() {
		f, err := ReadFrame(srv)
		frames <- read{f, err}
		srv.Close()
	}()
	select {
	case err := <-errc:
		t.Fatalf("ReadMessage returned %v before failing the connection", err)
	case r := <-frames:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if code, _, _ := ParseClosePayload(r.f.Payload); r.f.Header.Opcode != OpClose || code != StatusProtocolError || !r.f.Header.Masked {
			t.Fatalf("got %v code %v, want a masked close 1002", r.f.Header, code)
		}
	}
	if err := <-errc; !errors.Is(err, ErrMaskedFrame) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidCloseCodesAreEchoed(t *testing.T) {
	t.Parallel()
	for _, code := range []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			url, errs := echoServer(t, nil)
			nc, br := rawClient(t, url)
			writeFrames(t, nc, masked(true, OpClose, ClosePayload(code, "r")))
			if got, _ := readClose(t, br); got != code {
				t.Fatalf("echo %v, want %v", got, code)
			}
			if CloseStatus(recvErr(t, errs)) != code {
				t.Fatal("server did not report the peer's code")
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		url, errs := echoServer(t, nil)
		nc, br := rawClient(t, url)
		writeFrames(t, nc, masked(true, OpClose, nil))
		if got, _ := readClose(t, br); got != StatusNoStatusRcvd {
			t.Fatalf("echo %v, want an empty close", got)
		}
		if CloseStatus(recvErr(t, errs)) != StatusNoStatusRcvd {
			t.Fatal("server did not report 1005")
		}
	})
}

func TestCloseHandshake(t *testing.T) {
	t.Parallel()
	t.Run("client initiates", func(t *testing.T) {
		t.Parallel()
		url, errs := echoServer(t, nil)
		c := dial(t, url, nil)
		if err := c.Close(StatusGoingAway, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		var ce *CloseError
		if err := recvErr(t, errs); !errors.As(err, &ce) || ce.Code != StatusGoingAway || ce.Reason != "bye" {
			t.Fatalf("server saw %v", err)
		}
		if _, _, err := c.ReadMessage(testContext(t)); CloseStatus(err) != StatusGoingAway {
			t.Fatalf("client read after Close: %v", err)
		}
		if err := c.WriteMessage(testContext(t), MessageText, nil); err == nil {
			t.Fatal("write after Close succeeded")
		}
	})
	t.Run("server initiates", func(t *testing.T) {
		t.Parallel()
		url, errs := handlerServer(t, nil, func(c *Conn) error {
			return c.Close(4000, "server done")
		})
		c := dial(t, url, nil)
		_, _, err := c.ReadMessage(testContext(t))
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "server done" {
			t.Fatalf("client read %v", err)
		}
		if err := recvErr(t, errs); err != nil {
			t.Fatalf("server Close: %v", err)
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		t.Parallel()
		srv, cli := net.Pipe()
		defer cli.Close()
		c := newConn(srv, nil, false, "", newConfig(0, 200*time.Millisecond, nil, ""))
		go io.Copy(io.Discard, cli)
		if err := c.Close(StatusNormalClosure, ""); !errors.Is(err, ErrCloseTimeout) {
			t.Fatalf("Close = %v, want ErrCloseTimeout", err)
		}
	})
	t.Run("peer never answers, with a reader", func(t *testing.T) {
		t.Parallel()
		// A server that closes a connection its handler is reading (an
		// idle timer's 1001) and gets no close frame back: the
		// handler's read says so, rather than only that the
		// transport was closed under it.
		srv, cli := net.Pipe()
		defer cli.Close()
		c := newConn(srv, nil, false, "", newConfig(0, 200*time.Millisecond, nil, ""))
		go io.Copy(io.Discard, cli)
		read := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage(context.Background())
			read <- err
		}()
		if err := c.Close(StatusGoingAway, "idle"); !errors.Is(err, ErrCloseTimeout) {
			t.Fatalf("Close = %v, want ErrCloseTimeout", err)
		}
		if err := <-read; !errors.Is(err, ErrCloseTimeout) {
			t.Fatalf("the read under way ended with %v, want ErrCloseTimeout", err)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		// The peer hangs up at once, so an accepted Close fails too
		// (1006): a refused one is told apart by what it says and by
		// sending nothing.
		for _, tc := range []struct {
			code   StatusCode
			reason string
			want   string
		}{
			{1006, "", "status 1006 may not be sent"},
			{1000, strings.Repeat("x", 124), "reason is 124 bytes, at most 123 fit"},
			{1000, "\xff", "invalid UTF-8"},
			{StatusNoStatusRcvd, "why", "a reason needs a status code"},
		} {
			nc := &recordConn{fakeConn: fakeConn{r: strings.NewReader("")}}
			c := newConn(nc, nil, false, "", newConfig(0, time.Second, nil, ""))
			err := c.Close(tc.code, tc.reason)
			if err == nil || !strings.Contains(err.Error(), tc.want) || nc.written() != 0 {
				t.Errorf("Close(%d, %d bytes) = %v, wrote %d bytes; want an error saying %q and nothing written",
					tc.code, len(tc.reason), err, nc.written(), tc.want)
			}
		}
		// The longest reason that fits is sent: a 125-byte payload.
		nc := &recordConn{fakeConn: fakeConn{r: strings.NewReader("")}}
		c := newConn(nc, nil, false, "", newConfig(0, time.Second, nil, ""))
		c.Close(1000, strings.Repeat("x", 123))
		if nc.written() != 2+125 {
			t.Errorf("Close with a 123-byte reason wrote %d bytes, want a close frame of 127", nc.written())
		}
	})
}

func TestFINWithoutClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"between frames", nil, io.EOF},
		{"inside a header", []byte{0x81}, io.ErrUnexpectedEOF},
		{"inside a payload", []byte{0x81, 0x85, 1, 2, 3, 4, 'h'}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, errs := echoServer(t, nil)
			nc, _ := rawClient(t, url)
			nc.Write(tt.raw)
			nc.(*net.TCPConn).CloseWrite()
			err := recvErr(t, errs)
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want CloseError 1006 wrapping %v", err, tt.want)
			}
		})
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	url, errs := echoServer(t, nil)
	c := dial(t, url, nil)
	ctx := testContext(t)
	// Make sure the server is reading before the reset.
	if err := c.WriteMessage(ctx, MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(ctx); err != nil {
		t.Fatal(err)
	}
	tcp := c.NetConn().(*net.TCPConn)
	tcp.SetLinger(0)
	c.CloseNow()
	err := recvErr(t, errs)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("err = %v, want ECONNRESET", err)
	}
	if CloseStatus(err) != 0 {
		t.Fatalf("a reset looks like a close: %v", err)
	}
}

func TestReadContext(t *testing.T) {
	t.Parallel()
	url, _ := echoServer(t, nil)
	c := dial(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.ReadMessage(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// Nothing was consumed: the connection still works.
	ctx = testContext(t)
	if err := c.WriteMessage(ctx, MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(ctx); err != nil || string(p) != "still here" {
		t.Fatalf("got %q, %v", p, err)
	}
	c.Close(StatusNormalClosure, "")
}

func TestEarlyFramesAfterRequest(t *testing.T) {
	t.Parallel()
	// A client may send its first frame in the same segment as the
	// request; net/http has then buffered it before the hijack.
	url, _ := echoServer(t, nil)
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var b bytes.Buffer
	b.WriteString(request(nil))
	WriteFrame(&b, masked(true, OpText, []byte("early")))
	nc.Write(b.Bytes())
	br := bufio.NewReader(nc)
	expectResponse(t, br, 101, "")
	f, err := ReadFrame(br)
	if err != nil || string(f.Payload) != "early" {
		t.Fatalf("got %v %q, %v", f.Header, f.Payload, err)
	}
}

func TestSimultaneousClose(t *testing.T) {
	t.Parallel()
	start := make(chan struct{})
	url, errs := handlerServer(t, nil, func(c *Conn) error {
		<-start
		return c.Close(StatusGoingAway, "server")
	})
	c := dial(t, url, nil)
	close(start)
	if err := c.Close(StatusNormalClosure, "client"); err != nil {
		t.Fatalf("client Close: %v", err)
	}
	if err := recvErr(t, errs); err != nil {
		t.Fatalf("server Close: %v", err)
	}
	if _, _, err := c.ReadMessage(testContext(t)); CloseStatus(err) == 0 {
		t.Fatalf("read after simultaneous close: %v", err)
	}
}

// TestReadWaitingThroughClose covers a read that waits for the read lock
// while Close reads the peer's close frame and closes the connection: it
// reports the peer's close frame, as a read that took the lock after Close
// would, not net.ErrClosed. The test holds the lock itself, so that the read waits
// until the connection has closed.
func TestReadWaitingThroughClose(t *testing.T) {
	t.Parallel()
	url, errs := echoServer(t, nil)
	c := dial(t, url, nil)
	if err := c.Close(StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := recvErr(t, errs); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server saw %v", err)
	}
	c.readLock <- struct{}{} // a read in progress elsewhere
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage(testContext(t))
		done <- err
	}()
	err := <-done
	unlock(c.readLock)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
		t.Fatalf("read waiting for the lock after Close: %v, want the peer's close frame (1000)", err)
	}
}

func TestAcceptClearsServerDeadlines(t *testing.T) {
	t.Parallel()
	// net/http sets a read deadline on the connection for ReadTimeout;
	// Accept must clear it.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.ReadMessage(context.Background())
			if err != nil {
				return
			}
			c.WriteMessage(context.Background(), typ, p)
		}
	}))
	srv.Config.ReadTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	time.Sleep(150 * time.Millisecond)
	ctx := testContext(t)
	if err := c.WriteMessage(ctx, MessageText, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(ctx); err != nil || string(p) != "late" {
		t.Fatalf("got %q, %v", p, err)
	}
	c.Close(StatusNormalClosure, "")
}

func TestClientMessageTooBig(t *testing.T) {
	t.Parallel()
	url, errs := handlerServer(t, nil, func(c *Conn) error {
		c.WriteMessage(context.Background(), MessageBinary, make([]byte, 2000))
		_, _, err := c.ReadMessage(context.Background())
		return err
	})
	c := dial(t, url, &DialOptions{ConnOptions: ConnOptions{MaxMessageSize: 1000}})
	if _, _, err := c.ReadMessage(testContext(t)); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("client read %v", err)
	}
	if err := recvErr(t, errs); CloseStatus(err) != StatusMessageTooBig {
		t.Fatalf("server saw %v, want close 1009", err)
	}
}

// TestAnnouncedLengthNotReserved checks that a frame header announcing a
// large payload does not make the reader hold that much: a peer that
// announces 16 MiB, sends 100 bytes and stops leaves it holding 64 KiB
// at most, not 16 MiB (or 1 MiB, as it once did).
func TestAnnouncedLengthNotReserved(t *testing.T) {
	t.Parallel()
	cli, srv := net.Pipe()
	c := newConn(srv, nil, false, "", newConfig(0, time.Second, nil, ""))
	defer c.CloseNow()
	go func() {
		h := Header{Fin: true, Opcode: OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 16<<20 - 1}
		cli.Write(append(AppendHeader(nil, h), make([]byte, 100)...))
		cli.Close()
	}()
	c.reader()
	h, err := c.readHeader()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.readData(h, nil, nil, new(int64))
	if err == nil || len(msg) != 100 {
		t.Fatalf("read %d bytes, %v; want the 100 sent, then an error", len(msg), err)
	}
	if most := 64 << 10; cap(msg) > most {
		t.Errorf("100 bytes of a frame announced at 16 MiB are held in a buffer of %d bytes, want at most %d", cap(msg), most)
	}
}

// deadlineCounter is a net.Conn that counts the deadlines set on it after
// its Close.
type deadlineCounter struct {
	net.Conn
	closed    atomic.Bool
	afterShut atomic.Int32
}

func (d *deadlineCounter) Close() error {
	d.closed.Store(true)
	return d.Conn.Close()
}

func (d *deadlineCounter) SetReadDeadline(t time.Time) error {
	if d.closed.Load() {
		d.afterShut.Add(1)
	}
	return d.Conn.SetReadDeadline(t)
}

func (d *deadlineCounter) SetWriteDeadline(t time.Time) error {
	if d.closed.Load() {
		d.afterShut.Add(1)
	}
	return d.Conn.SetWriteDeadline(t)
}

// TestClosedConnKeepsItsDeadlines checks that a connection that closes
// TCP under a read bound to a context does not clear that read's deadline
// on the closed connection: the call is for nothing, and on a sockets.Conn
// it makes an error value for every connection.
func TestClosedConnKeepsItsDeadlines(t *testing.T) {
	t.Parallel()
	peer, nc := net.Pipe()
	d := &deadlineCounter{Conn: nc}
	c := newConn(d, nil, false, "", (&AcceptOptions{}).config())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage(ctx)
		errc <- err
	}()
	peer.Close() // TCP closed without a close frame
	if err := <-errc; CloseStatus(err) != StatusAbnormalClosure {
		t.Fatalf("err = %v, want a 1006 close", err)
	}
	if !d.closed.Load() {
		t.Fatal("the connection was not closed")
	}
	if n := d.afterShut.Load(); n != 0 {
		t.Errorf("%d deadlines set on the closed connection, want none", n)
	}
}

// TestFailReasonCut: a violation whose message is longer than a close
// frame holds is cut to 123 bytes, and back to the last whole code point,
// so that the close frame stays valid (RFC 6455 §5.5.1).
func TestFailReasonCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ msg, want string }{
		{strings.Repeat("x", 200), strings.Repeat("x", 123)},
		{strings.Repeat("é", 100), strings.Repeat("é", 61)}, // 200 bytes; 123 would end inside one
	} {
		srv, cli := net.Pipe()
		c := newConn(srv, nil, false, "", newConfig(0, 5*time.Second, nil, ""))
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.fail(StatusProtocolError, errors.New(tc.msg))
		}()
		f, err := ReadFrame(cli)
		cli.Close()
		<-done
		if err != nil || f.Header.Opcode != OpClose {
			t.Fatalf("ReadFrame = %v %v, want a close frame", f.Header, err)
		}
		code, reason, err := ParseClosePayload(f.Payload)
		if err != nil || code != StatusProtocolError || reason != tc.want {
			t.Errorf("close frame %d %q, %v; want 1002 and %q", code, reason, err, tc.want)
		}
	}
}
