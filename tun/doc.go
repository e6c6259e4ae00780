// Package tun moves packets between a packet device and a stack, in
// batches. Every device implements Device: Read blocks for one packet and
// then takes what else is already queued, Write never drops silently, and
// Close wakes blocked calls, which then return ErrClosed.
//
// Three kinds of device, each in its own files:
//
//   - The TUN (tun_linux.go, offload_linux.go, config*.go): Open makes a
//     kernel TUN interface (IFF_TUN|IFF_NO_PI), created if missing, whose
//     kernel side Open configures through netlink (MTU, queue length, host
//     address, link up, routes) unless Config.NoHostConfig is set. It
//     carries bare IP packets and needs CAP_NET_ADMIN. On other platforms
//     Open returns ErrNotSupported.
//   - The packet socket (afpacket*.go): OpenPacketSocket binds an
//     AF_PACKET socket to an existing Ethernet interface (a veth, a NIC),
//     as tcpdump and a DHCP client do. It carries Ethernet frames
//     (LinkLayer) and needs CAP_NET_RAW; the kernel keeps the interface.
//     Its Write sends a batch with one sendmmsg(2) (BatchWriter), where a
//     TUN's takes one write(2) per packet, its writers taking turns on the
//     descriptor (SerialWriter).
//   - The pipe (pipe.go, pipe_offload.go): Pipe returns the two ends
//     (PipeEnd) of an in-memory device pair wired back to back, with an
//     MTU, latency, bounded blocking queues and optional offloads, for
//     tests and the demo; no privileges.
//
// What tun is not: it holds no stack and no sockets (package netstack
// puts gVisor on a Device, package sockets the socket API on that), and it
// does not look inside packets beyond what offloads need (gso.go, vnet.go).
//
// A device error that is not ErrClosed is the kernel's; IsGone tells one
// that means the device went away (its interface deleted, or moved to
// another network namespace) from one that may pass, and ErrorReason
// names it for counters. Packets a device drops itself are counted under
// a DropReason, the type package netstack uses for its own drops too.
//
// Offloads: by default Open adds IFF_VNET_HDR and asks the kernel for
// checksum and segmentation offloads (TSO, and USO where the kernel has
// it), taking fewer, or none, when it refuses. A TUN then implements
// OffloadDevice: ReadGSO and WriteGSO move TCP and UDP super-packets of
// up to 64 KiB whole, with their virtio_net_hdr metadata as a GSO, so one
// syscall and one trip through a stack carry up to 45 MSS-sized segments
// at MTU 1500. Read and Write keep the Device contract on such a TUN by
// segmenting (GSO.SegmentAt) and completing checksums (CompleteChecksum)
// in software. Config.NoOffload opens the interface the plain way,
// through songgao/water.
//
// A TUN for a stack that owns 10.200.0.2/24, with the kernel at 10.200.0.1:
//
//	stack := netip.MustParsePrefix("10.200.0.2/24")
//	dev, err := tun.Open(tun.Config{Name: "glass0", HostAddr: tun.HostAddrFor(stack)})
//	if err != nil {
//		log.Fatal(err) // says what is missing, e.g. CAP_NET_ADMIN
//	}
//	defer dev.Close()
//
//	bufs := make([][]byte, dev.BatchSize())
//	sizes := make([]int, len(bufs))
//	for i := range bufs {
//		bufs[i] = make([]byte, dev.MTU())
//	}
//	for {
//		n, err := dev.Read(bufs, sizes)
//		if err != nil {
//			return // tun.ErrClosed after Close
//		}
//		for i := range n {
//			handle(bufs[i][:sizes[i]])
//		}
//	}
//
// Tests that open a TUN run in their own network namespace through
// internal/netnstest, never in the host's.
package tun
