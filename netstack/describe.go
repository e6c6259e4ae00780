package netstack

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
)

// packetInfo is what the tracer says about one IP packet: the connection
// it belongs to, a tcpdump-style line and the fields behind it.
type packetInfo struct {
	conn    string
	summary string
	pkt     trace.LinkPacket
}

// fields returns the packet's event fields.
func (p *packetInfo) fields() []trace.Field { return p.pkt.Fields() }

// describe parses an IP packet that may be malformed (every length is
// checked before use) and renders it the way tcpdump would, with TCP
// sequence numbers relative to the ISN recorded in flows.
func describe(b []byte, flows *flowTable) packetInfo {
	var (
		family         string
		src, dst       netip.Addr
		proto          uint8
		payload        []byte
		fragmentedTail bool
	)
	switch header.IPVersion(b) {
	case header.IPv4Version:
		if len(b) < header.IPv4MinimumSize {
			return packetInfo{summary: "IP truncated, length " + strconv.Itoa(len(b)), pkt: trace.LinkPacket{Len: len(b)}}
		}
		ip := header.IPv4(b)
		hlen, tl := int(ip.HeaderLength()), int(ip.TotalLength())
		if hlen < header.IPv4MinimumSize || hlen > len(b) || tl < hlen {
			return packetInfo{summary: "IP bad-hlen, length " + strconv.Itoa(len(b)), pkt: trace.LinkPacket{Len: len(b)}}
		}
		if tl > len(b) {
			tl = len(b)
		}
		family = "IP"
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		proto = ip.Protocol()
		payload = b[hlen:tl]
		fragmentedTail = ip.FragmentOffset() != 0
	case header.IPv6Version:
		if len(b) < header.IPv6MinimumSize {
			return packetInfo{summary: "IP6 truncated, length " + strconv.Itoa(len(b)), pkt: trace.LinkPacket{Len: len(b)}}
		}
		ip := header.IPv6(b)
		end := header.IPv6MinimumSize + int(ip.PayloadLength())
		if end > len(b) {
			end = len(b)
		}
		family = "IP6"
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		proto = ip.NextHeader()
		payload = b[header.IPv6MinimumSize:end]
	default:
		return packetInfo{summary: "unknown IP version " + strconv.Itoa(header.IPVersion(b)) + ", length " + strconv.Itoa(len(b)), pkt: trace.LinkPacket{Len: len(b)}}
	}

	pk := trace.LinkPacket{Src: src.String(), Dst: dst.String(), Len: len(b)}
	var sb strings.Builder
	sb.WriteString(family)
	sb.WriteByte(' ')

	if fragmentedTail {
		pk.Proto = protoName(proto)
		sb.WriteString(src.String() + " > " + dst.String() + ": ip-proto-" + strconv.Itoa(int(proto)) + " fragment, length " + strconv.Itoa(len(payload)))
		return packetInfo{summary: sb.String(), pkt: pk}
	}

	switch proto {
	case uint8(header.TCPProtocolNumber):
		return describeTCP(&sb, pk, src, dst, payload, flows)
	case uint8(header.UDPProtocolNumber):
		pk.Proto = "udp"
		if len(payload) < header.UDPMinimumSize {
			sb.WriteString(src.String() + " > " + dst.String() + ": UDP truncated, length " + strconv.Itoa(len(payload)))
			return packetInfo{summary: sb.String(), pkt: pk}
		}
		u := header.UDP(payload)
		s := netip.AddrPortFrom(src, u.SourcePort())
		d := netip.AddrPortFrom(dst, u.DestinationPort())
		n := len(payload) - header.UDPMinimumSize
		pk.Sport, pk.Dport, pk.PayloadLen = trace.Some(int(s.Port())), trace.Some(int(d.Port())), trace.Some(n)
		writeEnds(&sb, s, d)
		sb.WriteString("UDP, length " + strconv.Itoa(n))
		return packetInfo{conn: s.String() + "->" + d.String(), summary: sb.String(), pkt: pk}
	case uint8(header.ICMPv4ProtocolNumber):
		pk.Proto = "icmp"
		sb.WriteString(src.String() + " > " + dst.String() + ": ICMP ")
		if len(payload) < header.ICMPv4MinimumSize {
			sb.WriteString("truncated, length " + strconv.Itoa(len(payload)))
			return packetInfo{summary: sb.String(), pkt: pk}
		}
		ic := header.ICMPv4(payload)
		pk.Type, pk.Code = trace.Some(int(ic.Type())), trace.Some(int(ic.Code()))
		switch ic.Type() {
		case header.ICMPv4Echo, header.ICMPv4EchoReply:
			if ic.Type() == header.ICMPv4Echo {
				sb.WriteString("echo request")
			} else {
				sb.WriteString("echo reply")
			}
			sb.WriteString(", id " + strconv.Itoa(int(ic.Ident())) + ", seq " + strconv.Itoa(int(ic.Sequence())))
			pk.ICMPID, pk.Seq = trace.Some(int(ic.Ident())), trace.Some(uint32(ic.Sequence()))
		default:
			sb.WriteString("type " + strconv.Itoa(int(ic.Type())) + " code " + strconv.Itoa(int(ic.Code())))
		}
		sb.WriteString(", length " + strconv.Itoa(len(payload)))
		return packetInfo{summary: sb.String(), pkt: pk}
	case uint8(header.ICMPv6ProtocolNumber):
		pk.Proto = "icmp6"
		sb.WriteString(src.String() + " > " + dst.String() + ": ICMP6, ")
		if len(payload) < header.ICMPv6MinimumSize {
			sb.WriteString("truncated, length " + strconv.Itoa(len(payload)))
			return packetInfo{summary: sb.String(), pkt: pk}
		}
		ic := header.ICMPv6(payload)
		pk.Type, pk.Code = trace.Some(int(ic.Type())), trace.Some(int(ic.Code()))
		switch ic.Type() {
		case header.ICMPv6EchoRequest, header.ICMPv6EchoReply:
			if ic.Type() == header.ICMPv6EchoRequest {
				sb.WriteString("echo request")
			} else {
				sb.WriteString("echo reply")
			}
			if len(payload) >= header.ICMPv6EchoMinimumSize {
				sb.WriteString(", id " + strconv.Itoa(int(ic.Ident())) + ", seq " + strconv.Itoa(int(ic.Sequence())))
				pk.ICMPID, pk.Seq = trace.Some(int(ic.Ident())), trace.Some(uint32(ic.Sequence()))
			}
		default:
			sb.WriteString("type " + strconv.Itoa(int(ic.Type())) + " code " + strconv.Itoa(int(ic.Code())))
		}
		sb.WriteString(", length " + strconv.Itoa(len(payload)))
		return packetInfo{summary: sb.String(), pkt: pk}
	default:
		pk.Proto = protoName(proto)
		sb.WriteString(src.String() + " > " + dst.String() + ": ip-proto-" + strconv.Itoa(int(proto)) + ", length " + strconv.Itoa(len(payload)))
		return packetInfo{summary: sb.String(), pkt: pk}
	}
}

