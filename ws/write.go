package ws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/glassnet/glassnet/trace"
)

// WriteMessage sends p as one message in a single frame.
func (c *Conn) WriteMessage(ctx context.Context, typ MessageType, p []byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	if err := c.lock(ctx, c.msgLock); err != nil {
		return err
	}
	defer unlock(c.msgLock)
	return c.writeOne(ctx, typ, p)
}

// WriteFragmented sends one message made of one frame per part (RFC 6455
// §5.4). With no parts it sends an empty message.
func (c *Conn) WriteFragmented(ctx context.Context, typ MessageType, parts ...[]byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	if len(parts) == 0 {
		return c.WriteMessage(ctx, typ, nil)
	}
	if err := c.lock(ctx, c.msgLock); err != nil {
		return err
	}
	defer unlock(c.msgLock)
	if c.cfg.tracer.Enabled() {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		c.emit(trace.Out, "message", fmt.Sprintf("message %v (%d bytes, %d frames)", typ, n, len(parts)),
			(&trace.WSMessage{Type: typ.String(), Len: n, Fragments: len(parts)}).Fields()...)
	}
	op := Opcode(typ)
	if n := 0; c.cfg.deflate != nil {
		for _, p := range parts {
			n += len(p)
		}
		if c.compresses(n) {
			return c.writeCompressed(ctx, op, parts...)
		}
	}
	for i, p := range parts {
		if err := c.writeFrame(ctx, i == len(parts)-1, op, p); err != nil {
			return err
		}
		op = OpContinuation
	}
	return nil
}

// Writer returns a writer for one fragmented message: each Write with a
// non-empty p sends one frame, and Close sends the final frame (empty, with
// FIN set). Until Close, other data messages wait; control frames do not.
// The writer must be closed.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (*MessageWriter, error) {
	if err := checkMessageType(typ); err != nil {
		return nil, err
	}
	if err := c.lock(ctx, c.msgLock); err != nil {
		return nil, err
	}
	w := &MessageWriter{c: c, ctx: ctx, typ: typ, op: Opcode(typ)}
	if c.cfg.deflate != nil {
		// The size is not known in advance: compress regardless of the
		// threshold.
		w.z = c.cfg.deflate.compressor()
	}
	return w, nil
}

// MessageWriter writes one message a frame at a time. See Conn.Writer.
type MessageWriter struct {
	c      *Conn
	ctx    context.Context
	typ    MessageType
	op     Opcode // of the next frame
	frames int
	n      int
	done   bool
	z      *msgCompressor // when the message is compressed
}

// Write sends p as one non-final frame of the message.
func (w *MessageWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("ws: write to closed message writer")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.writeFrame(false, p); err != nil {
		return 0, err
	}
	w.op = OpContinuation
	w.frames++
	w.n += len(p)
	return len(p), nil
}

// Close sends the final frame of the message and lets the next message go.
func (w *MessageWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	defer unlock(w.c.msgLock)
	if w.z != nil {
		defer w.z.done()
	}
	if err := w.writeFrame(true, nil); err != nil {
		return err
	}
	w.frames++
	if w.c.cfg.tracer.Enabled() {
		w.c.emit(trace.Out, "message", fmt.Sprintf("message %v (%d bytes, %d frames)", w.typ, w.n, w.frames),
			(&trace.WSMessage{Type: w.typ.String(), Len: w.n, Fragments: w.frames}).Fields()...)
	}
	return nil
}

// writeFrame sends p as the next frame of the message, compressed when
// the message is.
func (w *MessageWriter) writeFrame(fin bool, p []byte) error {
	if w.z == nil {
		return w.c.writeFrame(w.ctx, fin, w.op, p)
	}
	z, err := w.z.part(p, fin)
	if err != nil {
		return err
	}
	var rsv byte
	if w.frames == 0 {
		rsv = Rsv1
	}
	if err := w.c.writeFrameRsv(w.ctx, fin, rsv, w.op, z); err != nil {
		return err
	}
	w.z.commit(p)
	return nil
}

