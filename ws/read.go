package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// readChunkSize is the most payload read, unmasked and validated at a
// time; less is taken when less has arrived, so that invalid UTF-8 fails
// the connection before the rest of a frame has arrived.
const readChunkSize = 256 << 10

// The message buffer grows with the data that has arrived, not to the
// length a frame header announces: a peer that announces 16 MiB and sends
// nothing more makes the reader hold preGrow bytes, and one that sends n
// bytes makes it hold at most growFactor*n (so a thousand connections
// each stopped after a header cost 64 MiB, not the 16 GiB announced). A
// frame of up to preGrow bytes, or a buffer from ReadMessageInto that is
// large enough, is read without growing again; a larger one grows
// fourfold each time (a 1 MiB frame in three buffers, 64 KiB, 256 KiB and
// 1 MiB).
const (
	preGrow    = 64 << 10
	growFactor = 4
)

// ReadMessage reads the next data message, answering pings and handling
// close frames on the way (RFC 6455 §5.5). The returned slice belongs to
// the caller: it is allocated for the message and grows as the message
// arrives. ReadMessageInto reads into a buffer the caller reuses instead.
//
// When the connection ends, ReadMessage returns, then and on every later
// call: a *CloseError with the peer's code and reason after a close
// handshake; a *CloseError with StatusAbnormalClosure wrapping io.EOF or
// io.ErrUnexpectedEOF when TCP ended without a close frame; the transport
// error (for example one matching syscall.ECONNRESET) when TCP failed; or
// the violation (matching ErrProtocol, ErrInvalidUTF8 or ErrMessageTooBig)
// for which this side failed the connection, after sending a close frame
// with 1002, 1007 or 1009.
//
// If ctx is done while ReadMessage waits for the first frame of a message,
// it returns ctx.Err() and the connection stays usable; if ctx is done in
// the middle of a message, the connection is closed.
func (c *Conn) ReadMessage(ctx context.Context) (MessageType, []byte, error) {
	return c.readMessageInto(ctx, nil)
}

// ReadMessageInto is ReadMessage reading into buf: the message is
// appended to buf[:0] and the result returned, which shares buf's array
// when the message fits in cap(buf) and is a new, larger array otherwise
// (keep the result for the next call, as with append). Reading into the
// same buffer again overwrites the message. In steady state, with a buffer
// as large as the messages and no compression, a read allocates nothing.
// Errors are those of ReadMessage; the buffer's contents are then
// unspecified.
func (c *Conn) ReadMessageInto(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	if buf == nil {
		buf = []byte{}
	}
	return c.readMessageInto(ctx, buf[:0])
}

// readMessageInto reads the next message into buf, or into a new slice
// when buf is nil.
func (c *Conn) readMessageInto(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	c.readWaiters.Add(1)
	err := c.lock(ctx, c.readLock)
	c.readWaiters.Add(-1)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			// The connection closed while this call waited for the
			// lock: when a read ended it (Close reading the peer's
			// close frame), report how, as the lock's next holder
			// would.
			c.mu.Lock()
			end := c.endErr
			c.mu.Unlock()
			if end != nil {
				return 0, nil, end
			}
		}
		return 0, nil, err
	}
	defer unlock(c.readLock)
	if typ, p, ok := c.nextBuffered(); ok {
		if buf != nil {
			p = append(buf, p...)
		}
		return typ, p, nil
	}
	// The caller reads again: the message it was handed last, and those
	// a Ping kept since, are its no more. A Ping's own reads give
	// nothing back: the caller may still hold a message (an echo writing
	// it to a peer that does not read, while the keepalive pings).
	c.mem.giveKept(&c.memKept)
	if c.rerr != nil {
		return 0, nil, c.rerr
	}
	c.watchRead(ctx)
	return c.readMessage(ctx, buf)
}

