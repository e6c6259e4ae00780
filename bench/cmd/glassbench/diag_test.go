package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDiagnosticsWriteAllocs checks that a CPU profile comes with the
// allocations profile next to it: both gzipped profiles, the second named
// after the first with ".allocs".
func TestDiagnosticsWriteAllocs(t *testing.T) {
	dir := t.TempDir()
	stop, err := startDiagnostics(filepath.Join(dir, "tun-glassnet-ws.pprof"), "")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	for _, name := range []string{"tun-glassnet-ws.pprof", "tun-glassnet-ws.allocs"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: not a gzipped profile (%d bytes)", name, len(b))
		}
	}
}
