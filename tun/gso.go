package tun

import (
	"encoding/binary"
	"strings"

	ipsum "gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// Offload is a set of segmentation and checksum offloads a device has
// agreed with the kernel (TUNSETOFFLOAD).
type Offload uint8

const (
	// OffloadCsum: packets may carry a partial checksum (NEEDS_CSUM) both
	// ways; the other end completes it.
	OffloadCsum Offload = 1 << iota
	// OffloadTSO4 and OffloadTSO6: TCP super-packets, segmented by the
	// receiver of the packet.
	OffloadTSO4
	OffloadTSO6
	// OffloadUSO4 and OffloadUSO6: UDP super-packets (UDP_SEGMENT).
	OffloadUSO4
	OffloadUSO6
)

// String lists the offloads ("csum,tso4,tso6"), or says "none".
func (o Offload) String() string {
	if o == 0 {
		return "none"
	}
	var parts []string
	for _, x := range [...]struct {
		o    Offload
		name string
	}{{OffloadCsum, "csum"}, {OffloadTSO4, "tso4"}, {OffloadTSO6, "tso6"}, {OffloadUSO4, "uso4"}, {OffloadUSO6, "uso6"}} {
		if o&x.o != 0 {
			parts = append(parts, x.name)
		}
	}
	return strings.Join(parts, ",")
}

// GSOType says how a super-packet is to be cut into packets.
type GSOType uint8

const (
	// GSONone: an ordinary packet.
	GSONone GSOType = iota
	// GSOTCPv4 and GSOTCPv6: a TCP segment larger than the MSS, cut into
	// segments of GSO.Size payload bytes.
	GSOTCPv4
	GSOTCPv6
	// GSOUDP: a UDP datagram cut into datagrams of GSO.Size payload
	// bytes (UDP_SEGMENT), over IPv4 or IPv6.
	GSOUDP
)

func (t GSOType) String() string {
	switch t {
	case GSONone:
		return "none"
	case GSOTCPv4:
		return "tcp4"
	case GSOTCPv6:
		return "tcp6"
	case GSOUDP:
		return "udp"
	}
	return "unknown"
}

// GSO is the offload metadata of one packet on an OffloadDevice: the
// virtio_net_hdr of the packet in a typed form.
type GSO struct {
	Type GSOType
	// HdrLen is the length of the IP and transport headers, as the
	// sender stated it (a hint: the segmenter reads the headers itself).
	HdrLen uint16
	// Size is the payload of each segment (the MSS for TCP); only with a
	// Type other than GSONone.
	Size uint16
	// NeedsCsum: the checksum at CsumStart+CsumOffset holds only the
	// pseudo-header sum (CHECKSUM_PARTIAL); the sum of the bytes from
	// CsumStart on is still to be added. CsumStart is the offset of the
	// transport header.
	NeedsCsum             bool
	CsumStart, CsumOffset uint16
	// DataValid: the sender vouches for the checksums
	// (CHECKSUM_UNNECESSARY).
	DataValid bool
}

// OffloadStats counts what an OffloadDevice moved as super-packets.
type OffloadStats struct {
	// GSOIn counts super-packets read (by ReadGSO or split by Read) and
	// GSOSegmentsIn the segments they carried; GSOOut and GSOSegmentsOut
	// the same for writes.
	GSOIn, GSOSegmentsIn   uint64
	GSOOut, GSOSegmentsOut uint64
	// Split counts super-packets that Read cut into packets in software,
	// Completed the partial checksums Read completed.
	Split, Completed uint64
	// Drops counts packets dropped for malformed metadata, by reason
	// (DropVnetShort, ...). Every reason is present, zero or not.
	Drops map[DropReason]uint64
}

// IP and transport header offsets the segmenter uses (RFC 791, 8200, 9293,
// 768).
const (
	ipv4MinLen      = 20
	ipv6Len         = 40
	ipv4TotalLenOff = 2
	ipv4IDOff       = 4
	ipv4FlagsOff    = 6
	ipv4ProtoOff    = 9
	ipv4CsumOff     = 10
	ipv4SrcOff      = 12
	ipv6PayLenOff   = 4
	ipv6NextOff     = 6
	ipv6SrcOff      = 8
	tcpMinLen       = 20
	tcpSeqOff       = 4
	tcpDataOff      = 12
	tcpFlagsOff     = 13
	tcpCsumOff      = 16
	udpLen          = 8
	udpLenOff       = 4
	udpCsumOff      = 6

	protoTCP = 6
	protoUDP = 17

	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// gsoLayout is where the parts of a super-packet are.
type gsoLayout struct {
	v6     bool
	proto  uint8
	ipLen  int // IP header
	hdrLen int // IP and transport headers
	end    int // end of the packet as the IP header states it
}

// layout checks that pkt is a packet g can segment and returns its layout,
// or a drop reason. It reads only within pkt and does not allocate.
func (g GSO) layout(pkt []byte) (gsoLayout, DropReason) { return g.layoutHead(pkt, len(pkt)) }

// layoutHead is layout for a packet of size bytes of which only the first,
// head, are at hand: every header must lie within head.
func (g GSO) layoutHead(head []byte, size int) (gsoLayout, DropReason) {
	var l gsoLayout
	if len(head) < 1 || size < len(head) {
		return l, DropGSOHeaders
	}
	switch head[0] >> 4 {
	case 4:
		if g.Type == GSOTCPv6 || len(head) < ipv4MinLen {
			return l, DropGSOHeaders
		}
		l.ipLen = int(head[0]&0x0f) * 4
		l.end = int(binary.BigEndian.Uint16(head[ipv4TotalLenOff:]))
		frag := binary.BigEndian.Uint16(head[ipv4FlagsOff:])
		if l.ipLen < ipv4MinLen || l.end < l.ipLen || l.end > size || l.ipLen > len(head) || frag&0x3fff != 0 {
			return l, DropGSOHeaders
		}
		l.proto = head[ipv4ProtoOff]
	case 6:
		if g.Type == GSOTCPv4 || len(head) < ipv6Len {
			return l, DropGSOHeaders
		}
		l.v6 = true
		l.ipLen = ipv6Len
		l.end = ipv6Len + int(binary.BigEndian.Uint16(head[ipv6PayLenOff:]))
		if l.end > size {
			return l, DropGSOHeaders
		}
		l.proto = head[ipv6NextOff]
	default:
		return l, DropGSOHeaders
	}
	l4 := head[l.ipLen:min(l.end, len(head))]
	switch g.Type {
	case GSOTCPv4, GSOTCPv6:
		if l.proto != protoTCP || len(l4) < tcpMinLen {
			return l, DropGSOHeaders
		}
		off := int(l4[tcpDataOff]>>4) * 4
		if off < tcpMinLen || off > len(l4) {
			return l, DropGSOHeaders
		}
		l.hdrLen = l.ipLen + off
	case GSOUDP:
		if l.proto != protoUDP || len(l4) < udpLen {
			return l, DropGSOHeaders
		}
		l.hdrLen = l.ipLen + udpLen
	default:
		return l, DropGSOHeaders
	}
	if g.Size == 0 {
		return l, DropVnetGSOSize
	}
	return l, ""
}

// Segments returns how many packets the super-packet pkt becomes when cut
// by g (1 for a super-packet no larger than one segment), or 0 and the
// reason when pkt does not fit g.
func (g GSO) Segments(pkt []byte) (int, DropReason) { return g.SegmentsOf(pkt, len(pkt)) }

// SegmentsOf is Segments for a packet of size bytes that begins with head,
// which holds all of its headers (a packet read with ScatterReader).
func (g GSO) SegmentsOf(head []byte, size int) (int, DropReason) {
	l, reason := g.layoutHead(head, size)
	if reason != "" {
		return 0, reason
	}
	return segCount(l.end-l.hdrLen, int(g.Size)), ""
}

func segCount(payload, size int) int {
	if payload <= 0 {
		return 1
	}
	return (payload + size - 1) / size
}

// SegmentAt writes packet i of the super-packet pkt, cut by g, into dst
// and returns its length: the headers of pkt with the IP lengths, IPv4 ID
// (incremented per segment, as the kernel's TSO does), TCP sequence number
// or UDP length adjusted, FIN and PSH only on the last segment and CWR only
// on the first, and every checksum complete. It returns 0 when pkt does
// not fit g, i is out of range or dst is too short. It does not allocate.
func (g GSO) SegmentAt(dst, pkt []byte, i int) int {
	l, reason := g.layout(pkt)
	if reason != "" || i < 0 {
		return 0
	}
	size := int(g.Size)
	payload := l.end - l.hdrLen
	n := segCount(payload, size)
	if i >= n {
		return 0
	}
	from := min(i*size, payload)
	to := min(from+size, payload)
	total := l.hdrLen + to - from
	if len(dst) < total {
		return 0
	}
	copy(dst, pkt[:l.hdrLen])
	copy(dst[l.hdrLen:], pkt[l.hdrLen+from:l.hdrLen+to])
	seg := dst[:total]
	if l.v6 {
		binary.BigEndian.PutUint16(seg[ipv6PayLenOff:], uint16(total-ipv6Len))
	} else {
		binary.BigEndian.PutUint16(seg[ipv4TotalLenOff:], uint16(total))
		id := binary.BigEndian.Uint16(pkt[ipv4IDOff:])
		binary.BigEndian.PutUint16(seg[ipv4IDOff:], id+uint16(i))
		setIPv4Checksum(seg[:l.ipLen])
	}
	l4 := seg[l.ipLen:]
	switch g.Type {
	case GSOTCPv4, GSOTCPv6:
		seq := binary.BigEndian.Uint32(pkt[l.ipLen+tcpSeqOff:])
		binary.BigEndian.PutUint32(l4[tcpSeqOff:], seq+uint32(from))
		flags := l4[tcpFlagsOff]
		if i != n-1 {
			flags &^= tcpFlagFIN | tcpFlagPSH
		}
		if i != 0 {
			flags &^= tcpFlagCWR
		}
		l4[tcpFlagsOff] = flags
		setL4Checksum(seg, l.ipLen, l.v6, protoTCP, tcpCsumOff)
	case GSOUDP:
		binary.BigEndian.PutUint16(l4[udpLenOff:], uint16(len(l4)))
		setL4Checksum(seg, l.ipLen, l.v6, protoUDP, udpCsumOff)
	}
	return total
}

// CompleteChecksum completes the partial checksum of pkt that g describes
// (NEEDS_CSUM), as a NIC does: the ones' complement sum of pkt from
// CsumStart to the end of the IP packet, added to the pseudo-header sum
// the field holds, stored complemented. It reports whether it did; a
// packet whose offsets do not fit is left alone.
func CompleteChecksum(pkt []byte, g GSO) bool {
	if !g.NeedsCsum {
		return false
	}
	end := ipPacketLen(pkt)
	if end == 0 || end > len(pkt) {
		end = len(pkt)
	}
	return completeChecksum(pkt[:end], int(g.CsumStart), int(g.CsumOffset))
}

// completeChecksum does what a NIC does for a packet or frame handed over
// with CHECKSUM_PARTIAL: the Internet checksum of b[start:], whose checksum
// field at start+offset already holds the pseudo-header sum, stored into
// that field. It reports whether it did; b too short for the offsets is
// left alone, for the stack to reject.
func completeChecksum(b []byte, start, offset int) bool {
	at := start + offset
	if start < 0 || offset < 0 || start >= len(b) || at+2 > len(b) {
		return false
	}
	c := ^ipsum.Checksum(b[start:], 0)
	if c == 0 {
		c = 0xffff // the same in ones' complement, and what UDP needs
	}
	binary.BigEndian.PutUint16(b[at:], c)
	return true
}

// setIPv4Checksum recomputes the header checksum of the IPv4 header h.
func setIPv4Checksum(h []byte) {
	h[ipv4CsumOff], h[ipv4CsumOff+1] = 0, 0
	binary.BigEndian.PutUint16(h[ipv4CsumOff:], ^ipsum.Checksum(h, 0))
}

// setL4Checksum computes the TCP or UDP checksum of the packet pkt, whose
// transport header starts at ipLen and has its checksum at csumOff.
func setL4Checksum(pkt []byte, ipLen int, v6 bool, proto uint8, csumOff int) {
	l4 := pkt[ipLen:]
	l4[csumOff], l4[csumOff+1] = 0, 0
	c := ^ipsum.Checksum(l4, pseudoHeaderSum(pkt, v6, proto, len(l4)))
	if c == 0 && proto == protoUDP {
		c = 0xffff // RFC 768: zero means no checksum
	}
	binary.BigEndian.PutUint16(l4[csumOff:], c)
}

// pseudoHeaderSum is the ones' complement sum of the IPv4 or IPv6
// pseudo-header of a transport segment of l4Len bytes in pkt.
func pseudoHeaderSum(pkt []byte, v6 bool, proto uint8, l4Len int) uint16 {
	var addrs []byte
	if v6 {
		addrs = pkt[ipv6SrcOff : ipv6SrcOff+32]
	} else {
		addrs = pkt[ipv4SrcOff : ipv4SrcOff+8]
	}
	s := ipsum.Checksum(addrs, 0)
	s = ipsum.Combine(s, uint16(proto))
	return ipsum.Combine(s, uint16(l4Len))
}

// ipPacketLen returns the length an IPv4 or IPv6 packet claims in its
// header, or 0 if b is too short to tell.
func ipPacketLen(b []byte) int {
	if len(b) < 1 {
		return 0
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) >= 4 {
			return int(b[2])<<8 | int(b[3])
		}
	case 6:
		if len(b) >= 6 {
			return 40 + (int(b[4])<<8 | int(b[5]))
		}
	}
	return 0
}
