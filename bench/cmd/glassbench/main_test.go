package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRunShort runs every section once in short mode so that the command
// cannot rot; it checks that each table is printed, never the numbers.
func TestRunShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every measurement once (about 15 s)")
	}
	var out bytes.Buffer
	if err := run([]string{"-short", "-rounds", "1"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"kernel loopback", "glassnet in-memory pair, MTU 1500, offloads off", "glassnet in-memory pair, MTU 1500, offloads on", "kernel -> TUN -> glassnet",
		"glassnet / best peer", "allocs", "KB/conn", "glassnet/userspace",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
