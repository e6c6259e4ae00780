package netstack

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestZeroWindowProbeKeepsCongestionWindow checks glassnet patch 17 in
// third_party/gvisor (PATCHES.md there): while the peer's window is closed
// and nothing is in flight, the stack's timer sends window probes (Linux's
// persist timer) without treating them as retransmission timeouts. When
// the peer opens its window again, the congestion window is what it was,
// not one segment with a slow-start threshold of two (upstream's RTO
// recovery at every probe, after which the transfer crawled back up in
// congestion avoidance), no timeout was counted, and the RTO is what it
// was (the probes' wait backs off on its own). The peer is played by hand
// on a manual clock.
func TestZeroWindowProbeKeepsCongestionWindow(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	// MSS 1460 and window scale 7: the peer's open window is 64 KiB.
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	info := func() tcpip.TCPInfoOption { return tcpInfo(t, c) }
	write := func(n int) { writeZeros(t, c, n) }

	// 2,000 bytes sent and acknowledged with the window closed.
	write(2000)
	for got := 0; got < 2000; {
		got += len(p.next().Payload())
	}
	// The ACK closing the window carries a byte of data, so that the
	// stack's ACK of it (at once: the connection's first data) shows the
	// window has been taken.
	p.closed = true
	p.send(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, p.rcvNxt, nil, []byte{1})
	p.sndNxt++
	if ack := p.next(); len(ack.Payload()) != 0 || ack.AckNumber() != p.sndNxt {
		t.Fatalf("got %v ack %d length %d, want a pure ACK of the peer's byte (%d)", ack.Flags(), ack.AckNumber(), len(ack.Payload()), p.sndNxt)
	}
	before := info()
	timeouts := st.Stack().Stats().TCP.Timeouts.Value()

	// More to send, none of it allowed: the stack probes, with the timer
	// backing off, and the peer answers each probe with its window still
	// closed.
	write(100_000)
	for i := range 3 {
		clock.Advance(time.Duration(1<<i) * 2 * time.Second)
		probe := p.next()
		if len(probe.Payload()) != 1 || probe.SequenceNumber() != p.rcvNxt-1 {
			t.Fatalf("probe %d: got %v seq %d length %d, want a window probe (1 byte at %d)", i, probe.Flags(), probe.SequenceNumber(), len(probe.Payload()), p.rcvNxt-1)
		}
		p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
	}
	during := info()
	if during.CcState != tcpip.Open || during.SndCwnd != before.SndCwnd {
		t.Fatalf("after three window probes: congestion state %v, cwnd %d, ssthresh %d; want the state before probing (%v, cwnd %d)",
			during.CcState, during.SndCwnd, during.SndSsthresh, before.CcState, before.SndCwnd)
	}
	if n := st.Stack().Stats().TCP.Timeouts.Value() - timeouts; n != 0 {
		t.Errorf("%d retransmission timeouts counted for the window probes, want 0", n)
	}
	if during.RTO != before.RTO {
		t.Errorf("after three window probes the RTO is %v, want %v as before: the probes' wait backs off on its own (Linux's icsk_backoff), not the RTO", during.RTO, before.RTO)
	}

	// The peer reads and opens its window: the stack sends what its
	// congestion window allows at once, not one segment (p.next fails the
	// test when no segment comes).
	p.closed = false
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
	sent := 0
	for sent < int(before.SndCwnd)*1460/2 {
		sent += len(p.next().Payload())
	}
	t.Logf("cwnd %d before probing and %d after; %d bytes sent at once when the window opened", before.SndCwnd, during.SndCwnd, sent)
}
