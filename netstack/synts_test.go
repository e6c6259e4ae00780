package netstack

import (
	"encoding/binary"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestSynAckRetransmitFreshTimestamp checks glassnet patch 18 in
// third_party/gvisor (PATCHES.md there): a SYN-ACK sent again carries the
// time it is sent in its timestamp, as Linux's does, so that a handshake
// whose first SYN-ACK was lost measures the round trip of the one that
// arrived. Upstream sent the first one's timestamp again: the peer's echo
// of it made the connection's first RTT sample the whole retransmission
// timeout (about a second, an RTO over three seconds). The peer is played
// by hand on a manual clock and answers only the second SYN-ACK, 5 ms after it.
func TestSynAckRetransmitFreshTimestamp(t *testing.T) {
	t.Parallel()
	clock, p, l, ready := synListener(t)
	tsVal := func(s header.TCP) uint32 {
		t.Helper()
		opts := header.ParseSynOptions(s.Options(), true)
		if !opts.TS {
			t.Fatalf("%v without a timestamp option", s.Flags())
		}
		return opts.TSVal
	}

	p.send(header.TCPFlagSyn, p.sndNxt, 0, synOptions(1000), nil)
	first := p.next()
	if first.Flags() != header.TCPFlagSyn|header.TCPFlagAck {
		t.Fatalf("got %v, want the SYN-ACK", first.Flags())
	}
	// The first SYN-ACK is lost; the stack sends it again after its
	// retransmission timeout.
	clock.Advance(time.Second)
	second := p.next()
	if second.Flags() != header.TCPFlagSyn|header.TCPFlagAck {
		t.Fatalf("got %v, want the SYN-ACK again", second.Flags())
	}
	if tsVal(second) == tsVal(first) {
		t.Errorf("the SYN-ACK sent again a second later carries the first one's timestamp (%d), want the time it is sent", tsVal(first))
	}
	// The peer's ACK comes 5 ms after the second SYN-ACK.
	clock.Advance(5 * time.Millisecond)
	p.sndNxt++
	p.rcvNxt = second.SequenceNumber() + 1
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(1001, tsVal(second)), nil)
	ti := tcpInfo(t, acceptReady(t, l, ready))
	if ti.RTT != 5*time.Millisecond || ti.RTO >= time.Second {
		t.Errorf("after a handshake whose ACK came 5 ms after the second SYN-ACK: RTT %v, RTO %v; want an RTT of 5 ms (and the RTO its minimum), not the retransmission timeout", ti.RTT, ti.RTO)
	}
}

// synListener is a stack on a manual clock listening on rawStackPort, the
// raw peer that talks to it, and the channel that says a connection waits
// to be accepted.
func synListener(t *testing.T) (*faketime.ManualClock, *rawPeer, tcpip.Endpoint, <-chan struct{}) {
	t.Helper()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	l, ready := rawListen(t, st, rawStackPort)
	return clock, p, l, ready
}

// tsOption is a timestamp option after two NOPs: 12 bytes.
func tsOption(val, ecr uint32) []byte {
	b := []byte{1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], val)
	binary.BigEndian.PutUint32(b[8:], ecr)
	return b
}

// synOptions are a SYN's: MSS 1460, window scale 7 and a timestamp.
func synOptions(tsVal uint32) []byte {
	return append([]byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7}, tsOption(tsVal, 0)...)
}

// TestSynRetransmittedGetsSynAck checks glassnet patch 19 in
// third_party/gvisor (PATCHES.md there): the peer's SYN sent again while
// the stack waits in SYN-RCVD (its SYN-ACK was lost) gets the SYN-ACK again
// at once, as from Linux, so the handshake completes at the peer's pace.
// Upstream answered with an ACK without SYN, which a peer in SYN-SENT
// drops, and the handshake waited for the stack's own timer. The clock
// does not move, so no timer sends anything.
func TestSynRetransmittedGetsSynAck(t *testing.T) {
	t.Parallel()
	_, p, l, ready := synListener(t)
	p.send(header.TCPFlagSyn, p.sndNxt, 0, synOptions(1000), nil)
	if first := p.next(); first.Flags() != header.TCPFlagSyn|header.TCPFlagAck {
		t.Fatalf("got %v, want the SYN-ACK", first.Flags())
	}
	// The SYN-ACK is lost; the peer sends its SYN again.
	p.send(header.TCPFlagSyn, p.sndNxt, 0, synOptions(2000), nil)
	second := p.next()
	if second.Flags() != header.TCPFlagSyn|header.TCPFlagAck || second.AckNumber() != p.sndNxt+1 {
		t.Fatalf("the peer's SYN again: got %v ack %d, want the SYN-ACK again (ack %d)", second.Flags(), second.AckNumber(), p.sndNxt+1)
	}
	p.sndNxt++
	p.rcvNxt = second.SequenceNumber() + 1
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(2001, header.ParseSynOptions(second.Options(), true).TSVal), nil)
	acceptReady(t, l, ready)
}
