package ws

import (
	"context"
	"sync"
	"sync/atomic"
)

// readableNotifier is implemented by transports that can call a function
// when they become readable, without a goroutine blocked in Read: the
// glassnet stack's *sockets.Conn. fn is called at most once, on a
// goroutine of the transport's (possibly before NotifyReadable returns),
// once a Read would not block: data has arrived, the peer has closed, or
// the connection has failed. fn must not block. stop cancels a
// notification that has not fired.
type readableNotifier interface {
	NotifyReadable(fn func()) (stop func())
}

// NotifyReadable arranges for fn to be called once, on a goroutine of its
// own (possibly before NotifyReadable returns), when a message can be read
// without blocking for its start: the first frame of a data message has
// arrived, a message is buffered (for example one that Ping read), or the
// read side has ended or will end at the next read (a close frame, TCP
// closed or reset, the Conn closed). Pings and pongs that arrive in the
// meantime are answered and handled without calling fn. stop cancels the
// notification if fn has not been called; it does not wait for a call
// under way.
//
// This is the event-driven alternative to a goroutine per connection
// blocked in ReadMessage: fn reads the message (ReadMessage does not wait
// for its start, though it waits for the rest of a message that is still
// arriving), handles it, and calls NotifyReadable again. Do not call
// ReadMessage while a notification is armed. See the example.
//
// Over the glassnet stack (a *sockets.Conn, or any net.Conn with a
// NotifyReadable(fn func()) (stop func()) method of the same meaning) an
// armed notification holds no goroutine and no buffer: the transport calls
// back when data arrives. Over other transports a goroutine waits for the
// first byte until something arrives: on the kernel's *net.TCPConn
// without a buffer (it waits through the connection's syscall.RawConn),
// on others in a read with a pooled buffer. stop does not end that wait
// early (the goroutine ends when data arrives or the Conn is closed).
func (c *Conn) NotifyReadable(fn func()) (stop func()) {
	n := &readNotify{c: c, fn: fn}
	n.start()
	return n.stop
}

// Notification states.
const (
	notifyArmed int32 = iota
	notifyFired
	notifyStopped
)

// readNotify is one NotifyReadable call.
type readNotify struct {
	c     *Conn
	fn    func()
	state atomic.Int32

	mu        sync.Mutex
	stopTrans func() // cancels the transport's notification
	// reads is c.reads when the transport was armed: if it has not
	// moved when the transport calls back, no one has read since and
	// what made the transport readable is still there to read.
	reads uint64
}

func (n *readNotify) armed() bool { return n.state.Load() == notifyArmed }

// fire calls fn, at most once; on a new goroutine unless the caller is
// one of the notification's own.
func (n *readNotify) fire(own bool) {
	if !n.state.CompareAndSwap(notifyArmed, notifyFired) {
		return
	}
	if own {
		n.fn()
	} else {
		go n.fn()
	}
}

func (n *readNotify) stop() {
	if !n.state.CompareAndSwap(notifyArmed, notifyStopped) {
		return
	}
	n.mu.Lock()
	st := n.stopTrans
	n.stopTrans = nil
	n.mu.Unlock()
	if st != nil {
		st()
	}
}

// start decides, on the caller's goroutine, whether fn can be called at
// once, whether the transport can watch for data, or whether a goroutine
// must. It never blocks.
func (n *readNotify) start() {
	c := n.c
	select {
	case c.readLock <- struct{}{}:
	default:
		// Someone is reading (Ping, Close, or a ReadMessage): wait for
		// them to finish, then look.
		go n.examine(false)
		return
	}
	ready, look := n.readyLocked()
	if !ready && !look {
		rn, ok := c.nc.(readableNotifier)
		if ok {
			n.armTransport(rn)
		}
		unlock(c.readLock)
		if !ok {
			go n.examine(false)
		}
		return
	}
	unlock(c.readLock)
	switch {
	case ready:
		n.fire(false)
	case look:
		go n.examine(false)
	}
}

// readyLocked reports whether fn can be called without reading (ready),
// or whether buffered bytes must be looked at first (look). It is called
// with readLock held.
func (n *readNotify) readyLocked() (ready, look bool) {
	c := n.c
	select {
	case <-c.closed:
		return true, false
	default:
	}
	if len(c.buffered) > 0 || c.rerr != nil {
		return true, false
	}
	return false, c.hasBuffered()
}

// armTransport asks the transport to call back once it is readable.
func (n *readNotify) armTransport(rn readableNotifier) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.armed() {
		return
	}
	// The callback runs on a goroutine of the transport and must not
	// block: the work goes to a goroutine of its own.
	n.reads = n.c.reads
	n.stopTrans = rn.NotifyReadable(func() { go n.examine(true) })
}

// examine runs on a goroutine of its own when there may be something to
// read: fromTransport is set when the transport has said it is readable.
// It looks at the frames that have arrived, handling pings and pongs, and
// calls fn once a data frame (or a close frame, or the end of the stream)
// is next. When nothing is left to look at, it arms the transport again
// and returns; a transport that cannot notify is waited for here instead,
// in a read of the first byte.
func (n *readNotify) examine(fromTransport bool) {
	c := n.c
	if !n.armed() {
		return
	}
	select {
	case c.readLock <- struct{}{}:
	case <-c.closed:
		n.fire(true)
		return
	}
	// A context bound by an earlier read may have fired since.
	c.watchRead(context.Background())
	rn, canNotify := c.nc.(readableNotifier)
	n.mu.Lock()
	// When someone else has read since the transport was armed, what
	// made it readable may be gone: arm it again rather than wait in a
	// read. It calls back at once if it is still readable.
	mustRead := fromTransport && n.reads == c.reads
	n.mu.Unlock()
	for n.armed() {
		if ready, _ := n.readyLocked(); ready {
			break
		}
		if !c.hasBuffered() && !mustRead && canNotify {
			// Nothing (more) has arrived: wait for it without a
			// goroutine.
			c.releaseReader()
			n.armTransport(rn)
			unlock(c.readLock)
			return
		}
		mustRead = false
		c.reads++
		if err := c.awaitData(); err != nil {
			// The read side ends here, as it would in ReadMessage,
			// which then reports it: an error such as a reset is
			// reported by the transport only once.
			c.endRead(context.Background(), err)
			break
		}
		c.reader()
		c.hookReads()
		b, err := c.br.Peek(MinHeaderSize)
		if err != nil {
			if len(b) > 0 {
				err = noEOF(err)
			}
			c.endRead(context.Background(), err)
			break
		}
		if op := RawHeader(b).Opcode(); op != OpPing && op != OpPong {
			// A data frame, a close frame, or something ReadMessage
			// will fail the connection for.
			break
		}
		c.readControlFrame()
	}
	c.releaseReader()
	unlock(c.readLock)
	n.fire(true)
}

// readControlFrame reads and handles the ping or pong frame that is next,
// as readMessage would. Errors end the read side (endRead). It is called
// with readLock held and the reader taken.
func (c *Conn) readControlFrame() {
	ctx := context.Background()
	h, err := c.readHeader()
	if err != nil {
		c.endRead(ctx, err)
		return
	}
	if err := c.checkFrame(h); err != nil {
		c.endRead(ctx, err)
		return
	}
	p := c.ctrl[:h.Length]
	if err := c.readPayload(h, p); err != nil {
		c.endRead(ctx, err)
		return
	}
	if err := c.handleControl(h, p); err != nil {
		c.endRead(ctx, err)
	}
}