func checkMessageType(typ MessageType) error {
	if typ != MessageText && typ != MessageBinary {
		return fmt.Errorf("ws: invalid message type %d", int(typ))
	}
	return nil
}

// writeControl sends one control frame.
func (c *Conn) writeControl(ctx context.Context, op Opcode, p []byte) error {
	if len(p) > MaxControlPayload {
		return ErrControlTooLong
	}
	return c.writeFrame(ctx, true, op, p)
}

// writeFrame sends one frame, through the frame hook when one is installed.
func (c *Conn) writeFrame(ctx context.Context, fin bool, op Opcode, p []byte) error {
	return c.writeFrameRsv(ctx, fin, 0, op, p)
}

// writeFrameRsv is writeFrame with reserved bits (RSV1 on the first frame
// of a compressed message).
func (c *Conn) writeFrameRsv(ctx context.Context, fin bool, rsv byte, op Opcode, p []byte) error {
	h := Header{Fin: fin, Rsv: rsv, Opcode: op}
	if hs := c.frameHook.Load(); hs != nil {
		return c.writeHooked(ctx, hs.h, h, p)
	}
	return c.writeRaw(ctx, h, p)
}

// writeRaw sends one frame with h's FIN, RSV and opcode under writeLock,
// in one write when it fits a pooled buffer (see writeFrameTo). p is
// never modified.
func (c *Conn) writeRaw(ctx context.Context, h Header, p []byte) error {
	op := h.Opcode
	if err := c.lock(ctx, c.writeLock); err != nil {
		return err
	}
	defer unlock(c.writeLock)
	if err := c.beginWriteLocked(ctx, op == OpClose); err != nil {
		return err
	}

	h.Length = int64(len(p))
	h.Masked, h.Mask = c.client, [4]byte{}
	if c.client {
		h.Mask = c.keys.next()
	}
	if c.cfg.tracer.Enabled() {
		c.traceFrame(trace.Out, h, c.woff, h.Size())
	}
	w := c.out(len(p))
	var err error
	if op.IsControl() && op != OpClose {
		var n int
		n, err = writeSmallFrame(w, h, p)
		if ctxErr := ctxDone(ctx); err != nil && n == 0 && ctxErr != nil {
			// The context ended before the transport took a byte of
			// the frame (a ping behind a full send buffer): the stream
			// is whole, and the connection goes on without the frame.
			err = fmt.Errorf("ws: write %v frame: %w (%w)", op, ctxErr, err)
			if c.cfg.tracer.Enabled() {
				c.emit(trace.Out, "drop", fmt.Sprintf("%v frame not sent (%d bytes): %v", op, len(p), err),
					(&trace.WSDrop{Reason: DropNotSent, Len: len(p)}).Fields()...)
			}
			return err
		}
	} else {
		err = writeFrameTo(w, h, p)
	}
	c.woff += int64(h.Size()) + h.Length
	if _, pieces := w.(progressWriter); err == nil && !pieces && !op.IsControl() {
		c.wprog.Add(int64(h.Size()) + h.Length)
	}
	if err != nil {
		if ctxErr := ctxDone(ctx); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		// The frame may be half written: the stream cannot be trusted.
		return c.failWrite(fmt.Errorf("ws: write %v frame: %w", op, err))
	}
	return nil
}

// failWrite ends the connection after a write failed with err: a frame
// may be half written, so nothing more can follow it on the stream. A
// write that timed out left the peer's share in the send buffer, and the
// connection is reset (abortTCP). It
// records err for every later write and returns it. The trace says why
// TCP is closed, since "tcp closed" alone reads as an orderly end, and a
// peer that stopped reading shows only here, as a write that timed out.
// writeLock is held. A write cut short because the keepalive failed the
// connection under it (a peer that stopped reading holds both the write
// and the ping behind it) says so, as the read side does.
func (c *Conn) failWrite(err error) error {
	if c.keepAliveFailed.Load() && errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("%w (%w)", ErrKeepAliveTimeout, err)
	}
	c.werr = err
	if c.cfg.tracer.Enabled() && !c.isClosed() && !errors.Is(err, net.ErrClosed) {
		c.emit(trace.Out, "close", "write failed, closing tcp: "+err.Error())
	}
	c.closeAfter(err)
	return err
}

