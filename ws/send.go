package ws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// DefaultWriteQueueLimit is how many bytes of messages Send queues unless
// told otherwise.
const DefaultWriteQueueLimit = 4 << 20

// QueueFullPolicy says what Send does with a message that does not fit the
// write queue.
type QueueFullPolicy int

const (
	// QueueBlock makes Send wait until the queue has room (the default).
	// The wait has no timeout of its own: it ends when the peer reads or
	// the connection ends (Close, CloseNow, a failed write).
	QueueBlock QueueFullPolicy = iota
	// QueueFailConn fails the connection with close code 1008 (policy
	// violation) and makes Send return ErrWriteQueueFull: a peer that
	// does not read fast enough is let go rather than slowing the sender.
	QueueFailConn
)

// ErrWriteQueueFull is returned by Send when a message did not fit the
// write queue under QueueFailConn, and by every Send after that.
var ErrWriteQueueFull = errors.New("ws: write queue full: the peer does not read as fast as messages are sent (raise WriteQueueLimit, or use QueueBlock to wait)")

// Reasons a queued message is dropped, as SendStats counts them, and a
// ping or pong not sent, as "drop" trace events name them.
const (
	// DropQueueFull: the message did not fit the queue (QueueFailConn).
	DropQueueFull = "queue full"
	// DropConnEnded: the message was queued but the connection failed
	// or closed before it was written.
	DropConnEnded = "connection ended"
	// DropNotSent: a ping or pong frame whose context ended before the
	// transport took a byte of it; the connection goes on.
	DropNotSent = "not sent"
)

// SendStats counts what Send did on a connection.
type SendStats struct {
	// Queued is how many bytes of messages are queued or being written
	// now; Limit is the bound on it.
	Queued, Limit int
	// Waiting is how many Send calls wait for room (QueueBlock).
	Waiting int
	// Sent counts the messages written.
	Sent uint64
	// DroppedQueueFull and DroppedConnEnded count the messages dropped,
	// by reason (DropQueueFull, DropConnEnded).
	DroppedQueueFull, DroppedConnEnded uint64
}

// Dropped is the number of messages dropped for any reason.
func (s SendStats) Dropped() uint64 { return s.DroppedQueueFull + s.DroppedConnEnded }

// queuedMsg is a message in the write queue: its type and where its
// payload is in the queue's arena.
type queuedMsg struct {
	typ    MessageType
	off, n int
}

// sendQueue is a connection's write queue (Send). Payloads are copied into
// an arena; the drain goroutine, which runs only while the queue is not
// empty, swaps the arena for a spare one and writes everything in it,
// coalescing small messages into large writes. An empty queue holds no
// memory: the arenas go back to a pool.
type sendQueue struct {
	limit int
	full  QueueFullPolicy

	mu       sync.Mutex
	b        *sendBufs // from sendBufPool while the queue is not empty
	queued   int       // bytes in the arena plus bytes being written
	draining bool
	room     chan struct{} // closed when bytes are written; nil if no one waits
	waiting  int
	err      error // sticky: Send fails with it
	failed   bool  // QueueFailConn tripped: the drainer fails the connection

	sent, dropFull, dropEnded uint64
}

