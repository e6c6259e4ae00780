package trace

import "sync"

// Ring is a sink that keeps the last n events in memory, for a program to
// look at after the fact (or a test to inspect). Emitting into it copies
// the event into a preallocated slot: no allocation. Data is not kept.
// Make one with NewRing; the zero value has no room and is not usable.
type Ring struct {
	mu    sync.Mutex
	buf   []Event
	next  int    // slot the next event goes to
	total uint64 // events ever emitted into the ring
}

// NewRing returns a Ring that holds the last n events (n >= 1).
func NewRing(n int) *Ring {
	if n < 1 {
		n = 1
	}
	return &Ring{buf: make([]Event, 0, n)}
}

// Emit implements Sink.
func (r *Ring) Emit(e *Event) {
	r.mu.Lock()
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, *e)
		r.buf[len(r.buf)-1].Data = nil
	} else {
		r.buf[r.next] = *e
		r.buf[r.next].Data = nil
	}
	r.next++
	if r.next == cap(r.buf) {
		r.next = 0
	}
	r.total++
	r.mu.Unlock()
}

// Events returns a copy of the events held, oldest first.
func (r *Ring) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Event, 0, len(r.buf))
	if len(r.buf) == cap(r.buf) {
		out = append(out, r.buf[r.next:]...)
		return append(out, r.buf[:r.next]...)
	}
	return append(out, r.buf...)
}

// Total returns how many events were emitted into the ring, including
// those it no longer holds.
func (r *Ring) Total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}
