package trace

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// perfettoTrace is the parsed output of WritePerfetto.
type perfettoTrace struct {
	TraceEvents []struct {
		Name string         `json:"name"`
		Ph   string         `json:"ph"`
		Ts   float64        `json:"ts"`
		Dur  float64        `json:"dur"`
		Pid  int            `json:"pid"`
		Tid  int            `json:"tid"`
		ID   int            `json:"id"`
		BP   string         `json:"bp"`
		Args map[string]any `json:"args"`
	} `json:"traceEvents"`
}

// CheckPerfetto parses a WritePerfetto output and checks its structure:
// a named process per node and a named thread per layer, one slice per
// event on its node's and layer's track, and flows whose two ends each
// fall inside a slice of their track. It returns the tracks by "node
// layer", the slices by event ID and the flows as [from, to] event IDs.
func checkPerfetto(t *testing.T, out []byte) (tracks map[[2]int]string, slices map[uint64][2]int, flows [][2]uint64) {
	t.Helper()
	var tr perfettoTrace
	if err := json.Unmarshal(out, &tr); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	procs := map[int]string{}
	threads := map[[2]int]string{}
	type span struct {
		from, to float64
		id       uint64
	}
	spans := map[[2]int][]span{}
	slices = map[uint64][2]int{}
	starts := map[int][3]float64{}
	for _, e := range tr.TraceEvents {
		k := [2]int{e.Pid, e.Tid}
		switch e.Ph {
		case "M":
			switch e.Name {
			case "process_name":
				procs[e.Pid] = e.Args["name"].(string)
			case "thread_name":
				threads[k] = e.Args["name"].(string)
			}
		case "X":
			id := uint64(e.Args["id"].(float64))
			if _, dup := slices[id]; dup {
				t.Errorf("event %d has two slices", id)
			}
			slices[id] = k
			spans[k] = append(spans[k], span{e.Ts, e.Ts + e.Dur, id})
		case "s":
			starts[e.ID] = [3]float64{e.Ts, float64(e.Pid), float64(e.Tid)}
		case "f":
			s, ok := starts[e.ID]
			if !ok || e.BP != "e" {
				t.Fatalf("flow %d ends before it starts (or without bp e)", e.ID)
			}
			if s[0] > e.Ts {
				t.Errorf("flow %d goes back in time", e.ID)
			}
			at := func(ts float64, k [2]int) uint64 {
				for _, sp := range spans[k] {
					if sp.from <= ts && ts <= sp.to {
						return sp.id
					}
				}
				t.Errorf("flow %d: no slice at %v on track %v", e.ID, ts, k)
				return 0
			}
			flows = append(flows, [2]uint64{at(s[0], [2]int{int(s[1]), int(s[2])}), at(e.Ts, k)})
		}
	}
	tracks = map[[2]int]string{}
	for k, name := range threads {
		if procs[k[0]] == "" {
			t.Errorf("thread %v of an unnamed process", k)
		}
		tracks[k] = procs[k[0]] + " " + name
	}
	for id, k := range slices {
		if tracks[k] == "" {
			t.Errorf("event %d on unnamed track %v", id, k)
		}
	}
	return tracks, slices, flows
}

func TestWritePerfetto(t *testing.T) {
	t.Parallel()
	ring := NewRing(100)
	tr := New(ring)
	tr.Correlate()
	// Ingress: two packets carry one frame; the frame's event lists them.
	p1 := packetEvent(1, 1000)
	p2 := packetEvent(1001, 500)
	tr.Emit(p1)
	tr.Emit(p2)
	tr.Emit(Event{Node: "server", Layer: LayerSocket, Dir: In, Name: "call", Conn: "x", Summary: "recv(5, 1500) = 1500",
		Fields: []Field{{"call", "recv"}, {"dur", 3 * time.Microsecond}}})
	tr.Emit(frm("server", In, "10.0.0.2:80->10.0.0.1:40000", 0, 4, 1496))
	tr.Emit(Event{Node: "client", Layer: LayerApp, Name: "step", Summary: "narration"})
	events := ring.Events()
	// The call began 3 µs before its event, after the trace began: a run
	// fast enough emits it sooner than that.
	for i := range events {
		events[i].T += 10 * time.Microsecond
	}

	var out bytes.Buffer
	if err := WritePerfetto(&out, events); err != nil {
		t.Fatal(err)
	}
	tracks, slices, flows := checkPerfetto(t, out.Bytes())
	if len(slices) != len(events) {
		t.Fatalf("%d slices for %d events", len(slices), len(events))
	}
	for _, e := range events {
		if got, want := tracks[slices[e.ID]], e.Node+" "+string(e.Layer); got != want {
			t.Errorf("event %d (%s %s) on track %q; want %q", e.ID, e.Layer, e.Name, got, want)
		}
	}
	if len(tracks) != 2*len(perfettoLayers) {
		t.Errorf("%d tracks; want %d (two nodes, six layers)", len(tracks), 2*len(perfettoLayers))
	}
	// Each packet to the frame, once, though the frame's packets field and
	// nothing else names them.
	want := map[[2]uint64]bool{{1, 4}: true, {2, 4}: true}
	if len(flows) != len(want) {
		t.Fatalf("flows %v; want %v", flows, want)
	}
	for _, f := range flows {
		if !want[f] {
			t.Errorf("flow %v; want one of %v", f, want)
		}
	}
	// The call lasts its duration.
	var tr2 perfettoTrace
	json.Unmarshal(out.Bytes(), &tr2)
	for _, e := range tr2.TraceEvents {
		if e.Ph == "X" && e.Name == "socket call" && e.Dur != 3 {
			t.Errorf("socket call slice lasts %vµs; want 3", e.Dur)
		}
	}
}
