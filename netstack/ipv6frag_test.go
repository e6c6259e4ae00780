package netstack

import (
	"encoding/binary"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// fragment6 builds an IPv6 fragment from peer6 to the stack: the fragment
// header (next header nh, offset off in bytes, M flag more, identification
// id) and payload.
func fragment6(id uint32, off int, more bool, nh uint8, payload []byte) []byte {
	b := make([]byte, header.IPv6MinimumSize+header.IPv6FragmentHeaderSize+len(payload))
	header.IPv6(b).Encode(&header.IPv6Fields{
		PayloadLength:     uint16(header.IPv6FragmentHeaderSize + len(payload)),
		TransportProtocol: tcpip.TransportProtocolNumber(header.IPv6FragmentHeader),
		HopLimit:          64,
		SrcAddr:           tcpipAddr(peer6),
		DstAddr:           tcpipAddr(addrA6.Addr()),
	})
	f := b[header.IPv6MinimumSize:]
	f[0] = nh
	m := uint16(0)
	if more {
		m = 1
	}
	binary.BigEndian.PutUint16(f[2:], uint16(off)&^7|m)
	binary.BigEndian.PutUint32(f[4:], id)
	copy(f[header.IPv6FragmentHeaderSize:], payload)
	return b
}

// syn6 is a TCP SYN from peer6 to port of the stack, checksummed.
func syn6(port uint16) []byte {
	b := make([]byte, header.TCPMinimumSize)
	tcp := header.TCP(b)
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: port, SeqNum: 1, DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagSyn, WindowSize: 65535})
	sum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, tcpipAddr(peer6), tcpipAddr(addrA6.Addr()), uint16(len(b)))
	tcp.SetChecksum(^tcp.CalculateChecksum(sum))
	return b
}

// answers6 writes pkts and then an echo request with sequence 999 and
// returns what the stack sent before its reply (the pipe keeps the order).
func answers6(t *testing.T, st *Stack, write func([][]byte), read func(func([]byte) bool) []byte, pkts [][]byte) [][]byte {
	t.Helper()
	write(append(pkts, echoRequest6(peer6, addrA6.Addr(), 0x4444, 999, nil)))
	var got [][]byte
	read(func(p []byte) bool {
		if header.IPVersion(p) != 6 {
			return false
		}
		ip := header.IPv6(p)
		if ip.NextHeader() == uint8(header.ICMPv6ProtocolNumber) {
			ic := header.ICMPv6(ip.Payload())
			if ic.Type() == header.ICMPv6EchoReply && ic.Sequence() == 999 {
				return true
			}
			if ic.Type() == header.ICMPv6NeighborSolicit || ic.Type() == header.ICMPv6RouterSolicit ||
				ic.Type() == header.ICMPv6MulticastListenerReport || ic.Type() == header.ICMPv6MulticastListenerV2Report {
				return false
			}
		}
		got = append(got, append([]byte(nil), p...))
		return false
	})
	return got
}

// TestIPv6FirstFragmentIncompleteChain: a first fragment that does not hold
// the upper-layer header whole (a SYN cut after 8 bytes; an echo request
// whose first fragment holds a destination options header and no ICMPv6)
// is answered with a parameter problem, code 3 (incomplete header chain),
// pointer 0, and the datagram is not reassembled, as Linux does (RFC 8200
// section 4.5, RFC 7112). gVisor reassembled both: the SYN got its RST.
// A datagram whose first fragment holds its header still goes through.
func TestIPv6FirstFragmentIncompleteChain(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	write := func(p [][]byte) {
		if _, err := dev.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	read := func(m func([]byte) bool) []byte { return readUntil(t, dev, m) }
	isIncomplete := func(p []byte) bool {
		ip := header.IPv6(p)
		if ip.NextHeader() != uint8(header.ICMPv6ProtocolNumber) {
			return false
		}
		ic := header.ICMPv6(ip.Payload())
		return ic.Type() == header.ICMPv6ParamProblem && ic.Code() == header.ICMPv6IncompleteHeaderChain && ic.TypeSpecific() == 0
	}

	syn := syn6(22) // a closed port: a SYN that arrives whole gets a RST
	echo := echoRequest6(peer6, addrA6.Addr(), 0x4444, 5, make([]byte, 16))[header.IPv6MinimumSize:]
	destOpts := []byte{uint8(header.ICMPv6ProtocolNumber), 0, 1, 4, 0, 0, 0, 0} // PadN
	for _, c := range []struct {
		name string
		pkts [][]byte
	}{
		{"syn cut after 8 bytes", [][]byte{
			fragment6(1, 0, true, uint8(header.TCPProtocolNumber), syn[:8]),
			fragment6(1, 8, false, uint8(header.TCPProtocolNumber), syn[8:]),
		}},
		{"no icmpv6 in the first fragment", [][]byte{
			fragment6(2, 0, true, uint8(header.IPv6DestinationOptionsExtHdrIdentifier), destOpts),
			fragment6(2, 8, false, uint8(header.IPv6DestinationOptionsExtHdrIdentifier), echo),
		}},
	} {
		got := answers6(t, st, write, read, c.pkts)
		if len(got) != 1 || !isIncomplete(got[0]) {
			t.Errorf("%s: the stack sent %d packets, want one parameter problem, incomplete header chain, pointer 0", c.name, len(got))
			for _, p := range got {
				t.Logf("  % x", p)
			}
		}
	}

	// The same echo request with its ICMPv6 header whole in the first
	// fragment is reassembled and answered.
	got := answers6(t, st, write, read, [][]byte{
		fragment6(3, 0, true, uint8(header.ICMPv6ProtocolNumber), echo[:8]),
		fragment6(3, 8, false, uint8(header.ICMPv6ProtocolNumber), echo[8:]),
	})
	if len(got) != 1 || header.IPv6(got[0]).NextHeader() != uint8(header.ICMPv6ProtocolNumber) ||
		header.ICMPv6(header.IPv6(got[0]).Payload()).Type() != header.ICMPv6EchoReply {
		t.Errorf("an echo request whose first fragment holds its ICMPv6 header: %d packets, want its echo reply", len(got))
	}
}
