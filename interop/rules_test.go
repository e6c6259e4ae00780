package interop

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestPythonUnderRules puts packet rules on serve's egress and checks what
// a third-party client sees: under 20% loss every message of Debian's
// python3-websockets still arrives intact and in order (TCP recovers),
// and 100 ms of delay shows in its ping round trip.
func TestPythonUnderRules(t *testing.T) {
	needPythonWebsockets(t)
	rttOf := func(t *testing.T) int {
		t.Helper()
		out := strings.TrimSpace(run(t, 60*time.Second, pythonBin, "testdata/wsclient.py", stackWS, "rtt"))
		ms, err := strconv.Atoi(strings.TrimPrefix(out, "rtt "))
		if err != nil {
			t.Fatalf("python printed %q", out)
		}
		return ms
	}
	t.Run("loss", func(t *testing.T) {
		netnstest.RunTUN(t, func(t *testing.T) {
			startServe(t, "--egress", "loss 20%")
			out := run(t, 120*time.Second, pythonBin, "testdata/wsclient.py", stackWS, "many")
			if got := strings.TrimSpace(out); got != "many 500 sent 500 intact" {
				t.Fatalf("python under 20%% loss printed %q", got)
			}
		})
	})
	t.Run("delay", func(t *testing.T) {
		netnstest.RunTUN(t, func(t *testing.T) {
			startServe(t, "--egress", "delay 100ms")
			if ms := rttOf(t); ms < 100 {
				t.Fatalf("median ping round trip %d ms under a 100 ms egress delay", ms)
			} else {
				t.Logf("median ping round trip %d ms with delay 100ms", ms)
			}
		})
	})
	t.Run("none", func(t *testing.T) {
		netnstest.RunTUN(t, func(t *testing.T) {
			startServe(t)
			t.Logf("median ping round trip %d ms without rules", rttOf(t))
		})
	})
}