// readMessage reads frames until a whole data message has arrived,
// appending it to buf (a new slice when buf is nil). It is called with
// readLock held.
func (c *Conn) readMessage(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	c.reads++
	if err := c.awaitData(); err != nil {
		if ctxErr := ctxDone(ctx); ctxErr != nil && isTimeout(err) {
			return 0, nil, ctxErr
		}
		return c.endRead(ctx, err)
	}
	c.reader()
	// The defer sits here, in a function with few returns, so that it
	// is compiled inline (open-coded) rather than as a deferred call,
	// which costs a few dozen nanoseconds per message.
	defer c.releaseReader()
	return c.readFrames(ctx, buf)
}

// readFrames is readMessage once the buffered reader is in place.
func (c *Conn) readFrames(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	var (
		typ    MessageType
		msg    []byte
		inMsg  bool
		frames int
		valid  utf8Validator
		// compressed is set when the message's first frame has RSV1
		// (RFC 7692 §6).
		compressed bool
	)
	for {
		c.hookReads()
		h, err := c.readHeader()
		if err != nil {
			if ctxErr := ctxDone(ctx); !inMsg && ctxErr != nil && isTimeout(err) {
				// Nothing of the next frame has been consumed.
				return 0, nil, ctxErr
			}
			return c.endRead(ctx, err)
		}
		if err := c.checkFrame(h); err != nil {
			return c.endRead(ctx, err)
		}
		if h.Opcode.IsControl() {
			p := c.ctrl[:h.Length]
			if err := c.readPayload(h, p); err != nil {
				return c.endRead(ctx, err)
			}
			if err := c.handleControl(h, p); err != nil {
				return c.endRead(ctx, err)
			}
			if h.Opcode == OpPong && !inMsg && c.pingReading {
				return 0, nil, errPongRead
			}
			continue
		}
		switch {
		case h.Opcode == OpContinuation && !inMsg:
			return c.endRead(ctx, ErrUnexpectedContinuation)
		case h.Opcode != OpContinuation && inMsg:
			return c.endRead(ctx, ErrExpectedContinuation)
		}
		if !inMsg {
			typ, inMsg = MessageType(h.Opcode), true
			msg = buf
			if msg == nil {
				msg = []byte{}
			}
			compressed = h.Rsv&Rsv1 != 0
		}
		if compressed {
			frames++
			if msg, err = c.readCompressed(h, msg, typ); err != nil {
				return c.endRead(ctx, err)
			}
			if !h.Fin {
				continue
			}
			c.mem.handOver(&c.memKept)
			if c.cfg.tracer.Enabled() {
				c.traceMessage(trace.In, typ, msg, frames)
			}
			return typ, msg, nil
		}
		if max := c.cfg.maxMessage; max > 0 && h.Length > max-int64(len(msg)) {
			return c.endRead(ctx, fmt.Errorf("%w: more than %d bytes", ErrMessageTooBig, max))
		}
		var v *utf8Validator
		if typ == MessageText {
			v = &valid
		}
		if msg, err = c.readData(h, msg, v, &c.mem.msgCap); err != nil {
			return c.endRead(ctx, err)
		}
		frames++
		if !h.Fin {
			continue
		}
		if v != nil && !v.complete() {
			return c.endRead(ctx, fmt.Errorf("%w: text message ends inside a code point", ErrInvalidUTF8))
		}
		c.mem.handOver(&c.memKept)
		if c.cfg.tracer.Enabled() {
			c.traceMessage(trace.In, typ, msg, frames)
		}
		return typ, msg, nil
	}
}

// wireOffset is the offset on the wire of the frame header at roff, or
// false when the frame filter traced the frame as it arrived.
func (c *Conn) wireOffset() (int64, bool) {
	if c.rfilter == nil {
		return c.roff, true
	}
	return c.rfilter.wireOf(c.roff)
}

