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
