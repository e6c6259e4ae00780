package trace

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// Packet is one packet as DescribePacket or DescribeFrame reads it.
type Packet struct {
	// Conn is the TCP or UDP connection the packet belongs to,
	// "10.0.0.1:40000->10.0.0.2:80"; empty for other packets.
	Conn string
	// Summary is the line tcpdump would print for the packet, without
	// its time: "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq
	// 1:152, ack 1, win 502, options [nop,nop,TS val 1 ecr 2], length
	// 151".
	Summary string
	// LinkPacket is the fields of the link "packet" event.
	LinkPacket
}

// SeqBases gives DescribePacket what a TCP segment's sequence and
// acknowledgment numbers are shown relative to, as tcpdump shows them:
// the initial sequence number of each direction of the connection.
//
// DescribePacket calls SeqBases once for every TCP segment it reads, in
// the order it reads them, so that an implementation learns the ISNs from
// the SYNs as they go by: src and dst are the segment's ends, flags its
// flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10). seqBase is the ISN
// of the direction src to dst (this segment's own, for a SYN), ackBase
// that of dst to src; ok false where it is not known, and the number is
// shown as it is.
type SeqBases interface {
	SeqBases(src, dst netip.AddrPort, flags uint8, seq, ack uint32) (seqBase uint32, seqOK bool, ackBase uint32, ackOK bool)
}

// Header offsets and sizes (RFC 791, RFC 8200, RFC 9293, RFC 768, RFC
// 792, RFC 4443).
const (
	ipv4MinLen   = 20
	ipv4TotalLen = 2
	ipv4ID       = 4
	ipv4FragOff  = 6 // flags (3 bits) and fragment offset
	ipv4MF       = 0x2000
	ipv4Proto    = 9
	ipv4Src      = 12
	ipv4Dst      = 16
	ipv6Len      = 40
	ipv6Payload  = 4
	ipv6Next     = 6
	ipv6Src      = 8
	ipv6Dst      = 24
	ipv6FragLen  = 8 // next header, reserved, offset and M flag, identification
	ipv6FragID   = 4
	ipv6MF       = 1
	tcpMinLen    = 20
	tcpSeq       = 4
	tcpAck       = 8
	tcpDataOff   = 12
	tcpFlagsOff  = 13
	tcpWin       = 14
	tcpUrg       = 18
	udpLen       = 8
	udpLenOff    = 4
	icmpMinLen   = 8 // type, code, checksum, and 4 bytes (an echo's id and seq)
	icmpID       = 4
	icmpSeq      = 6
)

// IP protocol numbers, and those of the IPv6 extension headers the
// describer walks (RFC 8200 section 4).
const (
	protoHopByHop = 0
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoICMPv6   = 58
	protoDestOpts = 60
)

// ipv6MaxExt bounds the extension headers walked before a packet is
// called malformed: RFC 8200 section 4.1 has each at most once (the
// destination options twice), and a chain longer than that is an attack
// or garbage.
const ipv6MaxExt = 8

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
	tcpURG = 0x20
)

// ICMP echo types.
const (
	icmpEchoReply     = 0
	icmpEcho          = 8
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
)

// DescribePacket reads an IP packet's headers, the way tcpdump prints
// them: IPv4 or IPv6 (with its extension headers: hop-by-hop and
// destination options, routing, fragment); TCP with its options, UDP,
// ICMP and ICMPv6 (an echo's id and seq; errors, neighbor discovery and
// MLDv2 reports in tcpdump's words, other messages as "type N code M"). A fragment is named by its
// offset, its more-fragments flag and its identification; one after the
// first has no transport header to read. With bases, TCP sequence and
// acknowledgment numbers (and SACK block edges) are shown relative to the
// ISNs they give, and the fields rel_seq and rel_ack are set; with a nil
// bases they are shown as they are. The packet may be malformed: every
// length is checked before use, and a packet that cannot be read is
// described as truncated. The strings of the result share one allocation.
func DescribePacket(b []byte, bases SeqBases) Packet {
	d := newDescriber()
	d.ip(b, len(b), bases)
	return d.packet()
}

// PacketConn returns the connection DescribePacket would name for the IP
// packet b ("10.0.0.1:40000->10.0.0.2:80", empty for a packet of no TCP or
// UDP connection), for an event that needs nothing else of it: the
// summary is not kept and no SeqBases is asked.
func PacketConn(b []byte) string {
	if c, ok := conn4(b); ok {
		return c
	}
	d := newDescriber()
	d.ip(b, len(b), nil)
	c := string(d.buf[d.conn.from:d.conn.to])
	describers.Put(d)
	return c
}