// beginWriteLocked checks, under writeLock, that a frame may still be
// written (no earlier write failed, no close frame sent; closing marks this
// one as the close frame) and binds ctx to the write deadline.
func (c *Conn) beginWriteLocked(ctx context.Context, closing bool) error {
	if c.werr != nil {
		return c.werr
	}
	c.mu.Lock()
	sent := c.closeSent
	if closing {
		c.closeSent = true
	}
	c.mu.Unlock()
	if sent {
		if c.keepAliveFailed.Load() {
			// The keepalive's close frame: say why it was sent.
			return fmt.Errorf("%w (%w)", ErrKeepAliveTimeout, ErrCloseSent)
		}
		return ErrCloseSent
	}
	c.watchWrite(ctx)
	return nil
}

// putFrame encodes the frame h with payload p, masked if h says so, into
// b, which must be h.Size()+len(p) bytes long.
func putFrame(b []byte, h Header, p []byte) {
	hlen := PutHeader(b, h)
	copy(b[hlen:], p)
	if h.Masked {
		Mask(h.Mask, 0, b[hlen:])
	}
}

// writeFrameTo writes the frame h (with h.Length == len(p)) to w. A frame
// that fits writeBufSize is copied into a pooled buffer and goes out in
// one write. A larger unmasked frame goes out from p: header and payload
// in one writev on a *net.TCPConn, otherwise the header with the start of
// the payload, then the rest. A larger masked frame is masked into a
// pooled buffer a piece at a time.
func writeFrameTo(w io.Writer, h Header, p []byte) error {
	hlen := h.Size()
	if hlen+len(p) <= writeBufSize {
		_, err := writeSmallFrame(w, h, p)
		return err
	}
	if !h.Masked {
		wb := writeBufs.Get().(*writeBuf)
		defer writeBufs.Put(wb)
		if _, ok := w.(*net.TCPConn); ok {
			wb.vec[0] = wb.b[:PutHeader(wb.b, h)]
			wb.vec[1] = p
			wb.bufs = wb.vec[:]
			_, err := wb.bufs.WriteTo(w)
			wb.vec, wb.bufs = [2][]byte{}, nil
			return err
		}
		b := wb.b[:writeBufSize]
		PutHeader(b, h)
		k := copy(b[hlen:], p)
		if _, err := w.Write(b); err != nil {
			return err
		}
		_, err := w.Write(p[k:])
		return err
	}
	wb := bigWriteBufs.Get().(*writeBuf)
	defer bigWriteBufs.Put(wb)
	b := wb.b[:PutHeader(wb.b, h)]
	pos := 0
	for len(p) > 0 {
		start := len(b)
		k := copy(wb.b[start:], p)
		b = wb.b[:start+k]
		pos = Mask(h.Mask, pos, b[start:])
		if _, err := w.Write(b); err != nil {
			return err
		}
		p = p[k:]
		b = wb.b[:0]
	}
	return nil
}

// writeSmallFrame is writeFrameTo for a frame that fits writeBufSize. Its
// defer, apart from writeFrameTo's, is compiled inline (open-coded): in a
// function with as many returns and defers as writeFrameTo it would be a
// deferred call, a few dozen nanoseconds more per message.
func writeSmallFrame(w io.Writer, h Header, p []byte) (int, error) {
	wb := writeBufs.Get().(*writeBuf)
	defer writeBufs.Put(wb)
	b := wb.b[:h.Size()+len(p)]
	putFrame(b, h, p)
	return w.Write(b)
}
