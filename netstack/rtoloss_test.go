package netstack

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// The tests in this file play the peer by hand on a manual clock and
// check how the stack's retransmission timer enters loss, as Linux's
// tcp_retransmit_timer and tcp_enter_loss do (glassnet patches 30 and 31
// in third_party/gvisor, PATCHES.md there).

// lossConn connects a raw peer (MSS 1460, window scale 7, no SACK, no
// timestamps) to st, has the stack's application write 1 MB, and lets the
// connection leave slow start's first round: the peer acknowledges the
// stack's first flight, so the congestion window is 20 segments. It
// returns the stack's end with the second flight sent and not yet
// acknowledged, the segments of that flight, and the sequence number of
// the stack's first byte.
func lossConn(t *testing.T, st *Stack, p *rawPeer) (tcpip.Endpoint, []header.TCP, uint32) {
	t.Helper()
	c, synack := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	p.wscale = uint8(header.ParseSynOptions(synack.Options(), true).WS)
	writeZeros(t, c, 1<<20)
	flight := func() []header.TCP {
		segs := []header.TCP{p.next()}
		for s := p.nextWithin(200 * time.Millisecond); s != nil; s = p.nextWithin(200 * time.Millisecond) {
			segs = append(segs, s)
		}
		return segs
	}
	first := flight()
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
	second := flight()
	if len(second) <= len(first) {
		t.Fatalf("the stack sent %d segments after the peer acknowledged its first %d, want more (slow start)", len(second), len(first))
	}
	if ti := tcpInfo(t, c); ti.CcState != tcpip.Open {
		t.Fatalf("congestion state %v before any loss, want Open", ti.CcState)
	}
	return c, second, synack.SequenceNumber() + 1
}

// fireRTO advances clock by c's RTO, which fires the retransmission
// timer, and returns the segment the stack sends then.
func fireRTO(t *testing.T, clock *faketime.ManualClock, p *rawPeer, c tcpip.Endpoint) header.TCP {
	t.Helper()
	clock.Advance(tcpInfo(t, c).RTO)
	return p.next()
}

// timeouts returns the retransmission timeouts counted by st and by c
// (what `glassnet ss` shows as timeouts).
func timeouts(st *Stack, c tcpip.Endpoint) (stack, conn uint64) {
	return st.Stack().Stats().TCP.Timeouts.Value(), c.Stats().(*tcp.Stats).SendErrors.Timeouts.Value()
}

// TestZeroWindowInFlightTimeoutNotCounted checks glassnet patch 30: the
// peer takes part of a flight, drops the rest (its receive buffer is full:
// an application that does not read) and closes its window. The
// retransmission timer, with data in flight, then probes the closed
// window. Linux's tcp_retransmit_timer enters loss there (ca_state Loss,
// cwnd 1) but counts no retransmission timeout (LINUX_MIB_TCPTIMEOUTS,
// icsk_retransmits): the peer is alive and answers every probe. Upstream
// counted a timeout at every probe, so `glassnet ss` showed a timeouts
// counter that kept growing for as long as the peer did not read.
func TestZeroWindowInFlightTimeoutNotCounted(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	c, flight, first := lossConn(t, st, p)

	// The peer takes the flight's first two segments and closes its
	// window: the rest is in flight, and lost.
	una := flight[1].SequenceNumber() + uint32(len(flight[1].Payload()))
	p.closed = true
	p.send(header.TCPFlagAck, p.sndNxt, una, nil, nil)
	waitSendQ(t, c, 1<<20-int(una-first))
	stack0, conn0 := timeouts(st, c)

	// Four timer expiries, each answered with the window still closed.
	for i := range 4 {
		s := fireRTO(t, clock, p, c)
		if got := s.SequenceNumber(); int32(got-una) > 0 {
			t.Fatalf("expiry %d: got %v seq %d, want a probe or a retransmission at or below SND.UNA (%d)", i, s.Flags(), got, una)
		}
		p.send(header.TCPFlagAck, p.sndNxt, una, nil, nil)
	}
	// A byte the stack has had already, which it acknowledges at once:
	// when its ACK comes, the peer's ACKs before it have been processed.
	p.send(header.TCPFlagAck, p.sndNxt-1, una, nil, []byte{0})
	if s := p.next(); s.AckNumber() != p.sndNxt {
		t.Fatalf("the stack answered an old byte with %v ack %d, want ack %d", s.Flags(), s.AckNumber(), p.sndNxt)
	}
	ti := tcpInfo(t, c)
	stack1, conn1 := timeouts(st, c)
	t.Logf("after four expiries with the window closed: %v, cwnd %d, ssthresh %d, RTO %v; timeouts %d (stack), %d (connection)",
		ti.CcState, ti.SndCwnd, ti.SndSsthresh, ti.RTO, stack1-stack0, conn1-conn0)
	if stack1 != stack0 || conn1 != conn0 {
		t.Errorf("%d retransmission timeouts counted by the stack and %d by the connection, want none: the window is closed (Linux's tcp_retransmit_timer counts none there)", stack1-stack0, conn1-conn0)
	}
	// As on Linux, the expiry with data in flight is a loss all the same,
	// and the peer's duplicate ACKs leave the connection in it (glassnet
	// patch 33: upstream went to Disorder at the first of them).
	if ti.CcState != tcpip.RTORecovery || ti.SndCwnd != 1 {
		t.Errorf("congestion state %v, cwnd %d; want Loss (RTO recovery) with cwnd 1, as Linux's tcp_enter_loss", ti.CcState, ti.SndCwnd)
	}

	// The peer reads and opens its window: the stack sends what was lost.
	p.closed = false
	p.send(header.TCPFlagAck, p.sndNxt, una, nil, nil)
	if s := p.next(); s.SequenceNumber() != una || len(s.Payload()) == 0 {
		t.Fatalf("got %v seq %d length %d once the window opened, want the data at SND.UNA (%d)", s.Flags(), s.SequenceNumber(), len(s.Payload()), una)
	}
}

