package netstack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// DropReason names why a packet was dropped: one typed set with the
// device's reasons (tun.DropVnetShort, ...), which Stats.Drops counts too.
type DropReason = tun.DropReason

// Reasons the link endpoint drops a packet. Ingress reasons describe a packet
// read from the device that never reached gVisor; egress reasons describe a
// packet gVisor handed down that never reached the device.
const (
	// DropEmpty: the device returned a zero-length packet.
	DropEmpty DropReason = "empty"
	// DropTruncated: the packet was longer than the read buffer (the
	// device reported a size bigger than the bytes it could store).
	DropTruncated DropReason = "truncated"
	// DropBadVersion: the IP version nibble is neither 4 nor 6.
	DropBadVersion DropReason = "bad-version"
	// DropIPv4Short: fewer bytes than a minimal IPv4 header.
	DropIPv4Short DropReason = "ipv4-short"
	// DropIPv4HeaderLength: IHL below 5 or beyond the packet.
	DropIPv4HeaderLength DropReason = "ipv4-header-length"
	// DropIPv4TotalLength: total length shorter than the header or longer
	// than the bytes read.
	DropIPv4TotalLength DropReason = "ipv4-total-length"
	// DropIPv6Short: fewer bytes than the fixed IPv6 header.
	DropIPv6Short DropReason = "ipv6-short"
	// DropIPv6PayloadLength: payload length longer than the bytes read.
	DropIPv6PayloadLength DropReason = "ipv6-payload-length"
	// DropEthernetShort: a frame shorter than an Ethernet header.
	DropEthernetShort DropReason = "ethernet-short"
	// DropEtherType: an EtherType the stack does not speak (not IPv4,
	// IPv6 or ARP; VLAN tags and 802.3 length fields included).
	DropEtherType DropReason = "unknown-ethertype"
	// DropARPShort: an ARP frame with fewer bytes than an Ethernet/IPv4
	// ARP packet.
	DropARPShort DropReason = "arp-short"
	// DropOtherHost: a unicast frame for another MAC address (seen in
	// promiscuous mode, or on a shared segment).
	DropOtherHost DropReason = "other-host"
	// DropDetached: the endpoint had no dispatcher (the NIC is being
	// removed).
	DropDetached DropReason = "detached"
	// DropDeviceClosed: an outgoing packet met a closed device.
	DropDeviceClosed DropReason = "device-closed"
	// DropWriteError: the device refused an outgoing packet.
	DropWriteError DropReason = "write-error"
)

var dropReasons = [...]DropReason{
	DropEmpty,
	DropTruncated,
	DropBadVersion,
	DropIPv4Short,
	DropIPv4HeaderLength,
	DropIPv4TotalLength,
	DropIPv6Short,
	DropIPv6PayloadLength,
	DropEthernetShort,
	DropEtherType,
	DropARPShort,
	DropOtherHost,
	DropDetached,
	DropDeviceClosed,
	DropWriteError,
	DropQueueFull,
}

// dropIndex maps a reason to its counter, or -1 for an unknown reason.
func dropIndex(r DropReason) int {
	for i, d := range dropReasons {
		if d == r {
			return i
		}
	}
	return -1
}

// Stats is a snapshot of what a Stack's link endpoint has moved and dropped.
type Stats struct {
	// PacketsIn and BytesIn count packets read from the device and handed
	// to gVisor; PacketsOut and BytesOut count packets written to the
	// device.
	PacketsIn, BytesIn   uint64
	PacketsOut, BytesOut uint64
	// On a device with segmentation offload: GSOIn counts TCP
	// super-packets handed to gVisor whole and GSOSegmentsIn the MSS
	// segments they carried; GSOOut and GSOSegmentsOut the same for
	// super-packets written to the device. SplitIn counts super-packets
	// cut in software on the way in (UDP ones, and all while hooks ask
	// for segments), SplitOut on the way out. Packets counts each
	// super-packet once.
	GSOIn, GSOSegmentsIn   uint64
	GSOOut, GSOSegmentsOut uint64
	SplitIn, SplitOut      uint64
	// DeviceWrites counts the Write calls made to the device on the way
	// out (PacketsOut / DeviceWrites is the packets per write; a write
	// the device refuses part of is counted again for the rest).
	// QueuedOut counts the packets that, on a device that batches its
	// writes (tun.BatchWriter) or whose writes take turns
	// (tun.SerialWriter: small packets only), waited in the egress queue
	// behind another sender's write and went out with the next one.
	DeviceWrites, QueuedOut uint64
	// Drops counts dropped packets by reason. Every reason of the
	// endpoint's own is present, zero or not; a hook's drops appear under
	// the hook's reason ("loss", "drop", ...).
	Drops map[DropReason]uint64
	// Verdicts counts the non-pass verdicts of the link hooks, by hook
	// point (VerdictKey.Point), action and reason.
	Verdicts map[hook.VerdictKey]uint64
	// Held counts packets a link hook took out of the path (hook.Hold),
	// which are not drops; Continued the packets sent on with
	// Stack.Continue.
	Held, Continued uint64
	// DeviceErrors counts the errors the device returned on read and
	// write, by direction and reason ("read: input/output error"), other
	// than its Close. A device that fails is read again after a pause that
	// doubles up to a second; one that is gone stops the stack (Stack.Err).
	DeviceErrors map[string]uint64
	// Malformed holds gVisor's own counters of packets that passed the
	// link checks but were rejected above it.
	Malformed Malformed
}

