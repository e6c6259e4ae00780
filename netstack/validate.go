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
	if len(pkt) == 0 {
		return 0, DropEmpty
	}
	switch header.IPVersion(pkt) {
	case header.IPv4Version:
		if len(pkt) < header.IPv4MinimumSize {
			return 0, DropIPv4Short
		}
		ip := header.IPv4(pkt)
		hlen := int(ip.HeaderLength())
		if hlen < header.IPv4MinimumSize || hlen > len(pkt) {
			return 0, DropIPv4HeaderLength
		}
		if tl := int(ip.TotalLength()); tl < hlen || tl > len(pkt) {
			return 0, DropIPv4TotalLength
		}
		return header.IPv4ProtocolNumber, ""
	case header.IPv6Version:
		if len(pkt) < header.IPv6MinimumSize {
			return 0, DropIPv6Short
		}
		if pl := int(header.IPv6(pkt).PayloadLength()); header.IPv6MinimumSize+pl > len(pkt) {
			return 0, DropIPv6PayloadLength
		}
		return header.IPv6ProtocolNumber, ""
	default:
		return 0, DropBadVersion
	}
}