// conn4 is PacketConn for what most packets are, an IPv4 TCP segment or
// UDP datagram that is not a later fragment, without writing the summary;
// ok is false for any other packet.
func conn4(b []byte) (conn string, ok bool) {
	if len(b) < ipv4MinLen || b[0]>>4 != 4 {
		return "", false
	}
	hlen, tl := int(b[0]&0xf)*4, int(binary.BigEndian.Uint16(b[ipv4TotalLen:]))
	if hlen < ipv4MinLen || hlen > len(b) || tl < hlen || binary.BigEndian.Uint16(b[ipv4FragOff:])&0x1fff != 0 {
		return "", false
	}
	payload := b[hlen:min(tl, len(b))]
	switch proto := b[ipv4Proto]; {
	case proto == protoTCP && len(payload) >= tcpMinLen, proto == protoUDP && len(payload) >= udpLen:
	default:
		return "", false
	}
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[ipv4Src:ipv4Src+4])), binary.BigEndian.Uint16(payload))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[ipv4Dst:ipv4Dst+4])), binary.BigEndian.Uint16(payload[2:]))
	var buf [48]byte
	c := src.AppendTo(buf[:0])
	c = append(c, "->"...)
	return internBytes(dst.AppendTo(c)), true
}

// DescribeHeaders is DescribePacket for a packet of wire bytes of which b
// holds the first, enough for its IP and transport headers: it says what
// DescribePacket says of the whole packet, Len included, so that a caller
// need not copy a packet's payload to describe it.
func DescribeHeaders(b []byte, wire int, bases SeqBases) Packet {
	p := describeCut(b, wire, bases)
	p.Len = max(wire, len(b))
	return p
}

// describeCut is DescribePacket for the first len(b) bytes of an IP packet
// of wire bytes, as a capture cut at its snapshot length keeps them: the
// lengths it says (payload_len, "length N") are those the IP header gives,
// as tcpdump says them, bounded by wire; the rest is read from b.
func describeCut(b []byte, wire int, bases SeqBases) Packet {
	d := newDescriber()
	d.ip(b, wire, bases)
	return d.packet()
}

// describer writes a packet's summary into buf, then its connection, and
// notes where the fields that are words of those begin and end (the
// addresses, the flags, the options), so that one string conversion gives
// them all.
type describer struct {
	buf []byte
	pk  LinkPacket
	// Where the words are in buf; a zero bufSpan is no word.
	summary, conn, src, dst, flags, opts, srcMAC, dstMAC, sender, target bufSpan
}

// bufSpan is where a word is in a describer's buffer: buf[from:to].
type bufSpan struct{ from, to int }

// describers keeps the scratch buffers of describers that have finished.
var describers = sync.Pool{New: func() any { return &describer{buf: make([]byte, 0, 256)} }}

func newDescriber() *describer {
	d := describers.Get().(*describer)
	*d = describer{buf: d.buf[:0]}
	return d
}

// packet returns what d wrote, and d to the pool.
func (d *describer) packet() Packet {
	if d.summary.to == 0 {
		d.summary.to = len(d.buf)
	}
	s := string(d.buf)
	word := func(sp bufSpan) string { return s[sp.from:sp.to] }
	p := Packet{Conn: word(d.conn), Summary: word(d.summary), LinkPacket: d.pk}
	p.Src, p.Dst, p.Flags, p.Options = word(d.src), word(d.dst), word(d.flags), word(d.opts)
	p.SrcMAC, p.DstMAC, p.Sender, p.Target = word(d.srcMAC), word(d.dstMAC), word(d.sender), word(d.target)
	describers.Put(d)
	return p
}

func (d *describer) str(s string)  { d.buf = append(d.buf, s...) }
func (d *describer) itoa(n int)    { d.buf = strconv.AppendInt(d.buf, int64(n), 10) }
func (d *describer) utoa(n uint32) { d.buf = strconv.AppendUint(d.buf, uint64(n), 10) }

// addr writes a, noting where it is in *sp.
func (d *describer) addr(a netip.Addr, sp *bufSpan) {
	sp.from = len(d.buf)
	d.buf = a.AppendTo(d.buf)
	sp.to = len(d.buf)
}

