package main

import (
	"strings"
	"testing"
)

// TestTUNRelayRow runs the TUN rows' child with the relay's row alone, with
// and without offloads: every transfer goes through both TUNs (the child
// checks the bytes the relay carried) and none stalls.
func TestTUNRelayRow(t *testing.T) {
	t.Setenv(envTUNRows, "relay")
	res, why := runTUN([]int{1500}, 1, 2, 8<<20, "")
	requireNS(t, why)
	if len(res) != 2 {
		t.Fatalf("%d results, want 2 (offloads off and on)", len(res))
	}
	for _, r := range res {
		if r.Err != "" {
			t.Fatalf("MTU %d, offloads %s: %s", r.MTU, r.Offloads, r.Err)
		}
		if len(r.Rows) != 1 || !r.Rows[0].Relay {
			t.Fatalf("MTU %d, offloads %s: rows %+v, want the relay's alone", r.MTU, r.Offloads, r.Rows)
		}
		row := r.Rows[0]
		name := tunRowName(r, row)
		if !strings.HasPrefix(name, "kernel -> TUN -> relay -> TUN -> kernel, MTU 1500") {
			t.Errorf("row name %q", name)
		}
		if len(row.Echo) != 2 || len(row.Discard) != 2 || len(row.KernelEcho) != 2 || len(row.KernelDiscard) != 2 {
			t.Errorf("%s: %d echo, %d discard, %d and %d kernel transfers; want 2 each", name, len(row.Echo), len(row.Discard), len(row.KernelEcho), len(row.KernelDiscard))
		}
		if row.Tally.Stalls+row.Tally.Errors != 0 {
			t.Errorf("%s: %d stalled, %d failed: %s", name, row.Tally.Stalls, row.Tally.Errors, row.Tally.First)
		}
	}
}
