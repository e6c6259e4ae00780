package netstack

import (
	"bytes"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// TestIPInputKeepsThePacketsMemory hands a TCP segment to the stack's
// IPv4 and IPv6 input (HandlePacket, as the NIC does) and checks that the
// packet still holds the memory it came in: IP input reads its headers
// without copying the packet (third_party/gvisor patch 40). Upstream IP
// read the header again through the packet (after PREROUTING, and on IPv6
// before each extension header) while it still held a second reference to
// the packet's chunk, the header view it had validated, and so the chunk
// was copied for every packet received.
func TestIPInputKeepsThePacketsMemory(t *testing.T) {
	t.Parallel()
	st, _ := newSolo(t, nil)
	s := st.Stack()
	for _, tc := range []struct {
		name     string
		proto    tcpip.NetworkProtocolNumber
		src, dst netip.Addr
	}{
		{"ipv4", ipv4.ProtocolNumber, netip.MustParseAddr("10.0.0.9"), addrA4.Addr()},
		{"ipv6", ipv6.ProtocolNumber, netip.MustParseAddr("fd00::9"), addrA6.Addr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, terr := s.GetNetworkEndpoint(nicID, tc.proto)
			if terr != nil {
				t.Fatalf("GetNetworkEndpoint: %v", terr)
			}
			delivered := s.Stats().IP.PacketsDelivered
			before := delivered.Value()

			pkt := segmentPacket(tc.proto, tc.src, tc.dst)
			mem := &pkt.AsSlices()[0][0]
			ep.HandlePacket(pkt)
			if got := &pkt.AsSlices()[0][0]; got != mem {
				t.Errorf("IP input copied the packet to new memory")
			}
			pkt.DecRef()
			if n := delivered.Value() - before; n != 1 {
				t.Errorf("%d packets delivered to TCP, want 1", n)
			}
		})
	}
}

// segmentPacket is a TCP SYN from src to dst, port 20001 to 20002 (nothing
// listens there), as a device would deliver it: one view, headers not yet
// parsed.
func segmentPacket(proto tcpip.NetworkProtocolNumber, src, dst netip.Addr) *stack.PacketBuffer {
	from, to := tcpip.AddrFromSlice(src.AsSlice()), tcpip.AddrFromSlice(dst.AsSlice())
	tcp := make([]byte, header.TCPMinimumSize)
	header.TCP(tcp).Encode(&header.TCPFields{SrcPort: 20001, DstPort: 20002, SeqNum: 1, DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagSyn, WindowSize: 65535})
	sum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, from, to, uint16(len(tcp)))
	header.TCP(tcp).SetChecksum(^header.TCP(tcp).CalculateChecksum(sum))
	var b []byte
	if proto == ipv4.ProtocolNumber {
		b = make([]byte, header.IPv4MinimumSize+len(tcp))
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: from, DstAddr: to})
		ip.SetChecksum(^ip.CalculateChecksum())
		copy(b[header.IPv4MinimumSize:], tcp)
	} else {
		b = make([]byte, header.IPv6MinimumSize+len(tcp))
		header.IPv6(b).Encode(&header.IPv6Fields{PayloadLength: uint16(len(tcp)), TransportProtocol: header.TCPProtocolNumber, HopLimit: 64, SrcAddr: from, DstAddr: to})
		copy(b[header.IPv6MinimumSize:], tcp)
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	pkt.NetworkProtocolNumber = proto
	pkt.NICID = nicID
	return pkt
}

// TestTCPHoldsTheDeliveredPacket hands a data segment of an established
// connection to the stack's IPv4 input and checks that TCP keeps the
// packet it was given, by one more reference, until the application has
// read the data (third_party/gvisor patch 41). Upstream TCP made each
// received segment a clone of the packet (a second PacketBuffer and a
// second view of its chunk), and the packet delivered was left with the
// caller's reference alone.
func TestTCPHoldsTheDeliveredPacket(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	p := newRawPeer(t, dev)
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4})
	ep, terr := st.Stack().GetNetworkEndpoint(nicID, ipv4.ProtocolNumber)
	if terr != nil {
		t.Fatalf("GetNetworkEndpoint: %v", terr)
	}

	payload := []byte("one segment, held until it is read")
	b := p.packet(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, p.rcvNxt, nil, payload)
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	pkt.NetworkProtocolNumber = ipv4.ProtocolNumber
	pkt.NICID = nicID
	defer pkt.DecRef()
	ep.HandlePacket(pkt)
	waitFor(t, "the stack to queue the data", func() bool {
		return queueSize(t, c, tcpip.ReceiveQueueSizeOption) == len(payload)
	})
	if n := pkt.ReadRefs(); n != 2 {
		t.Errorf("the packet has %d references while its data waits to be read, want 2 (the caller's and the segment's)", n)
	}

	var got bytes.Buffer
	if _, err := c.Read(&got, tcpip.ReadOptions{}); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got.Bytes(), payload) {
		t.Errorf("read %q, want %q", got.Bytes(), payload)
	}
	if n := pkt.ReadRefs(); n != 1 {
		t.Errorf("the packet has %d references once its data is read, want 1 (the caller's)", n)
	}
}
