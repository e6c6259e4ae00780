package netstack

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestCwndRestartAfterIdle checks glassnet patch 21 in third_party/gvisor
// (PATCHES.md there): a connection that sent no new data for longer than
// an RTO, with nothing in flight, restarts its congestion window as
// Linux's tcp_cwnd_restart does: halved for every RTO of the idle time,
// down to the initial window, with the slow-start threshold at least three
// quarters of the window before. The idle time counts from the last data
// sent, so a pure ACK of the peer's data in the middle of it does not
// reset it. Upstream counted from any segment: after the ACK it sent its
// whole old window at once. The peer is played by hand on a manual clock.
func TestCwndRestartAfterIdle(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	p.window = 4096 // 512 KiB at window scale 7
	// MSS 1460 and window scale 7, no timestamps.
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	info := func() tcpip.TCPInfoOption { return tcpInfo(t, c) }
	write := func(n int) { writeZeros(t, c, n) }

	// 40 segments, each acknowledged as it arrives: slow start takes the
	// window from 10 segments to 50.
	const mss = 1460
	write(40 * mss)
	for end := p.rcvNxt + 40*mss; p.rcvNxt != end; {
		if len(p.next().Payload()) > 0 {
			p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
		}
	}
	// Nothing unacknowledged before the clock moves, or a tail loss probe
	// would go.
	waitSendQ(t, c, 0)
	before := info()
	if before.SndCwnd < 40 {
		t.Fatalf("cwnd %d after 40 segments acknowledged one by one in slow start, want at least 40", before.SndCwnd)
	}

	// Idle for 1.5 RTO, with the peer's data acknowledged (delayed ACK)
	// half way through.
	rto := before.RTO
	clock.Advance(rto / 2)
	p.send(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, p.rcvNxt, nil, []byte("ping"))
	p.sndNxt += 4
	clock.Advance(rto / 2)
	if ack := p.next(); len(ack.Payload()) != 0 || ack.AckNumber() != p.sndNxt {
		t.Fatalf("got %v ack %d length %d, want the ACK of the peer's 4 bytes", ack.Flags(), ack.AckNumber(), len(ack.Payload()))
	}
	clock.Advance(rto/2 + time.Millisecond)

	// New data: one RTO of idle halves the window, once.
	want := max(int(before.SndCwnd)/2, 10)
	write(100 * mss)
	sent := 0
	for range want {
		if s := p.next(); len(s.Payload()) > 0 {
			sent += (len(s.Payload()) + mss - 1) / mss
		}
	}
	for s := p.nextWithin(200 * time.Millisecond); s != nil; s = p.nextWithin(200 * time.Millisecond) {
		sent += (len(s.Payload()) + mss - 1) / mss
	}
	after := info()
	if sent != want || int(after.SndCwnd) != want {
		t.Errorf("after 1.5 RTO without new data (an ACK sent in between): %d segments sent at once and cwnd %d; want %d, half the %d before", sent, after.SndCwnd, want, before.SndCwnd)
	}
	if min := int(before.SndCwnd) * 3 / 4; int(after.SndSsthresh) < min {
		t.Errorf("ssthresh %d after the restart, want at least %d (3/4 of cwnd %d)", after.SndSsthresh, min, before.SndCwnd)
	}
}

// TestCubicEpochAfterIdle checks the CUBIC part of glassnet patch 21: the
// epoch of CUBIC's curve moves on by the time the connection sat idle, as
// Linux's bictcp_cwnd_event does when sending starts again, so that after
// the restart the window grows from where the curve left it. Upstream's
// epoch stayed at the last loss: ten seconds of idle later the first ACK
// in congestion avoidance took the window to hundreds of segments at once.
// The peer is played by hand on a manual clock that moves 1 ms before
// each of its ACKs.
func TestCubicEpochAfterIdle(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	p.window = 4096
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	cubic := tcpip.CongestionControlOption("cubic")
	if err := c.SetSockOpt(&cubic); err != nil {
		t.Fatalf("congestion control cubic: %v", err)
	}
	info := func() tcpip.TCPInfoOption { return tcpInfo(t, c) }
	const mss = 1460
	start, written := p.rcvNxt, 0
	write := func(n int) {
		writeZeros(t, c, n)
		written += n
	}
	// ackTo acknowledges up to seq 1 ms after the clock's time and waits
	// until the stack has taken the ACK (Send-Q: what is written and not
	// yet acknowledged).
	ackTo := func(seq uint32) {
		t.Helper()
		clock.Advance(time.Millisecond)
		p.send(header.TCPFlagAck, p.sndNxt, seq, nil, nil)
		waitSendQ(t, c, written-int(seq-start))
	}
	// ackNext acknowledges the stack's next data segment.
	ackNext := func() {
		t.Helper()
		for {
			if s := p.next(); len(s.Payload()) > 0 {
				ackTo(s.SequenceNumber() + uint32(len(s.Payload())))
				return
			}
		}
	}

	// Slow start over 40 segments.
	write(40 * mss)
	for p.rcvNxt != start+40*mss {
		ackNext()
	}
	// 20 segments more, the second lost: three duplicate ACKs, the fast
	// retransmission, then an ACK of all. CUBIC's epoch starts there.
	lost := start + 41*mss
	write(20 * mss)
	for p.rcvNxt != start+60*mss {
		p.next()
	}
	ackTo(lost)
	for range 3 {
		p.send(header.TCPFlagAck, p.sndNxt, lost, nil, nil)
	}
	if rx := p.next(); rx.SequenceNumber() != lost {
		t.Fatalf("after three duplicate ACKs: seq %d, want the fast retransmission of %d", rx.SequenceNumber()-start, lost-start)
	}
	ackTo(start + 60*mss)

	// Ten seconds idle, then new data: slow start from the initial window
	// up to the threshold the loss left, then congestion avoidance.
	clock.Advance(10 * time.Second)
	write(300 * mss)
	for ti := info(); ti.SndCwnd < ti.SndSsthresh; ti = info() {
		ackNext()
	}
	c0 := info()
	for range 10 {
		ackNext()
	}
	c1 := info()
	t.Logf("cwnd %d to %d in ten ACKs of congestion avoidance (ssthresh %d)", c0.SndCwnd, c1.SndCwnd, c1.SndSsthresh)
	if grew := int(c1.SndCwnd) - int(c0.SndCwnd); grew > 5 {
		t.Errorf("ten ACKs in congestion avoidance, ten seconds after the last loss and idle since: cwnd %d to %d; want at most 5 segments more", c0.SndCwnd, c1.SndCwnd)
	}
}
