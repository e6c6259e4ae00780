package ws

import (
	"context"
	"fmt"
)

// Send hands a message to the drain goroutine only when it cannot be
// written at once. When nothing is queued or being written, the frame fits
// a pooled write buffer and the transport can take a write without waiting
// (a *net.TCPConn: one nonblocking write through its syscall.RawConn), Send
// writes it on the caller's goroutine: a message that the kernel's send
// buffer takes whole costs no goroutine, no wake-up and no copy into the
// queue. What the buffer does not take goes out from a goroutine, as
// queued messages do, ahead of anything queued meanwhile.

// canSendNow reports whether Send may try to write a message of n bytes on
// the caller's goroutine: the transport can take a write without waiting,
// the frame fits a pooled buffer, and no frame hook, compression or tracer
// wants it to go through WriteMessage. The queue's lock is held.
func (c *Conn) canSendNow(n int) bool {
	return c.canTryWrite() && n <= writeBufSize-MaxHeaderSize &&
		c.frameHook.Load() == nil && c.cfg.deflate == nil && !c.cfg.tracer.Enabled()
}

// sendNow writes one message for Send, which has marked the queue as
// draining and counted the message in it. It returns false, having written
// nothing, when another write holds the connection or no frame may be
// written: Send then queues the message. Otherwise the message is Send's
// no longer: written, or being written by a goroutine that finishes the
// frame, or dropped with the connection failed.
func (c *Conn) sendNow(typ MessageType, p []byte) bool {
	if !tryLock(c.msgLock) {
		return false
	}
	if !tryLock(c.writeLock) {
		unlock(c.msgLock)
		return false
	}
	if err := c.beginWriteLocked(context.Background(), false); err != nil {
		unlock(c.writeLock)
		unlock(c.msgLock)
		return false
	}
	h := Header{Fin: true, Opcode: Opcode(typ), Length: int64(len(p)), Masked: c.client}
	if c.client {
		h.Mask = c.keys.next()
	}
	wb := writeBufs.Get().(*writeBuf)
	b := wb.b[:h.Size()+len(p)]
	putFrame(b, h, p)
	c.woff += int64(len(b))
	n, err := c.tryWrite(b)
	c.wprog.Add(int64(max(n, 0)))
	if err == nil && n < len(b) {
		// The send buffer is full: the rest of the frame goes out from
		// a goroutine, which keeps the locks until it has.
		go c.finishSend(wb, b[n:], len(p))
		return true
	}
	writeBufs.Put(wb)
	if err != nil {
		c.failWrite(fmt.Errorf("ws: write queued messages: %w", err))
	}
	unlock(c.writeLock)
	unlock(c.msgLock)
	c.sent(len(p), err)
	return true
}

// finishSend writes the rest of a frame that sendNow began, then lets the
// queue go on.
func (c *Conn) finishSend(wb *writeBuf, rest []byte, n int) {
	k, err := c.nc.Write(rest)
	c.wprog.Add(int64(k))
	writeBufs.Put(wb)
	if err != nil {
		c.failWrite(fmt.Errorf("ws: write queued messages: %w", err))
	}
	unlock(c.writeLock)
	unlock(c.msgLock)
	c.sent(n, err)
}

// sent accounts for a message of n bytes that sendNow took, written or
// failed with err, and starts the drain goroutine if messages were queued
// meanwhile.
func (c *Conn) sent(n int, err error) {
	q := &c.sendq
	q.mu.Lock()
	q.queued -= n
	if err == nil {
		q.sent++
	} else {
		q.dropEnded++
		if q.err == nil {
			q.err = c.werr
		}
	}
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	// A message that overflowed the queue meanwhile (QueueFailConn) has
	// the drain goroutine fail the connection.
	more := q.failed || q.b != nil && (len(q.b.msgs) > 0 || err != nil)
	if !more {
		q.draining = false
		if q.b != nil {
			putSendBufs(q.b)
			q.b = nil
		}
	}
	q.mu.Unlock()
	if err != nil {
		c.traceDrop(DropConnEnded, n)
	}
	if more {
		// The drain goroutine writes them, or drops them after an
		// error, or fails the connection.
		go c.drain()
	}
}

// tryLock takes a channel lock if it is free.
func tryLock(l chan struct{}) bool {
	select {
	case l <- struct{}{}:
		return true
	default:
		return false
	}
}