// Send queues a data message and returns without waiting for it to be
// written; the message is copied, so p may be reused at once. A goroutine
// writes queued messages in order, coalescing small ones into one write
// to the transport; it exists only while the queue is not empty. When
// nothing is queued and the transport takes the message at once (a
// *net.TCPConn whose send buffer has room for it), Send writes it itself
// and starts no goroutine (sendnow.go).
//
// The queue holds at most the connection's WriteQueueLimit bytes of
// messages (AcceptOptions, DialOptions; DefaultWriteQueueLimit), and a
// single message larger than the limit when it is otherwise empty, so a
// peer that does not read cannot make the sender's memory grow without
// bound. When a message does not fit, WriteQueueFull decides: QueueBlock
// waits for room (or for the connection to close), QueueFailConn drops the
// message, fails the connection with 1008 (policy violation) once the
// write under way ends (the close frame goes out behind it, within the
// close timeout, and TCP closes within the close timeout after that) and
// returns ErrWriteQueueFull.
//
// Messages dropped are counted in SendStats by reason, and are "drop"
// trace events (layer ws). Send is safe for concurrent use; messages from
// one goroutine go out in order. Frames written by WriteMessage, Ping or
// Close may go out between queued messages. Close does not wait for the
// queue: messages not written before the close frame are dropped.
func (c *Conn) Send(typ MessageType, p []byte) error {
	if err := checkMessageType(typ); err != nil {
		return err
	}
	q := &c.sendq
	q.mu.Lock()
	for {
		if q.err != nil {
			err := q.err
			q.mu.Unlock()
			return err
		}
		select {
		case <-c.closed:
			q.err = fmt.Errorf("ws: send: %w", net.ErrClosed)
			continue
		default:
		}
		if q.queued == 0 || q.queued+len(p) <= q.limit {
			break
		}
		if q.full == QueueFailConn {
			q.failed = true
			q.err = ErrWriteQueueFull
			q.dropFull++
			n := len(p)
			q.mu.Unlock()
			// The write under way ends within the close timeout; the
			// drain goroutine then fails the connection.
			c.nc.SetWriteDeadline(time.Now().Add(c.cfg.closeTimeout))
			c.traceDrop(DropQueueFull, n)
			return ErrWriteQueueFull
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.waiting++
		q.mu.Unlock()
		select {
		case <-room:
		case <-c.closed:
		}
		q.mu.Lock()
		q.waiting--
	}
	if !q.draining && c.canSendNow(len(p)) {
		// Nothing is queued or being written: write on this goroutine,
		// if that does not wait, rather than hand the message to a new
		// one (sendnow.go).
		q.draining = true
		q.queued += len(p)
		q.mu.Unlock()
		if c.sendNow(typ, p) {
			return nil
		}
		q.mu.Lock()
		q.queued -= len(p)
		q.draining = false
		// Messages other goroutines queued meanwhile go first; this one
		// is still the latest of its own goroutine.
	}
	c.enqueueLocked(typ, p)
	return nil
}

// enqueueLocked copies a message into the write queue and starts the
// drain goroutine unless it runs. q.mu is held; it is released.
func (c *Conn) enqueueLocked(typ MessageType, p []byte) {
	q := &c.sendq
	if q.b == nil {
		q.b = getSendBufs()
	}
	b := q.b
	off := len(b.arena)
	b.arena = append(b.arena, p...)
	b.msgs = append(b.msgs, queuedMsg{typ: typ, off: off, n: len(p)})
	q.queued += len(p)
	start := !q.draining
	q.draining = true
	q.mu.Unlock()
	if start {
		go c.drain()
	}
}

// sendBufs are a write queue's arenas: the one Send appends to and the one
// the drain goroutine writes from (or last wrote from). A queue takes them
// from a pool when it stops being empty and gives them back when it is
// empty again, so that an idle connection holds none and a busy one
// allocates nothing per message.
type sendBufs struct {
	arena, spare   []byte
	msgs, spareMsg []queuedMsg
}

// maxPooledArena bounds the arenas kept in the pool.
const maxPooledArena = 1 << 20

var sendBufPool = sync.Pool{New: func() any { return new(sendBufs) }}

func getSendBufs() *sendBufs { return sendBufPool.Get().(*sendBufs) }

func putSendBufs(b *sendBufs) {
	if cap(b.arena) > maxPooledArena || cap(b.spare) > maxPooledArena {
		return
	}
	clear(b.msgs[:cap(b.msgs)])
	clear(b.spareMsg[:cap(b.spareMsg)])
	b.arena, b.spare, b.msgs, b.spareMsg = b.arena[:0], b.spare[:0], b.msgs[:0], b.spareMsg[:0]
	sendBufPool.Put(b)
}

// SendStats returns the write queue's counters.
func (c *Conn) SendStats() SendStats {
	q := &c.sendq
	q.mu.Lock()
	defer q.mu.Unlock()
	return SendStats{
		Queued: q.queued, Limit: q.limit, Waiting: q.waiting,
		Sent: q.sent, DroppedQueueFull: q.dropFull, DroppedConnEnded: q.dropEnded,
	}
}

func (c *Conn) traceDrop(reason string, n int) {
	if c.cfg.tracer.Enabled() {
		c.emit(trace.Out, "drop", "message dropped: "+reason+" ("+strconv.Itoa(n)+" bytes)",
			(&trace.WSDrop{Reason: reason, Len: n}).Fields()...)
	}
}

// drain writes queued messages until the queue is empty, then ends.
func (c *Conn) drain() {
	q := &c.sendq
	for {
		q.mu.Lock()
		if q.failed || q.err != nil || q.b == nil || len(q.b.msgs) == 0 {
			failed := q.failed
			dropped := q.dropQueuedLocked()
			q.draining = false
			if q.b != nil {
				putSendBufs(q.b)
				q.b = nil
			}
			q.mu.Unlock()
			c.traceDrops(dropped)
			if failed {
				c.failQueue()
			}
			return
		}
		b := q.b
		arena, msgs := b.arena, b.msgs
		b.arena, b.msgs = b.spare[:0], b.spareMsg[:0]
		q.mu.Unlock()

		err := c.writeQueued(arena, msgs)

		var sizes []int
		if err != nil && c.cfg.tracer.Enabled() {
			for _, m := range msgs {
				sizes = append(sizes, m.n)
			}
		}
		q.mu.Lock()
		for _, m := range msgs {
			q.queued -= m.n
		}
		if err == nil {
			q.sent += uint64(len(msgs))
		} else {
			q.dropEnded += uint64(len(msgs))
			if q.err == nil {
				q.err = err
			}
		}
		clear(msgs)
		b.spare, b.spareMsg = arena[:0], msgs[:0]
		if q.room != nil {
			close(q.room)
			q.room = nil
		}
		q.mu.Unlock()
		c.traceDrops(sizes)
	}
}

// dropQueuedLocked drops every message still queued, counting them, and
// returns their sizes for the trace. q.mu is held.
func (q *sendQueue) dropQueuedLocked() []int {
	b := q.b
	if b == nil || len(b.msgs) == 0 {
		return nil
	}
	sizes := make([]int, len(b.msgs))
	for i, m := range b.msgs {
		sizes[i] = m.n
		q.queued -= m.n
	}
	q.dropEnded += uint64(len(b.msgs))
	b.msgs = b.msgs[:0]
	b.arena = b.arena[:0]
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	return sizes
}

func (c *Conn) traceDrops(sizes []int) {
	for _, n := range sizes {
		c.traceDrop(DropConnEnded, n)
	}
}

// failQueue fails the connection after the write queue overflowed
// (QueueFailConn): a close frame with 1008, then TCP reset after the
// close timeout unless a reader sees the peer's close frame first.
func (c *Conn) failQueue() {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.closeTimeout)
	err := c.sendClose(ctx, ClosePayload(StatusPolicyViolation, "write queue full"))
	cancel()
	if err != nil && !errors.Is(err, ErrCloseSent) {
		c.closeAfter(err)
		return
	}
	c.emit(trace.Out, "close", "write queue full: failing the connection (1008)")
	// A handshake not done by then leaves a peer that reads too slowly
	// or not at all: reset (abortTCP), dropping what it did not take.
	time.AfterFunc(c.cfg.closeTimeout, c.abortTCP)
}

