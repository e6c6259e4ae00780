package sockets

import (
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/trace"
)

// A notifier is a one-shot waiter entry: the readiness callback of
// Conn.NotifyReadable and Conn.NotifyWritable. While it waits it is one
// small struct on the endpoint's wait queue and no goroutine.
//
// NotifyEvent runs on whatever goroutine changed the endpoint's state, with
// the queue's lock and possibly the endpoint's locks held, so it cannot
// unregister the entry (that takes the queue's lock) nor call fn (which
// would read from the endpoint). It only flips the state and starts a
// goroutine; that goroutine unregisters the entry and then calls fn. The
// entry may be notified again in between; the state makes every
// notification after the first a no-op.
type notifier struct {
	entry waiter.Entry
	s     *Sockets
	so    *socket
	fn    func()
	state atomic.Int32
	// events is what made the socket ready, for the trace. It is written
	// once, by the notification that wins the state, before the goroutine
	// that reads it starts.
	events waiter.EventMask
}

// notifier states.
const (
	notifyArmed int32 = iota
	notifyFired
	notifyStopped
)

// notify arms a notifier for mask on so. The entry is registered before
// the readiness check, as in block: a notification that arrives between
// the two finds the entry, and readiness that was already there is seen by
// the check. Either way the state lets fn run once.
func (s *Sockets) notify(so *socket, mask waiter.EventMask, fn func()) (stop func()) {
	n := &notifier{s: s, so: so, fn: fn}
	n.entry.Init(n, mask)
	so.wq.EventRegister(&n.entry)
	switch {
	case so.closed():
		// Close notifies the queue too, but it may have done so before
		// the entry was there.
		n.NotifyEvent(waiter.EventHUp)
	default:
		if m := so.ep.Readiness(mask) & mask; m != 0 {
			n.NotifyEvent(m)
		}
	}
	return n.stop
}

// NotifyEvent implements waiter.EventListener.
func (n *notifier) NotifyEvent(m waiter.EventMask) {
	if n.state.CompareAndSwap(notifyArmed, notifyFired) {
		n.events = m
		go n.run()
	}
}

func (n *notifier) run() {
	n.so.wq.EventUnregister(&n.entry)
	if n.s.tr.Enabled() {
		what, dir := "readable", trace.In
		if n.entry.Mask()&waiter.WritableEvents != 0 {
			what, dir = "writable", trace.Out
		}
		n.s.emit(n.so, "", dir, "notified", what+": woken by "+eventString(n.events)+", callback runs",
			(&trace.SocketNotified{FD: n.so.fd, Events: eventString(n.events), Wait: what}).Fields()...)
	}
	fn := n.fn
	n.fn = nil
	fn()
}

// stop cancels the notification if it has not fired. It is idempotent and
// does nothing once the notification has fired: the goroutine that calls
// fn unregisters the entry itself.
func (n *notifier) stop() {
	if n.state.CompareAndSwap(notifyArmed, notifyStopped) {
		n.so.wq.EventUnregister(&n.entry)
	}
}

// NotifyReadable arranges for fn to be called once, when the socket is
// readable: data is queued, the peer has shut down its side (a Read
// returns io.EOF), the connection was reset or failed (a Read returns the
// error), or the socket is closed (a Read returns net.ErrClosed). In other
// words, when the next Read would not block. A socket that is readable
// already is notified at once. Read deadlines do not count: a passing
// deadline does not call fn.
//
// fn always runs on a new goroutine of its own: never on the goroutine
// that calls NotifyReadable (so the caller may hold a lock fn takes), and
// never inside netstack (no socket or netstack lock is held when it runs).
// fn may block, read, write, close the Conn, and call NotifyReadable again
// to wait for the next data.
//
// While it waits the notification is one entry on the endpoint's wait
// queue; no goroutine exists until it fires. That is how a server keeps a
// large number of idle connections without a goroutine (and a stack) for
// each: wait with NotifyReadable, read what is there, and wait again.
//
// stop cancels a notification that has not fired; after stop returns fn
// will not be called, unless it already has been or is about to be (the
// notification fired before stop). stop is idempotent and safe to call
// at any time, including from fn.
//
// Several notifications may be pending at once; each is independent. With
// a Tracer each firing is a "notified" event.
func (c *Conn) NotifyReadable(fn func()) (stop func()) {
	return c.s.notify(c.so, readMask, fn)
}

// NotifyWritable is NotifyReadable for writing: fn is called once when a
// Write would not block, that is, when there is room in the send buffer,
// or the connection is reset, failed or shut down for writing, or the
// socket is closed. A connected socket with room is notified at once.
func (c *Conn) NotifyWritable(fn func()) (stop func()) {
	return c.s.notify(c.so, writeMask, fn)
}

// wakeAll is what Close delivers to the wait queue, so that blocked calls
// and pending notifications see the descriptor is gone.
const wakeAll = readMask | writeMask