// ip describes the IP packet b, of which a capture may have kept only the
// first len(b) of wire bytes.
func (d *describer) ip(b []byte, wire int, bases SeqBases) {
	var (
		family   string
		src, dst netip.Addr
		proto    uint8
		payload  []byte // the bytes of the transport header and data that are here
		n        int    // how many there were on the wire
		fragment bool
	)
	d.pk.Len = len(b)
	// No fewer bytes went by than were captured, whatever a capture's
	// record says.
	wire = max(wire, len(b))
	version := -1
	if len(b) > 0 {
		version = int(b[0] >> 4)
	}
	switch version {
	case 4:
		if len(b) < ipv4MinLen {
			d.str("IP truncated, length ")
			d.itoa(len(b))
			return
		}
		hlen, tl := int(b[0]&0xf)*4, int(binary.BigEndian.Uint16(b[ipv4TotalLen:]))
		switch {
		case hlen < ipv4MinLen: // as tcpdump says it
			d.str("IP bad-hlen ")
			d.itoa(hlen)
			return
		case tl < hlen:
			d.str("IP bad-len ")
			d.itoa(tl)
			return
		case hlen > len(b):
			d.str("IP truncated, length ")
			d.itoa(len(b))
			return
		}
		family = "IP"
		src = netip.AddrFrom4([4]byte(b[ipv4Src : ipv4Src+4]))
		dst = netip.AddrFrom4([4]byte(b[ipv4Dst : ipv4Dst+4]))
		proto = b[ipv4Proto]
		// The total length says where the packet ends (an Ethernet
		// frame's padding follows it); one that claims more than there
		// was on the wire lies, and the wire's length stands.
		payload, n = b[hlen:min(tl, len(b))], min(tl, wire)-hlen
		if fo := binary.BigEndian.Uint16(b[ipv4FragOff:]); fo&(ipv4MF|0x1fff) != 0 {
			d.fragment(uint32(binary.BigEndian.Uint16(b[ipv4ID:])), int(fo&0x1fff)*8, fo&ipv4MF != 0)
			fragment = fo&0x1fff != 0
		}
	case 6:
		if len(b) < ipv6Len {
			d.str("IP6 truncated, length ")
			d.itoa(len(b))
			return
		}
		family = "IP6"
		src = netip.AddrFrom16([16]byte(b[ipv6Src : ipv6Src+16]))
		dst = netip.AddrFrom16([16]byte(b[ipv6Dst : ipv6Dst+16]))
		proto = b[ipv6Next]
		end := ipv6Len + int(binary.BigEndian.Uint16(b[ipv6Payload:]))
		payload, n = b[ipv6Len:min(end, len(b))], min(end, wire)-ipv6Len
	default:
		d.str("unknown IP version ")
		d.itoa(version)
		d.str(", length ")
		d.itoa(len(b))
		return
	}

	d.str(family)
	d.str(" ")
	if family == "IP6" {
		var ok bool
		if proto, payload, n, ok = d.ipv6Ext(src, dst, proto, payload, n); !ok {
			return
		}
	}
	switch {
	case fragment:
		// A fragment after the first: no transport header.
		d.pk.Proto = ProtoName(proto)
		d.hosts(src, dst)
		d.str("ip-proto-")
		d.itoa(int(proto))
		d.str(" fragment, length ")
		d.itoa(n)
	case proto == protoTCP:
		d.tcp(src, dst, payload, n, bases)
	case proto == protoUDP:
		d.udp(src, dst, payload, n)
	case proto == protoICMP:
		d.icmp("icmp", src, dst, payload, n)
	case proto == protoICMPv6:
		d.icmp("icmp6", src, dst, payload, n)
	default:
		d.pk.Proto = ProtoName(proto)
		d.hosts(src, dst)
		d.str("ip-proto-")
		d.itoa(int(proto))
		d.str(", length ")
		d.itoa(n)
	}
}

// ipv6Ext walks the IPv6 extension headers at the start of payload (the
// bytes after the fixed header; n of them went by), writing the addresses
// and each header as tcpdump writes them: "HBH ", "DSTOPT ", "RT6 (len=2,
// type=4, segleft=1) ", "frag (0x0000abcd:0|1448) " (the identification,
// the offset, and the bytes after the header). It returns the protocol
// that follows them, its bytes and how many went by; ok is false when
// there is nothing after them to read (a fragment after the first, a
// header cut short, a chain too long) and the summary is written.
func (d *describer) ipv6Ext(src, dst netip.Addr, proto uint8, payload []byte, n int) (next uint8, rest []byte, wire int, ok bool) {
	for i := 0; ; i++ {
		var name string
		switch proto {
		case protoHopByHop:
			name = "HBH"
		case protoDestOpts:
			name = "DSTOPT"
		case protoRouting:
			name = "RT6"
		case protoFragment:
			name = "frag"
		default:
			return proto, payload, n, true
		}
		d.pk.Proto = ProtoName(proto)
		if i == 0 {
			d.hosts(src, dst)
		}
		if i == ipv6MaxExt {
			d.str("more than ")
			d.itoa(ipv6MaxExt)
			d.str(" extension headers, length ")
			d.itoa(n)
			return proto, nil, 0, false
		}
		// Every header but the fragment's gives its length in 8-byte
		// units after the first 8 (RFC 8200 section 4.3).
		hlen := ipv6FragLen
		if proto != protoFragment && len(payload) >= 2 {
			hlen = (int(payload[1]) + 1) * 8
		}
		if len(payload) < hlen {
			d.str(name)
			d.str(" truncated, length ")
			d.itoa(n)
			return proto, nil, 0, false
		}
		h := payload[:hlen]
		d.str(name)
		switch proto {
		case protoRouting:
			d.str(" (len=")
			d.itoa(int(h[1]))
			d.str(", type=")
			d.itoa(int(h[2]))
			d.str(", segleft=")
			d.itoa(int(h[3]))
			d.str(")")
		case protoFragment:
			fo := binary.BigEndian.Uint16(h[2:])
			id, off := binary.BigEndian.Uint32(h[ipv6FragID:]), int(fo&^7)
			d.fragment(id, off, fo&ipv6MF != 0)
			d.str(" (0x")
			for shift := 28; shift >= 0; shift -= 4 {
				d.buf = append(d.buf, hexDigits[id>>shift&0xf])
			}
			d.str(":")
			d.itoa(off)
			d.str("|")
			d.itoa(n - hlen)
			d.str(")")
			if off != 0 {
				// A fragment after the first: what follows is the
				// middle of a packet, not a header.
				d.pk.Proto = ProtoName(h[0])
				return h[0], nil, 0, false
			}
		}
		d.str(" ")
		proto, payload, n = h[0], payload[hlen:], n-hlen
	}
}

