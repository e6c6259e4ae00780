package main

import (
	"os"
	"strings"
	"testing"
)

// TestMachineNotes: the header names the load, and the idle driver where
// the system has one.
func TestMachineNotes(t *testing.T) {
	notes := machineNotes()
	if len(notes) == 0 || !strings.HasPrefix(notes[0], "load average ") {
		t.Fatalf("machineNotes() = %q, want the load average first", notes)
	}
	if _, err := os.Stat("/sys/devices/system/cpu/cpuidle/current_driver"); err == nil {
		if len(notes) < 2 || !strings.HasPrefix(notes[1], "cpuidle ") {
			t.Errorf("machineNotes() = %q, want the cpuidle driver", notes)
		}
	}
}