// Dropped returns the total of all drop counters.
func (s Stats) Dropped() uint64 {
	var n uint64
	for _, v := range s.Drops {
		n += v
	}
	return n
}

// Malformed is gVisor's view of bad packets, taken from tcpip.Stats.
type Malformed struct {
	IP uint64 // IP.MalformedPacketsReceived
	// IPInvalidAddress counts packets to an address the stack does not
	// have or to a multicast group it has not joined, such as the
	// router solicitations (to ff02::2, all routers) a kernel sends when
	// a TUN comes up, which a host ignores
	// (IP.InvalidDestinationAddressesReceived): reason
	// "ip-not-for-this-stack".
	IPInvalidAddress uint64
	// IPInvalidSource counts packets from a source address no host may
	// have: a broadcast or multicast address, an unspecified one where
	// it is not allowed, or one of the stack's own (which only a spoofer
	// sends from outside), which Linux drops as martians
	// (IP.InvalidSourceAddressesReceived): reason "ip-invalid-source".
	IPInvalidSource uint64
	// IPFragment counts fragments that cannot be reassembled, such as
	// one that would end past 65535 bytes
	// (IP.MalformedFragmentsReceived): reason "ip-fragment-malformed".
	// gVisor counts them in IP too; reason "ip-malformed" is the rest.
	IPFragment uint64
	// IPChecksum counts IPv4 packets whose header checksum is wrong
	// (IP.HeaderChecksumErrors, gVisor patch 51): reason
	// "ip-checksum". gVisor counts them in IP too.
	IPChecksum uint64
	// IPSourceRoute counts IPv4 packets with a Loose or Strict Source
	// Route option, which the stack drops as Linux does unless told to
	// accept source routes (IP.SourceRoutedPacketsReceived, gVisor patch
	// 76): reason "ip-source-route".
	IPSourceRoute uint64
	// IPReassemblyTimeout counts datagrams whose fragments did not all
	// come within the reassembly timeout (30 s, Linux's ReasmTimeout),
	// IPReassemblyMemory those given up, oldest first, to keep the
	// fragments held under the memory limit (4 MiB, down to 3 MiB, as
	// Linux's ipfrag_high_thresh and low_thresh) (IP.ReassemblyTimeouts
	// and IP.ReassemblyEvictions, gVisor patch 79): reasons
	// "ip-reassembly-timeout" and "ip-reassembly-memory".
	IPReassemblyTimeout uint64
	IPReassemblyMemory  uint64
	TCPChecksum         uint64 // TCP.ChecksumErrors
	TCPInvalid          uint64 // TCP.InvalidSegmentsReceived
	UDPChecksum         uint64 // UDP.ChecksumErrors
	UDPMalformed        uint64 // UDP.MalformedPacketsReceived
	ICMPv4Invalid       uint64 // ICMP.V4.PacketsReceived.Invalid
	ICMPv6Invalid       uint64 // ICMP.V6.PacketsReceived.Invalid
	// L4 counts transport packets for no endpoint that failed to parse or
	// had a bad checksum (NICs.MalformedL4RcvdPackets).
	L4 uint64
}

// Reasons returns the counters that are not zero, by a reason named as
// the link drops' are ("tcp-checksum", "udp-malformed", "l4-malformed").
func (m Malformed) Reasons() map[string]uint64 {
	r := make(map[string]uint64)
	for _, c := range []struct {
		name string
		n    uint64
	}{
		{"ip-malformed", m.IP - min(m.IPFragment+m.IPChecksum, m.IP)}, {"ip-checksum", m.IPChecksum}, {"ip-not-for-this-stack", m.IPInvalidAddress},
		{"ip-invalid-source", m.IPInvalidSource}, {"ip-fragment-malformed", m.IPFragment}, {"ip-source-route", m.IPSourceRoute},
		{"ip-reassembly-timeout", m.IPReassemblyTimeout}, {"ip-reassembly-memory", m.IPReassemblyMemory},
		{"tcp-checksum", m.TCPChecksum}, {"tcp-invalid", m.TCPInvalid},
		{"udp-checksum", m.UDPChecksum}, {"udp-malformed", m.UDPMalformed},
		{"icmpv4-invalid", m.ICMPv4Invalid}, {"icmpv6-invalid", m.ICMPv6Invalid},
		{"l4-malformed", m.L4},
	} {
		if c.n > 0 {
			r[c.name] = c.n
		}
	}
	return r
}

