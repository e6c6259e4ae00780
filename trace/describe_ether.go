package trace

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Ethernet header (IEEE 802.3) and ARP (RFC 826) offsets and values.
const (
	etherDst      = 0
	etherSrc      = 6
	etherType     = 12
	etherLen      = 14
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	macLen        = 6
	ipv4AddrLen   = 4

	arpLen        = 28 // for Ethernet and IPv4
	arpHWType     = 0
	arpProtoType  = 2
	arpHWLen      = 4
	arpProtoLen   = 5
	arpOp         = 6
	arpSHA        = 8
	arpSPA        = 14
	arpTPA        = 24
	arpHWEthernet = 1
	arpOpRequest  = 1
	arpOpReply    = 2
)

// DescribeFrame reads an Ethernet frame: the source and destination MACs,
// as tcpdump -e begins its line, then what the frame carries as tcpdump
// without -e prints it (an IP packet as DescribePacket reads it, with
// bases, or an ARP packet's operation): "02:00:00:00:00:0a >
// 02:00:00:00:00:0b, IP 10.0.0.1.40000 > ...", where tcpdump -e writes
// "..., ethertype IPv4 (0x0800), length 74: 10.0.0.1.40000 > ...".
// Like DescribePacket it checks every length before use.
func DescribeFrame(b []byte, bases SeqBases) Packet {
	d := newDescriber()
	if len(b) < etherLen {
		d.str("ethernet truncated, length ")
		d.itoa(len(b))
		return d.packet()
	}
	d.mac(b[etherSrc:etherSrc+macLen], &d.srcMAC)
	d.str(" > ")
	d.mac(b[etherDst:etherDst+macLen], &d.dstMAC)
	d.str(", ")
	typ := binary.BigEndian.Uint16(b[etherType:])
	switch payload := b[etherLen:]; typ {
	case etherTypeIPv4, etherTypeIPv6:
		d.ip(payload, len(payload), bases)
	case etherTypeARP:
		d.arp(payload)
	default:
		d.str("ethertype 0x")
		d.buf = strconv.AppendUint(d.buf, uint64(typ), 16)
		d.str(", length ")
		d.itoa(len(b))
	}
	if d.pk.Len == 0 { // not IP or ARP: the frame's length
		d.pk.Len = len(b)
	}
	d.pk.EtherType = Some(int(typ))
	return d.packet()
}

// arp describes an ARP packet for IPv4 over Ethernet as tcpdump does:
// "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28".
func (d *describer) arp(b []byte) {
	if len(b) < arpLen || binary.BigEndian.Uint16(b[arpHWType:]) != arpHWEthernet ||
		binary.BigEndian.Uint16(b[arpProtoType:]) != etherTypeIPv4 || b[arpHWLen] != macLen || b[arpProtoLen] != ipv4AddrLen {
		d.str("ARP, truncated or not Ethernet/IPv4, length ")
		d.itoa(len(b))
		return
	}
	spa := netip.AddrFrom4([4]byte(b[arpSPA : arpSPA+4]))
	tpa := netip.AddrFrom4([4]byte(b[arpTPA : arpTPA+4]))
	d.pk.Len, d.pk.Proto = len(b), "arp"
	switch op := binary.BigEndian.Uint16(b[arpOp:]); op {
	case arpOpRequest:
		d.str("ARP, Request who-has ")
		d.addr(tpa, &d.target)
		d.str(" tell ")
		d.addr(spa, &d.sender)
		d.pk.Op = "request"
	case arpOpReply:
		d.str("ARP, Reply ")
		d.addr(spa, &d.sender)
		d.str(" is-at ")
		d.mac(b[arpSHA:arpSHA+macLen], nil)
		d.pk.Op = "reply"
	default:
		d.str("ARP, op ")
		d.itoa(int(op))
		d.str(" ")
		d.addr(spa, &d.sender)
		d.str(" > ")
		d.addr(tpa, &d.target)
		d.pk.Op = int(op)
	}
	d.str(", length ")
	d.itoa(len(b))
	if d.target == (bufSpan{}) {
		// A reply's line does not name the target's address.
		d.summary.to = len(d.buf)
		d.addr(tpa, &d.target)
	}
}

// mac writes a MAC address, "02:00:00:00:00:0a", noting where it is in
// *sp unless sp is nil.
func (d *describer) mac(m []byte, sp *bufSpan) {
	from := len(d.buf)
	for i, x := range m {
		if i > 0 {
			d.buf = append(d.buf, ':')
		}
		d.buf = append(d.buf, hexDigits[x>>4], hexDigits[x&0xf])
	}
	if sp != nil {
		*sp = bufSpan{from, len(d.buf)}
	}
}

const hexDigits = "0123456789abcdef"
