package netstack

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
)

// Ethernet devices (tun.LinkLayer, an AF_PACKET socket) carry frames, not
// bare IP packets. gVisor's link/ethernet endpoint, outermost, adds and
// strips the header for IP and ARP; below it the frames go through the
// same endpoints as IP packets on a TUN. Two things are Ethernet's own:
//
//   - ethernetFilter, next to the device on the way in, passes up only the
//     frames a NIC's address filter would: a whole header, a destination
//     that is this host, broadcast or multicast, an EtherType the stack
//     speaks (IPv4, IPv6, ARP) and an ARP body long enough. An AF_PACKET
//     socket in promiscuous mode reads every frame on the segment; the
//     others are counted drops (DropOtherHost, ...) that the hooks, the
//     trace and the capture never see.
//   - framing, for the hooks: they see the IP packet of a frame, and the
//     packets they inject or reply with get a frame header.

// ethernetFilter is the link endpoint above an Ethernet device on the way
// in (on the way out there is nothing to filter).
type ethernetFilter struct {
	hw   tcpip.LinkAddress
	acct *linkAccount
	up   packetReceiver
}

// receive implements packetReceiver.
func (f *ethernetFilter) receive(b []byte, m pktMeta) {
	if reason := frameHeader(b, f.hw); reason != "" {
		f.acct.drop(trace.In, reason, len(b))
		return
	}
	f.up.receive(b, m)
}

// readsIn implements packetReceiver: the filter looks at the header only.
func (f *ethernetFilter) readsIn() bool { return f.up.readsIn() }

// framing knows the device's packet format for the hooks: bare IP, or
// Ethernet frames (l2) with this host's address hw.
type framing struct {
	l2 bool
	hw tcpip.LinkAddress
}

// ipOf returns the IP packet in b, a packet or frame of the device, or nil
// for an Ethernet frame that carries no IP.
func (f framing) ipOf(b []byte) []byte {
	if !f.l2 {
		return b
	}
	if len(b) < header.EthernetMinimumSize {
		return nil
	}
	switch binary.BigEndian.Uint16(b[12:14]) {
	case uint16(header.IPv4ProtocolNumber), uint16(header.IPv6ProtocolNumber):
		return b[header.EthernetMinimumSize:]
	}
	return nil
}

// frameLike wraps the IP packet ip for the device: as is on a TUN, or on an
// Ethernet device behind the header of like, with the addresses swapped
// when reverse.
func (f framing) frameLike(like, ip []byte, reverse bool) []byte {
	if !f.l2 {
		return ip
	}
	fr := make([]byte, header.EthernetMinimumSize+len(ip))
	if reverse {
		copy(fr[0:6], like[6:12])
		copy(fr[6:12], like[0:6])
	} else {
		copy(fr[0:12], like[0:12])
	}
	et := header.IPv4ProtocolNumber
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = header.IPv6ProtocolNumber
	}
	binary.BigEndian.PutUint16(fr[12:14], uint16(et))
	copy(fr[header.EthernetMinimumSize:], ip)
	return fr
}
