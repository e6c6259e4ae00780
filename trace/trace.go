package trace

import (
	"sync"
	"sync/atomic"
	"time"
)

// Layer names the part of the stack an event comes from.
type Layer string

const (
	LayerLink   Layer = "link"
	LayerIP     Layer = "ip"
	LayerTCP    Layer = "tcp"
	LayerSocket Layer = "socket"
	LayerWS     Layer = "ws"
	LayerApp    Layer = "app"
)

// Dir is the direction of travel: In is packet-to-frame (ingress), Out is
// frame-to-packet (egress). Events that are neither leave it empty.
type Dir string

const (
	In  Dir = "in"
	Out Dir = "out"
)

// Field is one named value of an event, such as seq=1234 or opcode=text.
type Field struct {
	Key   string
	Value any
}

// Event is one step of one unit (packet, segment, socket call, frame).
type Event struct {
	ID    uint64        // unique per Tracer, increasing
	T     time.Duration // monotonic time since the Tracer was created
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
	// packet for link "packet" events. It is only valid during Emit; a
	// sink that keeps it must copy it.
	Data []byte
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
// time, with the Tracer's lock held: a sink that blocks holds back every
// layer (which is what a Stepper is for). The event must not be retained
// after Emit returns; a copy of it may be, except for Data, which the next
// packet overwrites.
type Sink interface {
	Emit(e *Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(e *Event)

func (f SinkFunc) Emit(e *Event) { f(e) }

// Tracer numbers events, stamps them and hands them to its sinks.
type Tracer struct {
	start time.Time
	next  atomic.Uint64

	mu    sync.Mutex
	sinks []Sink
	corr  *correlator // nil unless Correlate was called
	extra []Event     // carried events to deliver after the current one
}

// New returns a Tracer that writes to the given sinks.
func New(sinks ...Sink) *Tracer {
	return &Tracer{start: time.Now(), sinks: sinks}
}

// Enabled reports whether t records anything. It is safe on a nil *Tracer.
// Built with the glassnet_notrace tag it is always false, so the compiler
// drops every traced branch: that build is the baseline the benchmarks
// compare tracing-compiled-in-but-off against.
func (t *Tracer) Enabled() bool { return compiledIn && t != nil }

// AddSink attaches another sink.
func (t *Tracer) AddSink(s Sink) {
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
//     arrive this way. A retransmission that carries bytes of a complete
//     frame repeats the frame's carried event with the longer list.
//
// Memory is bounded: the last 256 packets and frames of each of at most
// 1024 connections directions per node are kept. Call Correlate before
// events flow.
func (t *Tracer) Correlate() {
	t.mu.Lock()
	if t.corr == nil {
		t.corr = newCorrelator()
	}
	t.mu.Unlock()
}

// Emit stamps e with an ID and a time and delivers it to every sink. It is
// safe on a nil *Tracer (the event is discarded) and from any goroutine. It
// returns the event's ID (0 when t is nil), so later events can refer to it.
func (t *Tracer) Emit(e Event) uint64 {
	if !compiledIn || t == nil {
		return 0
	}
	t.mu.Lock()
	e.ID = t.next.Add(1)
	e.T = time.Since(t.start)
	if t.corr != nil {
		t.extra = t.corr.observe(&e, t.extra[:0])
	}
	for _, s := range t.sinks {
		s.Emit(&e)
	}
	for i := range t.extra {
		x := &t.extra[i]
		x.ID = t.next.Add(1)
		x.T = e.T
		for _, s := range t.sinks {
			s.Emit(x)
		}
	}
	t.mu.Unlock()
	return e.ID
}
