package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestLabSaysStackStopped: when the lab's TUN is deleted from inside the
// lab, the stack stops, and the lab says so while the command still runs
// (it said so only once the command ended, so that a shell in the lab went
// on against a stack that was gone without a word). The command deletes
// the TUN and waits for the message on the lab's stderr, which it shares.
func TestLabSaysStackStopped(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		errPath := filepath.Join(t.TempDir(), "stderr")
		f, err := os.Create(errPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		script := `ip link del ` + LabLink + ` || exit 8
for i in $(seq 400); do
	grep -q 'the stack stopped' "$1" && exit 0
	sleep 0.05
done
exit 9`
		code, err := Lab(LabConfig{Command: []string{"/bin/sh", "-c", script, "sh", errPath}, Stdout: f, Stderr: f})
		out, _ := os.ReadFile(errPath)
		t.Logf("lab output:\n%s", out)
		// The command ends with 0, but the lab with 1: its stack failed.
		if code != 1 || err != nil {
			t.Fatalf("Lab = %d, %v; want 1 (8: the TUN was not deleted, 9: the command saw nothing said while it ran)", code, err)
		}
		want := "glassnet: lab: the stack stopped; the command goes on without it: serve: the device " + LabLink + " went away"
		if !strings.Contains(string(out), want) {
			t.Errorf("stderr %q, want %q", out, want)
		}
	})
}