// readHeader reads and decodes one frame header from the buffered stream.
// Nothing is consumed unless the whole header has arrived.
func (c *Conn) readHeader() (Header, error) {
	b, err := c.br.Peek(MinHeaderSize)
	if err != nil {
		if len(b) > 0 {
			err = noEOF(err)
		}
		return Header{}, err
	}
	n := RawHeader(b).Size()
	if b, err = c.br.Peek(n); err != nil {
		return Header{}, noEOF(err)
	}
	h, _, err := ParseHeader(b)
	if err != nil {
		return Header{}, err
	}
	c.br.Discard(n)
	if c.cfg.tracer.Enabled() {
		if off, ok := c.wireOffset(); ok {
			c.traceFrame(trace.In, h, off, n)
		}
	}
	c.roff += int64(n)
	if !h.Opcode.IsControl() && c.rfilter == nil {
		c.rbytes.Add(int64(n))
	}
	return h, nil
}

// checkFrame applies the framing rules that do not depend on the state of
// the message (RFC 6455 §5.1, §5.2, §5.5).
func (c *Conn) checkFrame(h Header) error {
	if c.cfg.deflate != nil && h.Rsv&Rsv1 != 0 {
		// RFC 7692 §6.1: RSV1 marks the first frame of a compressed
		// message, and nothing else.
		if h.Opcode.IsControl() || h.Opcode == OpContinuation {
			return ErrCompressedControl
		}
		h.Rsv &^= Rsv1
	}
	if err := h.Validate(); err != nil {
		if errors.Is(err, ErrUnknownOpcode) {
			return fmt.Errorf("%w 0x%x", err, byte(h.Opcode))
		}
		return err
	}
	if !c.client && !h.Masked {
		return ErrUnmaskedFrame
	}
	if c.client && h.Masked {
		return ErrMaskedFrame
	}
	return nil
}

// readPayload reads a control frame's payload into p (len(p) == h.Length)
// and unmasks it.
func (c *Conn) readPayload(h Header, p []byte) error {
	if _, err := io.ReadFull(c.br, p); err != nil {
		return noEOF(err)
	}
	c.roff += h.Length
	if h.Masked {
		Mask(h.Mask, 0, p)
		if c.cfg.tracer.Enabled() {
			c.traceUnmask(h)
		}
	}
	return nil
}

// readData appends a data frame's payload to msg, unmasking it and, for
// text, checking UTF-8 as it goes. The buffer grows with the data that
// has arrived (preGrow, growFactor), each growth charged to the memory
// budget before it is allocated (owned is the capacity of msg when this
// connection allocated it, budget.go); reads take what has arrived, up to
// readChunkSize at a time, straight into it.
func (c *Conn) readData(h Header, msg []byte, v *utf8Validator, owned *int64) ([]byte, error) {
	pos := 0
	left := h.Length
	for left > 0 {
		if len(msg) == cap(msg) {
			most := max(int64(preGrow), int64(growFactor-1)*int64(len(msg)))
			ahead := int(min(left, most))
			if !h.Fin {
				// More frames follow, of lengths not known yet: grow
				// by half at least, so that a message in small
				// fragments is not copied once per fragment.
				ahead = int(min(max(left, int64(len(msg)/2)), most))
			}
			if err := c.mem.reserve(owned, len(msg)+ahead); err != nil {
				return msg, err
			}
			// Exactly what was charged: slices.Grow rounds a growth
			// to at most twice the buffer up in append's steps (8 MiB
			// after 4 MiB would take 9.8 MiB).
			grown := make([]byte, len(msg), len(msg)+ahead)
			copy(grown, msg)
			msg = grown
		}
		start := len(msg)
		n := int(min(left, int64(cap(msg)-start), readChunkSize))
		// Take what has arrived rather than waiting for n bytes, so that
		// an invalid byte fails the connection before the rest of the
		// frame arrives (fail fast, RFC 6455 §8.1).
		n, err := c.br.Read(msg[start : start+n])
		msg = msg[:start+n]
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return msg, noEOF(err)
		}
		chunk := msg[start:]
		c.roff += int64(n)
		if c.rfilter == nil {
			c.rbytes.Add(int64(n))
		}
		left -= int64(n)
		if h.Masked {
			pos = Mask(h.Mask, pos, chunk)
		}
		if v != nil {
			if i := v.write(chunk); i >= 0 {
				return msg, fmt.Errorf("%w in text message at byte %d", ErrInvalidUTF8, start+i)
			}
		}
	}
	if h.Masked && c.cfg.tracer.Enabled() {
		c.traceUnmask(h)
	}
	return msg, nil
}

