package netstack

import (
	"net/netip"
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
)

// describeFrame renders an Ethernet frame the way tcpdump -e does: the
// source and destination MACs, then what the frame carries (the same
// summary describe gives an IP packet, or the ARP operation). Like
// describe it checks every length before use.
func describeFrame(b []byte, flows *flowTable) packetInfo {
	if len(b) < header.EthernetMinimumSize {
		return packetInfo{summary: "ethernet truncated, length " + strconv.Itoa(len(b))}
	}
	eth := header.Ethernet(b)
	src, dst, typ := eth.SourceAddress(), eth.DestinationAddress(), eth.Type()
	payload := b[header.EthernetMinimumSize:]
	var info packetInfo
	switch typ {
	case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
		info = describe(payload, flows)
	case header.ARPProtocolNumber:
		info = describeARP(payload)
	default:
		info = packetInfo{summary: "ethertype 0x" + strconv.FormatUint(uint64(typ), 16) + ", length " + strconv.Itoa(len(b))}
	}
	info.summary = src.String() + " > " + dst.String() + ", " + info.summary
	if info.pkt.Len == 0 { // not IP or ARP: the frame's length
		info.pkt.Len = len(b)
	}
	info.pkt.SrcMAC, info.pkt.DstMAC, info.pkt.EtherType = src.String(), dst.String(), trace.Some(int(typ))
	return info
}

// describeARP renders an IPv4-over-Ethernet ARP packet as tcpdump does:
// "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28".
func describeARP(b []byte) packetInfo {
	a := header.ARP(b)
	if !a.IsValid() {
		return packetInfo{summary: "ARP, truncated or not Ethernet/IPv4, length " + strconv.Itoa(len(b))}
	}
	spa := netip.AddrFrom4([4]byte(a.ProtocolAddressSender()))
	tpa := netip.AddrFrom4([4]byte(a.ProtocolAddressTarget()))
	pk := trace.LinkPacket{Len: len(b), Proto: "arp", Sender: spa.String(), Target: tpa.String()}
	var s string
	switch a.Op() {
	case header.ARPRequest:
		s = "ARP, Request who-has " + tpa.String() + " tell " + spa.String()
		pk.Op = "request"
	case header.ARPReply:
		sha := tcpip.LinkAddress(a.HardwareAddressSender())
		s = "ARP, Reply " + spa.String() + " is-at " + sha.String()
		pk.Op = "reply"
	default:
		s = "ARP, op " + strconv.Itoa(int(a.Op())) + " " + spa.String() + " > " + tpa.String()
		pk.Op = int(a.Op())
	}
	return packetInfo{summary: s + ", length " + strconv.Itoa(len(b)), pkt: pk}
}

// frameIP returns the IP packet an Ethernet frame carries, or nil if it
// carries something else (ARP) or is too short.
func frameIP(b []byte) []byte {
	if len(b) < header.EthernetMinimumSize {
		return nil
	}
	switch header.Ethernet(b).Type() {
	case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
		return b[header.EthernetMinimumSize:]
	}
	return nil
}
