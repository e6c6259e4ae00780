package netstack

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestDuplicateSYNAnswered checks glassnet patch 23 in third_party/gvisor
// (PATCHES.md there): a SYN that comes twice (a rule that duplicates it, or
// a network that does) gets a SYN-ACK each time, as from Linux, and makes
// one connection. Upstream, when both copies waited in the listener's
// queue, the second failed with "port is in use", got no answer, was
// counted as a failed connection attempt, and was logged as a warning.
func TestDuplicateSYNAnswered(t *testing.T) {
	for range 20 {
		st, dev := newSolo(t, nil)
		p := newRawPeer(t, dev)
		l, ready := rawListen(t, st, rawStackPort)
		syn := synOptions(1000)
		p.send(header.TCPFlagSyn, p.sndNxt, 0, syn, nil)
		p.send(header.TCPFlagSyn, p.sndNxt, 0, syn, nil)
		var synack header.TCP
		for i := range 2 {
			// Within the first SYN-ACK's retransmission timeout (1 s).
			s := p.nextWithin(500 * time.Millisecond)
			if s == nil {
				t.Fatalf("SYN sent twice: %d SYN-ACKs, want 2 (failed connection attempts: %d)", i, st.Stack().Stats().TCP.FailedConnectionAttempts.Value())
			}
			if s.Flags() != header.TCPFlagSyn|header.TCPFlagAck || s.AckNumber() != p.sndNxt+1 {
				t.Fatalf("got %v ack %d, want a SYN-ACK of the SYN at %d", s.Flags(), s.AckNumber(), p.sndNxt)
			}
			if synack != nil && s.SequenceNumber() != synack.SequenceNumber() {
				t.Fatalf("second SYN-ACK at %d, the first at %d: want one connection", s.SequenceNumber(), synack.SequenceNumber())
			}
			synack = s
		}
		if n := st.Stack().Stats().TCP.FailedConnectionAttempts.Value(); n != 0 {
			t.Fatalf("%d failed connection attempts, want 0", n)
		}
		p.sndNxt++
		p.rcvNxt = synack.SequenceNumber() + 1
		p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(1001, 0), nil)
		acceptReady(t, l, ready)
	}
}