func describeTCP(sb *strings.Builder, pk trace.LinkPacket, src, dst netip.Addr, seg []byte, flows *flowTable) packetInfo {
	pk.Proto = "tcp"
	if len(seg) < header.TCPMinimumSize {
		sb.WriteString(src.String() + " > " + dst.String() + ": tcp truncated, length " + strconv.Itoa(len(seg)))
		return packetInfo{summary: sb.String(), pkt: pk}
	}
	t := header.TCP(seg)
	s := netip.AddrPortFrom(src, t.SourcePort())
	d := netip.AddrPortFrom(dst, t.DestinationPort())
	conn := s.String() + "->" + d.String()
	writeEnds(sb, s, d)
	off := int(t.DataOffset())
	if off < header.TCPMinimumSize || off > len(seg) {
		sb.WriteString("tcp bad-offset " + strconv.Itoa(off) + ", length " + strconv.Itoa(len(seg)))
		return packetInfo{conn: conn, summary: sb.String(), pkt: pk}
	}
	flags := t.Flags()
	seq, ack, win := t.SequenceNumber(), t.AckNumber(), t.WindowSize()
	n := len(seg) - off

	relSeq, relAck, seqOK, ackOK := flows.relative(s, d, flags, seq, ack)

	sb.WriteString("Flags [" + tcpFlags(flags) + "]")
	shownSeq := seq
	if seqOK {
		shownSeq = relSeq
	}
	if n > 0 || flags.Intersects(header.TCPFlagSyn|header.TCPFlagFin|header.TCPFlagRst) || !flags.Contains(header.TCPFlagAck) {
		sb.WriteString(", seq " + strconv.FormatUint(uint64(shownSeq), 10))
		if n > 0 {
			sb.WriteString(":" + strconv.FormatUint(uint64(shownSeq+uint32(n)), 10))
		}
	}
	if flags.Contains(header.TCPFlagAck) {
		shown := ack
		if ackOK {
			shown = relAck
		}
		sb.WriteString(", ack " + strconv.FormatUint(uint64(shown), 10))
	}
	sb.WriteString(", win " + strconv.Itoa(int(win)))
	var sackBase uint32 // subtracted from SACK edges, as from the ack
	if ackOK {
		sackBase = ack - relAck
	}
	opts := tcpOptions(seg[header.TCPMinimumSize:off], sackBase)
	if opts != "" {
		sb.WriteString(", options [" + opts + "]")
	}
	sb.WriteString(", length " + strconv.Itoa(n))

	pk.Sport, pk.Dport = trace.Some(int(s.Port())), trace.Some(int(d.Port()))
	pk.Flags = tcpFlags(flags)
	pk.Seq, pk.Ack = trace.Some(seq), trace.Some(ack)
	if seqOK {
		pk.RelSeq = trace.Some(relSeq)
	}
	if ackOK {
		pk.RelAck = trace.Some(relAck)
	}
	pk.Win, pk.PayloadLen = trace.Some(int(win)), trace.Some(n)
	pk.Options = opts
	return packetInfo{conn: conn, summary: sb.String(), pkt: pk}
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
)

