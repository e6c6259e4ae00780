package trace

import (
	"sync"
	"time"
)

// Layer names the part of the stack an event comes from.
type Layer string

// The layers, from the device up.
const (
	LayerLink   Layer = "link"   // packets at the device: netstack's link endpoint
	LayerIP     Layer = "ip"     // IP receive, output and delivery in gVisor
	LayerTCP    Layer = "tcp"    // TCP segments and the endpoint's state
	LayerSocket Layer = "socket" // socket calls, wake-ups and copies (package sockets)
	LayerWS     Layer = "ws"     // WebSocket frames, messages and handshakes (package ws)
	LayerApp    Layer = "app"    // the application's own steps
)

// Dir is the direction of travel: In is packet-to-frame (ingress), Out is
// frame-to-packet (egress). Events that are neither leave it empty.
type Dir string

// The two directions.
const (
	In  Dir = "in"  // ingress: from the device toward the application
	Out Dir = "out" // egress: from the application toward the device
)

// Field is one named value of an event, such as seq=1234 or opcode=text.
type Field struct {
	Key   string
	Value any
}

// Event is one step of one unit (packet, segment, socket call, frame).
type Event struct {
	ID    uint64        // unique per Tracer, increasing
	T     time.Duration // monotonic time since the Tracer was created (on its clock: SetClock)
	Node  string        // which stack or program emitted it ("client", "server")
	Layer Layer
	Dir   Dir
	Name  string // the step: "packet", "recv", "frame", "wake", ...
	Conn  string // the connection 4-tuple "10.0.0.1:4000->10.0.0.2:80", if any
	// Summary is a one-line human-readable account of the step.
	Summary string
	// Fields carries the layer's details for machine-readable sinks.
	Fields []Field
	// Data is the unit's bytes where the layer has them: the whole IP
	// packet for link "packet" events, or the whole frame for one that
	// holds no IP packet (ARP, with a link_type field). It is only valid during Emit; a
	// sink that keeps it must copy it.
	Data []byte
	// Captured is, for a packet the stack's device moved (a link "packet"
	// or "continued" event), the time on the stack's clock when it was
	// seen: the stamp its record has in the stack's pcap capture
	// (netstack.Options.PCAP). T is stamped apart, when the Tracer takes
	// the event, a little later; Captured - T is where the trace's times
	// count from, for a program (the view's export) that writes the
	// events with times of day. Zero for other events; not written to
	// JSON lines.
	Captured time.Time
}