// fragment notes that the packet is a fragment: its identification, its
// offset in bytes, and whether more follow.
func (d *describer) fragment(id uint32, off int, more bool) {
	d.pk.FragID, d.pk.FragOffset, d.pk.FragMore = Some(id), Some(off), Some(more)
}

// hosts writes "10.0.0.1 > 10.0.0.2: ", unless IPv6 extension headers
// came first and wrote them.
func (d *describer) hosts(src, dst netip.Addr) {
	if d.src.to != 0 {
		return
	}
	d.addr(src, &d.src)
	d.str(" > ")
	d.addr(dst, &d.dst)
	d.str(": ")
}

// ends writes "10.0.0.1.40000 > 10.0.0.2.80: " as tcpdump does, or,
// when IPv6 extension headers came first and wrote the addresses, the
// ports alone: "40000 > 80: ".
func (d *describer) ends(src, dst netip.Addr, sport, dport uint16) {
	written := d.src.to != 0
	if !written {
		d.addr(src, &d.src)
		d.str(".")
	}
	d.itoa(int(sport))
	d.str(" > ")
	if !written {
		d.addr(dst, &d.dst)
		d.str(".")
	}
	d.itoa(int(dport))
	d.str(": ")
}

// endConn ends the summary and writes the connection after it:
// "10.0.0.1:40000->10.0.0.2:80".
func (d *describer) endConn(src, dst netip.AddrPort) {
	d.summary.to = len(d.buf)
	d.conn.from = len(d.buf)
	d.buf = src.AppendTo(d.buf)
	d.str("->")
	d.buf = dst.AppendTo(d.buf)
	d.conn.to = len(d.buf)
}

// tcp describes the TCP segment seg, which was wire bytes long: its
// header is read from seg, its payload's length is wire less the header.
func (d *describer) tcp(src, dst netip.Addr, seg []byte, wire int, bases SeqBases) {
	d.pk.Proto = "tcp"
	if len(seg) < tcpMinLen {
		d.hosts(src, dst)
		d.str("tcp truncated, length ")
		d.itoa(len(seg))
		return
	}
	sport, dport := binary.BigEndian.Uint16(seg), binary.BigEndian.Uint16(seg[2:])
	s, t := netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	d.ends(src, dst, sport, dport)
	off := int(seg[tcpDataOff]>>4) * 4
	if off < tcpMinLen || off > len(seg) {
		d.str("tcp bad-offset ")
		d.itoa(off)
		d.str(", length ")
		d.itoa(len(seg))
		d.endConn(s, t)
		return
	}
	flags := seg[tcpFlagsOff]
	seq, ack := binary.BigEndian.Uint32(seg[tcpSeq:]), binary.BigEndian.Uint32(seg[tcpAck:])
	win := int(binary.BigEndian.Uint16(seg[tcpWin:]))
	n := wire - off // not negative: wire >= len(seg) >= off

	var seqBase, ackBase uint32
	var seqOK, ackOK bool
	if bases != nil {
		seqBase, seqOK, ackBase, ackOK = bases.SeqBases(s, t, flags, seq, ack)
		ackOK = ackOK && flags&tcpACK != 0
	}
	if !seqOK {
		seqBase = 0
	}
	if !ackOK {
		ackBase = 0
	}

	d.str("Flags [")
	d.flags.from = len(d.buf)
	d.buf = appendTCPFlags(d.buf, flags)
	d.flags.to = len(d.buf)
	d.str("]")
	// tcpdump (print-tcp.c) says the seq of a segment that carries data
	// or a SYN, FIN or RST, the ack where ACK is set, and the urgent
	// pointer where URG is.
	if n > 0 || flags&(tcpSYN|tcpFIN|tcpRST) != 0 {
		d.str(", seq ")
		d.utoa(seq - seqBase)
		if n > 0 {
			d.str(":")
			d.utoa(seq - seqBase + uint32(n))
		}
	}
	if flags&tcpACK != 0 {
		d.str(", ack ")
		d.utoa(ack - ackBase)
	}
	d.str(", win ")
	d.itoa(win)
	if flags&tcpURG != 0 {
		d.str(", urg ")
		d.itoa(int(binary.BigEndian.Uint16(seg[tcpUrg:])))
	}
	if opts := seg[tcpMinLen:off]; len(opts) > 0 {
		d.str(", options [")
		d.opts.from = len(d.buf)
		d.buf = appendTCPOptions(d.buf, opts, ackBase)
		d.opts.to = len(d.buf)
		d.str("]")
	}
	d.str(", length ")
	d.itoa(n)
	d.endConn(s, t)

	d.pk.Sport, d.pk.Dport = Some(int(sport)), Some(int(dport))
	d.pk.Seq, d.pk.Ack = Some(seq), Some(ack)
	if seqOK {
		d.pk.RelSeq = Some(seq - seqBase)
	}
	if ackOK {
		d.pk.RelAck = Some(ack - ackBase)
	}
	d.pk.Win, d.pk.PayloadLen = Some(win), Some(n)
}

