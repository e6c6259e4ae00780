package netstack

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestRACKLossesBeforeTheStop checks the losses RACK still finds with
// glassnet patch 11 in third_party/gvisor (PATCHES.md there), which stops
// RACK's walk of the segments in flight at the first one sent once after
// RACK.xmit_time instead of walking them all on every ACK. The patch
// changes what an ACK costs, not what it decides (a window of thousands of
// segments made the walk the largest cost of an ACK; glassbench's TUN echo
// profile shows it): this test holds the decisions.
//
// On a manual clock the stack sends six segments 100 µs apart, and the
// peer, 1 ms after the first, selectively acknowledges the third alone.
// RACK must take the first two as lost, since a segment sent after them
// arrived, and retransmit them (the second once the peer has the first
// again), and meanwhile retransmit nothing sent after the third: those
// are where the walk now stops.
func TestRACKLossesBeforeTheStop(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	p.window = 65535 // no window scale: the peer takes all the stack sends
	// MSS 1460 and SACK permitted; no timestamps.
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 4, 2, 1, 1})
	stats := c.Stats().(*tcp.Stats)

	const size, n = 1000, 6 // under the MSS, one segment per write
	var seqs []uint32
	for i := range n {
		if i > 0 {
			clock.Advance(100 * time.Microsecond)
		}
		if w, err := c.Write(bytes.NewReader(make([]byte, size)), tcpip.WriteOptions{}); err != nil || w != size {
			t.Fatalf("stack write %d: %d, %v", i, w, err)
		}
		s := p.next()
		if len(s.Payload()) != size {
			t.Fatalf("segment %d: %d bytes, want %d", i, len(s.Payload()), size)
		}
		seqs = append(seqs, s.SequenceNumber())
	}
	clock.Advance(1 * time.Millisecond)

	// The peer's ACKs: each acknowledges up to ack, with a SACK block
	// from the third segment to the end of segment last.
	sackACK := func(ack uint32, last int) {
		sack := []byte{1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(sack[4:], seqs[2])
		binary.BigEndian.PutUint32(sack[8:], seqs[last]+size)
		p.send(header.TCPFlagAck, p.sndNxt, ack, sack, nil)
	}
	// The reorder window is a quarter of the minimum RTT at most (under
	// 300 µs here); 3 ms in small steps is past it and short of the
	// retransmission timeout, and a tail loss probe does not fire in
	// recovery.
	var resent []uint32
	collect := func() {
		for range 60 {
			clock.Advance(50 * time.Microsecond)
			for {
				select {
				case b := <-p.segs:
					if s := header.TCP(b); len(s.Payload()) > 0 {
						resent = append(resent, s.SequenceNumber())
					}
					continue
				case <-time.After(5 * time.Millisecond):
				}
				break
			}
		}
	}
	// Nothing new acknowledged: RACK finds both losses; recovery halves
	// the window, which leaves room to resend the first.
	sackACK(seqs[0], 2)
	collect()
	for i, later := range seqs[3:] {
		if slices.Contains(resent, later) {
			t.Errorf("segment %d at %d, sent after the one the peer acknowledged, was retransmitted (retransmitted: %v)", i+4, later, resent)
		}
	}
	// The first arrived again, and the last three meanwhile: room for
	// the second, which is still missing.
	sackACK(seqs[1], n-1)
	collect()
	for _, lost := range seqs[:2] {
		if !slices.Contains(resent, lost) {
			t.Errorf("segment at %d, sent before the one the peer acknowledged, was not retransmitted (retransmitted: %v)", lost, resent)
		}
	}
	if n := stats.SendErrors.Timeouts.Value(); n != 0 {
		t.Errorf("%d retransmission timeouts, want 0: the losses were to be found by RACK", n)
	}
}
