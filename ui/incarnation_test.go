package ui

import (
	"fmt"
	"testing"

	"github.com/glassnet/glassnet/trace"
)

// synPacket is a link packet event of conn with the given flags and seq.
func synPacket(id uint64, node string, dir trace.Dir, conn, flags string, seq uint32) trace.Event {
	return trace.Event{ID: id, Node: node, Layer: trace.LayerLink, Dir: dir, Name: "packet", Conn: conn,
		Summary: fmt.Sprintf("IP %s: Flags [%s], seq %d", conn, flags, seq),
		Fields:  []trace.Field{{Key: "flags", Value: flags}, {Key: "seq", Value: seq}}}
}

// TestConnNumbersStay: the connections on one pair of endpoints are
// numbered as their events come (a SYN with another ISN from the same end
// starts the next; its copy at the other stack and a SYN sent again do
// not), and an event keeps its connection's number after the events of
// the connections before it have left the history: GET /api/events and
// /api/events/ID say conn_n 2 for the second connection before and after.
func TestConnNumbersStay(t *testing.T) {
	t.Parallel()
	const history = 50
	s, _ := New(Options{History: history})
	base := startServer(t, s)
	const c2s, s2c = "10.0.0.1:40000->10.0.0.2:80", "10.0.0.2:80->10.0.0.1:40000"
	id := uint64(0)
	emit := func(e trace.Event) uint64 {
		id++
		e.ID = id
		s.Emit(&e)
		return id
	}
	state := func(node, conn string) uint64 {
		return emit(trace.Event{Node: node, Layer: trace.LayerTCP, Dir: trace.In, Name: "state", Conn: conn, Summary: "ESTABLISHED"})
	}
	// the first connection: SYN, its copy at the server, SYN-ACK
	emit(synPacket(0, "client", trace.Out, c2s, "S", 100))
	emit(synPacket(0, "server", trace.In, c2s, "S", 100))
	emit(synPacket(0, "server", trace.Out, s2c, "S.", 900))
	first := state("server", s2c)
	// the second: another ISN from the same end; sent again, and the copy
	syn2 := emit(synPacket(0, "client", trace.Out, c2s, "S", 200))
	emit(synPacket(0, "server", trace.In, c2s, "S", 200))
	emit(synPacket(0, "client", trace.Out, c2s, "S", 200))
	second := state("server", s2c)
	other := state("server", "10.0.0.2:80->10.0.0.1:40001")

	connN := func(id uint64) any {
		var e map[string]any
		if code := api(t, s, "GET", fmt.Sprintf("%s/api/events/%d", base, id), "", &e); code != 200 {
			t.Fatalf("GET /api/events/%d: %d", id, code)
		}
		return e["conn_n"]
	}
	rangeN := func(from, to uint64) map[uint64]any {
		var r struct{ Events []map[string]any }
		api(t, s, "GET", fmt.Sprintf("%s/api/events?from=%d&to=%d", base, from, to), "", &r)
		out := map[uint64]any{}
		for _, e := range r.Events {
			out[uint64(e["id"].(float64))] = e["conn_n"]
		}
		return out
	}
	if n := connN(first); n != nil {
		t.Errorf("an event of the first connection has conn_n %v, want none", n)
	}
	for _, id := range []uint64{syn2, syn2 + 1, syn2 + 2, second} {
		if n := connN(id); n != float64(2) {
			t.Errorf("event %d of the second connection has conn_n %v, want 2", id, n)
		}
	}
	if n := connN(other); n != nil {
		t.Errorf("an event on other endpoints has conn_n %v, want none", n)
	}
	// Let the first connection's events, and the second's SYNs, leave
	// the history: what is left of the second is still number 2, in a
	// range and alone, and the next SYN with another ISN is number 3.
	for range history {
		emit(trace.Event{Node: "server", Layer: trace.LayerApp, Name: "step", Summary: "a step"})
	}
	late := state("client", c2s)
	if n := connN(late); n != float64(2) {
		t.Errorf("an event of the second connection after the first left the history has conn_n %v, want 2", n)
	}
	syn3 := emit(synPacket(0, "client", trace.Out, c2s, "S", 300))
	third := state("server", s2c)
	got := rangeN(late, third)
	if got[late] != float64(2) || got[syn3] != float64(3) || got[third] != float64(3) {
		t.Errorf("conn_n of events %d, %d, %d: %v; want 2, 3, 3", late, syn3, third, got)
	}
}

// TestConnNumbersForget: the endpoints none of whose events the history
// holds any more are forgotten once there are more pairs than the limit,
// and no sooner; those with an event left keep their number.
func TestConnNumbersForget(t *testing.T) {
	t.Parallel()
	in := incarnations{known: map[endpoints]*incarnation{}, limit: 2}
	num := func(id uint64, conn string, seq uint32, first uint64) uint32 {
		e := synPacket(id, "client", trace.Out, conn, "S", seq)
		return in.number(&e, first, 0)
	}
	const a, b, c = "10.0.0.1:1->10.0.0.2:80", "10.0.0.1:2->10.0.0.2:80", "10.0.0.1:3->10.0.0.2:80"
	num(1, a, 1, 1)
	if n := num(2, a, 2, 1); n != 2 {
		t.Fatalf("a SYN with another ISN is number %d, want 2", n)
	}
	num(3, b, 1, 1)
	// a has no event left from 3 on, b has: a third pair forgets a
	if len(in.known) != 2 {
		t.Fatalf("%d pairs known, want 2", len(in.known))
	}
	num(4, c, 1, 3)
	if _, ok := in.known[endpoints{"10.0.0.1:1", "10.0.0.2:80"}]; ok || len(in.known) != 2 {
		t.Errorf("pairs known after the limit: %v; want a forgotten, b and c kept", in.known)
	}
	if n := num(5, b, 2, 3); n != 2 {
		t.Errorf("b's second connection is number %d, want 2 (b was kept)", n)
	}
}
