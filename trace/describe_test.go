package trace

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// withOptions gives the TCP segment of the IPv4 packet p (as tcpPacket
// builds it) the options opts, before its payload.
func withOptions(p []byte, opts ...byte) []byte {
	b := make([]byte, 0, len(p)+len(opts))
	b = append(b, p[:40]...)
	b = append(b, opts...)
	b = append(b, p[40:]...)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[32] = byte((20+len(opts))/4) << 4
	return b
}

// ipv6Packet builds an IPv6 packet of next header proto from fd00::1 to
// fd00::2.
func ipv6Packet(proto byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6], b[7] = proto, 64
	b[8], b[23] = 0xfd, 1
	b[24], b[39] = 0xfd, 2
	return append(b, payload...)
}

// hopByHop is an IPv6 hop-by-hop options header before next: a router
// alert and a Pad1 (RFC 2711), 8 bytes. dstOpts is a destination options
// header of padding alone.
func hopByHop(next byte) []byte { return []byte{next, 0, 5, 2, 0, 0, 1, 0} }
func dstOpts(next byte) []byte  { return []byte{next, 0, 1, 4, 0, 0, 0, 0} }

// routing is an IPv6 routing header of type 0 with one address (fd00::3)
// left to visit.
func routing(next byte) []byte {
	return []byte{next, 2, 0, 1, 0, 0, 0, 0, 0xfd, 23: 3}
}

// fragHeader is an IPv6 fragment header.
func fragHeader(next byte, off int, more bool, id uint32) []byte {
	b := []byte{next, 0, 0, 0}
	fo := uint16(off)
	if more {
		fo |= 1
	}
	b = binary.BigEndian.AppendUint16(b[:2], fo)
	return binary.BigEndian.AppendUint32(b, id)
}

// ipv4Packet builds an IPv4 packet of protocol proto from 10.0.0.1 to
// 10.0.0.2.
func ipv4Packet(proto byte, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	b[8], b[9] = 64, proto
	copy(b[12:], ipClient[:])
	copy(b[16:], ipServer[:])
	return append(b, payload...)
}

// fixedBases is SeqBases with ISN 1000 one way (10.0.0.1 to 10.0.0.2) and
// 5000 the other.
type fixedBases struct{}

func (fixedBases) SeqBases(src, _ netip.AddrPort, _ uint8, _, _ uint32) (uint32, bool, uint32, bool) {
	if src.Addr() == netip.AddrFrom4(ipClient) {
		return 1000, true, 5000, true
	}
	return 5000, true, 1000, true
}

