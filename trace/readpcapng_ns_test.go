package trace

import (
	"bytes"
	"testing"
	"time"
)

// TestReadPCAPNGNanoseconds: a pcapng's nanosecond stamps read back to the
// nanosecond, so a capture the view opens and exports again keeps its
// times. A float division read 1796644497.256466769 as ...768.
func TestReadPCAPNGNanoseconds(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	png := NewPCAPNG(&buf)
	png.Start = time.Unix(1796644497, 256466000)
	var want []time.Time
	for i := range 1000 {
		e := Event{ID: uint64(i + 1), T: time.Duration(i), Node: "n", Layer: LayerLink, Dir: In, Name: "packet", Data: []byte{0x45}}
		png.Emit(&e)
		want = append(want, png.Start.Add(e.T))
	}
	if err := png.Close(); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadPCAPNG(&buf)
	if err != nil || len(evs) != len(want) {
		t.Fatalf("%d packets read back, %v", len(evs), err)
	}
	wrong := 0
	for i, e := range evs {
		if got := e.Field("time"); got != want[i].UTC().Format(time.RFC3339Nano) {
			if wrong++; wrong <= 3 {
				t.Errorf("packet %d read back at %v, written at %v", e.ID, got, want[i].UTC().Format(time.RFC3339Nano))
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d stamps read back wrong", wrong, len(evs))
	}
}