// udp describes the UDP datagram dgram, which was wire bytes long.
func (d *describer) udp(src, dst netip.Addr, dgram []byte, wire int) {
	d.pk.Proto = "udp"
	if len(dgram) < udpLen {
		d.hosts(src, dst)
		d.str("UDP truncated, length ")
		d.itoa(len(dgram))
		return
	}
	sport, dport := binary.BigEndian.Uint16(dgram), binary.BigEndian.Uint16(dgram[2:])
	// tcpdump says the length the UDP header gives. It may be less than
	// the IP packet holds, and more only in a first fragment, where the
	// rest of the datagram follows in the others; elsewhere a length
	// past the packet lies, and the packet's own stands, as tcpdump
	// says: "UDP, bad length 92 > 4"; one shorter than the header is
	// "truncated-udplength 4".
	n := wire - udpLen
	ul := int(binary.BigEndian.Uint16(dgram[udpLenOff:])) - udpLen
	if ul >= 0 && (ul <= n || d.pk.FragMore.V) {
		n = ul
	}
	d.ends(src, dst, sport, dport)
	switch {
	case ul < 0:
		d.str("truncated-udplength ")
		d.itoa(ul + udpLen)
	case ul != n:
		d.str("UDP, bad length ")
		d.itoa(ul)
		d.str(" > ")
		d.itoa(n)
	default:
		d.str("UDP, length ")
		d.itoa(n)
	}
	d.endConn(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport))
	d.pk.Sport, d.pk.Dport, d.pk.PayloadLen = Some(int(sport)), Some(int(dport)), Some(n)
}

// icmp describes an ICMP message (proto "icmp", echo types 8 and 0) or an
// ICMPv6 one ("icmp6", 128 and 129), which was wire bytes long, as tcpdump
// writes them.
func (d *describer) icmp(proto string, src, dst netip.Addr, msg []byte, wire int) {
	d.pk.Proto = proto
	d.hosts(src, dst)
	request, reply := byte(icmpEcho), byte(icmpEchoReply)
	if proto == "icmp6" {
		d.str("ICMP6, ")
		request, reply = icmpv6EchoRequest, icmpv6EchoReply
	} else {
		d.str("ICMP ")
	}
	if len(msg) < icmpMinLen {
		d.str("truncated, length ")
		d.itoa(len(msg))
		return
	}
	switch msg[0] {
	case request:
		d.str("echo request")
		d.echo(msg)
	case reply:
		d.str("echo reply")
		d.echo(msg)
	default:
		d.pk.Type, d.pk.Code = Some(int(msg[0])), Some(int(msg[1]))
		if proto == "icmp6" && d.icmp6Words(msg) || proto == "icmp" && d.icmp4Words(msg) {
			break
		}
		d.typeCode(msg)
	}
	d.str(", length ")
	d.itoa(wire)
}

// ICMP and ICMPv6 message types and codes that tcpdump words (RFC 792,
// RFC 1191, RFC 4443, RFC 4861, RFC 3810).
const (
	icmpUnreach        = 3
	icmpUnreachProto   = 2
	icmpUnreachPort    = 3
	icmpUnreachFrag    = 4
	icmpSourceQuench   = 4
	icmpRedirect       = 5
	icmpRouterSolicit  = 10
	icmpTimeExceeded   = 11
	icmpParamProblem   = 12
	icmpv6Unreach      = 1
	icmpv6UnreachPort  = 4
	icmpv6TooBig       = 2
	icmpv6TimeExceeded = 3
	icmpv6ParamProblem = 4
	icmpv6RouterSol    = 133
	icmpv6RouterAdv    = 134
	icmpv6NeighborSol  = 135
	icmpv6NeighborAdv  = 136
	icmpv6Redirect     = 137
	icmpv6MLDv2Report  = 143
)

