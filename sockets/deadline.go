package sockets

import (
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// deadline turns a point in time into a channel that is closed when the
// time passes, the way a net.Conn deadline must wake a blocked Read or
// Write, including one that started before the deadline was set. Setting
// a new deadline replaces the channel if the old one already fired, so a
// blocked call waiting on the old channel keeps its outcome.
//
// The channel exists only while it is needed: while a call holds it (wait
// to release), while a deadline is armed, or once one has passed. An idle
// connection without deadlines holds none, whatever it did before. A
// channel that was never closed goes back to a pool when it is no longer
// needed, so that calls without deadlines allocate nothing.
//
// The time left is measured on the stack's clock: a deadline does not pass
// while a paused clock stands still (a step held in the browser view, a
// send held for editing), as no TCP timer does, so stepping slowly
// through a handshake does not time out a server's read.
type deadline struct {
	mu      sync.Mutex
	timer   tcpip.Timer
	ch      chan struct{}
	waiters int // calls between wait and release
}

// wait returns the channel for the current deadline; the caller passes it
// back with release when the call is over.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = newDeadlineChan()
	}
	d.waiters++
	return d.ch
}

// release ends a call that wait began.
func (d *deadline) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.waiters--
	d.drop()
}

// drop forgets an unneeded channel: no call holds it and no deadline is
// armed or has passed. Called with mu held.
func (d *deadline) drop() {
	if d.waiters == 0 && d.timer == nil && d.ch != nil && !isClosed(d.ch) {
		// Nothing holds it and nothing will close it.
		deadlineChans.Put(d.ch)
		d.ch = nil
	}
}

// deadlineChans holds channels that were never closed.
var deadlineChans sync.Pool

func newDeadlineChan() chan struct{} {
	if ch, ok := deadlineChans.Get().(chan struct{}); ok {
		return ch
	}
	return make(chan struct{})
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// set arms the deadline at t, which is that far from now on clk; the
// zero time disarms it.
func (d *deadline) set(t time.Time, clk tcpip.Clock) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired (or is about to close ch): start afresh.
		d.ch = nil
	}
	d.timer = nil
	if d.ch != nil && isClosed(d.ch) {
		d.ch = nil
	}
	if t.IsZero() {
		// A call waiting on the channel keeps waiting on it, so that a
		// deadline set later still wakes it; with no timer it is never
		// closed until then, as no deadline means.
		d.drop()
		return
	}
	if d.ch == nil {
		d.ch = newDeadlineChan()
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = clk.AfterFunc(dur, func() { close(ch) })
}
