package netstack

import "testing"

// TestTCPStatsAreTheStacks: the TCP counters TCP reaches without copying
// the stack's (Stack.TCPStats and Route.TCPStats, third_party/gvisor patch
// 43) are the ones Stats().TCP returns, and a segment sent is counted
// there. The change lowers a cost (a 1.4 KB copy of every counter per
// segment sent and received) and decides nothing; `sockets`'
// BenchmarkConnEchoSmall holds the cost.
func TestTCPStatsAreTheStacks(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	s := st.Stack()
	if *s.TCPStats() != s.Stats().TCP {
		t.Fatal("Stack.TCPStats is not Stats().TCP")
	}
	p := newRawPeer(t, dev)
	before := s.Stats().TCP.SegmentsSent.Value()
	rawAccept(t, st, p, nil)
	if n := s.Stats().TCP.SegmentsSent.Value() - before; n < 1 {
		t.Errorf("Stats().TCP.SegmentsSent counted %d segments for the SYN-ACK, want at least 1", n)
	}
}
