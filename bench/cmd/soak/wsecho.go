package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// env is what every traffic worker shares.
type env struct {
	stats  *stats
	phases *phases
	// idle: serve closes idle connections, so an abrupt close may go
	// from a lossy address (a lost RST leaves a half-open connection on
	// serve's side until then).
	idle bool
	// slowBacklog is how many bytes the slow /chat member lets pile up
	// before it reads again (see chat.go); only the chat worker uses it.
	slowBacklog int64
	// slowKept is the most bytes that piled up in one pause of the slow
	// member without serve dropping it: slowBacklog never falls back to
	// it, or a run of drops too late to read the 1008 would make the
	// pauses too short for any drop at all.
	slowKept int64
	// ioWait is the deadline of a tracked connection's reads and writes:
	// longer than the stall check gives a connection in TCP's
	// retransmission backoff (the stall limit and then the backoff
	// limit), so that the check, which knows whether TCP backs off,
	// decides when a connection without progress has failed; the
	// deadline only ends a worker that would otherwise wait for ever.
	ioWait time.Duration
}

var (
	httpURL = "http://" + stackAddr.String() + ":8080"
	wsURL   = "ws://" + stackAddr.String() + ":8080"
)

// dialer dials from the kernel-side address src.
func dialer(src netip.Addr) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
}

func wsDialer(src netip.Addr, compress bool) *websocket.Dialer {
	return &websocket.Dialer{
		NetDialContext:    dialer(src).DialContext,
		HandshakeTimeout:  10 * time.Second,
		EnableCompression: compress,
		ReadBufferSize:    16 << 10,
		WriteBufferSize:   16 << 10,
	}
}

// isReset says whether err is the end of a connection by a reset: what an
// injected RST looks like from the kernel side (a read sees ECONNRESET, a
// write EPIPE, a WebSocket reader an abnormal closure when the reset came
// after a FIN). gorilla reports a compressed write that failed on a reset
// connection as "unexpected bytes at end of flate stream": its flate
// writer's Close checks the stream's tail before it returns the write's
// error.
func isReset(err error) bool {
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure {
		return true
	}
	if err != nil && strings.HasSuffix(err.Error(), "unexpected bytes at end of flate stream") {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// connEnded accounts for a connection that ended with err: a reset on a
// connection from the RST address is the injected fault (a note, with
// inFlight messages that were on their way); anything else is a failure.
func (e *env) connEnded(kind string, src netip.Addr, err error, inFlight int, detail string) {
	if src == rstAddr && isReset(err) {
		e.stats.note(kind, "reset by injected RST")
		if inFlight > 0 {
			e.stats.byKind[kind].mu.Lock()
			e.stats.byKind[kind].notes["in flight at injected RST"] += uint64(inFlight)
			e.stats.byKind[kind].mu.Unlock()
		}
		return
	}
	e.stats.fail(kind, reason(err), detail+": "+err.Error())
}

// reason names the kind of an error for the summary.
func reason(err error) string {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d", ce.Code)
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	}
	return "error"
}

// An echo message carries its sequence number and a checksum of the rest:
// seq (8 bytes), crc32 (4), payload. Text messages carry the same as
// "seq crc payload" in decimal and hex, with non-ASCII text in the payload.
const msgHeader = 12

type sentMsg struct {
	seq  uint64
	text bool
	n    int
}

var textRunes = []rune("abcdefghijklmnopqrstuvwxyz0123456789 éßøΩжञ日本語🙂")

func makeMsg(rng *rand.Rand, seq uint64, text bool, size int) []byte {
	if text {
		rs := make([]rune, size/3+1)
		for i := range rs {
			rs[i] = textRunes[rng.IntN(len(textRunes))]
		}
		p := string(rs)
		return []byte(fmt.Sprintf("%d %08x %s", seq, crc32.ChecksumIEEE([]byte(p)), p))
	}
	b := make([]byte, msgHeader+size)
	binary.BigEndian.PutUint64(b, seq)
	fill(rng, b[msgHeader:])
	binary.BigEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[msgHeader:]))
	return b
}

// fill fills b with random bytes.
func fill(rng *rand.Rand, b []byte) {
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
}

// checkMsg returns the sequence number of an echo message, or an error if
// it does not hold together.
func checkMsg(b []byte, text bool) (uint64, error) {
	if text {
		var seq uint64
		var crc uint32
		n, err := fmt.Sscanf(string(b), "%d %08x ", &seq, &crc)
		if n != 2 || err != nil {
			return 0, fmt.Errorf("malformed text message (%d bytes)", len(b))
		}
		i := 0
		for sp := 0; i < len(b) && sp < 2; i++ {
			if b[i] == ' ' {
				sp++
			}
		}
		if crc32.ChecksumIEEE(b[i:]) != crc {
			return seq, errors.New("checksum mismatch")
		}
		return seq, nil
	}
	if len(b) < msgHeader {
		return 0, fmt.Errorf("short message (%d bytes)", len(b))
	}
	seq := binary.BigEndian.Uint64(b)
	if crc32.ChecksumIEEE(b[msgHeader:]) != binary.BigEndian.Uint32(b[8:]) {
		return seq, errors.New("checksum mismatch")
	}
	return seq, nil
}

// msgSize is mostly small, sometimes large: the sizes a WebSocket length
// field encodes in 7, 16 and 64 bits.
func msgSize(rng *rand.Rand) int {
	switch r := rng.IntN(100); {
	case r < 60:
		return rng.IntN(126)
	case r < 95:
		return 126 + rng.IntN(8<<10)
	default:
		return 64<<10 + rng.IntN(192<<10)
	}
}