func TestDescribePacket(t *testing.T) {
	t.Parallel()
	const syn, ack, psh, fin, rst = 0x02, 0x10, 0x08, 0x01, 0x04
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9}
	sack := append(append([]byte(nil), ts...), 1, 1, 5, 10, 0, 0, 0x13, 0x89, 0, 0, 0x17, 0x71)
	udp := []byte{0x9c, 0x40, 0, 53, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}
	echo := []byte{8, 0, 0, 0, 0, 7, 0, 3, 'a', 'b'}
	frag := ipv4Packet(6, make([]byte, 8))
	frag[6] = 0x01 // offset 256 bytes
	seg := tcpPacket(ipClient, ipServer, 40000, 80, 1000, 5000, ack|psh, "hello")[20:]
	udpFrag := append(append([]byte(nil), udp...), 'e', 'f', 'g', 'h')
	binary.BigEndian.PutUint16(udpFrag[4:], 16)
	udpLong := slices.Clone(udpFrag)
	binary.BigEndian.PutUint16(udpLong[4:], 3008)
	var tooMany []byte
	for range ipv6MaxExt + 1 {
		tooMany = append(tooMany, dstOpts(protoDestOpts)...)
	}
	for _, c := range []struct {
		name  string
		pkt   []byte
		bases SeqBases
		want  string
	}{
		{"syn", withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, syn, ""), 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7), fixedBases{},
			"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 0, win 65535, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"},
		{"data", withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack|psh, "hello"), ts...), fixedBases{},
			"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:6, ack 1, win 65535, options [nop,nop,TS val 7 ecr 9], length 5"},
		{"data absolute", tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack|psh, "hello"), nil,
			"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1001:1006, ack 5001, win 65535, length 5"},
		{"sack relative to the ack", withOptions(tcpPacket(ipServer, ipClient, 80, 40000, 5001, 1001, ack, ""), sack...), fixedBases{},
			"IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 1, win 65535, options [nop,nop,TS val 7 ecr 9,nop,nop,sack 1 {4001:5001}], length 0"},
		{"fin", tcpPacket(ipServer, ipClient, 80, 40000, 5001, 1006, fin|ack, ""), fixedBases{},
			"IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [F.], seq 1, ack 6, win 65535, length 0"},
		{"rst without ack", tcpPacket(ipClient, ipServer, 40000, 80, 1006, 0, rst, ""), fixedBases{},
			"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [R], seq 6, win 65535, length 0"},
		{"bad offset", func() []byte { p := tcpPacket(ipClient, ipServer, 40000, 80, 1, 2, ack, ""); p[32] = 0xf0; return p }(), nil,
			"IP 10.0.0.1.40000 > 10.0.0.2.80: tcp bad-offset 60, length 20"},
		{"tcp truncated", ipv4Packet(6, make([]byte, 19)), nil, "IP 10.0.0.1 > 10.0.0.2: tcp truncated, length 19"},
		{"tcp cut by the total length", func() []byte { p := tcpPacket(ipClient, ipServer, 40000, 80, 1, 2, ack, "hello"); p[3] = 30; return p }(), nil,
			"IP 10.0.0.1 > 10.0.0.2: tcp truncated, length 10"},
		{"udp", ipv4Packet(17, udp), nil, "IP 10.0.0.1.40000 > 10.0.0.2.53: UDP, length 4"},
		{"udp6", ipv6Packet(17, udp), nil, "IP6 fd00::1.40000 > fd00::2.53: UDP, length 4"},
		{"udp truncated", ipv4Packet(17, udp[:7]), nil, "IP 10.0.0.1 > 10.0.0.2: UDP truncated, length 7"},
		{"echo", ipv4Packet(1, echo), nil, "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 3, length 10"},
		{"unreachable", ipv4Packet(1, []byte{3, 1, 0, 0, 0, 0, 0, 0}), nil, "IP 10.0.0.1 > 10.0.0.2: ICMP type 3 code 1, length 8"},
		{"port unreachable", ipv4Packet(1, slices.Concat([]byte{3, 3, 0, 0, 0, 0, 0, 0}, ipv4Packet(17, udp)[:28])), nil,
			"IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.2 udp port 53 unreachable, length 36"},
		{"frag needed", ipv4Packet(1, slices.Concat([]byte{3, 4, 0, 0, 0, 0, 5, 0}, tcpPacket(ipClient, ipServer, 40000, 80, 1000, 5000, ack, "")[:28])), nil,
			"IP 10.0.0.1 > 10.0.0.2: ICMP 10.0.0.2 unreachable - need to frag (mtu 1280), length 36"},
		{"admin prohibited", ipv4Packet(1, slices.Concat([]byte{3, 13, 0, 0, 0, 0, 0, 0}, ipv4Packet(17, udp)[:28])), nil,
			"IP 10.0.0.1 > 10.0.0.2: ICMP host 10.0.0.2 unreachable - admin prohibited filter, length 36"},
		{"time exceeded", ipv4Packet(1, slices.Concat([]byte{11, 0, 0, 0, 0, 0, 0, 0}, ipv4Packet(17, udp)[:28])), nil,
			"IP 10.0.0.1 > 10.0.0.2: ICMP time exceeded in-transit, length 36"},
		{"port unreachable6", ipv6Packet(58, slices.Concat([]byte{1, 4, 0, 0, 0, 0, 0, 0}, ipv6Packet(17, udp))), nil,
			"IP6 fd00::1 > fd00::2: ICMP6, destination unreachable, unreachable port, fd00::2 udp port 53, length 60"},
		{"packet too big", ipv6Packet(58, slices.Concat([]byte{2, 0, 0, 0, 0, 0, 5, 0}, ipv6Packet(17, udp))), nil,
			"IP6 fd00::1 > fd00::2: ICMP6, packet too big, mtu 1280, length 60"},
		{"redirect6", ipv6Packet(58, slices.Concat([]byte{137, 0, 0, 0, 0, 0, 0, 0}, ipv6Packet(0, nil)[8:24], ipv6Packet(0, nil)[24:40])), nil,
			"IP6 fd00::1 > fd00::2: ICMP6, redirect, fd00::2 to fd00::1, length 40"},
		{"incomplete header chain", ipv6Packet(58, slices.Concat([]byte{4, 3, 0, 0, 0, 0, 0, 0}, ipv6Packet(protoFragment, nil))), nil,
			"IP6 fd00::1 > fd00::2: ICMP6, parameter problem, incomplete header chain - octet 0, length 48"},
		{"neighbor solicitation, whole", ipv6Packet(58, slices.Concat([]byte{135, 0, 0, 0, 0, 0, 0, 0}, ipv6Packet(0, nil)[24:40])), nil,
			"IP6 fd00::1 > fd00::2: ICMP6, neighbor solicitation, who has fd00::2, length 24"},
		{"urgent", func() []byte {
			p := tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack|psh|0x20, "hello")
			p[39] = 3
			return p
		}(), fixedBases{}, "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.U], seq 1:6, ack 1, win 65535, urg 3, length 5"},
		{"no flags", tcpPacket(ipClient, ipServer, 40000, 80, 1001, 0, 0, ""), fixedBases{},
			"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [none], win 65535, length 0"},
		{"icmp truncated", ipv4Packet(1, echo[:7]), nil, "IP 10.0.0.1 > 10.0.0.2: ICMP truncated, length 7"},
		{"echo6", ipv6Packet(58, append([]byte{129}, echo[1:]...)), nil, "IP6 fd00::1 > fd00::2: ICMP6, echo reply, id 7, seq 3, length 10"},
		{"neighbor solicitation", ipv6Packet(58, []byte{135, 0, 0, 0, 0, 0, 0, 0}), nil, "IP6 fd00::1 > fd00::2: ICMP6, type 135 code 0, length 8"},
		{"fragment", frag, nil, "IP 10.0.0.1 > 10.0.0.2: ip-proto-6 fragment, length 8"},
		{"other protocol", ipv4Packet(47, make([]byte, 4)), nil, "IP 10.0.0.1 > 10.0.0.2: ip-proto-47, length 4"},
		// tcpdump 4.99 writes these (frag as with -v, RT6 without its
		// addresses).
		{"hop-by-hop", ipv6Packet(protoHopByHop, slices.Concat(hopByHop(protoTCP), seg)), nil,
			"IP6 fd00::1 > fd00::2: HBH 40000 > 80: Flags [P.], seq 1000:1005, ack 5000, win 65535, length 5"},
		{"destination options", ipv6Packet(protoDestOpts, slices.Concat(dstOpts(protoUDP), udp)), nil,
			"IP6 fd00::1 > fd00::2: DSTOPT 40000 > 53: UDP, length 4"},
		{"routing", ipv6Packet(protoRouting, slices.Concat(routing(protoTCP), seg)), nil,
			"IP6 fd00::1 > fd00::2: RT6 (len=2, type=0, segleft=1) 40000 > 80: Flags [P.], seq 1000:1005, ack 5000, win 65535, length 5"},
		{"hop-by-hop icmp6", ipv6Packet(protoHopByHop, slices.Concat(hopByHop(protoICMPv6), []byte{143, 0, 0, 0, 0, 0, 0, 1}, make([]byte, 20))), nil,
			"IP6 fd00::1 > fd00::2: HBH ICMP6, multicast listener report v2, 1 group record(s), length 28"},
		{"first fragment", ipv6Packet(protoFragment, slices.Concat(fragHeader(protoUDP, 0, true, 0xabcd), udpFrag)), nil,
			"IP6 fd00::1 > fd00::2: frag (0x0000abcd:0|16) 40000 > 53: UDP, length 8"},
		{"first fragment, whole datagram's length", ipv6Packet(protoFragment, slices.Concat(fragHeader(protoUDP, 0, true, 0xabcd), udpLong)), nil,
			"IP6 fd00::1 > fd00::2: frag (0x0000abcd:0|16) 40000 > 53: UDP, length 3000"},
		{"udp length past the packet", ipv6Packet(protoUDP, udpLong), nil, "IP6 fd00::1.40000 > fd00::2.53: UDP, bad length 3000 > 8"},
		{"udp length short of its header", ipv4Packet(protoUDP, []byte{0x9c, 0x40, 0, 53, 0, 4, 0, 0, 'a', 'b'}), nil, "IP 10.0.0.1.40000 > 10.0.0.2.53: truncated-udplength 4"},
		{"udp length short of the packet", ipv4Packet(protoUDP, append(slices.Clone(udp), 0, 0)), nil, "IP 10.0.0.1.40000 > 10.0.0.2.53: UDP, length 4"},
		{"later fragment", ipv6Packet(protoFragment, slices.Concat(fragHeader(protoUDP, 16, false, 0xabcd), []byte("ijklmnop"))), nil,
			"IP6 fd00::1 > fd00::2: frag (0x0000abcd:16|8)"},
		{"chain", ipv6Packet(protoHopByHop, slices.Concat(hopByHop(protoDestOpts), dstOpts(protoFragment), fragHeader(protoTCP, 0, true, 7), seg)), nil,
			"IP6 fd00::1 > fd00::2: HBH DSTOPT frag (0x00000007:0|25) 40000 > 80: Flags [P.], seq 1000:1005, ack 5000, win 65535, length 5"},
		{"extension header truncated", ipv6Packet(protoHopByHop, []byte{protoTCP, 1, 0, 0, 0, 0, 0, 0}), nil,
			"IP6 fd00::1 > fd00::2: HBH truncated, length 8"},
		{"too many extension headers", ipv6Packet(protoDestOpts, slices.Concat(tooMany, seg)), nil,
			"IP6 fd00::1 > fd00::2: DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT more than 8 extension headers, length 33"},
		{"empty", nil, nil, "unknown IP version -1, length 0"},
		{"version 7", []byte{0x75, 1, 2}, nil, "unknown IP version 7, length 3"},
		{"ipv4 truncated", []byte{0x45, 1, 2}, nil, "IP truncated, length 3"},
		{"ipv6 truncated", []byte{0x60, 0, 0}, nil, "IP6 truncated, length 3"},
		{"bad header length", append([]byte{0x44}, make([]byte, 19)...), nil, "IP bad-hlen 16"},
		{"total length short of the header", func() []byte { p := ipv4Packet(17, udp); p[3] = 10; return p }(), nil, "IP bad-len 10"},
		{"header longer than the packet", append([]byte{0x46, 0, 0, 24}, make([]byte, 16)...), nil, "IP truncated, length 20"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := DescribePacket(c.pkt, c.bases)
			if p.Summary != c.want {
				t.Errorf("got  %q\nwant %q", p.Summary, c.want)
			}
			if p.Len != len(c.pkt) {
				t.Errorf("len %d, want %d", p.Len, len(c.pkt))
			}
			if p.Src != "" && !strings.Contains(p.Summary, p.Src+" > "+p.Dst) && !strings.Contains(p.Summary, p.Src+".") {
				t.Errorf("src %q, dst %q not in the summary", p.Src, p.Dst)
			}
			if c := PacketConn(c.pkt); c != p.Conn {
				t.Errorf("PacketConn %q, want DescribePacket's %q", c, p.Conn)
			}
		})
	}
}