// writeQueued writes the messages of one drain. Without a frame hook,
// compression or a tracer, their frames are encoded into pooled buffers
// and written in as few writes as they fill; otherwise each goes through
// WriteMessage.
func (c *Conn) writeQueued(arena []byte, msgs []queuedMsg) error {
	ctx := context.Background()
	if c.frameHook.Load() != nil || c.cfg.deflate != nil || c.cfg.tracer.Enabled() {
		for _, m := range msgs {
			if err := c.WriteMessage(ctx, m.typ, arena[m.off:m.off+m.n]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := c.lock(ctx, c.msgLock); err != nil {
		return err
	}
	defer unlock(c.msgLock)
	if err := c.lock(ctx, c.writeLock); err != nil {
		return err
	}
	defer unlock(c.writeLock)
	if err := c.beginWriteLocked(ctx, false); err != nil {
		return err
	}

	wb := bigWriteBufs.Get().(*writeBuf)
	defer bigWriteBufs.Put(wb)
	b := wb.b[:0]
	var err error
	for _, m := range msgs {
		p := arena[m.off : m.off+m.n]
		h := Header{Fin: true, Opcode: Opcode(m.typ), Length: int64(len(p)), Masked: c.client}
		if c.client {
			h.Mask = c.keys.next()
		}
		size := h.Size() + len(p)
		if len(b)+size > cap(b) && len(b) > 0 {
			if _, err = c.nc.Write(b); err != nil {
				break
			}
			c.wprog.Add(int64(len(b)))
			b = b[:0]
		}
		c.woff += int64(size)
		if size > cap(b) {
			w := c.out(len(p))
			if err = writeFrameTo(w, h, p); err != nil {
				break
			}
			if _, pieces := w.(progressWriter); !pieces {
				c.wprog.Add(int64(size))
			}
			continue
		}
		start := len(b)
		b = b[:start+size]
		putFrame(b[start:], h, p)
	}
	if err == nil && len(b) > 0 {
		if _, err = c.nc.Write(b); err == nil {
			c.wprog.Add(int64(len(b)))
		}
	}
	if err != nil {
		return c.failWrite(fmt.Errorf("ws: write queued messages: %w", err))
	}
	return nil
}
