package netstack

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestTUNDeletedStopsStack deletes the TUN interface under a running
// stack, with offloads and without: the stack stops by itself, Done is
// closed, Err wraps ErrDeviceGone, and the error is counted.
func TestTUNDeletedStopsStack(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		for _, noOffload := range []bool{false, true} {
			name := "offload"
			if noOffload {
				name = "no-offload"
			}
			t.Run(name, func(t *testing.T) {
				st, dev := tunStack(t, tunFamilies[0], noOffload, nil)
				if out, err := exec.Command("ip", "link", "del", dev.Name()).CombinedOutput(); err != nil {
					t.Fatalf("ip link del: %v: %s", err, out)
				}
				select {
				case <-st.Done():
				case <-time.After(10 * time.Second):
					t.Fatalf("stack still running 10 s after its TUN was deleted; device errors %v", st.Stats().DeviceErrors)
				}
				if err := st.Err(); !errors.Is(err, ErrDeviceGone) {
					t.Fatalf("Err = %v, want ErrDeviceGone", err)
				}
				t.Logf("Err: %v; device errors %v", st.Err(), st.Stats().DeviceErrors)
				if len(st.Stats().DeviceErrors) == 0 {
					t.Errorf("no device error counted")
				}
			})
		}
	})
}