// TestDescribePacketFields: the fields of a TCP segment with relative
// numbers and options, of a segment without an ISN, and of an echo.
func TestDescribePacketFields(t *testing.T) {
	t.Parallel()
	data := withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, 0x18, "hello"), 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9)
	p := DescribePacket(data, fixedBases{})
	want := []Field{{"src", "10.0.0.1"}, {"dst", "10.0.0.2"}, {"len", 57}, {"proto", "tcp"}, {"sport", 40000}, {"dport", 80},
		{"flags", "P."}, {"seq", uint32(1001)}, {"ack", uint32(5001)}, {"rel_seq", uint32(1)}, {"rel_ack", uint32(1)},
		{"win", 65535}, {"payload_len", 5}, {"options", "nop,nop,TS val 7 ecr 9"}}
	if got := p.Fields(); !reflect.DeepEqual(got, want) || p.Conn != "10.0.0.1:40000->10.0.0.2:80" {
		t.Errorf("conn %q fields\n%v\nwant\n%v", p.Conn, got, want)
	}
	// A packet whose total length claims more than it has (not a capture
	// cut short: the packet is all there is) has the payload it has.
	long := bytes.Clone(data)
	binary.BigEndian.PutUint16(long[2:], 1500)
	if p := DescribePacket(long, nil); p.PayloadLen != Some(5) || !strings.HasSuffix(p.Summary, "length 5") {
		t.Errorf("total length past the packet: payload_len %v, %q", p.PayloadLen, p.Summary)
	}
	if p := DescribePacket(data, nil); p.RelSeq.Set || p.RelAck.Set {
		t.Errorf("rel_seq or rel_ack without bases: %v", p.Fields())
	}
	echo := DescribePacket(ipv6Packet(58, []byte{128, 0, 0, 0, 0, 7, 0, 3}), nil)
	if got, want := echo.Fields(), []Field{{"src", "fd00::1"}, {"dst", "fd00::2"}, {"len", 48}, {"proto", "icmp6"},
		{"seq", uint32(3)}, {"type", 128}, {"code", 0}, {"icmp_id", 7}}; !reflect.DeepEqual(got, want) || echo.Conn != "" {
		t.Errorf("echo: conn %q fields %v, want %v", echo.Conn, got, want)
	}
	// Fragments are named by their identification, offset and MF flag,
	// IPv6 from its fragment header, IPv4 from its own; the first has
	// the transport's fields too.
	seg := tcpPacket(ipClient, ipServer, 40000, 80, 1000, 5000, 0x18, "hello")[20:]
	first6 := DescribePacket(ipv6Packet(protoHopByHop, slices.Concat(hopByHop(protoFragment), fragHeader(protoTCP, 0, true, 0xabcdef01), seg)), nil)
	later6 := DescribePacket(ipv6Packet(protoFragment, slices.Concat(fragHeader(protoTCP, 1448, false, 0xabcdef01), make([]byte, 8))), nil)
	first4 := ipv4Packet(protoTCP, seg)
	first4[4], first4[5], first4[6] = 0x12, 0x34, 0x20 // id 0x1234, MF
	later4 := ipv4Packet(protoTCP, make([]byte, 8))
	later4[4], later4[5], later4[6], later4[7] = 0x12, 0x34, 0, 181 // id 0x1234, offset 1448
	for _, c := range []struct {
		name string
		p    Packet
		want []Field
	}{
		{"ipv6 first", first6, []Field{{"src", "fd00::1"}, {"dst", "fd00::2"}, {"len", 81}, {"proto", "tcp"}, {"sport", 40000}, {"dport", 80},
			{"flags", "P."}, {"seq", uint32(1000)}, {"ack", uint32(5000)}, {"win", 65535}, {"payload_len", 5},
			{"frag_id", uint32(0xabcdef01)}, {"frag_offset", 0}, {"frag_more", true}}},
		{"ipv6 later", later6, []Field{{"src", "fd00::1"}, {"dst", "fd00::2"}, {"len", 56}, {"proto", "tcp"},
			{"frag_id", uint32(0xabcdef01)}, {"frag_offset", 1448}, {"frag_more", false}}},
		{"ipv4 first", DescribePacket(first4, nil), []Field{{"src", "10.0.0.1"}, {"dst", "10.0.0.2"}, {"len", 45}, {"proto", "tcp"}, {"sport", 40000}, {"dport", 80},
			{"flags", "P."}, {"seq", uint32(1000)}, {"ack", uint32(5000)}, {"win", 65535}, {"payload_len", 5},
			{"frag_id", uint32(0x1234)}, {"frag_offset", 0}, {"frag_more", true}}},
		{"ipv4 later", DescribePacket(later4, nil), []Field{{"src", "10.0.0.1"}, {"dst", "10.0.0.2"}, {"len", 28}, {"proto", "tcp"},
			{"frag_id", uint32(0x1234)}, {"frag_offset", 1448}, {"frag_more", false}}},
	} {
		if got := c.p.Fields(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s fragment (%s): fields\n%v\nwant\n%v", c.name, c.p.Summary, got, c.want)
		}
	}
	conn6 := DescribePacket(ipv6Packet(17, []byte{0x9c, 0x40, 0, 53, 0, 8, 0, 0}), nil).Conn
	if conn6 != "[fd00::1]:40000->[fd00::2]:53" {
		t.Errorf("IPv6 conn %q", conn6)
	}
}

