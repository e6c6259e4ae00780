// Package trace records what happens to a byte on its way between a packet on
// a device and a WebSocket frame in an application, in both directions.
//
// Every layer (link, ip, tcp, socket, ws) emits Events into a *Tracer. A nil
// *Tracer is valid and records nothing; callers check Enabled before building
// an event so that tracing switched off costs one nil comparison.
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
}

// Sink receives events. Emit is called with events in ID order, one at a
// time; the event must not be retained after Emit returns.
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
}

// New returns a Tracer that writes to the given sinks.
func New(sinks ...Sink) *Tracer {
	return &Tracer{start: time.Now(), sinks: sinks}
}

// Enabled reports whether t records anything. It is safe on a nil *Tracer.
func (t *Tracer) Enabled() bool { return t != nil }

// AddSink attaches another sink.
func (t *Tracer) AddSink(s Sink) {
	t.mu.Lock()
	t.sinks = append(t.sinks, s)
	t.mu.Unlock()
}

// Emit stamps e with an ID and a time and delivers it to every sink. It is
// safe on a nil *Tracer (the event is discarded) and from any goroutine. It
// returns the event's ID (0 when t is nil), so later events can refer to it.
func (t *Tracer) Emit(e Event) uint64 {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	e.ID = t.next.Add(1)
	e.T = time.Since(t.start)
	for _, s := range t.sinks {
		s.Emit(&e)
	}
	t.mu.Unlock()
	return e.ID
}