// icmpUnreachWords are tcpdump's words for an ICMP destination
// unreachable by code, %s the destination of the packet it quotes; codes
// 2, 3 and 4 are worded apart.
var icmpUnreachWords = [...]string{
	0:  "net %s unreachable",
	1:  "host %s unreachable",
	5:  "%s unreachable - source route failed",
	6:  "net %s unreachable - unknown",
	7:  "host %s unreachable - unknown",
	8:  "%s unreachable - source host isolated",
	9:  "net %s unreachable - admin prohibited",
	10: "host %s unreachable - admin prohibited",
	11: "net %s unreachable - tos prohibited",
	12: "host %s unreachable - tos prohibited",
	13: "host %s unreachable - admin prohibited filter",
	14: "host %s unreachable - host precedence violation",
	15: "host %s unreachable - precedence cutoff",
}

// quoted is what an ICMP error says of the packet it quotes: its
// addresses, its protocol, and its destination port (-1 where the quote
// stops before it).
type quoted struct {
	src, dst netip.Addr
	proto    uint8
	dport    int
}

// quote reads the IPv4 or IPv6 header at the start of q, an ICMP error's
// body; ok is false when it is not there whole.
func quote(q []byte) (qt quoted, ok bool) {
	qt.dport = -1
	var hlen int
	switch {
	case len(q) >= ipv4MinLen && q[0]>>4 == 4:
		qt.src = netip.AddrFrom4([4]byte(q[ipv4Src : ipv4Src+4]))
		qt.dst = netip.AddrFrom4([4]byte(q[ipv4Dst : ipv4Dst+4]))
		qt.proto, hlen = q[ipv4Proto], int(q[0]&0xf)*4
	case len(q) >= ipv6Len && q[0]>>4 == 6:
		qt.src = netip.AddrFrom16([16]byte(q[ipv6Src : ipv6Src+16]))
		qt.dst = netip.AddrFrom16([16]byte(q[ipv6Dst : ipv6Dst+16]))
		qt.proto, hlen = q[ipv6Next], ipv6Len
	default:
		return qt, false
	}
	if hlen >= ipv4MinLen && len(q) >= hlen+4 {
		qt.dport = int(binary.BigEndian.Uint16(q[hlen+2:]))
	}
	return qt, true
}

// words writes format, tcpdump's words for a message, with a written in
// place of its %s.
func (d *describer) words(format string, a netip.Addr) {
	i := strings.Index(format, "%s")
	d.str(format[:i])
	d.buf = a.AppendTo(d.buf)
	d.str(format[i+2:])
}

// port writes what tcpdump says of the port a port unreachable quotes:
// "10.0.0.2 udp port 53".
func (d *describer) port(q quoted) bool {
	if q.dport < 0 {
		return false
	}
	d.buf = q.dst.AppendTo(d.buf)
	switch q.proto {
	case protoTCP:
		d.str(" tcp port ")
	case protoUDP:
		d.str(" udp port ")
	default:
		d.str(" protocol ")
		d.itoa(int(q.proto))
		d.str(" port ")
	}
	d.itoa(q.dport)
	return true
}

// icmp4Words writes, as tcpdump (print-icmp.c) words it, an ICMP message
// other than an echo; false, writing nothing, for one it words from
// fields glassnet does not read (timestamps, address masks, router
// advertisements) or an error whose quoted header is cut short.
func (d *describer) icmp4Words(msg []byte) bool {
	typ, code := msg[0], msg[1]
	q, quoteOK := quote(msg[icmpMinLen:])
	switch typ {
	case icmpUnreach:
		if !quoteOK {
			return false
		}
		switch {
		case code == icmpUnreachProto:
			d.buf = q.dst.AppendTo(d.buf)
			d.str(" protocol ")
			d.itoa(int(q.proto))
			d.str(" unreachable")
		case code == icmpUnreachPort:
			if !d.port(q) {
				return false
			}
			d.str(" unreachable")
		case code == icmpUnreachFrag:
			d.words("%s unreachable - need to frag", q.dst)
			if mtu := binary.BigEndian.Uint16(msg[icmpSeq:]); mtu != 0 {
				d.str(" (mtu ")
				d.itoa(int(mtu))
				d.str(")")
			}
		case int(code) < len(icmpUnreachWords) && icmpUnreachWords[code] != "":
			d.words(icmpUnreachWords[code], q.dst)
		default:
			d.words("%s unreachable - #", q.dst)
			d.itoa(int(code))
		}
	case icmpSourceQuench:
		d.str("source quench")
	case icmpRedirect:
		if !quoteOK || code > 3 {
			return false
		}
		d.str([...]string{"redirect ", "redirect ", "redirect-tos ", "redirect-tos "}[code])
		d.buf = q.dst.AppendTo(d.buf)
		d.str([...]string{" to net ", " to host ", " to net ", " to host "}[code])
		d.buf = netip.AddrFrom4([4]byte(msg[4:8])).AppendTo(d.buf)
	case icmpRouterSolicit:
		d.str("router solicitation")
	case icmpTimeExceeded:
		switch code {
		case 0:
			d.str("time exceeded in-transit")
		case 1:
			d.str("ip reassembly time exceeded")
		default:
			d.str("time exceeded-#")
			d.itoa(int(code))
		}
	case icmpParamProblem:
		if code == 0 {
			d.str("parameter problem - octet ")
			d.itoa(int(msg[4]))
		} else {
			d.str("parameter problem - code ")
			d.itoa(int(code))
		}
	case 9, 13, 14, 15, 16, 17, 18:
		return false
	default:
		d.str("type-#")
		d.itoa(int(typ))
	}
	return true
}