// wsEcho runs echo sessions until ctx ends: each on the fault set in force
// when it starts, until the set changes or maxMsgs are echoed; one in six
// from the RST address.
func (e *env) wsEcho(ctx context.Context, rng *rand.Rand, compress bool) {
	for ctx.Err() == nil {
		fs := e.phases.current()
		src := fs.addr
		if rng.IntN(6) == 0 {
			src = rstAddr
		}
		e.wsEchoSession(ctx, rng, src, compress, fs.name, 200+rng.IntN(400))
	}
}

func (e *env) wsEchoSession(ctx context.Context, rng *rand.Rand, src netip.Addr, compress bool, phase string, maxMsgs int) {
	c, _, err := wsDialer(src, compress).DialContext(ctx, wsURL+"/echo", nil)
	if err != nil {
		if !stopping(ctx) {
			e.connEnded(kindWSEcho, src, err, 0, "dial from "+src.String())
		}
		return
	}
	detail := fmt.Sprintf("/echo from %v (faults: %s, compress %v)", c.LocalAddr(), phase, compress)
	t := e.stats.track(kindWSEcho, detail, c.LocalAddr().String())
	defer t.done()
	defer c.Close()

	const window = 8
	sent := make(chan sentMsg, window)
	slots := make(chan struct{}, window)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	writeErr := make(chan error, 1)
	go func() {
		defer close(sent)
		for seq := uint64(0); seq < uint64(maxMsgs); seq++ {
			if e.phases.current().name != phase && src != rstAddr {
				break
			}
			select {
			case slots <- struct{}{}:
			case <-sctx.Done():
				return
			}
			text := wrng.IntN(4) == 0
			m := makeMsg(wrng, seq, text, msgSize(wrng))
			typ := websocket.BinaryMessage
			if text {
				typ = websocket.TextMessage
			}
			t.waiting(true)
			c.SetWriteDeadline(time.Now().Add(e.ioWait))
			if err := c.WriteMessage(typ, m); err != nil {
				writeErr <- err
				return
			}
			select {
			case sent <- sentMsg{seq: seq, text: text, n: len(m)}:
			case <-sctx.Done():
				return
			}
		}
	}()

	inFlight := 0
	for want := range sent {
		inFlight = len(slots)
		c.SetReadDeadline(time.Now().Add(e.ioWait))
		typ, b, err := c.ReadMessage()
		if err != nil {
			e.connEnded(kindWSEcho, src, err, inFlight, detail)
			return
		}
		seq, cerr := checkMsg(b, typ == websocket.TextMessage)
		switch {
		case cerr != nil:
			e.stats.fail(kindWSEcho, "corrupt", fmt.Sprintf("%s: message %d: %v", detail, want.seq, cerr))
			return
		case (typ == websocket.TextMessage) != want.text:
			e.stats.fail(kindWSEcho, "wrong type", fmt.Sprintf("%s: message %d", detail, want.seq))
			return
		case seq < want.seq:
			e.stats.fail(kindWSEcho, "duplicated", fmt.Sprintf("%s: got %d again, wanted %d", detail, seq, want.seq))
			return
		case seq > want.seq:
			e.stats.fail(kindWSEcho, "lost or reordered", fmt.Sprintf("%s: got %d, wanted %d", detail, seq, want.seq))
			return
		case len(b) != want.n:
			e.stats.fail(kindWSEcho, "wrong length", fmt.Sprintf("%s: message %d: %d bytes, sent %d", detail, seq, len(b), want.n))
			return
		}
		e.stats.op(kindWSEcho, len(b))
		t.progress()
		<-slots
		if len(slots) == 0 {
			t.waiting(false)
		}
	}
	select {
	case err := <-writeErr:
		e.connEnded(kindWSEcho, src, err, 0, detail+": write")
		return
	default:
	}
	if ctx.Err() != nil && len(slots) > 0 {
		return // stopped between a write and its echo
	}
	e.closeHandshake(kindWSEcho, c, src, t, detail)
}

// closeHandshake closes a WebSocket cleanly (1000) and waits for the
// server's close frame.
func (e *env) closeHandshake(kind string, c *websocket.Conn, src netip.Addr, t *tracker, detail string) {
	if t != nil {
		t.waiting(true)
	}
	err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(10*time.Second))
	if err != nil {
		e.connEnded(kind, src, err, 0, detail+": close")
		return
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // a chat broadcast still on its way
		}
		if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			return
		}
		e.connEnded(kind, src, err, 0, detail+": close handshake")
		return
	}
}

// nudgeGC echoes 1 MiB messages from the fault-free address until serve
// has collected n more times (at most 200 messages), so that the live heap
// after its last collection is current.
func (e *env) nudgeGC(srv *serveProc, n int) {
	_, start, _ := srv.heap()
	c, _, err := wsDialer(hostAddr, false).Dial(wsURL+"/echo", nil)
	if err != nil {
		return
	}
	defer c.Close()
	msg := make([]byte, 1<<20)
	for i := 0; i < 200; i++ {
		if _, gcs, _ := srv.heap(); gcs >= start+n {
			break
		}
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if c.WriteMessage(websocket.BinaryMessage, msg) != nil {
			return
		}
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(5*time.Second))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.ReadMessage()
	// The gctrace line of the last collection may still be on its way.
	time.Sleep(200 * time.Millisecond)
}
