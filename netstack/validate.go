package netstack

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// classify checks that pkt is a plausible IP packet before gVisor sees it:
// a known version and header lengths consistent with the bytes present.
// It returns the network protocol to deliver pkt to, or the reason to drop
// it. It does not allocate and never panics on any input.
//
// Checks deeper than the lengths (checksums, options, addresses) are left
// to gVisor, which counts its own failures (see Malformed).
func classify(pkt []byte) (tcpip.NetworkProtocolNumber, DropReason) {
	return classifySize(pkt, len(pkt))
}

// classifySize is classify for a packet of size bytes of which head, the
// first, holds the IP header (a packet read in two parts).
func classifySize(head []byte, size int) (tcpip.NetworkProtocolNumber, DropReason) {
	if size == 0 || len(head) == 0 {
		return 0, DropEmpty
	}
	switch header.IPVersion(head) {
	case header.IPv4Version:
		if len(head) < header.IPv4MinimumSize {
			return 0, DropIPv4Short
		}
		ip := header.IPv4(head)
		hlen := int(ip.HeaderLength())
		if hlen < header.IPv4MinimumSize || hlen > size {
			return 0, DropIPv4HeaderLength
		}
		if tl := int(ip.TotalLength()); tl < hlen || tl > size {
			return 0, DropIPv4TotalLength
		}
		return header.IPv4ProtocolNumber, ""
	case header.IPv6Version:
		if len(head) < header.IPv6MinimumSize {
			return 0, DropIPv6Short
		}
		if pl := int(header.IPv6(head).PayloadLength()); header.IPv6MinimumSize+pl > size {
			return 0, DropIPv6PayloadLength
		}
		return header.IPv6ProtocolNumber, ""
	default:
		return 0, DropBadVersion
	}
}

// classifyFrame checks an Ethernet frame the way classify checks an IP
// packet: a whole header, a destination that is this host (hw), broadcast
// or multicast, an EtherType the stack speaks (IPv4, IPv6, ARP), and then
// the packet inside. It returns the protocol named by the EtherType, or
// the reason to drop the frame. Like classify it does not allocate and
// never panics.
func classifyFrame(frame []byte, hw tcpip.LinkAddress) (tcpip.NetworkProtocolNumber, DropReason) {
	if reason := frameHeader(frame, hw); reason != "" {
		return 0, reason
	}
	payload := frame[header.EthernetMinimumSize:]
	switch proto := header.Ethernet(frame).Type(); proto {
	case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
		if len(payload) > 0 && header.IPVersion(payload) != ipVersionOf(proto) {
			return 0, DropBadVersion
		}
		if _, reason := classify(payload); reason != "" {
			return 0, reason
		}
		return proto, ""
	default:
		return proto, ""
	}
}

// frameHeader is the part of classifyFrame that a NIC's address filter
// does: the header, the destination, the EtherType, and the length of an
// ARP body. The IP packet inside is not looked at.
func frameHeader(frame []byte, hw tcpip.LinkAddress) DropReason {
	if len(frame) == 0 {
		return DropEmpty
	}
	if len(frame) < header.EthernetMinimumSize {
		return DropEthernetShort
	}
	// Group addresses (broadcast included) have the low bit of the first
	// octet set (IEEE 802.3 clause 3.2.3).
	if frame[0]&1 == 0 && string(frame[:header.EthernetAddressSize]) != string(hw) {
		return DropOtherHost
	}
	switch header.Ethernet(frame).Type() {
	case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
		return ""
	case header.ARPProtocolNumber:
		if len(frame)-header.EthernetMinimumSize < header.ARPSize {
			return DropARPShort
		}
		return ""
	default:
		return DropEtherType
	}
}

func ipVersionOf(proto tcpip.NetworkProtocolNumber) int {
	if proto == header.IPv4ProtocolNumber {
		return header.IPv4Version
	}
	return header.IPv6Version
}
