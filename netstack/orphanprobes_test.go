package netstack

import (
	"bytes"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestOrphanWindowProbes: a peer that keeps its window closed and answers
// every window probe keeps a connection its application holds for as long
// as it answers (RFC 9293 3.8.6.1), but not one the application has
// closed: that gives up, as Linux's tcp_probe_timer gives up an orphan,
// after 8 probes once the wait between two has reached the RTO's cap of
// 120 s (gVisor patch 63). From an RTO of 200 ms the waits double from
// 200 ms to 102.4 s over ten probes, and the timer after the tenth gives
// up. Before that patch the orphan probed for ever, holding its send
// buffer.
func TestOrphanWindowProbes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		close bool
	}{
		{"held", false},
		{"orphan", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDelAckConn(t, nil)
			// The peer closes its window, then sends a byte the stack
			// has had already, which it acknowledges at once: when that
			// ACK comes, the window is known closed.
			d.p.closed = true
			d.p.send(header.TCPFlagAck, d.p.sndNxt, d.p.rcvNxt, nil, nil)
			d.p.send(header.TCPFlagAck, d.p.sndNxt-1, d.p.rcvNxt, nil, []byte{0})
			if ack := d.p.next(); len(ack.Payload()) != 0 {
				t.Fatalf("got %v length %d, want the ACK of an old byte", ack.Flags(), len(ack.Payload()))
			}
			if n, err := d.c.Write(bytes.NewReader([]byte("x")), tcpip.WriteOptions{}); err != nil || n != 1 {
				t.Fatalf("write: %d, %v", n, err)
			}
			if tc.close {
				d.c.Close()
			}
			timedOut := d.st.Stack().Stats().TCP.EstablishedTimedout
			before := timedOut.Value()
			// Nothing new may go while the window is closed: a probe is
			// the byte before SND.UNA, sent again.
			una := d.p.rcvNxt
			probes, steps := 0, 0
			for ; timedOut.Value() == before && steps < 40; steps++ {
				d.clock.Advance(30 * time.Second)
				for s := d.p.nextWithin(100 * time.Millisecond); s != nil; s = d.p.nextWithin(100 * time.Millisecond) {
					switch {
					case s.Flags().Contains(header.TCPFlagRst):
					case len(s.Payload()) == 1 && s.SequenceNumber() == una-1:
						probes++
						d.p.send(header.TCPFlagAck, d.p.sndNxt, d.p.rcvNxt, nil, nil)
					default:
						t.Fatalf("step %d: %v seq %d length %d, want a window probe (seq %d) or a reset", steps, s.Flags(), s.SequenceNumber(), len(s.Payload()), una-1)
					}
				}
			}
			gaveUp := timedOut.Value() != before
			switch {
			case !tc.close && gaveUp:
				t.Errorf("the connection the application holds gave up after %d answered probes", probes)
			case tc.close && !gaveUp:
				t.Errorf("the orphan still probes after %d answered probes and %d s", probes, steps*30)
			case tc.close && probes != 10:
				t.Errorf("the orphan gave up after %d probes, want 10", probes)
			}
		})
	}
}
