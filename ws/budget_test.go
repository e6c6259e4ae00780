package ws

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// frameBytes encodes a masked client frame; rsv1 marks a compressed
// message's first frame.
func frameBytes(fin bool, op Opcode, rsv1 bool, payload []byte) []byte {
	f := masked(fin, op, payload)
	if rsv1 {
		f.Header.Rsv |= Rsv1
	}
	var b bytes.Buffer
	WriteFrame(&b, f)
	return b.Bytes()
}

// awaitInUse waits until b has at least n bytes charged.
func awaitInUse(t *testing.T, b *MemoryBudget, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.InUse() < n {
		if time.Now().After(deadline) {
			t.Fatalf("budget has %d bytes charged after 10 s, want at least %d", b.InUse(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// awaitEmpty waits until b has nothing charged.
func awaitEmpty(t *testing.T, b *MemoryBudget, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for b.InUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("budget has %d bytes charged 10 s after %s, want none", b.InUse(), what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMemoryBudgetSharedByConnections has two clients each start a
// 700 KiB message on servers sharing a 1 MiB budget: the second one's
// growth does not fit and it is failed with 1013, while the first one's
// message completes and is echoed, and the budget is empty once the
// server reads again.
func TestMemoryBudgetSharedByConnections(t *testing.T) {
	t.Parallel()
	budget := NewMemoryBudget(1 << 20)
	url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{MemoryBudget: budget}})
	part := bytes.Repeat([]byte("a"), 700<<10)

	a, ar := rawClient(t, url)
	if _, err := a.Write(frameBytes(false, OpBinary, false, part)); err != nil {
		t.Fatal(err)
	}
	awaitInUse(t, budget, int64(len(part))-budgetAllowance)

	b, br := rawClient(t, url)
	if _, err := b.Write(frameBytes(false, OpBinary, false, part)); err != nil {
		t.Fatal(err)
	}
	code, reason := readClose(t, br)
	if code != StatusTryAgainLater || !strings.Contains(reason, "memory budget") {
		t.Fatalf("second client got close %v %q, want 1013 naming the memory budget", code, reason)
	}
	b.Close()
	if err := recvErr(t, errs); !errors.Is(err, ErrMessageMemory) {
		t.Fatalf("second server connection ended with %v, want ErrMessageMemory", err)
	}

	if _, err := a.Write(frameBytes(true, OpContinuation, false, []byte("end"))); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFrame(ar)
	if err != nil {
		t.Fatalf("first client: %v", err)
	}
	if want := len(part) + 3; f.Header.Opcode != OpBinary || len(f.Payload) != want {
		t.Fatalf("first client got %v of %d bytes, want its binary message of %d echoed", f.Header.Opcode, len(f.Payload), want)
	}
	awaitEmpty(t, budget, "the echo")
	a.Write(frameBytes(true, OpClose, false, ClosePayload(StatusNormalClosure, "")))
	if err := recvErr(t, errs); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("first server connection ended with %v, want a close handshake", err)
	}
}

// compressedMessage is msg compressed as one permessage-deflate frame's
// payload (RFC 7692 §7.2.1: the sync flush's tail stripped).
func compressedMessage(t *testing.T, msg []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	fw.Write(msg)
	fw.Flush()
	return bytes.TrimSuffix(b.Bytes(), deflateTail)
}

// TestMemoryBudgetReleased reads, on a server Conn whose budget is 1 MiB,
// a message that ends each way a message can end, and checks that the
// budget was charged while it arrived and is empty afterwards: at once
// when the read side drops the message, and when the connection reads
// again or closes after handing it over, the caller holding it till then
// (an echo writing it back to a peer that does not read).
func TestMemoryBudgetReleased(t *testing.T) {
	t.Parallel()
	part := bytes.Repeat([]byte("b"), 300<<10)
	deflateOn := func(cfg *connConfig) {
		cfg.deflate = newDeflateState(deflateParams{serverMaxBits: 15, clientMaxBits: 15}, false, &CompressionOptions{Enabled: true})
	}
	for _, tc := range []struct {
		name string
		max  int64
		// more is written after the first fragment, once the budget
		// is charged; end, if set, runs then instead.
		more      []byte
		end       func(c *Conn, cli net.Conn, cancel context.CancelFunc)
		deflate   bool
		compress  []byte // a compressed message sent instead of part
		wantErr   error
		wantClose StatusCode
		wantLen   int
	}{
		{name: "completed", more: frameBytes(true, OpContinuation, false, []byte("end")), wantLen: len(part) + 3},
		{name: "peer close", more: frameBytes(true, OpClose, false, ClosePayload(StatusGoingAway, "bye")), wantClose: StatusGoingAway},
		{name: "protocol error", more: frameBytes(true, OpText, false, []byte("x")), wantErr: ErrExpectedContinuation},
		{name: "too big", max: 400 << 10, more: frameBytes(true, OpContinuation, false, part), wantErr: ErrMessageTooBig},
		{name: "tcp closed", end: func(_ *Conn, cli net.Conn, _ context.CancelFunc) { cli.Close() }, wantClose: StatusAbnormalClosure},
		{name: "closed here", end: func(c *Conn, _ net.Conn, _ context.CancelFunc) { c.CloseNow() }, wantErr: io.ErrClosedPipe},
		{name: "canceled", end: func(_ *Conn, _ net.Conn, cancel context.CancelFunc) { cancel() }, wantErr: context.Canceled},
		{name: "over budget", more: frameBytes(true, OpContinuation, false, make([]byte, 1<<20)), wantErr: ErrMessageMemory},
		{name: "compressed", deflate: true, compress: compressedMessage(t, make([]byte, 512<<10)), wantLen: 512 << 10},
		{name: "compressed over budget", deflate: true, compress: compressedMessage(t, make([]byte, 2<<20)), wantErr: ErrMessageMemory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			budget := NewMemoryBudget(1 << 20)
			cli, srv := net.Pipe()
			defer cli.Close()
			cfg := newConfig(tc.max, time.Second, nil, "")
			cfg.budget = budget
			if tc.deflate {
				deflateOn(&cfg)
			}
			c := newConn(srv, nil, false, "", cfg)
			defer c.CloseNow()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				p   []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				_, p, err := c.ReadMessage(ctx)
				done <- result{p, err}
			}()
			if tc.compress != nil {
				// The compressed bytes are far below the budget;
				// what they inflate to is charged.
				go io.Copy(io.Discard, cli)
				cli.Write(frameBytes(true, OpBinary, true, tc.compress))
			} else {
				// net.Pipe's Write returns once the reader has taken
				// every byte: the fragment is in the message buffer.
				if _, err := cli.Write(frameBytes(false, OpBinary, false, part)); err != nil {
					t.Fatal(err)
				}
				if n := budget.InUse(); n < int64(len(part))-budgetAllowance {
					t.Fatalf("%d bytes charged for a fragment of %d", n, len(part))
				}
				go io.Copy(io.Discard, cli)
				if tc.end != nil {
					tc.end(c, cli, cancel)
				} else {
					cli.Write(tc.more)
				}
			}
			r := await(t, done, "ReadMessage")
			switch {
			case tc.wantLen > 0:
				if r.err != nil || len(r.p) != tc.wantLen {
					t.Fatalf("read %d bytes, %v; want %d", len(r.p), r.err, tc.wantLen)
				}
				if n := budget.InUse(); n < int64(tc.wantLen)-budgetAllowance {
					t.Fatalf("%d bytes charged for the message of %d handed over, want it charged until the next read", n, tc.wantLen)
				}
				if tc.deflate {
					c.CloseNow()
					break
				}
				go c.ReadMessage(ctx)
				awaitEmpty(t, budget, "the next read began")
			case tc.wantClose != 0:
				if CloseStatus(r.err) != tc.wantClose {
					t.Fatalf("read error %v, want close %v", r.err, tc.wantClose)
				}
			case !errors.Is(r.err, tc.wantErr):
				t.Fatalf("read error %v, want %v", r.err, tc.wantErr)
			}
			if n := budget.InUse(); n != 0 {
				t.Errorf("%d bytes still charged after the read ended", n)
			}
		})
	}
}

// TestMemoryBudgetSmallMessagesFree checks that messages that fit a
// connection's allowance are not charged: a budget of 0 still lets them
// through, and ReadMessageInto with a buffer as large as the message
// allocates nothing with a budget set.
func TestMemoryBudgetSmallMessagesFree(t *testing.T) {
	budget := NewMemoryBudget(0)
	cfg := newConfig(0, time.Second, nil, "")
	cfg.budget = budget
	cli := echoClient(t, cfg)
	ctx := context.Background()
	msg := make([]byte, 4<<10)
	if err := cli.WriteMessage(ctx, MessageBinary, msg); err != nil {
		t.Fatal(err)
	}
	if _, p, err := cli.ReadMessage(ctx); err != nil || len(p) != len(msg) {
		t.Fatalf("read %d bytes, %v", len(p), err)
	}
	if raceEnabled {
		return // allocation counts are meaningless under the race detector
	}
	buf := make([]byte, len(msg))
	var err error
	allocs := testing.AllocsPerRun(20, func() {
		if err = cli.WriteMessage(ctx, MessageBinary, msg); err == nil {
			_, buf, err = cli.ReadMessageInto(ctx, buf)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("ReadMessageInto with a budget: %v allocations per message, want 0", allocs)
	}
}

// TestMessageBufferFitsFrame checks that a message buffer grows to what
// was charged for it and no more: a 5 MiB frame, once 4 MiB of it are
// held, takes a buffer of 5 MiB, not the 5 MiB and a page append's
// growth would give.
func TestMessageBufferFitsFrame(t *testing.T) {
	t.Parallel()
	cli, srv := net.Pipe()
	defer cli.Close()
	c := newConn(srv, nil, false, "", newConfig(0, time.Second, nil, ""))
	defer c.CloseNow()
	msg := make([]byte, 5<<20)
	go cli.Write(frameBytes(true, OpBinary, false, msg))
	_, p, err := c.ReadMessage(testContext(t))
	if err != nil || len(p) != len(msg) {
		t.Fatalf("read %d bytes, %v", len(p), err)
	}
	if cap(p) != len(p) {
		t.Errorf("a message of %d bytes in a buffer of %d", len(p), cap(p))
	}
}

// TestSmallFragmentsGrowGeometrically reads a 1 MiB message sent in
// 64-byte fragments: its buffer grows by half at least each time, not by
// one fragment, so that it is not copied once per fragment.
func TestSmallFragmentsGrowGeometrically(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	const size, frag = 1 << 20, 64
	var wire []byte
	for off := 0; off < size; off += frag {
		op := OpContinuation
		if off == 0 {
			op = OpBinary
		}
		wire = append(wire, frameBytes(off+frag == size, op, false, make([]byte, frag))...)
	}
	var err error
	var p []byte
	allocs := testing.AllocsPerRun(1, func() {
		c := newConn(&fakeConn{r: bytes.NewReader(wire)}, nil, false, "", newConfig(0, time.Second, nil, ""))
		_, p, err = c.ReadMessage(context.Background())
	})
	if err != nil || len(p) != size {
		t.Fatalf("read %d bytes, %v", len(p), err)
	}
	if allocs > 100 {
		t.Errorf("a message of %d bytes in %d-byte fragments took %v allocations", size, frag, allocs)
	}
}

// TestMemoryBudgetHeldThroughPing: a message handed to the caller stays
// charged while a Ping reads on (the keepalive pinging while an echo
// writes the message back), and the message the Ping keeps for the caller
// is charged too; both are given back when the caller reads from the
// connection again. A Ping's read gave the caller's message back, so an
// echo to a peer that does not read held it outside the budget.
func TestMemoryBudgetHeldThroughPing(t *testing.T) {
	t.Parallel()
	budget := NewMemoryBudget(4 << 20)
	cli, srv := net.Pipe()
	defer cli.Close()
	cfg := newConfig(0, time.Second, nil, "")
	cfg.budget = budget
	c := newConn(srv, nil, false, "", cfg)
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first, second := make([]byte, 300<<10), make([]byte, 200<<10)
	go cli.Write(frameBytes(true, OpBinary, false, first))
	if _, p, err := c.ReadMessage(ctx); err != nil || len(p) != len(first) {
		t.Fatalf("first message: %d bytes, %v", len(p), err)
	}
	held := budget.InUse()
	if held < int64(len(first))-budgetAllowance {
		t.Fatalf("%d bytes charged for the message handed over, want at least %d", held, len(first)-budgetAllowance)
	}

	// The peer answers the ping after another message, which the Ping
	// reads and keeps for the caller.
	peer := make(chan error, 1)
	go func() {
		f, err := ReadFrame(cli)
		if err == nil && f.Header.Opcode != OpPing {
			err = fmt.Errorf("peer read %v, want a ping", f.Header.Opcode)
		}
		if err == nil {
			_, err = cli.Write(frameBytes(true, OpBinary, false, second))
		}
		if err == nil {
			_, err = cli.Write(frameBytes(true, OpPong, false, f.Payload))
		}
		peer <- err
	}()
	if err := c.Ping(ctx, []byte("p")); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := <-peer; err != nil {
		t.Fatal(err)
	}
	if want := held + int64(len(second)) - budgetAllowance; budget.InUse() < want {
		t.Errorf("%d bytes charged after the Ping, want at least %d: the caller's message (%d) and the one kept", budget.InUse(), want, held)
	}
	if _, p, err := c.ReadMessage(ctx); err != nil || len(p) != len(second) {
		t.Fatalf("the message the Ping kept: %d bytes, %v", len(p), err)
	}

	go cli.Write(frameBytes(true, OpText, false, []byte("small")))
	if _, p, err := c.ReadMessage(ctx); err != nil || string(p) != "small" {
		t.Fatalf("third message: %q, %v", p, err)
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes charged once the caller read from the connection again, want none", n)
	}
}

// partialFrame is the start of a masked binary frame that announces n
// bytes of payload, with the first of them.
func partialFrame(n int64) []byte {
	b := make([]byte, MaxHeaderSize+1)
	return b[:PutHeader(b, Header{Opcode: OpBinary, Length: n, Masked: true})+1]
}

// TestMemoryBudgetChargesAnnouncedFrame: a frame header that announces a
// large frame, followed by one byte, makes the reader take a 64 KiB
// buffer (preGrow); past the small allowance that buffer is charged, so
// that connections each stopped inside such a frame fill the budget, and
// the one that does not fit is failed with 1013. Uncharged, every
// connection could hold 64 KiB outside the budget, 256 MiB at serve's
// 4096 connections.
func TestMemoryBudgetChargesAnnouncedFrame(t *testing.T) {
	t.Parallel()
	budget := NewMemoryBudget(preGrow)
	url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{MemoryBudget: budget}})

	a, _ := rawClient(t, url)
	if _, err := a.Write(partialFrame(1 << 20)); err != nil {
		t.Fatal(err)
	}
	awaitInUse(t, budget, preGrow-budgetAllowance)

	b, br := rawClient(t, url)
	if _, err := b.Write(partialFrame(1 << 20)); err != nil {
		t.Fatal(err)
	}
	if code, reason := readClose(t, br); code != StatusTryAgainLater {
		t.Fatalf("second client got close %v %q, want 1013", code, reason)
	}
	b.Close()
	if err := recvErr(t, errs); !errors.Is(err, ErrMessageMemory) {
		t.Fatalf("second server connection ended with %v, want ErrMessageMemory", err)
	}
	a.Close()
	recvErr(t, errs)
	awaitEmpty(t, budget, "both connections ended")
}

// historyText is n bytes of text that compresses well, different for
// each seed.
func historyText(seed, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of message %d; ", i, seed)
	}
	return b.Bytes()[:n]
}

// deflateEcho serves an echo with permessage-deflate on budget and
// returns a client that offers it with opts.
func deflateEcho(t *testing.T, budget *MemoryBudget, opts CompressionOptions) (*Conn, <-chan error) {
	t.Helper()
	url, errs := echoServer(t, &AcceptOptions{ConnOptions: ConnOptions{
		MemoryBudget: budget,
		Compression:  CompressionOptions{Enabled: true},
	}})
	opts.Enabled = true
	c, _, err := Dial(testContext(t), url, &DialOptions{ConnOptions: ConnOptions{Compression: opts}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, errs
}

// TestMemoryBudgetChargesDeflateHistory: with permessage-deflate and
// context takeover each way, a connection keeps up to 32 KiB of history
// per direction between messages; that is charged to the budget for as
// long as the connection is open, so that idle connections cannot hold
// it outside the budget (4000 of them held 250 MiB), and given back when
// it closes.
func TestMemoryBudgetChargesDeflateHistory(t *testing.T) {
	t.Parallel()
	budget := NewMemoryBudget(1 << 20)
	c, errs := deflateEcho(t, budget, CompressionOptions{})
	ctx := testContext(t)
	for i := range 3 {
		msg := historyText(i, 20<<10)
		if err := c.WriteMessage(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(ctx); err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("echo %d: %d bytes, %v", i, len(p), err)
		}
	}
	// Once the server reads again, what stays charged is its two
	// histories, full after 60 KiB each way.
	deadline := time.Now().Add(10 * time.Second)
	for budget.InUse() != 2*maxWindow {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes charged between messages, want the two histories' %d", budget.InUse(), 2*maxWindow)
		}
		time.Sleep(time.Millisecond)
	}
	c.Close(StatusNormalClosure, "")
	if err := recvErr(t, errs); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("server connection ended with %v, want a close handshake", err)
	}
	awaitEmpty(t, budget, "the connection closed")
}

// TestMemoryBudgetRefusesReadHistory: a history the peer may refer back
// to that does not fit the budget fails the connection with 1013, as a
// message that does not fit does.
func TestMemoryBudgetRefusesReadHistory(t *testing.T) {
	t.Parallel()
	c, errs := deflateEcho(t, NewMemoryBudget(0), CompressionOptions{})
	ctx := testContext(t)
	if err := c.WriteMessage(ctx, MessageText, historyText(0, 1<<10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(ctx); CloseStatus(err) != StatusTryAgainLater {
		t.Fatalf("client read %v, want close 1013", err)
	}
	if err := recvErr(t, errs); !errors.Is(err, ErrMessageMemory) || !strings.Contains(err.Error(), "history") {
		t.Fatalf("server connection ended with %v, want ErrMessageMemory for the history", err)
	}
}

// TestMemoryBudgetDropsWriteHistory: a history of what this side sent
// that does not fit the budget is dropped, and the next message is
// compressed without it, which the peer reads as well: with the client
// keeping no context (so the server keeps no read history) and a budget
// of 0, echoes of repeating messages, which a kept history would compress
// by referring back, all arrive whole.
func TestMemoryBudgetDropsWriteHistory(t *testing.T) {
	t.Parallel()
	budget := NewMemoryBudget(0)
	c, _ := deflateEcho(t, budget, CompressionOptions{ClientNoContextTakeover: true})
	ctx := testContext(t)
	for i := range 4 {
		msg := historyText(i%2, 1<<10)
		if err := c.WriteMessage(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(ctx); err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("echo %d: %q, %v", i, p, err)
		}
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes charged to a budget of 0", n)
	}
}
