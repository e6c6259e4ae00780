package sockets

import (
	"fmt"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/trace"
)

// watcher is the waiter entry a traced socket keeps registered on its
// endpoint's wait queue for as long as it is open. It shows the wake-up
// path itself: every EventIn, EventOut, EventErr and EventHUp notification
// netstack delivers becomes a "wake" event, whether or not a call is asleep
// on the queue, and on a listener every connection made ready in the accept
// queue becomes an "accept-queue" event. Untraced sockets have no watcher,
// so their queues hold only the entries of blocked calls.
type watcher struct {
	s     *Sockets
	so    *socket
	entry waiter.Entry

	// conn is the connection string for events. NotifyEvent runs on a
	// netstack goroutine that may hold the endpoint's lock, so it must not
	// ask the endpoint for its addresses; the calling side refreshes conn
	// whenever they change (bind, listen, connect, accept).
	conn atomic.Pointer[string]

	// listening is set by Listen. queued counts connections the listener
	// was told about minus the ones Accept took: the accept queue depth.
	listening atomic.Bool
	queued    atomic.Int64
}

// watchMask is every event a watcher reports.
const watchMask = waiter.EventIn | waiter.EventOut | waiter.EventErr | waiter.EventHUp | waiter.EventRdHUp

// newWatcher gives so a watcher, before so is installed in the table so
// that every reader of so.watch sees it. Callers check s.tr.Enabled() first.
func (s *Sockets) newWatcher(so *socket) {
	w := &watcher{s: s, so: so}
	w.entry.Init(w, watchMask)
	so.watch = w
}

// watch registers so's watcher, once so has its descriptor.
func (s *Sockets) watch(so *socket) {
	s.refreshConn(so)
	so.wq.EventRegister(&so.watch.entry)
}

// unwatch removes so's watcher, before Close so that the descriptor's last
// wake-up is not reported after it is gone.
func (so *socket) unwatch() {
	if so.watch != nil {
		so.wq.EventUnregister(&so.watch.entry)
	}
}

// refreshConn records so's current addresses for its watcher's events.
func (s *Sockets) refreshConn(so *socket) {
	if so.watch == nil {
		return
	}
	c := s.connString(so)
	so.watch.conn.Store(&c)
}

// NotifyEvent implements waiter.EventListener. It runs on the netstack
// goroutine that changed the endpoint's state, with the endpoint possibly
// locked: it only reads its own fields and emits, deferred.
func (w *watcher) NotifyEvent(m waiter.EventMask) {
	conn := ""
	if c := w.conn.Load(); c != nil {
		conn = *c
	}
	s, fd := w.s, w.so.fd
	if w.listening.Load() && m&waiter.EventIn != 0 && m&(waiter.EventHUp|waiter.EventErr) == 0 {
		depth := max(w.queued.Add(1), 0)
		s.tr.EmitDeferred(trace.Event{
			Node: s.node, Layer: trace.LayerSocket, Dir: trace.In, Name: "accept-queue", Conn: conn,
			Summary: fmt.Sprintf("connection ready in the accept queue, depth %d", depth),
			Fields:  (&trace.SocketAcceptQueue{FD: fd, Depth: depth, Events: eventString(m)}).Fields(),
		})
		return
	}
	dir := trace.Dir("")
	switch {
	case m&waiter.EventIn != 0 && m&waiter.EventOut == 0:
		dir = trace.In
	case m&waiter.EventOut != 0 && m&waiter.EventIn == 0:
		dir = trace.Out
	}
	s.tr.EmitDeferred(trace.Event{
		Node: s.node, Layer: trace.LayerSocket, Dir: dir, Name: "wake", Conn: conn,
		Summary: "wait queue notified: " + eventString(m),
		Fields:  (&trace.SocketWake{FD: fd, Events: eventString(m), Mask: uint64(m)}).Fields(),
	})
}

// accepted takes one connection off a traced listener's count and returns
// the depth left.
func (so *socket) accepted() int64 {
	if so.watch == nil {
		return 0
	}
	// The count goes below zero for a moment when an Accept runs between
	// the enqueue and its notification; the notification evens it out.
	return max(so.watch.queued.Add(-1), 0)
}
