package netstack

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestPureACKWithinShrunkWindow: the stack sends 10,000 bytes; the peer
// takes the first 4,000, drops the rest (as Linux does when a small
// receive buffer overflows) and shuts its window, then sends data of its
// own. The stack's ACK for that data must carry a sequence number the peer
// accepts at its zero window, its RCV.NXT (SND.UNA + SND.WND, as Linux's
// tcp_acceptable_seq stamps it), not SND.NXT 6,000 bytes beyond: Linux
// refuses such a segment unread, ACK field and all, so that a kernel
// client of serve's echo sent its data again and again and the echo
// crawled from one window probe to the next, seconds apart (gVisor patch
// 67).
func TestPureACKWithinShrunkWindow(t *testing.T) {
	st, dev := newSolo(t, nil)
	p := newRawPeer(t, dev)
	// MSS 1460 and window scale 7; the peer's window is 64 KiB.
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	irs := p.rcvNxt
	const sent, taken = 10000, 4000
	if n, err := c.Write(bytes.NewReader(make([]byte, sent)), tcpip.WriteOptions{}); err != nil || n != sent {
		t.Fatalf("stack write: %d, %v", n, err)
	}
	for p.rcvNxt != irs+sent {
		p.next()
	}
	p.closed = true
	p.send(header.TCPFlagAck, p.sndNxt, irs+taken, nil, nil)
	p.send(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, irs+taken, nil, []byte("data"))
	p.sndNxt += 4
	for {
		s := p.next()
		if s.AckNumber() != p.sndNxt || len(s.Payload()) != 0 {
			continue // a retransmission or a window probe
		}
		if got := s.SequenceNumber(); got != irs+taken {
			t.Fatalf("the ACK of the peer's data has SEQ = RCV.NXT%+d; want the peer's RCV.NXT, the right edge of its zero window", int32(got-(irs+taken)))
		}
		return
	}
}
