package tun

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
)

// ErrNotSupported is returned by Open on platforms other than Linux.
var ErrNotSupported = errors.New("tun: kernel TUN interfaces are supported on Linux only, not " + runtime.GOOS + "; use Pipe for an in-memory device")

// DefaultName is the interface name Open uses when Config.Name is empty.
const DefaultName = "glass0"

// Config describes a kernel TUN interface and its kernel side. The zero
// value opens "glass0" with MTU 1500, brings it up and gives it no address.
type Config struct {
	// Name of the interface; empty means DefaultName. At most 15 bytes.
	Name string
	// MTU of the interface in bytes; 0 means 1500, or with NoHostConfig
	// the MTU the interface already has.
	MTU int
	// HostAddr is the kernel's own address on the interface, with the
	// prefix length of the link (10.200.0.1/24). The zero value adds none.
	// HostAddrFor derives it from the stack's address.
	HostAddr netip.Prefix
	// Routes are extra destinations the kernel sends through the
	// interface, beyond the prefix of HostAddr.
	Routes []netip.Prefix
	// NoHostConfig leaves the kernel side alone: no MTU, address, link
	// state or routes are set. Use it when an administrator has configured
	// the interface already, or to attach without CAP_NET_ADMIN.
	NoHostConfig bool
	// Persist keeps the interface after Close (ip tuntap add does the
	// same). An interface that already exists as persistent stays so.
	Persist bool
	// BatchSize is the most packets one Read returns; 0 means 64.
	BatchSize int
	// TxQueueLen is how many packets the kernel queues for the stack to
	// read (ip link set NAME txqueuelen N); past it the kernel drops them.
	// 0 means DefaultTxQueueLen. Not set with NoHostConfig.
	TxQueueLen int
	// NoOffload opens the interface without a virtio header and without
	// segmentation or checksum offloads: every packet the kernel sends
	// is at most MTU bytes with complete checksums, one read(2) each. By
	// default Open asks for TSO, USO and checksum offload and takes what
	// the kernel grants (see OffloadDevice).
	NoOffload bool
	// Queues is how many queues the interface has (IFF_MULTI_QUEUE), each
	// a file descriptor of its own, so that several goroutines (one per
	// core) can read packets at once; the kernel picks a packet's queue
	// by its flow, so one connection's packets stay on one queue. 0 or 1
	// means a single queue. More than one needs offloads (not NoOffload)
	// and an interface created with them; every queue must be read (see
	// MultiQueue), which package netstack does.
	Queues int
}

// DefaultTxQueueLen is the queue Open gives the kernel side when
// Config.TxQueueLen is 0: the kernel's own default for a TUN, 500 packets,
// overflows while the stack is briefly descheduled during a bulk transfer
// at MTU 1500, and every packet dropped there is a TCP retransmission.
// 16384 packets hold what 1,000 connections send at once, an initial
// window of 10 segments each, with room for their ACKs (4096, a whole
// 4 MiB receive window of 1500-byte packets, overflowed thousands of times
// in a bulk echo over 1,000 connections). The queue holds pointers; the
// packets in it are bounded by the windows the stack advertises.
const DefaultTxQueueLen = 16384

const (
	defaultMTU       = 1500
	defaultBatchSize = 64
	maxNameLen       = 15  // IFNAMSIZ - 1
	maxQueues        = 256 // the kernel's MAX_TAP_QUEUES
)

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.MTU == 0 && !c.NoHostConfig {
		c.MTU = defaultMTU
	}
	if c.BatchSize <= 0 {
		c.BatchSize = defaultBatchSize
	}
	if c.TxQueueLen <= 0 {
		c.TxQueueLen = DefaultTxQueueLen
	}
	return c
}

func (c Config) validate() error {
	if len(c.Name) > maxNameLen {
		return fmt.Errorf("tun: interface name %q is longer than %d bytes", c.Name, maxNameLen)
	}
	if c.MTU < 0 || c.MTU > 65535 {
		return fmt.Errorf("tun: MTU %d out of range (68..65535, or 0 for the default)", c.MTU)
	}
	if c.MTU != 0 && c.MTU < 68 {
		return fmt.Errorf("tun: MTU %d is below the IPv4 minimum of 68", c.MTU)
	}
	if c.HostAddr.IsValid() && c.HostAddr.Addr().Zone() != "" {
		return fmt.Errorf("tun: host address %v must not have a zone", c.HostAddr)
	}
	if c.Queues < 0 || c.Queues > maxQueues {
		return fmt.Errorf("tun: %d queues out of range (0..%d)", c.Queues, maxQueues)
	}
	if c.Queues > 1 && c.NoOffload {
		return fmt.Errorf("tun: %d queues need offloads (IFF_VNET_HDR); NoOffload is set", c.Queues)
	}
	for _, r := range c.Routes {
		if !r.IsValid() {
			return fmt.Errorf("tun: invalid route %v", r)
		}
	}
	return nil
}

// HostAddrFor returns the address the kernel side of a point-to-point
// link should have when the stack on the other side owns stack: the first
// host address of the prefix (10.200.0.1/24 for 10.200.0.2/24), or the next
// one when the stack holds the first itself (10.200.0.2/24 for
// 10.200.0.1/24). On a /31 or /127 it is the other address. It returns the
// zero Prefix when the prefix has no room for a second host (/32, /128, or
// an invalid prefix).
func HostAddrFor(stack netip.Prefix) netip.Prefix {
	if !stack.IsValid() {
		return netip.Prefix{}
	}
	addr := stack.Addr()
	bits := stack.Bits()
	network := stack.Masked().Addr()
	switch addr.BitLen() - bits {
	case 0:
		return netip.Prefix{}
	case 1:
		// RFC 3021: both addresses of a /31 are hosts.
		if addr == network {
			return netip.PrefixFrom(network.Next(), bits)
		}
		return netip.PrefixFrom(network, bits)
	}
	host := network.Next()
	if host == addr {
		host = host.Next()
	}
	if !stack.Contains(host) || (addr.Is4() && host == lastAddr(stack)) {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(host, bits)
}

// lastAddr returns the highest address in p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