func malformedFrom(s tcpip.Stats) Malformed {
	return Malformed{
		IP:                  s.IP.MalformedPacketsReceived.Value(),
		IPInvalidAddress:    s.IP.InvalidDestinationAddressesReceived.Value(),
		IPInvalidSource:     s.IP.InvalidSourceAddressesReceived.Value(),
		IPFragment:          s.IP.MalformedFragmentsReceived.Value(),
		IPChecksum:          s.IP.HeaderChecksumErrors.Value(),
		IPSourceRoute:       s.IP.SourceRoutedPacketsReceived.Value(),
		IPReassemblyTimeout: s.IP.ReassemblyTimeouts.Value(),
		IPReassemblyMemory:  s.IP.ReassemblyEvictions.Value(),
		TCPChecksum:         s.TCP.ChecksumErrors.Value(),
		TCPInvalid:          s.TCP.InvalidSegmentsReceived.Value(),
		UDPChecksum:         s.UDP.ChecksumErrors.Value(),
		UDPMalformed:        s.UDP.MalformedPacketsReceived.Value(),
		ICMPv4Invalid:       s.ICMP.V4.PacketsReceived.Invalid.Value(),
		ICMPv6Invalid:       s.ICMP.V6.PacketsReceived.Invalid.Value(),
		L4:                  s.NICs.MalformedL4RcvdPackets.Value(),
	}
}

// counters are the live, lock-free counters behind Stats.
type counters struct {
	packetsIn, bytesIn   atomic.Uint64
	packetsOut, bytesOut atomic.Uint64
	gsoIn, gsoSegsIn     atomic.Uint64
	gsoOut, gsoSegsOut   atomic.Uint64
	splitIn, splitOut    atomic.Uint64
	writesOut, queuedOut atomic.Uint64
	held, continued      atomic.Uint64
	drops                [len(dropReasons)]atomic.Uint64

	// Hook drops under reasons of their own, and hook verdicts; touched
	// only when a hook decides something.
	mu        sync.Mutex
	hookDrops map[DropReason]uint64
	verdicts  hook.Counter
	devErrs   map[string]uint64
}

// deviceError counts an error of the device in direction dir.
func (c *counters) deviceError(dir trace.Dir, err error) {
	k := "read: "
	if dir == trace.Out {
		k = "write: "
	}
	k += tun.ErrorReason(err)
	c.mu.Lock()
	if c.devErrs == nil {
		c.devErrs = make(map[string]uint64)
	}
	c.devErrs[k]++
	c.mu.Unlock()
}

func (c *counters) drop(r DropReason) {
	if i := dropIndex(r); i >= 0 {
		c.drops[i].Add(1)
		return
	}
	c.mu.Lock()
	if c.hookDrops == nil {
		c.hookDrops = make(map[DropReason]uint64)
	}
	c.hookDrops[r]++
	c.mu.Unlock()
}

func (c *counters) verdict(hookName string, v hook.Verdict) {
	c.verdicts.Add(hook.VerdictKey{Point: hookName, Action: v.Action, Reason: v.Reason})
}

func (c *counters) snapshot() Stats {
	s := Stats{
		PacketsIn:  c.packetsIn.Load(),
		BytesIn:    c.bytesIn.Load(),
		PacketsOut: c.packetsOut.Load(),
		BytesOut:   c.bytesOut.Load(),

		GSOIn:          c.gsoIn.Load(),
		GSOSegmentsIn:  c.gsoSegsIn.Load(),
		GSOOut:         c.gsoOut.Load(),
		GSOSegmentsOut: c.gsoSegsOut.Load(),
		SplitIn:        c.splitIn.Load(),
		SplitOut:       c.splitOut.Load(),
		DeviceWrites:   c.writesOut.Load(),
		QueuedOut:      c.queuedOut.Load(),
		Held:           c.held.Load(),
		Continued:      c.continued.Load(),
		Drops:          make(map[DropReason]uint64, len(dropReasons)),
	}
	for i, r := range dropReasons {
		s.Drops[r] = c.drops[i].Load()
	}
	c.mu.Lock()
	for r, n := range c.hookDrops {
		s.Drops[r] += n
	}
	s.DeviceErrors = make(map[string]uint64, len(c.devErrs))
	for k, n := range c.devErrs {
		s.DeviceErrors[k] = n
	}
	c.mu.Unlock()
	s.Verdicts = c.verdicts.Counts()
	return s
}