// TestDescribeFrame: an Ethernet frame's MACs and what it carries.
func TestDescribeFrame(t *testing.T) {
	t.Parallel()
	eth := func(typ uint16, payload []byte) []byte {
		b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a}
		return append(binary.BigEndian.AppendUint16(b, typ), payload...)
	}
	arp := func(op uint16) []byte {
		b := []byte{0, 1, 8, 0, 6, 4}
		b = binary.BigEndian.AppendUint16(b, op)
		b = append(b, 0x02, 0, 0, 0, 0, 0x0a, 10, 0, 0, 1)
		return append(b, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2)
	}
	for _, c := range []struct {
		name  string
		frame []byte
		want  string
		len   int
		more  Field
	}{
		{"ip", eth(0x0800, tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, "")),
			"02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 1000, win 65535, length 0", 40, Field{"flags", "S"}},
		{"arp request", eth(0x0806, arp(1)), "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28", 28, Field{"op", "request"}},
		{"arp reply", eth(0x0806, arp(2)), "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:0a, length 28", 28, Field{"target", "10.0.0.2"}},
		{"arp op 9", eth(0x0806, arp(9)), "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ARP, op 9 10.0.0.1 > 10.0.0.2, length 28", 28, Field{"op", 9}},
		{"arp for ipv6", eth(0x0806, append(arp(1)[:2], 0x86)), "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ARP, truncated or not Ethernet/IPv4, length 3", 17, Field{"ethertype", 0x0806}},
		{"lldp", eth(0x88cc, nil), "02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ethertype 0x88cc, length 14", 14, Field{"src_mac", "02:00:00:00:00:0a"}},
		{"truncated", []byte{1, 2, 3}, "ethernet truncated, length 3", 0, Field{"len", 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := DescribeFrame(c.frame, nil)
			if p.Summary != c.want {
				t.Errorf("got  %q\nwant %q", p.Summary, c.want)
			}
			var found bool
			for _, f := range p.Fields() {
				found = found || reflect.DeepEqual(f, c.more)
			}
			if p.Len != c.len || !found {
				t.Errorf("len %d (want %d), fields %v (want %v among them)", p.Len, c.len, p.Fields(), c.more)
			}
		})
	}
}

func TestTCPOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []byte
		base uint32
		want string
	}{
		{"none", nil, 0, ""},
		{"syn", []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}, 0, "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7"},
		{"sack", []byte{1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0}, 0x1000, "nop,nop,sack 1 {0:4096}"},
		{"sack of two", []byte{5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4}, 0, "sack 2 {1:2}{3:4}"},
		{"eol", []byte{0, 9, 9}, 0, "eol"},
		{"nop then eol", []byte{1, 0}, 0, "nop,eol"},
		{"zero-length", []byte{2, 0}, 0, "[bad opt]"},
		{"overlong", []byte{8, 10, 0}, 0, "[bad opt]"},
		{"mss then overlong", []byte{2, 4, 0, 1, 8, 10, 0}, 0, "mss 1,[bad opt]"},
		{"not decoded", []byte{30, 3, 0}, 0, "opt-30:1"},
		{"unknown", []byte{99, 4, 0xab, 0xcd}, 0, "unknown-99 0xabcd"},
		{"unknown, empty", []byte{99, 2}, 0, "unknown-99"},
		{"fast open cookie request", []byte{34, 2}, 0, "tfo  cookiereq"},
		{"fast open cookie", []byte{34, 6, 1, 2, 3, 0xff}, 0, "tfo  cookie 010203ff"},
		{"mss of the wrong size", []byte{2, 3, 0}, 0, "opt-2:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendTCPOptions(nil, tc.opts, tc.base)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTCPFlags(t *testing.T) {
	t.Parallel()
	for in, want := range map[uint8]string{0: "none", 0x02: "S", 0x12: "S.", 0x18: "P.", 0x11: "F.", 0x04: "R", 0x14: "R.", 0xc2: "SEW", 0xff: "FSRP.UEW"} {
		if got := string(appendTCPFlags(nil, in)); got != want {
			t.Errorf("appendTCPFlags(%#x) = %q, want %q", in, got, want)
		}
	}
}