// TestSecondTimeoutKeepsSsthresh checks glassnet patch 31: two
// retransmission timeouts in a row, with nothing acknowledged between
// them, lower the slow-start threshold once. Linux's tcp_enter_loss sets
// ssthresh only when the connection is not already in Loss for this
// window of data (icsk_ca_state <= Disorder, high_seq acknowledged, or
// in Loss with icsk_retransmits 0: SND.UNA has moved since the last
// timeout). Upstream halved what it counted in flight at every timeout;
// after the first that was one segment, so the second set ssthresh to 2
// and the transfer climbed back in congestion avoidance from 2 segments.
func TestSecondTimeoutKeepsSsthresh(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	c, flight, _ := lossConn(t, st, p)
	una := flight[0].SequenceNumber()

	// The whole flight is lost: the first timeout.
	if s := fireRTO(t, clock, p, c); s.SequenceNumber() != una {
		t.Fatalf("first timeout: got seq %d, want the retransmission of SND.UNA (%d)", s.SequenceNumber(), una)
	}
	first := tcpInfo(t, c)
	if first.CcState != tcpip.RTORecovery || first.SndCwnd != 1 || first.SndSsthresh <= 2 || first.SndSsthresh > uint32(len(flight)) {
		t.Fatalf("after the first timeout: %v, cwnd %d, ssthresh %d; want Loss (RTO recovery), cwnd 1 and ssthresh half the %d segments in flight",
			first.CcState, first.SndCwnd, first.SndSsthresh, len(flight))
	}

	// The retransmission is lost too: the second timeout, in a row.
	if s := fireRTO(t, clock, p, c); s.SequenceNumber() != una {
		t.Fatalf("second timeout: got seq %d, want the retransmission of SND.UNA (%d)", s.SequenceNumber(), una)
	}
	second := tcpInfo(t, c)
	t.Logf("ssthresh %d after the first timeout, %d after the second", first.SndSsthresh, second.SndSsthresh)
	if second.SndSsthresh != first.SndSsthresh || second.SndCwnd != 1 {
		t.Errorf("after the second timeout in a row: cwnd %d, ssthresh %d; want cwnd 1 and ssthresh %d as after the first (Linux's tcp_enter_loss does not lower it again in Loss)",
			second.SndCwnd, second.SndSsthresh, first.SndSsthresh)
	}

	// The third retransmission gets through and is acknowledged: SND.UNA
	// moves, the connection is still in Loss (the rest of the flight is
	// outstanding), and the next timeout is a new loss, which lowers
	// ssthresh again (Linux: in Loss with icsk_retransmits back to 0).
	s := fireRTO(t, clock, p, c)
	p.send(header.TCPFlagAck, p.sndNxt, s.SequenceNumber()+uint32(len(s.Payload())), nil, nil)
	for p.nextWithin(200*time.Millisecond) != nil {
	}
	fireRTO(t, clock, p, c)
	third := tcpInfo(t, c)
	if third.SndSsthresh >= first.SndSsthresh {
		t.Errorf("after a timeout that followed an acknowledgment: ssthresh %d, want it lowered below %d", third.SndSsthresh, first.SndSsthresh)
	}
}
