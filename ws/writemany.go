package ws

import (
	"context"
	"fmt"

	"github.com/glassnet/glassnet/trace"
)

// WriteMessages sends each of msgs as a message of its own, in order, each
// in a single frame: the frames WriteMessage would send for each, in fewer
// writes to the transport. Messages whose frames fit an 8 KiB buffer (the
// one a single small message takes) together go out in one write, so a
// writer that has fallen behind, such as a broadcast's, catches up in a
// few system calls and packets instead of one per message. A message that is compressed, or any message while a
// frame hook is installed, goes out on its own, as WriteMessage sends it.
// Other data messages wait until all of msgs are written; control frames
// may go out between the writes.
func (c *Conn) WriteMessages(ctx context.Context, typ MessageType, msgs ...[]byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	if err := c.lock(ctx, c.msgLock); err != nil {
		return err
	}
	defer unlock(c.msgLock)
	for len(msgs) > 0 {
		n := c.together(msgs)
		if n < 2 {
			if err := c.writeOne(ctx, typ, msgs[0]); err != nil {
				return err
			}
			msgs = msgs[1:]
			continue
		}
		if err := c.writeTogether(ctx, typ, msgs[:n]); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// writeOne is WriteMessage under msgLock. Egress events come in the order
// of the path: message, then frame, then the socket send and the packets.
func (c *Conn) writeOne(ctx context.Context, typ MessageType, p []byte) error {
	if c.cfg.tracer.Enabled() {
		c.traceMessage(trace.Out, typ, p, 1)
	}
	if c.compresses(len(p)) {
		return c.writeCompressed(ctx, Opcode(typ), p)
	}
	return c.writeFrame(ctx, true, Opcode(typ), p)
}

// together is how many of msgs, from the first, can go out in one write:
// none is compressed, no frame hook is installed, and their frames fit
// writeBufSize, so that a write that waits for the peer holds no more
// memory than WriteMessage's of one small frame.
func (c *Conn) together(msgs [][]byte) int {
	if c.frameHook.Load() != nil {
		return 0
	}
	size := 0
	for i, p := range msgs {
		if c.compresses(len(p)) {
			return i
		}
		size += Header{Length: int64(len(p)), Masked: c.client}.Size() + len(p)
		if size > writeBufSize {
			return i
		}
	}
	return len(msgs)
}

// writeTogether writes msgs, which together passes, as one frame each, in
// one write.
func (c *Conn) writeTogether(ctx context.Context, typ MessageType, msgs [][]byte) error {
	if err := c.lock(ctx, c.writeLock); err != nil {
		return err
	}
	defer unlock(c.writeLock)
	if err := c.beginWriteLocked(ctx, false); err != nil {
		return err
	}
	wb := writeBufs.Get().(*writeBuf)
	defer writeBufs.Put(wb)
	b := wb.b[:0]
	traced := c.cfg.tracer.Enabled()
	for _, p := range msgs {
		h := Header{Fin: true, Opcode: Opcode(typ), Length: int64(len(p)), Masked: c.client}
		if c.client {
			h.Mask = c.keys.next()
		}
		if traced {
			c.traceMessage(trace.Out, typ, p, 1)
			c.traceFrame(trace.Out, h, c.woff, h.Size())
		}
		start := len(b)
		b = b[:start+h.Size()+len(p)]
		putFrame(b[start:], h, p)
		c.woff += int64(h.Size()) + h.Length
	}
	n, err := c.nc.Write(b)
	c.wprog.Add(int64(n))
	if err != nil {
		if ctxErr := ctxDone(ctx); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return c.failWrite(fmt.Errorf("ws: write %d %v messages: %w", len(msgs), typ, err))
	}
	return nil
}
