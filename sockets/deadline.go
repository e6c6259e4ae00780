package sockets

import (
	"sync"
	"time"
)

// deadline turns a point in time into a channel that is closed when the
// time passes, the way a net.Conn deadline must wake a blocked Read or
// Write. Setting a new deadline replaces the channel if the old one already
// fired, so a blocked call waiting on the old channel keeps its outcome.
//
// The zero value has no deadline and holds no channel: wait returns nil (a
// channel that is never ready) until a deadline is set, so a connection
// that never uses deadlines pays 24 bytes for the pair of fields.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

// wait returns the channel for the current deadline, or nil when none is
// set.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

// set arms the deadline at t; the zero time disarms it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired (or is about to close ch): start afresh.
		d.ch = nil
	}
	d.timer = nil
	if d.ch != nil {
		select {
		case <-d.ch:
			d.ch = nil
		default:
		}
	}
	if t.IsZero() {
		// A call waiting on an armed channel keeps waiting on it; with
		// the timer stopped it is never closed, as no deadline means.
		return
	}
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}
