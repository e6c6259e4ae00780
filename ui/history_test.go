package ui

import (
	"testing"

	"github.com/glassnet/glassnet/trace"
)

// TestHistoryKeepsExactFields checks what the history copies of an event
// a sink is given: its Data always (the next packet overwrites it), its
// Fields only when they have room to spare, which a copy of their exact
// length would keep alive; Fields of their exact length are the event's
// own to keep, as trace.Sink allows.
func TestHistoryKeepsExactFields(t *testing.T) {
	h := newHistory(4)
	exact := []trace.Field{{Key: "len", Value: 1500}, {Key: "proto", Value: "tcp"}}
	roomy := make([]trace.Field, 1, 8)
	roomy[0] = trace.Field{Key: "fd", Value: 3}
	data := []byte{0x45, 0, 0, 20}
	h.add(&trace.Event{ID: 1, Fields: exact, Data: data})
	h.add(&trace.Event{ID: 2, Fields: roomy})
	data[0] = 0x60        // the next packet
	exact[0].Value = 9000 // what a sink may not expect, to tell a copy from the original

	e1, _ := h.get(1)
	if &e1.Fields[0] != &exact[0] {
		t.Errorf("fields of their exact length were copied")
	}
	if e1.Data[0] != 0x45 {
		t.Errorf("data %x: not a copy of the packet's", e1.Data)
	}
	e2, _ := h.get(2)
	if &e2.Fields[0] == &roomy[0] || cap(e2.Fields) != 1 || e2.Fields[0] != roomy[0] {
		t.Errorf("fields with room to spare: %v, cap %d; want a copy of their length", e2.Fields, cap(e2.Fields))
	}
	if n := testing.AllocsPerRun(100, func() { h.add(&trace.Event{ID: 3, Fields: exact}) }); n != 0 {
		t.Errorf("adding an event of exact fields allocates %v times; want 0", n)
	}
}
