package netstack

import (
	"errors"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// segment6 builds an IPv6 TCP segment from port 40000 of src to port 80 of
// dst, behind a destination options header when ext is set.
func segment6(src, dst netip.Addr, ext bool, payload []byte) []byte {
	var opts []byte
	if ext {
		// next header TCP, length 0 (8 bytes), PadN over the other 6
		opts = []byte{uint8(header.TCPProtocolNumber), 0, 1, 4, 0, 0, 0, 0}
	}
	b := make([]byte, header.IPv6MinimumSize+len(opts)+header.TCPMinimumSize+len(payload))
	next := header.TCPProtocolNumber
	if ext {
		next = 60 // destination options
	}
	header.IPv6(b).Encode(&header.IPv6Fields{
		PayloadLength:     uint16(len(b) - header.IPv6MinimumSize),
		TransportProtocol: next,
		HopLimit:          64,
		SrcAddr:           tcpipAddr(src),
		DstAddr:           tcpipAddr(dst),
	})
	copy(b[header.IPv6MinimumSize:], opts)
	tcp := header.TCP(b[header.IPv6MinimumSize+len(opts):])
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 80, SeqNum: 1, AckNum: 1,
		DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagAck, WindowSize: 502})
	copy(tcp[header.TCPMinimumSize:], payload)
	return b
}

// udp4 builds an IPv4 UDP datagram from src to dst.
func udp4(src, dst netip.Addr, payload []byte) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.UDPProtocolNumber),
		SrcAddr:     tcpipAddr(src),
		DstAddr:     tcpipAddr(dst),
	})
	header.IPv4(b).SetChecksum(^header.IPv4(b).CalculateChecksum())
	header.UDP(b[header.IPv4MinimumSize:]).Encode(&header.UDPFields{SrcPort: 40000, DstPort: 9, Length: uint16(len(b) - header.IPv4MinimumSize)})
	copy(b[header.IPv4MinimumSize+header.UDPMinimumSize:], payload)
	return b
}

// TestCheckContinue: CheckContinue says what Continue then does with the
// same packet, sending nothing itself. On a stack with segmentation
// offload a TCP packet over the MTU goes on as a super-packet, but not one
// behind an IPv6 extension header (the segmenter takes none), nor a UDP
// datagram over the MTU; without offload nothing over the MTU goes on.
func TestCheckContinue(t *testing.T) {
	t.Parallel()
	const mtu = 1500
	tso, _ := newPair(t, tun.PipeOptions{MTU: mtu, Offload: true}, nil)
	plain, _ := newPair(t, tun.PipeOptions{MTU: mtu}, nil)
	if tso.Offloads()&tun.OffloadTSO4 == 0 || plain.Offloads() != 0 {
		t.Fatalf("offloads %v and %v, want TSO on the first only", tso.Offloads(), plain.Offloads())
	}
	a4, b4, a6, b6 := addrA4.Addr(), addrB4.Addr(), addrA6.Addr(), addrB6.Addr()
	big := make([]byte, 3000)
	for _, c := range []struct {
		name string
		st   *Stack
		dir  trace.Dir
		pkt  []byte
		ok   bool
	}{
		{"tso tcp4 over MTU out", tso, trace.Out, segment4(a4, b4, 1, 1, header.TCPFlagAck, nil, big), true},
		{"tso tcp4 over MTU in", tso, trace.In, segment4(b4, a4, 1, 1, header.TCPFlagAck, nil, big), true},
		{"tso tcp6 over MTU out", tso, trace.Out, segment6(a6, b6, false, big), true},
		{"tso tcp6 extension header over MTU out", tso, trace.Out, segment6(a6, b6, true, big), false},
		{"tso tcp6 extension header over MTU in", tso, trace.In, segment6(b6, a6, true, big), false},
		{"tso tcp6 extension header within MTU", tso, trace.Out, segment6(a6, b6, true, big[:100]), true},
		{"tso udp over MTU", tso, trace.Out, udp4(a4, b4, big), false},
		{"tso malformed", tso, trace.Out, segment4(a4, b4, 1, 1, header.TCPFlagAck, nil, big)[:100], false},
		{"tso no direction", tso, "", segment4(a4, b4, 1, 1, header.TCPFlagAck, nil, nil), false},
		{"plain tcp4 over MTU", plain, trace.Out, segment4(a4, b4, 1, 1, header.TCPFlagAck, nil, big), false},
		{"plain tcp4 within MTU", plain, trace.Out, segment4(a4, b4, 1, 1, header.TCPFlagAck, nil, big[:100]), true},
	} {
		before := c.st.Stats().Continued
		check := c.st.CheckContinue(c.dir, c.pkt)
		if n := c.st.Stats().Continued; n != before {
			t.Errorf("%s: CheckContinue sent the packet on (%d continued, was %d)", c.name, n, before)
		}
		if (check == nil) != c.ok || (check != nil && !errors.Is(check, ErrContinue)) {
			t.Errorf("%s: CheckContinue = %v, want it to go on: %v", c.name, check, c.ok)
		}
		err := c.st.Continue(c.dir, c.pkt)
		if (err == nil) != (check == nil) || (err != nil && err.Error() != check.Error()) {
			t.Errorf("%s: Continue = %v, CheckContinue said %v", c.name, err, check)
		}
	}
}