// TestDescribePacketAllocs: the strings of a description share one
// allocation.
func TestDescribePacketAllocs(t *testing.T) {
	data := withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, 0x18, "hello"), 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9)
	DescribePacket(data, fixedBases{}) // fills the pool
	if n := testing.AllocsPerRun(100, func() { DescribePacket(data, fixedBases{}) }); n > 1 {
		t.Errorf("%v allocations per packet, want 1", n)
	}
}

// FuzzDescribePacket: any bytes, as an IP packet (with and without bases)
// or an Ethernet frame, are described without a panic, with a summary,
// their length, and the words of the fields where the summary says them.
func FuzzDescribePacket(f *testing.F) {
	f.Add(tcpPacket(ipClient, ipServer, 40000, 80, 1, 2, 0x18, "hello"))
	f.Add(withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1, 2, 0x10, ""), 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2))
	f.Add(withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1, 0, 0x02, ""), 2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7))
	f.Add(withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1, 0, 0x02, ""), 8, 10, 0, 0))
	f.Add([]byte{0x45, 0, 0, 20})
	f.Add([]byte{0x4f, 0, 0xff, 0xff, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add(append([]byte{0x60, 0, 0, 0, 0xff, 0xff, 17, 64}, make([]byte, 40)...))
	f.Add(ipv6Packet(58, []byte{128, 0, 0, 0, 0, 7, 0, 3}))
	f.Add(ipv4Packet(1, []byte{0, 0, 0, 0, 0, 7}))
	f.Add(append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6, 0, 1, 8, 0, 6, 4, 0, 2}, make([]byte, 20)...))
	// IPv6 extension headers: a chain to TCP, one to ICMPv6, a fragment
	// after the first, a header longer than the packet, a chain too
	// long, one that claims more than the payload length.
	seg := tcpPacket(ipClient, ipServer, 40000, 80, 1, 2, 0x18, "hello")[20:]
	f.Add(ipv6Packet(protoHopByHop, slices.Concat(hopByHop(protoRouting), routing(protoDestOpts), dstOpts(protoFragment), fragHeader(protoTCP, 0, true, 9), seg)))
	f.Add(ipv6Packet(protoHopByHop, slices.Concat(hopByHop(protoICMPv6), []byte{128, 0, 0, 0, 0, 7, 0, 3})))
	f.Add(ipv6Packet(protoFragment, slices.Concat(fragHeader(protoUDP, 8, false, 9), make([]byte, 8))))
	f.Add(ipv6Packet(protoHopByHop, []byte{protoTCP, 255, 0, 0, 0, 0, 0, 0}))
	f.Add(ipv6Packet(protoDestOpts, slices.Concat(dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoDestOpts), dstOpts(protoTCP))))
	short := ipv6Packet(protoHopByHop, slices.Concat(hopByHop(protoTCP), seg))
	binary.BigEndian.PutUint16(short[ipv6Payload:], 12)
	f.Add(short)
	f.Fuzz(func(t *testing.T, b []byte) {
		isns := captureISNs{}
		for _, p := range []Packet{DescribePacket(b, nil), DescribePacket(b, isns), DescribePacket(b, isns)} {
			if p.Summary == "" || p.Len != len(b) {
				t.Fatalf("DescribePacket(% x) = %q, len %d", b, p.Summary, p.Len)
			}
			if p.Src != "" && !strings.Contains(p.Summary, " "+p.Src) || p.Options != "" && !strings.Contains(p.Summary, "options ["+p.Options+"]") ||
				p.Flags != "" && !strings.Contains(p.Summary, "Flags ["+p.Flags+"]") {
				t.Fatalf("DescribePacket(% x): %q does not say the fields %v", b, p.Summary, p.Fields())
			}
			if p.Sport.Set && p.Conn == "" {
				t.Fatalf("DescribePacket(% x): conn %q, sport %v", b, p.Conn, p.Sport)
			}
		}
		if p := DescribeFrame(b, isns); p.Summary == "" {
			t.Fatalf("DescribeFrame(% x): no summary", b)
		}
	})
}

// TestDescribeHeaders checks that the first bytes of a packet, enough for
// its headers, with its length, describe it as the whole packet does.
func TestDescribeHeaders(t *testing.T) {
	const ack, psh = 0x10, 0x08
	long := strings.Repeat("x", 1400)
	for _, p := range [][]byte{
		withOptions(tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack|psh, long), 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9),
		ipv4Packet(protoUDP, append([]byte{0x9c, 0x40, 0, 53, 0x05, 0x80, 0, 0}, long...)),
		ipv6Packet(protoUDP, append([]byte{0x9c, 0x40, 0, 53, 0x05, 0x80, 0, 0}, long...)),
		ipv4Packet(protoICMP, append([]byte{8, 0, 0, 0, 0, 7, 0, 3}, long...)),
	} {
		want := DescribePacket(p, fixedBases{})
		got := DescribeHeaders(p[:128], len(p), fixedBases{})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("from 128 of %d bytes: %+v\nwant %+v", len(p), got, want)
		}
	}
}
