package app

import (
	"os"
	"testing"
	"time"
)

// TestServeCountsFailedOutput: the call log goes to a full disk (/dev/full);
// glassnet ss counts the lines lost while serve runs, instead of the run
// learning at its end only, when Close reports the file incomplete.
func TestServeCountsFailedOutput(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	f, err := CreateOutFile("--calls", "/dev/full")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m := startMemServe(t, "lost0", ServeConfig{CallLog: f, Outputs: []*OutFile{f}})
	echoOnce(t, m.dial(t, EchoPort))
	ctx := testCtx(t)
	for m.counters()["output writes failed: --calls /dev/full"] == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("glassnet ss counters %v: no output writes failed", m.counters())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