// Field returns the value of the field named key, or nil.
func (e *Event) Field(key string) any {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// Sink receives events. Emit is called with events in ID order, one at a
// time, with the Tracer's delivery lock held: a sink that blocks holds back
// every layer that emits with Tracer.Emit (which is what a Stepper is for).
// No lock of the stack is held while a sink runs (see Tracer.EmitDeferred),
// so a sink may look at the stack, for example with sockets.Snapshot. It
// should still do that from NewAsync's goroutine: a TCP sender blocked on a
// full device keeps its endpoint locked until the device's reader (whose
// packets are traced, and so wait for the sink) drains it. A sink that may
// be slow and must not hold the stack back is wrapped in NewAsync too. The event must not be retained after Emit returns; a copy of it
// may be, except for Data, which the next packet overwrites.
type Sink interface {
	Emit(e *Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(e *Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e *Event) { f(e) }

// Tracer numbers events, stamps them and hands them to its sinks. Make one
// with New. A nil *Tracer is valid everywhere a layer takes one: it records
// nothing, and its methods do nothing (AddSink aside, which panics).
type Tracer struct {
	start time.Time
	since func() time.Duration // SetClock's; nil: time.Since(start)

	// mu is the delivery lock, held while sinks run.
	mu    sync.Mutex
	sinks []Sink
	cur   Event   // the event Emit delivers: a sink's *Event, not one on the heap per call
	extra []Event // carried events to deliver after the current one

	// order fixes the order of events: it guards the ID counter, the
	// correlator and the deferred events waiting for delivery. It is
	// never held while a sink runs.
	order    sync.Mutex
	next     uint64
	corr     *correlator // nil unless Correlate was called
	pending  *deferQueue // deferred events, in ID order
	spare    *deferQueue // the other queue, delivered or empty
	flushing bool        // a flush goroutine is due: pending is not empty
	room     sync.Cond   // pending was taken for delivery (on order)
}

// maxDeferred bounds the deferred events waiting for delivery, and
// maxDeferredData the bytes of their Data (a packet event copies its
// packet, up to 64 KiB for a super-packet); past either EmitDeferred waits
// for the sinks. Without the second, a sink that stopped (a paused reader
// of --trace -) could hold 65536 super-packets' copies, gigabytes.
const (
	maxDeferred     = 1 << 16
	maxDeferredData = 64 << 20
)

// New returns a Tracer that writes to the given sinks, in order. A nil
// sink is left out, so that an optional one can be passed as it is.
func New(sinks ...Sink) *Tracer {
	var kept []Sink
	for _, s := range sinks {
		if s != nil {
			kept = append(kept, s)
		}
	}
	t := &Tracer{start: time.Now(), sinks: kept, pending: new(deferQueue), spare: new(deferQueue)}
	t.room.L = &t.order
	return t
}

// Enabled reports whether t records anything. It is safe on a nil *Tracer.
// Built with the glassnet_notrace tag it is always false, so the compiler
// drops every traced branch: that build is the baseline the benchmarks
// compare tracing-compiled-in-but-off against.
func (t *Tracer) Enabled() bool { return compiledIn && t != nil }

// SetClock makes since the source of the events' times (Event.T) from
// now on: the time the stacks' clock has run since the tracer started,
// when that clock can pause (netstack.PausableClock). A run stepped
// through by hand then shows the times of the stacks, not the time a
// person spent reading a step. Call it before the first event. On a nil
// *Tracer it does nothing.
func (t *Tracer) SetClock(since func() time.Duration) {
	if t == nil {
		return
	}
	t.order.Lock()
	t.since = since
	t.order.Unlock()
}

// AddSink attaches another sink; a nil one is left out. t must not be
// nil: a nil *Tracer has nowhere to keep the sink.
func (t *Tracer) AddSink(s Sink) {
	if s == nil {
		return
	}
	t.mu.Lock()
	t.sinks = append(t.sinks, s)
	t.mu.Unlock()
}

// Correlate makes t join WebSocket frames and the packets that carried
// their bytes, within each Node, by TCP stream offset (relative sequence
// number minus one for the first payload byte):
//
//   - a link "packet" event with TCP payload gets a "frames" field: the IDs
//     of the ws "frame" events already seen whose bytes it carried (on
//     egress, all of them: a frame is written before its packets leave);
//   - a ws "frame" event whose offset is a TCP stream offset
//     (offset_from "tcp") gets a "packets" field: the IDs of the packets
//     already seen that carried its bytes (on ingress usually all of them:
//     a packet arrives before its frame is parsed);
//   - when a later event joins an earlier unit that is by then complete
//     (every byte of it has been seen on the other side), t emits a
//     "carried" event right after it, at the earlier unit's layer, whose
//     "frames" or "packets" field lists all of that unit's partners so
//     far. An ingress packet's frames, and an egress frame's packets,
//     arrive this way;
//   - going out, every packet that carried a frame's bytes is credited
//     with it, retransmissions and copies a rule duplicated included: each
//     took the bytes out (the view marks the retransmissions), and one that
//     carries bytes of a complete frame repeats the frame's carried event
//     with the longer list;
//   - coming in, a byte is credited to the packet that brought it first,
//     the copy the receiving TCP kept: a packet whose bytes had all
//     arrived before (a retransmission, a duplicate) names no frame and no
//     frame names it, and one that repeats some of them is credited with
//     the new ones only. A packet that a hook dropped after the link saw it
//     (a link or ip drop verdict, in) never reached TCP: from its verdict
//     on it is credited with nothing and the next copy of its bytes brings
//     them (events given out before the verdict, its own among them, keep
//     naming it). What TCP itself throws away for other reasons (a bad
//     checksum, a segment outside the window) is not in the trace: such a
//     copy is credited as if TCP had kept it, and the copy that replaces
//     it as a duplicate.
//
// Memory is bounded: the last 256 packets and frames of each of at most
// 1024 connections directions per node are kept, and 256 spans of the
// bytes received. Call Correlate before events flow. On a nil *Tracer it
// does nothing.
func (t *Tracer) Correlate() {
	if t == nil {
		return
	}
	t.order.Lock()
	if t.corr == nil {
		t.corr = newCorrelator()
	}
	t.order.Unlock()
}

// Emit stamps e with an ID and a time and delivers it to every sink before
// it returns: a sink that blocks (a Stepper) blocks the caller. It is safe
// on a nil *Tracer (the event is discarded) and from any goroutine. It
// returns the event's ID (0 when t is nil), so later events can refer to
// it. A caller that may hold a lock of the stack uses EmitDeferred.
func (t *Tracer) Emit(e Event) uint64 {
	if !compiledIn || t == nil {
		return 0
	}
	t.mu.Lock()
	t.order.Lock()
	// Deferred events emitted before this one go first.
	for t.pending.len() > 0 {
		t.deliverPendingLocked()
	}
	t.cur = e
	t.extra = t.stampLocked(&t.cur, t.extra[:0])
	t.order.Unlock()
	t.deliver(&t.cur)
	for i := range t.extra {
		t.deliver(&t.extra[i])
	}
	id := t.cur.ID
	t.cur = Event{} // let go of its fields and bytes
	clear(t.extra)  // and of theirs
	t.mu.Unlock()
	return id
}

// EmitDeferred is Emit for callers that may hold a lock of the stack:
// gVisor's TCP endpoint lock (the TCP probe, segments TCP sends, IP output
// and the link writes under them), a wait queue's lock (wake-ups), a
// socket's read or write lock. It never waits for a sink. The event gets
// its ID and time at once and is queued, with a copy of its Data; the next
// Emit, or else a goroutine of the Tracer, delivers it in ID order once the
// caller has gone on. A Stepper therefore never pauses inside a lock of
// the stack, and a sink may take those locks.
//
// Only when maxDeferred events (65536), or 64 MiB of their Data, are
// already waiting does it wait for the sinks to take them: that backs the stack off a tracer that
// cannot keep up, and it can only last while some sink blocks.
func (t *Tracer) EmitDeferred(e Event) uint64 {
	if !compiledIn || t == nil {
		return 0
	}
	t.order.Lock()
	for t.pending.len() >= maxDeferred || t.pending.bytes >= maxDeferredData {
		t.room.Wait()
	}
	at := t.pending.len()
	t.pending.ev = t.stampLocked(&e, append(t.pending.ev, Event{}))
	t.pending.ev[at] = e
	t.pending.copyData(at)
	if !t.flushing {
		t.flushing = true
		go t.flush()
	}
	t.order.Unlock()
	return e.ID
}

// Flush returns once every event emitted before it was called has been
// delivered to the sinks, deferred ones included: a program (or a test)
// that has seen the stack do something calls it before it looks at what a
// sink recorded. It is safe on a nil *Tracer.
func (t *Tracer) Flush() {
	if !compiledIn || t == nil {
		return
	}
	t.mu.Lock()
	t.order.Lock()
	for t.pending.len() > 0 {
		t.deliverPendingLocked()
	}
	t.order.Unlock()
	t.mu.Unlock()
}

// stampLocked gives e its ID and time, lets the correlator see it, and
// appends to extra the events the correlator adds after it, stamped.
func (t *Tracer) stampLocked(e *Event, extra []Event) []Event {
	t.next++
	e.ID = t.next
	if t.since != nil {
		e.T = t.since()
	} else {
		e.T = time.Since(t.start)
	}
	if t.corr == nil {
		return extra
	}
	n := len(extra)
	extra = t.corr.observe(e, extra)
	for i := n; i < len(extra); i++ {
		t.next++
		extra[i].ID = t.next
		extra[i].T = e.T
	}
	return extra
}

// flush delivers the deferred events, until none is left.
func (t *Tracer) flush() {
	t.mu.Lock()
	t.order.Lock()
	for t.pending.len() > 0 {
		t.deliverPendingLocked()
	}
	t.flushing = false
	t.order.Unlock()
	t.mu.Unlock()
}

// deliverPendingLocked takes the deferred events queued so far and
// delivers them. It is called with both locks held, and releases order
// while the sinks run.
func (t *Tracer) deliverPendingLocked() {
	q := t.pending
	t.pending, t.spare = t.spare, nil
	t.room.Broadcast()
	t.order.Unlock()
	for i := range q.ev {
		t.deliver(&q.ev[i])
	}
	q.reset()
	t.order.Lock()
	t.spare = q
}

// deliver hands e to every sink; t.mu is held.
func (t *Tracer) deliver(e *Event) {
	for _, s := range t.sinks {
		s.Emit(e)
	}
}

// deferQueue holds deferred events and the copies of their Data, in
// buffers kept from one use to the next.
type deferQueue struct {
	ev    []Event
	data  [][]byte
	bytes int // the Data copied since the last reset
}

func (q *deferQueue) len() int { return len(q.ev) }

// copyData makes event i's Data a copy the queue owns.
func (q *deferQueue) copyData(i int) {
	for len(q.data) < len(q.ev) {
		q.data = append(q.data, nil)
	}
	if d := q.ev[i].Data; d != nil {
		q.data[i] = append(q.data[i][:0], d...)
		q.ev[i].Data = q.data[i]
		q.bytes += len(d)
	}
}

// A queue keeps, for reuse, up to keepDeferred slots and the Data buffers
// of up to keepData bytes in them; what a burst needed beyond that is
// given back to the garbage collector.
const (
	keepDeferred = 1024
	keepData     = 2048
)

func (q *deferQueue) reset() {
	clear(q.ev)
	q.ev = q.ev[:0]
	q.bytes = 0
	if cap(q.ev) > keepDeferred {
		q.ev = make([]Event, 0, keepDeferred)
	}
	if len(q.data) > keepDeferred {
		clear(q.data[keepDeferred:])
		q.data = q.data[:keepDeferred:keepDeferred]
	}
	for i, d := range q.data {
		if cap(d) > keepData {
			q.data[i] = nil
		}
	}
}
