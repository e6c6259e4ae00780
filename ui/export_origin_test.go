package ui

import (
	"bytes"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// TestExportPCAPNGTimes: the view's pcapng export stamps each packet at the
// time of day the stack's own capture gave it (its event's Captured),
// counted from the origin the packets agree on (a packet whose event
// waited for the tracer's sinks does not move it), however long after the
// last event the export is taken. It used to count back from the moment
// of the export, so every packet was late by the time the run had been
// idle, or paused in the view, since its last event.
func TestExportPCAPNGTimes(t *testing.T) {
	t.Parallel()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	origin := time.Date(2026, 12, 7, 11, 40, 27, 830116300, time.UTC)
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	// The third event was stamped 3 ms after its packet was captured.
	lags := []time.Duration{0, 0, 3 * time.Millisecond, 0}
	for i, lag := range lags {
		T := time.Duration(i+1) * time.Second
		s.Emit(&trace.Event{ID: uint64(i + 1), T: T, Node: "glassnet", Layer: trace.LayerLink, Dir: trace.In, Name: "packet",
			Data: ip, Captured: origin.Add(T - lag)})
	}
	// The run went on without packets.
	s.Emit(&trace.Event{ID: 5, T: time.Hour, Node: "glassnet", Layer: trace.LayerApp, Name: "step"})
	var buf bytes.Buffer
	if err := s.WritePCAPNG(&buf); err != nil {
		t.Fatal(err)
	}
	evs, err := trace.ReadPCAPNG(&buf)
	if err != nil || len(evs) != len(lags) {
		t.Fatalf("export: %d packets, %v", len(evs), err)
	}
	for i, e := range evs {
		want := origin.Add(time.Duration(i+1) * time.Second).Format(time.RFC3339Nano)
		if got := e.Field("time"); got != want {
			t.Errorf("packet %d at %v, want %s", e.ID, got, want)
		}
	}
}
