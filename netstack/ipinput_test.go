package netstack

import (
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