func (c *Conn) traceUnmask(h Header) {
	c.emit(trace.In, "unmask",
		"unmask len="+strconv.FormatInt(h.Length, 10)+" key="+fmt.Sprintf("%x", h.Mask[:]),
		(&trace.WSUnmask{Len: h.Length, Key: fmt.Sprintf("%x", h.Mask[:])}).Fields()...)
}

// handleControl acts on a ping, pong or close frame whose payload is p.
func (c *Conn) handleControl(h Header, p []byte) error {
	switch h.Opcode {
	case OpPing:
		// RFC 6455 §5.5.3: answer with a pong carrying the same payload,
		// unless a close frame has already been sent.
		err := c.writeControl(context.Background(), OpPong, p)
		if err != nil && !errors.Is(err, ErrCloseSent) {
			return err
		}
	case OpPong:
		c.mu.Lock()
		waiters := c.pings[string(p)]
		delete(c.pings, string(p))
		c.mu.Unlock()
		for _, ch := range waiters {
			close(ch)
		}
	case OpClose:
		return c.handleClose(p)
	}
	return nil
}

// endRead ends the read side with err, doing what err calls for on the
// wire, and records the error every later read returns.
func (c *Conn) endRead(ctx context.Context, err error) (MessageType, []byte, error) {
	// The message being read, if any, is dropped: its memory goes back
	// to the budget before the close handshake waits on the peer.
	c.mem.release()
	if c.cfg.deflate != nil {
		c.cfg.deflate.zbuf = nil
	}
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		c.finishClose()
	case closeCodeFor(err) != 0:
		c.fail(closeCodeFor(err), err)
	case c.keepAliveFailed.Load():
		// The keepalive failed the connection (keepalive.go).
		err = ErrKeepAliveTimeout
		c.closeTCP()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		// RFC 6455 §7.1.5: TCP closed without a close frame.
		err = &CloseError{Code: StatusAbnormalClosure, err: err}
		c.emit(trace.In, "close", "tcp closed without a close frame (1006)")
		c.closeTCP()
	default:
		c.traceReadFailed(err)
		if ctxErr := ctxDone(ctx); ctxErr != nil && isTimeout(err) {
			err = fmt.Errorf("%w (in the middle of a message)", ctxErr)
		}
		err = fmt.Errorf("ws: read: %w", err)
		c.mu.Lock()
		gaveUp := c.closeGaveUp
		c.mu.Unlock()
		if gaveUp {
			// Close ended TCP under this read, the peer having sent
			// no close frame back in time: that is how it ended, not
			// the closed transport.
			err = fmt.Errorf("%w (%w)", ErrCloseTimeout, err)
		}
		c.closeTCP()
	}
	c.rerr = err
	c.mu.Lock()
	c.endErr = err
	c.mu.Unlock()
	c.readDoneOnce.Do(func() { close(c.readDone) })
	c.releaseReader()
	return 0, nil, err
}

// traceReadFailed records why the read side ended when the transport
// failed under it: without this a peer's reset (RFC 6455 §7.1.5 has no
// close code for it) shows in the trace only as this side's own "tcp
// closed", which reads as if this side had hung up.
func (c *Conn) traceReadFailed(err error) {
	if !c.cfg.tracer.Enabled() {
		return
	}
	if c.isClosed() || errors.Is(err, net.ErrClosed) {
		return // this side closed TCP, and the trace says so already
	}
	what := "read failed: " + err.Error()
	if errors.Is(err, syscall.ECONNRESET) {
		what = "tcp reset by the peer (ECONNRESET)"
	}
	c.emit(trace.In, "close", what)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ctxDone is ctx.Err(), also reporting the deadline as passed when the
// I/O deadline it set has fired a moment before ctx's own timer.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
