package hook

import (
	"encoding/binary"
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
	f, err := sumFieldsOf(b)
	if err != nil {
		return err
	}
	if f.ip >= 0 {
		ip := header.IPv4(b)
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	if f.l4 < 0 {
		return nil
	}
	h := &f.h
	l4 := b[h.L4:f.end]
	off := f.l4 - h.L4
	l4[off], l4[off+1] = 0, 0
	var sum uint16
	if h.Proto != ProtoICMP {
		src := tcpip.AddrFromSlice(h.Src.AsSlice())
		dst := tcpip.AddrFromSlice(h.Dst.AsSlice())
		sum = header.PseudoHeaderChecksum(tcpip.TransportProtocolNumber(h.Proto), src, dst, uint16(len(l4)))
	}
	sum = ^checksum.Checksum(l4, sum)
	if h.Proto == ProtoUDP && sum == 0 {
		sum = 0xffff
	}
	l4[off], l4[off+1] = byte(sum>>8), byte(sum)
	return nil
}

// sumFields is where the checksums of an IP packet are: the offsets of
// the IPv4 header checksum and of the transport checksum (-1 for one the
// packet has not: IPv6 has no header checksum, a later fragment or an
// IPv4 UDP datagram sent without one no transport checksum), and where
// the transport segment ends.
type sumFields struct {
	h      Headers
	ip, l4 int
	end    int
}

func sumFieldsOf(b []byte) (sumFields, error) {
	f := sumFields{h: ParseHeaders(b), ip: -1, l4: -1}
	h := &f.h
	switch h.Version {
	case 4:
		f.ip = 10
		f.end = min(int(header.IPv4(b).TotalLength()), len(b))
	case 6:
		f.end = min(40+int(header.IPv6(b).PayloadLength()), len(b))
	default:
		return f, ErrNotIP
	}
	if h.L4 == 0 || h.L4 > f.end {
		return f, nil
	}
	var off int // of the checksum field in the transport header
	switch h.Proto {
	case ProtoTCP:
		off = header.TCPChecksumOffset
	case ProtoUDP:
		off = 6
	case ProtoICMP, ProtoICMPv6:
		off = 2
	default:
		return f, nil
	}
	if f.end-h.L4 < off+2 {
		return f, nil
	}
	if h.Proto == ProtoUDP && h.Version == 4 && b[h.L4+off] == 0 && b[h.L4+off+1] == 0 {
		// An IPv4 UDP datagram without a checksum stays without one.
		return f, nil
	}
	f.l4 = h.L4 + off
	return f, nil
}

// sumErrors is how far the checksums stored in a packet are from the
// right ones, in one's complement: what a corruption that left them alone
// did to them. A Chain keeps it across the checksums it fixes for later
// hooks, so that the packet stays as corrupt as it was made.
type sumErrors struct {
	ip, l4 uint16
}

// sumErrorsOf measures b's checksum errors, leaving b as it was.
func sumErrorsOf(b []byte) sumErrors {
	f, err := sumFieldsOf(b)
	if err != nil {
		return sumErrors{}
	}
	stored := func(off int) uint16 {
		if off < 0 {
			return 0
		}
		return binary.BigEndian.Uint16(b[off:])
	}
	ip, l4 := stored(f.ip), stored(f.l4)
	_ = FixChecksums(b)
	e := sumErrors{ip: onesSub(ip, stored(f.ip)), l4: onesSub(l4, stored(f.l4))}
	if f.ip >= 0 {
		binary.BigEndian.PutUint16(b[f.ip:], ip)
	}
	if f.l4 >= 0 {
		binary.BigEndian.PutUint16(b[f.l4:], l4)
	}
	return e
}

// fixKeeping fixes b's checksums and then puts the errors e back in.
func fixKeeping(b []byte, e sumErrors) {
	f, err := sumFieldsOf(b)
	if err != nil {
		return
	}
	_ = FixChecksums(b)
	add := func(off int, d uint16) {
		if off < 0 || d == 0 {
			return
		}
		v := onesAdd(binary.BigEndian.Uint16(b[off:]), d)
		if v == 0 && off == f.l4 && f.h.Proto == ProtoUDP {
			v = 0xffff // zero is "no checksum" for UDP
		}
		binary.BigEndian.PutUint16(b[off:], v)
	}
	add(f.ip, e.ip)
	add(f.l4, e.l4)
}

func onesAdd(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s&0xffff + s>>16)
}

func onesSub(a, b uint16) uint16 { return onesAdd(a, ^b) }

// ChecksumsValid reports whether the IPv4 header checksum and the
// transport checksum of b are right (tests and examples use it).
func ChecksumsValid(b []byte) bool {
	c := append([]byte(nil), b...)
	if FixChecksums(c) != nil {
		return false
	}
	return string(c) == string(b)
}
