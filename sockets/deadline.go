package sockets

import (
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// deadline turns a point in time into a channel that is closed when the
// time passes, the way a net.Conn deadline must wake a blocked Read or
// Write, including one that started before the deadline was set. Setting
// a new deadline replaces the channel if the old one already fired, so a
// blocked call waiting on the old channel keeps its outcome.
//
// The channel exists only while it is needed: while a deadline is armed
// or once one has passed, or while a call that waits on the channel it
// has (hold) is in. A call without a deadline takes none, and sleeps on
// its socket's wait queue alone (one channel receive instead of a
// select). A call counts itself in (enter, leave) and reads the channel
// afresh before every sleep (done); set reports when calls are in, and
// the Conn then notifies the wait queue with deadlineEvent, so that a
// call asleep without a channel wakes, reads the new one and sleeps on
// both. An idle connection without deadlines holds no channel, whatever
// it did before. A channel that was never closed goes back to a pool when
// it is no longer needed, so that calls and deadlines allocate nothing.
//
// The time left is measured on the stack's clock: a deadline does not pass
// while a paused clock stands still (a step held in the browser view, a
// send held for editing), as no TCP timer does, so stepping slowly
// through a handshake does not time out a server's read.
type deadline struct {
	mu    sync.Mutex // serializes set
	timer tcpip.Timer
	// ch is the current channel, nil when no deadline is armed or has
	// passed; set stores it under mu, calls load it without.
	ch atomic.Pointer[deadlineChan]
	// waiters counts the calls between enter and leave.
	waiters atomic.Int32
}

// deadlineChan holds a deadline's channel, so that it can be published
// atomically.
type deadlineChan struct{ c chan struct{} }

// deadlineEvent is the event a Conn notifies its wait queue with when it
// sets a deadline while calls are blocked: only the calls of block, which
// register for it, wake.
const deadlineEvent = waiter.EventInternal

// enter begins a call; the caller ends it with leave.
func (d *deadline) enter() { d.waiters.Add(1) }

// leave ends a call that enter began. The last call out drops a channel
// that nothing will close (drop).
func (d *deadline) leave() {
	if d.waiters.Add(-1) == 0 && d.ch.Load() != nil {
		d.mu.Lock()
		d.drop()
		d.mu.Unlock()
	}
}

// drop forgets an unneeded channel: no call is in and no deadline is
// armed or has passed. Called with mu held.
func (d *deadline) drop() {
	cur := d.ch.Load()
	if d.waiters.Load() != 0 || d.timer != nil || cur == nil || isClosed(cur.c) {
		return
	}
	d.ch.Store(nil)
	// A call counts itself in before it loads ch: one that came in
	// meanwhile may hold the channel, which then goes to the collector.
	if d.waiters.Load() == 0 {
		deadlineChans.Put(cur)
	}
}

// hold returns the deadline's channel, made now when there is none, for a
// call that waits on the channel it has (a call hook's verdict) rather
// than reading it again: a deadline set later closes this channel. A nil
// d has none.
func (d *deadline) hold() <-chan struct{} {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.ch.Load()
	if cur == nil {
		cur = newDeadlineChan()
		d.ch.Store(cur)
	}
	return cur.c
}

// done returns the channel of the deadline armed or passed, or nil when
// there is none; a nil d has none.
func (d *deadline) done() <-chan struct{} {
	if d == nil {
		return nil
	}
	if dc := d.ch.Load(); dc != nil {
		return dc.c
	}
	return nil
}

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	ch := d.done()
	return ch != nil && isClosed(ch)
}

// deadlineChans holds channels that were never closed.
var deadlineChans sync.Pool

// passedChan is the channel of every deadline set in the past while no
// channel was out, closed from the start (net/http sets one at the end of
// every request, to stop its background read, and at a hijack): nothing
// closes it again, and as a closed channel it never goes to the pool.
var passedChan = func() *deadlineChan {
	dc := &deadlineChan{c: make(chan struct{})}
	close(dc.c)
	return dc
}()

func newDeadlineChan() *deadlineChan {
	if dc, ok := deadlineChans.Get().(*deadlineChan); ok {
		return dc
	}
	return &deadlineChan{c: make(chan struct{})}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// set arms the deadline at t, which is that far from now on clk; the
// zero time disarms it. It reports whether calls are in that may be
// asleep without the new channel: the caller then wakes them with
// deadlineEvent.
func (d *deadline) set(t time.Time, clk tcpip.Clock) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired (or is about to close the channel): start
		// afresh, and leave that channel to whoever holds it.
		d.ch.Store(nil)
	}
	d.timer = nil
	cur := d.ch.Load()
	if cur != nil && isClosed(cur.c) {
		d.ch.Store(nil)
		cur = nil
	}
	if t.IsZero() {
		// A call waiting on the channel keeps waiting on it, so that a
		// deadline set later still wakes it; with no timer it is never
		// closed until then, as no deadline means. The last call out
		// drops it.
		d.drop()
		return false
	}
	dur := time.Until(t)
	if cur == nil && dur <= 0 {
		// No call holds a channel to be closed: the deadline takes
		// the one that is closed already.
		d.ch.Store(passedChan)
		return d.waiters.Load() > 0
	}
	if cur == nil {
		cur = newDeadlineChan()
		d.ch.Store(cur)
	}
	if dur <= 0 {
		close(cur.c)
	} else {
		c := cur.c
		d.timer = clk.AfterFunc(dur, func() { close(c) })
	}
	return d.waiters.Load() > 0
}