// icmp6Words writes, as tcpdump (print-icmp6.c) words it, an ICMPv6
// message other than an echo; false, writing nothing, for one glassnet
// does not word.
func (d *describer) icmp6Words(msg []byte) bool {
	typ, code := msg[0], msg[1]
	q, quoteOK := quote(msg[icmpMinLen:])
	switch {
	case typ == icmpv6Unreach && quoteOK && (code < icmpv6UnreachPort || code == icmpv6UnreachPort && q.dport >= 0):
		d.str("destination unreachable, ")
		switch code {
		case 0:
			d.words("unreachable route %s", q.dst)
		case 1:
			// tcpdump 4.99 has two spaces before these words.
			d.words("unreachable prohibited %s", q.dst)
		case 2:
			d.words("beyond scope %s", q.dst)
			d.words(", source address %s", q.src)
		case 3:
			d.words("unreachable address %s", q.dst)
		case icmpv6UnreachPort:
			d.str("unreachable port, ")
			d.port(q)
		}
	case typ == icmpv6TooBig:
		d.str("packet too big, mtu ")
		d.utoa(binary.BigEndian.Uint32(msg[icmpID:]))
	case typ == icmpv6TimeExceeded && code == 0 && quoteOK:
		d.words("time exceeded in-transit for %s", q.dst)
	case typ == icmpv6TimeExceeded && code == 1:
		d.str("time exceeded in-transit (reassembly)")
	case typ == icmpv6ParamProblem && code <= 3:
		d.str([...]string{"parameter problem, erroneous - octet ", "parameter problem, next header - octet ",
			"parameter problem, option - octet ", "parameter problem, incomplete header chain - octet "}[code])
		d.utoa(binary.BigEndian.Uint32(msg[icmpID:]))
	case typ == icmpv6RouterSol:
		d.str("router solicitation")
	case typ == icmpv6RouterAdv:
		d.str("router advertisement")
	case (typ == icmpv6NeighborSol || typ == icmpv6NeighborAdv) && len(msg) >= icmpMinLen+16:
		target := netip.AddrFrom16([16]byte(msg[icmpMinLen : icmpMinLen+16]))
		if typ == icmpv6NeighborSol {
			d.words("neighbor solicitation, who has %s", target)
		} else {
			d.words("neighbor advertisement, tgt is %s", target)
		}
	case typ == icmpv6Redirect && len(msg) >= icmpMinLen+32:
		d.words("redirect, %s", netip.AddrFrom16([16]byte(msg[icmpMinLen+16:icmpMinLen+32])))
		d.words(" to %s", netip.AddrFrom16([16]byte(msg[icmpMinLen:icmpMinLen+16])))
	case typ == icmpv6MLDv2Report:
		d.str("multicast listener report v2, ")
		d.itoa(int(binary.BigEndian.Uint16(msg[icmpSeq:])))
		d.str(" group record(s)")
	default:
		return false
	}
	return true
}

// echo writes an ICMP or ICMPv6 echo's ", id 7, seq 3" and notes its
// type, code, id and seq.
func (d *describer) echo(msg []byte) {
	id, seq := binary.BigEndian.Uint16(msg[icmpID:]), binary.BigEndian.Uint16(msg[icmpSeq:])
	d.str(", id ")
	d.itoa(int(id))
	d.str(", seq ")
	d.itoa(int(seq))
	d.pk.Type, d.pk.Code = Some(int(msg[0])), Some(int(msg[1]))
	d.pk.ICMPID, d.pk.Seq = Some(int(id)), Some(uint32(seq))
}

