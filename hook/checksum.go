package hook

import (
	"errors"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// ErrNotIP is returned by FixChecksums for bytes that are not a whole IP
// packet.
var ErrNotIP = errors.New("hook: not an IP packet")

// FixChecksums recomputes the IPv4 header checksum and the TCP, UDP, ICMP
// or ICMPv6 checksum of the IP packet b, after a hook changed it. A later
// fragment has no transport checksum to fix.
func FixChecksums(b []byte) error {
	h := ParseHeaders(b)
	var end int
	switch h.Version {
	case 4:
		ip := header.IPv4(b)
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
		end = min(int(ip.TotalLength()), len(b))
	case 6:
		end = min(40+int(header.IPv6(b).PayloadLength()), len(b))
	default:
		return ErrNotIP
	}
	if h.L4 == 0 || h.L4 > end {
		return nil
	}
	l4 := b[h.L4:end]
	src := tcpip.AddrFromSlice(h.Src.AsSlice())
	dst := tcpip.AddrFromSlice(h.Dst.AsSlice())
	var off int // of the checksum field in the transport header
	pseudo := true
	switch h.Proto {
	case ProtoTCP:
		off = header.TCPChecksumOffset
	case ProtoUDP:
		off = 6
	case ProtoICMP:
		off, pseudo = 2, false
	case ProtoICMPv6:
		off = 2
	default:
		return nil
	}
	if len(l4) < off+2 {
		return nil
	}
	if h.Proto == ProtoUDP && h.Version == 4 && l4[off] == 0 && l4[off+1] == 0 {
		// An IPv4 UDP datagram without a checksum stays without one.
		return nil
	}
	l4[off], l4[off+1] = 0, 0
	var sum uint16
	if pseudo {
		sum = header.PseudoHeaderChecksum(tcpip.TransportProtocolNumber(h.Proto), src, dst, uint16(len(l4)))
	}
	sum = ^checksum.Checksum(l4, sum)
	if h.Proto == ProtoUDP && sum == 0 {
		sum = 0xffff
	}
	l4[off], l4[off+1] = byte(sum>>8), byte(sum)
	return nil
}

// ChecksumsValid reports whether the IPv4 header checksum and the
// transport checksum of b are right (tests and examples use it).
func ChecksumsValid(b []byte) bool {
	c := append([]byte(nil), b...)
	if FixChecksums(c) != nil {
		return false
	}
	return string(c) == string(b)
}
