package netstack

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestListenerDropsWhatLinuxDrops checks glassnet patch 35 in
// third_party/gvisor (PATCHES.md there): a listener never answers a RST,
// even one that carries SYN and ACK too (upstream answered it with a RST
// of its own); it drops a SYN with a FIN, as Linux does, where upstream
// answered it with a SYN-ACK and opened a connection; and it counts a
// segment with none of SYN, ACK and RST as invalid ("tcp-invalid" in
// glassnet ss) instead of dropping it without a reason. A good SYN after
// them is answered.
func TestListenerDropsWhatLinuxDrops(t *testing.T) {
	st, dev := newSolo(t, nil)
	p := newRawPeer(t, dev)
	rawListen(t, st, rawStackPort)
	stats := st.Stack().Stats()
	wait := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !done(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s", what)
			}
		}
	}
	dropped := stats.DroppedPackets.Value
	invalid := stats.TCP.InvalidSegmentsReceived.Value
	sent := stats.TCP.SegmentsSent.Value

	d := dropped()
	p.send(header.TCPFlagSyn|header.TCPFlagAck|header.TCPFlagRst, p.sndNxt, 1, nil, nil)
	wait("the SYN+ACK+RST taken", func() bool { return dropped() > d || stats.TCP.ResetsSent.Value() > 0 })
	if n := stats.TCP.ResetsSent.Value(); n != 0 {
		t.Errorf("a RST with SYN and ACK was answered with a RST (%d sent), want none", n)
	}

	i, s0 := invalid(), sent()
	p.send(header.TCPFlagSyn|header.TCPFlagFin, p.sndNxt, 0, synOptions(1000), nil)
	wait("the SYN+FIN taken", func() bool { return invalid() > i || sent() > s0 })
	if n := sent() - s0; n != 0 {
		t.Fatalf("a SYN with a FIN was answered (%d segments sent), want it dropped", n)
	}

	i, d = invalid(), dropped()
	p.send(0, p.sndNxt, 0, nil, nil)
	wait("the segment without flags taken", func() bool { return dropped() > d })
	if invalid() == i {
		t.Error("a segment with no flags was dropped without being counted as invalid")
	}
	if p.got.Load() != 0 {
		t.Errorf("the stack sent %d segments to the peer, want none", p.got.Load())
	}

	p.send(header.TCPFlagSyn, p.sndNxt, 0, synOptions(1000), nil)
	if s := p.next(); s.Flags() != header.TCPFlagSyn|header.TCPFlagAck {
		t.Errorf("a good SYN after them got %v, want a SYN-ACK", s.Flags())
	}
}
