package trace

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNilTracerIsSafe(t *testing.T) {
	var tr *Tracer
	if tr.Enabled() {
		t.Fatal("nil tracer reports enabled")
	}
	if id := tr.Emit(Event{Name: "x"}); id != 0 {
		t.Fatalf("nil tracer returned id %d", id)
	}
	if id := tr.EmitDeferred(Event{Name: "x"}); id != 0 {
		t.Fatalf("nil tracer returned id %d for a deferred event", id)
	}
	// The setup calls a program makes whether or not it traces.
	tr.Correlate()
	tr.SetClock(func() time.Duration { return 0 })
	tr.Flush()
}

// TestNewLeavesOutNilSinks: an optional sink passed as nil is left out
// rather than called at the first event.
func TestNewLeavesOutNilSinks(t *testing.T) {
	var none Sink
	kept := NewRing(4)
	tr := New(none, kept)
	tr.AddSink(nil)
	tr.Emit(Event{Name: "x"})
	if n := len(kept.Events()); n != 1 {
		t.Fatalf("the sink given got %d events, want 1", n)
	}
}

func TestEmitNumbersAndSinks(t *testing.T) {
	var text, js bytes.Buffer
	tr := New(NewText(&text), NewJSON(&js))
	id1 := tr.Emit(Event{Node: "server", Layer: LayerTCP, Dir: In, Name: "segment", Conn: "a->b", Summary: "[SYN] seq=0",
		Fields: []Field{{"seq", 0}, {"flags", "S"}}})
	id2 := tr.Emit(Event{Node: "client", Layer: LayerWS, Dir: Out, Name: "frame"})
	if id1 != 1 || id2 != 2 {
		t.Fatalf("ids = %d, %d; want 1, 2", id1, id2)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "[SYN] seq=0") || !strings.Contains(lines[0], "a->b") {
		t.Fatalf("text sink wrote %q", text.String())
	}
	// The connection is written as it reads, not HTML-escaped.
	if !strings.Contains(js.String(), `"conn":"a->b"`) {
		t.Errorf("json sink wrote %q, want the conn as \"a->b\"", js.String())
	}
	dec := json.NewDecoder(&js)
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"v", "id", "t", "node", "layer", "dir", "event", "conn", "summary", "seq", "flags"} {
		if _, ok := m[k]; !ok {
			t.Errorf("json event lacks %q: %v", k, m)
		}
	}
	if m["v"] != float64(SchemaVersion) || m["id"] != float64(1) || m["node"] != "server" || m["layer"] != "tcp" || m["dir"] != "in" ||
		m["event"] != "segment" || m["summary"] != "[SYN] seq=0" || m["flags"] != "S" {
		t.Errorf("json event = %v", m)
	}
}

func TestRingKeepsTheLastN(t *testing.T) {
	t.Parallel()
	r := NewRing(3)
	tr := New(r)
	for i := range 5 {
		tr.Emit(Event{Name: "e", Data: []byte{byte(i)}, Fields: []Field{{"i", i}}})
	}
	ev := r.Events()
	if len(ev) != 3 || r.Total() != 5 {
		t.Fatalf("ring holds %d of %d events", len(ev), r.Total())
	}
	for i, e := range ev {
		if e.ID != uint64(i+3) || e.Field("i") != i+2 || e.Data != nil {
			t.Errorf("event %d = %+v, want ID %d and no data", i, e, i+3)
		}
	}
}

// TestSetClock: with a clock set, events are timed on it (a stepped run's
// paused time does not count), correlated ones included.
func TestSetClock(t *testing.T) {
	var got []time.Duration
	tr := New(SinkFunc(func(e *Event) { got = append(got, e.T) }))
	now := 5 * time.Millisecond
	tr.SetClock(func() time.Duration { return now })
	tr.Emit(Event{Name: "a"})
	now += time.Millisecond
	tr.Emit(Event{Name: "b"})
	if len(got) != 2 || got[0] != 5*time.Millisecond || got[1] != 6*time.Millisecond {
		t.Fatalf("times %v, want [5ms 6ms] from the clock", got)
	}
}

// TestEmitAllocs checks that Emit delivers an event without a copy of it
// on the heap: a sink gets a *Event, which would otherwise move the
// caller's event there on every call.
func TestEmitAllocs(t *testing.T) {
	tr := New(NewRing(16))
	e := Event{Node: "n", Layer: LayerLink, Dir: In, Name: "packet", Summary: "s", Fields: []Field{{Key: "len", Value: 1}}}
	if n := testing.AllocsPerRun(100, func() { tr.Emit(e) }); n != 0 {
		t.Errorf("Emit allocates %v times an event; want 0", n)
	}
}
