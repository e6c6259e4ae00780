package tun

import (
	"fmt"
	"net"
)

// LinkLayer is implemented by a Device that carries Ethernet frames
// instead of bare IP packets: every buffer Read fills and every packet
// Write takes starts with a 14-byte Ethernet header (destination MAC,
// source MAC, EtherType) and has no frame check sequence. MTU still
// counts the IP packet only, as it does for the kernel's interfaces.
//
// A stack on such a device resolves link addresses itself (ARP for IPv4,
// neighbor discovery for IPv6); package netstack checks for this
// interface and does so.
type LinkLayer interface {
	// HardwareAddr is the device's own MAC address, the source of every
	// frame the stack sends.
	HardwareAddr() net.HardwareAddr
	// MaxFrameSize is the longest frame Read can return, header included.
	// It can exceed MTU plus the header: a kernel that aggregates received
	// segments (GRO) or hands over unsegmented ones (GSO on a veth) shows
	// them to a packet socket as one large frame.
	MaxFrameSize() int
}

// PacketSocketConfig describes the interface a PacketSocket binds to.
// Only Name is required.
type PacketSocketConfig struct {
	// Name of an existing interface ("eth1", "veth0").
	Name string
	// HardwareAddr is the stack's MAC address; empty means the
	// interface's own. Any other address needs Promiscuous, since the
	// interface otherwise discards frames sent to it; OpenPacketSocket turns
	// promiscuous mode on by itself then.
	HardwareAddr net.HardwareAddr
	// Promiscuous receives every frame on the wire, not only those for
	// the interface's MAC, broadcast and multicast. The stack drops, and
	// counts, frames for other hosts.
	Promiscuous bool
	// NoLinkUp leaves the interface down if it is down; by default
	// OpenPacketSocket brings it up.
	NoLinkUp bool
	// BatchSize is the most frames one Read or Write moves; 0 means 64.
	BatchSize int
}

// nicMaxFrame is the largest frame a NIC reads: an Ethernet header with a
// VLAN tag, an IPv6 header and the largest payload length it can state.
const nicMaxFrame = 14 + 4 + 40 + 65535

func (c PacketSocketConfig) validate() error {
	if c.Name == "" {
		return fmt.Errorf("tun: PacketSocketConfig.Name is empty; name an existing interface")
	}
	if len(c.Name) > maxNameLen {
		return fmt.Errorf("tun: interface name %q is longer than %d bytes", c.Name, maxNameLen)
	}
	if len(c.HardwareAddr) != 0 && len(c.HardwareAddr) != 6 {
		return fmt.Errorf("tun: hardware address %v is not a 6-byte Ethernet MAC", c.HardwareAddr)
	}
	if len(c.HardwareAddr) == 6 && c.HardwareAddr[0]&1 != 0 {
		return fmt.Errorf("tun: hardware address %v is a multicast address", c.HardwareAddr)
	}
	return nil
}