// typeCode writes an ICMP message's "type 3 code 1" and notes them.
func (d *describer) typeCode(msg []byte) {
	d.str("type ")
	d.itoa(int(msg[0]))
	d.str(" code ")
	d.itoa(int(msg[1]))
	d.pk.Type, d.pk.Code = Some(int(msg[0])), Some(int(msg[1]))
}

// TCP option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018).
const (
	tcpOptEOL       = 0
	tcpOptNOP       = 1
	tcpOptMSS       = 2
	tcpOptWS        = 3
	tcpOptSACKPerm  = 4
	tcpOptSACK      = 5
	tcpOptTimestamp = 8
	tcpOptFastOpen  = 34 // RFC 7413
)

// appendTCPOptions appends TCP options as tcpdump writes them inside
// "options [...]": "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7". SACK
// block edges are shown minus base. A malformed option ends the list with
// "[bad opt]".
func appendTCPOptions(dst, b []byte, base uint32) []byte {
	for first := true; len(b) > 0; first = false {
		if !first {
			dst = append(dst, ',')
		}
		kind := b[0]
		switch kind {
		case tcpOptEOL:
			return append(dst, "eol"...)
		case tcpOptNOP:
			dst = append(dst, "nop"...)
			b = b[1:]
			continue
		}
		if len(b) < 2 || int(b[1]) < 2 || int(b[1]) > len(b) {
			return append(dst, "[bad opt]"...)
		}
		opt := b[2:b[1]]
		b = b[b[1]:]
		switch {
		case kind == tcpOptMSS && len(opt) == 2:
			dst = append(dst, "mss "...)
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint16(opt)), 10)
		case kind == tcpOptWS && len(opt) == 1:
			dst = append(dst, "wscale "...)
			dst = strconv.AppendUint(dst, uint64(opt[0]), 10)
		case kind == tcpOptSACKPerm && len(opt) == 0:
			dst = append(dst, "sackOK"...)
		case kind == tcpOptSACK && len(opt)%8 == 0:
			dst = append(dst, "sack "...)
			dst = strconv.AppendUint(dst, uint64(len(opt)/8), 10)
			dst = append(dst, ' ')
			for ; len(opt) >= 8; opt = opt[8:] {
				dst = append(dst, '{')
				dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(opt)-base), 10)
				dst = append(dst, ':')
				dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(opt[4:])-base), 10)
				dst = append(dst, '}')
			}
		case kind == tcpOptTimestamp && len(opt) == 8:
			dst = append(dst, "TS val "...)
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(opt)), 10)
			dst = append(dst, " ecr "...)
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(opt[4:])), 10)
		case kind == tcpOptFastOpen && len(opt) == 0:
			dst = append(dst, "tfo  cookiereq"...) // two spaces, as tcpdump has them
		case kind == tcpOptFastOpen && len(opt) >= 4 && len(opt) <= 16 && len(opt)%2 == 0:
			dst = append(dst, "tfo  cookie "...)
			dst = appendHex(dst, opt)
		case !tcpdumpKnowsOption(kind):
			// tcpdump's "unknown-99 0xabcd": the kind and the bytes.
			dst = append(dst, "unknown-"...)
			dst = strconv.AppendUint(dst, uint64(kind), 10)
			if len(opt) > 0 {
				dst = append(dst, " 0x"...)
				dst = appendHex(dst, opt)
			}
		default:
			// An option tcpdump decodes and glassnet does not (md5,
			// mptcp, ...), or one of the wrong size: its kind and
			// length.
			dst = append(dst, "opt-"...)
			dst = strconv.AppendUint(dst, uint64(kind), 10)
			dst = append(dst, ':')
			dst = strconv.AppendUint(dst, uint64(len(opt)), 10)
		}
	}
	return dst
}

// tcpdumpKnowsOption reports whether tcpdump names the TCP option kind
// (tcp_option_values in its print-tcp.c) rather than calling it unknown.
func tcpdumpKnowsOption(kind byte) bool {
	switch kind {
	case 0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 19, 20, 28, 29, 30, 34, 254:
		return true
	}
	return false
}

// appendHex appends b in hexadecimal, two digits a byte.
func appendHex(dst, b []byte) []byte {
	for _, x := range b {
		dst = append(dst, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return dst
}

// appendTCPFlags appends TCP flags in tcpdump's order and letters: "S.",
// "P.", "F.", "."; "none" for none.
func appendTCPFlags(dst []byte, f uint8) []byte {
	if f == 0 {
		return append(dst, "none"...)
	}
	for i, c := range []byte("FSRP.UEW") { // FIN is bit 0, CWR bit 7
		if f&(1<<i) != 0 {
			dst = append(dst, c)
		}
	}
	return dst
}

// ProtoName names IP protocol p as the "proto" field of packet and IP
// events does: tcp, udp, icmp, icmp6, or ip-proto-N.
func ProtoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmp6"
	default:
		return "ip-proto-" + strconv.Itoa(int(p))
	}
}
