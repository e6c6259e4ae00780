package netstack

import (
	"bytes"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestOrphanRetries counts how many times the stack sends unacknowledged
// data again before it gives the connection up, the peer having vanished:
// 15 times while the application holds the connection (gVisor's
// MaxRetries, Linux's tcp_retries2), 8 once the application has closed it
// (Linux's tcp_orphan_retries; gVisor patch 57). Before that patch an
// orphan also took 15, so that an endpoint in FIN-WAIT-1 with its send
// buffer stayed about 15 minutes.
func TestOrphanRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		close bool
		want  int
	}{
		{"held", false, 15},
		{"orphan", true, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDelAckConn(t, nil)
			payload := []byte("x")
			if n, err := d.c.Write(bytes.NewReader(payload), tcpip.WriteOptions{}); err != nil || n != 1 {
				t.Fatalf("write: %d, %v", n, err)
			}
			seg := d.p.next()
			if len(seg.Payload()) != 1 {
				t.Fatalf("got %v length %d, want the byte written", seg.Flags(), len(seg.Payload()))
			}
			seq := seg.SequenceNumber()
			// The reply before it is acknowledged: only the byte is
			// left to send again.
			waitFor(t, "the stack to take the ACK of the reply", func() bool {
				return queueSize(t, d.c, tcpip.SendQueueSizeOption) == 1
			})
			if tc.close {
				d.c.Close()
				// The FIN goes after the byte at once: nothing
				// waits for an acknowledgement to send it.
				if fin := d.p.next(); !fin.Flags().Contains(header.TCPFlagFin) {
					t.Fatalf("after Close: %v, want the FIN", fin.Flags())
				}
			}
			timedOut := d.st.Stack().Stats().TCP.EstablishedTimedout
			before := timedOut.Value()
			resent := 0
			for step := 0; timedOut.Value() == before; step++ {
				if step > 60 {
					t.Fatalf("no timeout after %d retransmissions", resent)
				}
				// The clock runs every timer due within the step,
				// those armed on the way too.
				d.clock.Advance(30 * time.Second)
				for s := d.p.nextWithin(100 * time.Millisecond); s != nil; s = d.p.nextWithin(100 * time.Millisecond) {
					switch {
					case s.Flags().Contains(header.TCPFlagRst):
					case s.SequenceNumber() == seq && len(s.Payload()) == 1:
						resent++
					default:
						t.Fatalf("step %d: %v seq %d length %d, want the byte again or a reset", step, s.Flags(), s.SequenceNumber(), len(s.Payload()))
					}
				}
			}
			if resent != tc.want {
				t.Errorf("sent the byte again %d times before giving up, want %d", resent, tc.want)
			}
		})
	}
}
