package ui

import (
	"strings"

	"github.com/glassnet/glassnet/trace"
)

// Connections on the same endpoints are numbered here, for the life of
// the Server: a SYN without ACK that carries another initial sequence
// number than the one before it from the same end starts the next (the
// ports used again, after TIME-WAIT or by a tool sending from a fixed
// port), as Wireshark starts another TCP stream. Every event is numbered
// as it enters the history, with the connection that was the latest on
// its endpoints then, so that a number stays with its connection when
// older events leave the history (the page, which sees only the events
// the history still holds, cannot count those that left).

// endpoints are a connection's two ends in sorted order: the same from
// either end, and from either direction's events.
type endpoints struct{ lo, hi string }

// incarnation is what is known of the connections on one pair of
// endpoints.
type incarnation struct {
	n    uint32 // the latest's number, from 1
	syn  bool   // a SYN without ACK was seen
	from string // the end the latest such SYN came from
	isn  uint32 // its sequence number
	last uint64 // the ID of the latest event on these endpoints
}

// incarnations numbers the connections on each pair of endpoints.
type incarnations struct {
	known map[endpoints]*incarnation
	// limit is how many pairs it knows before it forgets those with no
	// event left in the history.
	limit int
}

// minIncarnations is the least number of pairs of endpoints kept
// whatever the history's size.
const minIncarnations = 1 << 16

// number returns the number of the connection event e belongs to (0 for
// an event of no connection) and notes a SYN that starts another one.
// first is the ID of the oldest event the history holds.
func (in *incarnations) number(e *trace.Event, first uint64, size int) uint32 {
	a, b, ok := strings.Cut(e.Conn, "->")
	if !ok {
		return 0
	}
	from := a // the source of a packet or of the segment TCP sends
	if b < a {
		a, b = b, a
	}
	k := endpoints{a, b}
	if in.known == nil {
		in.known = make(map[endpoints]*incarnation)
		in.limit = max(size, minIncarnations)
	}
	c := in.known[k]
	if c == nil {
		if len(in.known) >= in.limit {
			in.forget(first)
		}
		c = &incarnation{n: 1}
		in.known[k] = c
	}
	c.last = e.ID
	if isn, ok := openingSYN(e); ok {
		if c.syn && c.from == from && c.isn != isn {
			c.n++
		}
		c.syn, c.from, c.isn = true, from, isn
	}
	return c.n
}

// forget drops the pairs of endpoints none of whose events the history
// holds any longer (the oldest it holds is first), and lets the map grow
// to twice what is left before it looks again.
func (in *incarnations) forget(first uint64) {
	for k, c := range in.known {
		if c.last < first {
			delete(in.known, k)
		}
	}
	in.limit = max(in.limit, 2*len(in.known))
}

// openingSYN returns the sequence number of a SYN without ACK: a packet,
// or the segment TCP hands to IP.
func openingSYN(e *trace.Event) (uint32, bool) {
	if !(e.Layer == trace.LayerLink && e.Name == "packet") && !(e.Layer == trace.LayerTCP && e.Name == "segment") {
		return 0, false
	}
	f, _ := e.Field("flags").(string)
	if !strings.Contains(f, "S") || strings.Contains(f, ".") {
		return 0, false
	}
	v, ok := number(e.Field("seq"))
	if !ok || v < 0 || v > 1<<32-1 || v != float64(uint32(v)) {
		return 0, false
	}
	return uint32(v), true
}
