package netstack

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestTCPStateName: the names the socket table and the trace give TCP's
// states; gVisor's error state, which a reset or a timeout leaves, is
// CLOSED in both (the socket table said ERROR, the trace CLOSED, and the
// view showed the two side by side).
func TestTCPStateName(t *testing.T) {
	for s, want := range map[tcp.EndpointState]string{
		tcp.StateEstablished: "ESTABLISHED",
		tcp.StateTimeWait:    "TIME-WAIT",
		tcp.StateClose:       "CLOSED",
		tcp.StateError:       "CLOSED",
		tcp.StateError + 1:   "UNKNOWN",
		0:                    "UNKNOWN",
	} {
		if got := TCPStateName(s); got != want {
			t.Errorf("state %d: %q, want %q", s, got, want)
		}
	}
}