// tcpOptions renders TCP options as tcpdump does inside "options [...]":
// "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7". SACK block edges are
// shown minus base. A malformed option ends the list with "bad opt".
func tcpOptions(b []byte, base uint32) string {
	var parts []string
	for len(b) > 0 {
		kind := b[0]
		switch kind {
		case tcpOptEOL:
			parts = append(parts, "eol")
			return strings.Join(parts, ",")
		case tcpOptNOP:
			parts = append(parts, "nop")
			b = b[1:]
			continue
		}
		if len(b) < 2 || int(b[1]) < 2 || int(b[1]) > len(b) {
			parts = append(parts, "bad opt")
			return strings.Join(parts, ",")
		}
		opt := b[2:b[1]]
		b = b[b[1]:]
		switch {
		case kind == tcpOptMSS && len(opt) == 2:
			parts = append(parts, "mss "+strconv.Itoa(int(binary.BigEndian.Uint16(opt))))
		case kind == tcpOptWS && len(opt) == 1:
			parts = append(parts, "wscale "+strconv.Itoa(int(opt[0])))
		case kind == tcpOptSACKPerm && len(opt) == 0:
			parts = append(parts, "sackOK")
		case kind == tcpOptSACK && len(opt)%8 == 0:
			var sb strings.Builder
			sb.WriteString("sack " + strconv.Itoa(len(opt)/8) + " ")
			for ; len(opt) >= 8; opt = opt[8:] {
				l, r := binary.BigEndian.Uint32(opt)-base, binary.BigEndian.Uint32(opt[4:])-base
				sb.WriteString("{" + strconv.FormatUint(uint64(l), 10) + ":" + strconv.FormatUint(uint64(r), 10) + "}")
			}
			parts = append(parts, sb.String())
		case kind == tcpOptTimestamp && len(opt) == 8:
			parts = append(parts, "TS val "+strconv.FormatUint(uint64(binary.BigEndian.Uint32(opt)), 10)+" ecr "+strconv.FormatUint(uint64(binary.BigEndian.Uint32(opt[4:])), 10))
		default:
			parts = append(parts, "opt-"+strconv.Itoa(int(kind))+":"+strconv.Itoa(len(opt)))
		}
	}
	return strings.Join(parts, ",")
}

// writeEnds writes "10.0.0.1.40000 > 10.0.0.2.80: " as tcpdump does.
func writeEnds(sb *strings.Builder, s, d netip.AddrPort) {
	sb.WriteString(s.Addr().String() + "." + strconv.Itoa(int(s.Port())) + " > " + d.Addr().String() + "." + strconv.Itoa(int(d.Port())) + ": ")
}

// tcpFlags renders flags in tcpdump's order and letters; "." is ACK.
func tcpFlags(f header.TCPFlags) string {
	var b [8]byte
	n := 0
	for _, x := range [...]struct {
		f header.TCPFlags
		c byte
	}{
		{header.TCPFlagFin, 'F'},
		{header.TCPFlagSyn, 'S'},
		{header.TCPFlagRst, 'R'},
		{header.TCPFlagPsh, 'P'},
		{header.TCPFlagAck, '.'},
		{header.TCPFlagUrg, 'U'},
		{header.TCPFlagEce, 'E'},
		{header.TCPFlagCwr, 'W'},
	} {
		if f&x.f != 0 {
			b[n] = x.c
			n++
		}
	}
	if n == 0 {
		return "none"
	}
	return string(b[:n])
}

func protoName(p uint8) string {
	switch p {
	case uint8(header.TCPProtocolNumber):
		return "tcp"
	case uint8(header.UDPProtocolNumber):
		return "udp"
	case uint8(header.ICMPv4ProtocolNumber):
		return "icmp"
	case uint8(header.ICMPv6ProtocolNumber):
		return "icmp6"
	default:
		return "ip-proto-" + strconv.Itoa(int(p))
	}
}
