package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/glassnet/glassnet/trace"
)

// TestDemoTraceMatchesSchema runs the demo with a JSON lines trace and
// checks every event against trace/schema.json: known kind, known keys,
// right types, required keys present. It also checks that the demo shows
// every layer, so the check covers each of them.
func TestDemoTraceMatchesSchema(t *testing.T) {
	t.Parallel()
	var js bytes.Buffer
	if err := Demo(context.Background(), DemoOptions{Trace: &js}); err != nil {
		t.Fatalf("demo: %v", err)
	}
	layers := map[string]int{}
	kinds := map[string]bool{}
	sc := bufio.NewScanner(&js)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if err := trace.ValidateJSON(sc.Bytes()); err != nil {
			t.Errorf("line %d: %v\n%s", n, err, sc.Bytes())
			continue
		}
		var h struct {
			V     int    `json:"v"`
			Layer string `json:"layer"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		if h.V != trace.SchemaVersion {
			t.Errorf("line %d: v = %d, want %d", n, h.V, trace.SchemaVersion)
		}
		layers[h.Layer]++
		kinds[h.Layer+"."+h.Event] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"link", "ip", "tcp", "socket", "ws", "app"} {
		if layers[l] == 0 {
			t.Errorf("no %s event in the demo's trace", l)
		}
	}
	t.Logf("%d events of %d kinds validated", n, len(kinds))
}

// TestDemoRecordingsReadBack reads the demo's JSON lines and pcapng back,
// as glassnet view does: every line is an event, and every packet of the
// capture is a link packet event of the trace with the same node,
// direction, connection and frames.
func TestDemoRecordingsReadBack(t *testing.T) {
	t.Parallel()
	var js, png bytes.Buffer
	if err := Demo(context.Background(), DemoOptions{Trace: &js, PCAPNG: &png}); err != nil {
		t.Fatalf("demo: %v", err)
	}
	lines := bytes.Count(js.Bytes(), []byte("\n"))
	events, err := trace.ReadJSONL(&js)
	if err != nil || len(events) != lines {
		t.Fatalf("ReadJSONL: %d events of %d lines, %v", len(events), lines, err)
	}
	// The Perfetto export of the trace read back: a slice per event,
	// flows between the packets and the frames they carried.
	var pf bytes.Buffer
	if err := trace.WritePerfetto(&pf, events); err != nil {
		t.Fatal(err)
	}
	var out struct {
		TraceEvents []struct {
			Ph string `json:"ph"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(pf.Bytes(), &out); err != nil {
		t.Fatalf("perfetto export: %v", err)
	}
	phases := map[string]int{}
	for _, e := range out.TraceEvents {
		phases[e.Ph]++
	}
	if phases["X"] != len(events) || phases["s"] == 0 || phases["s"] != phases["f"] {
		t.Errorf("perfetto export of %d events: %v", len(events), phases)
	}
	byID := map[uint64]trace.Event{}
	for _, e := range events {
		byID[e.ID] = e
	}
	packets, err := trace.ReadPCAPNG(&png)
	if err != nil || len(packets) == 0 {
		t.Fatalf("ReadPCAPNG: %d packets, %v", len(packets), err)
	}
	withFrames := 0
	for _, p := range packets {
		e, ok := byID[p.ID]
		if !ok || e.Layer != trace.LayerLink || e.Name != "packet" {
			t.Fatalf("capture packet #%d is not a packet event of the trace: %+v", p.ID, e)
		}
		if p.Node != e.Node || p.Dir != e.Dir || p.Conn != e.Conn {
			t.Errorf("packet #%d: capture says %s %s %s, trace %s %s %s", p.ID, p.Node, p.Dir, p.Conn, e.Node, e.Dir, e.Conn)
		}
		if p.Field("rel_seq") == nil && e.Field("rel_seq") != nil {
			t.Errorf("packet #%d: no rel_seq read back", p.ID)
		}
		if f, ok := p.Field("frames").([]uint64); ok && len(f) > 0 {
			withFrames++
		}
	}
	if withFrames == 0 {
		t.Error("no packet of the capture names a frame")
	}
}
