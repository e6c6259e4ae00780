// Package netstack builds a gVisor TCP/IP stack on a tun.Device.
//
// A Stack has one NIC whose link endpoints are written here rather than
// taken from gVisor's link packages, so that nothing is lost silently.
// They nest as gVisor's link/sniffer and link/qdisc do, each doing one
// thing and handing the rest to the next. From gVisor down to the device:
//
//	gVisor NIC
//	└ link/ethernet   gVisor's, on an Ethernet device only: adds and strips
//	│                 the frame header, speaks ARP (ethernet.go)
//	└ stackEndpoint   the stack.LinkEndpoint gVisor holds: PacketBuffers to
//	│                 bytes and back, checks each packet before gVisor sees
//	│                 it, offloads offered (endpoint.go, offload.go)
//	└ hookEndpoint    the link hooks: verdicts, delay queues, hold
//	│                 (linkhooks.go, delayqueue.go, hold.go)
//	└ observer        trace and pcap: sees packets as the device moves them,
//	│                 as tcpdump does; only when tracing or capturing
//	│                 (observer.go, pcap.go)
//	└ ethernetFilter  on an Ethernet device, on the way in: the frames a
//	│                 NIC's address filter passes (ethernet.go)
//	└ deviceEndpoint  owns the tun.Device: the read loop, batched writes,
//	                  the egress queue, super-packets, scatter reads into
//	                  gVisor's memory, device errors (device.go, egress.go,
//	                  device_offload.go, scatterread.go)
//
// When no hook is installed and nothing observes, the stack endpoint and
// the device endpoint talk directly for the zero-copy paths (a gathered write,
// a scatter read), and a packet costs an atomic load per layer.
//
//   - Ingress: one goroutine reads batches of packets from the device and
//     passes each up. The stack endpoint checks each one's IP version and header
//     lengths against the bytes actually read, and hands the good ones to
//     gVisor. Every packet that fails a check is counted under a
//     DropReason (see Stats) and, when tracing, reported as a "drop" event.
//     gVisor then verifies checksums itself (the stack endpoint claims no
//     offloads) and counts its own failures (Stats.Malformed).
//   - Egress: gVisor writes each packet on the goroutine that sends it (a
//     TCP processor's ACK, an application's Write); WritePackets
//     serializes the packets, and the hooks, the trace and the capture see
//     them there, in that order. Then the device endpoint writes them,
//     blocking while the device is full. On a device whose Write moves a
//     batch with one system call (tun.BatchWriter: sendmmsg on an
//     AF_PACKET socket) the packets of many connections share a write: a
//     sender that finds another's write under way copies its packets into
//     a bounded egress queue and returns, and that writer sends them in
//     one more Write before it returns (egress.go; Stats.QueuedOut and
//     DeviceWrites). A sender alone writes at once, and no packet waits
//     for another to come. A TUN takes one packet per write(2), its
//     senders taking turns on the descriptor's write lock
//     (tun.SerialWriter): there only small packets (ACKs, short replies,
//     up to 2 KiB) wait, copied, behind a write under way, and go out
//     from the writer, one write(2) each; a larger packet's sender writes
//     it itself once the packets queued before it are out (on a
//     multi-queue TUN, on its flow's queue). A packet is dropped, and
//     counted, only when the device is closed or fails.
//   - Traffic to the stack's own addresses never reaches the link: gVisor
//     loops it back inside the stack, as Linux does over lo, so link
//     hooks, the capture and link trace events do not see it (its TCP and
//     socket events are traced). A packet that comes in from the device
//     with one of the stack's own addresses as its source is dropped as a
//     martian (Stats.Malformed, "ip-invalid-source").
//   - Hooks: a hook.Chain at the link ingress (before the checks) and one
//     at the link egress (before the device write) may drop, modify,
//     delay, duplicate, inject or hold packets (Options.Ingress and
//     Egress, Stack.SetIngress and SetEgress; linkhooks.go says how each
//     verdict is carried out). Delayed packets wait in a bounded queue per
//     direction with a goroutine of its own, never in gVisor's; a packet
//     that finds it full is a counted drop (DropQueueFull). A held packet
//     leaves the path until Stack.Continue sends it on (hold.go). Every
//     non-pass verdict is counted (Stats.Verdicts, and Stats.Drops for
//     drops) and, when tracing, is a trace.LayerLink "verdict" event (a
//     "held" one for a hold) with the fields hook, action, reason and rule.
//   - Device errors: a read or write error other than the device's own
//     Close is counted under its reason (Stats.DeviceErrors) and retried
//     after a pause that doubles up to a second. When the device is gone
//     (its interface deleted or moved to another namespace, its descriptor
//     closed under it) the stack stops by itself: Done is closed and Err
//     says why (ErrDeviceGone).
//
// Ethernet devices: a device that implements tun.LinkLayer
// (tun.PacketSocket, an AF_PACKET socket on an interface) carries Ethernet
// frames rather than IP packets. New then puts gVisor's link/ethernet
// endpoint on top of ours and registers the ARP protocol; IPv6 neighbor
// discovery is part of gVisor's ipv6. Ingress checks the frame first (a
// whole header, a destination MAC that is ours, broadcast or multicast, an
// EtherType of IPv4, IPv6 or ARP, an ARP body long enough) and then the IP
// packet inside as for a TUN, and every failure is a counted drop
// (DropEthernetShort, DropOtherHost, DropEtherType, DropARPShort). Link
// hooks see the IP packet inside a frame. Trace events print the MACs
// before the usual summary, as tcpdump -e does
// ("02:00:00:00:00:0a > 02:00:00:00:00:0b, IP 10.0.0.1.5000 > ..."; ARP as
// "ARP, Request who-has 10.0.0.2 tell 10.0.0.1"), and the pcap capture is
// LINKTYPE_ETHERNET.
//
// With Options.Tracer set, every packet in and out becomes a trace.LayerLink
// "packet" event with a tcpdump-style summary (TCP sequence numbers relative
// to the ISN of each direction, as tcpdump prints them), and every segment
// a TCP connection receives produces a trace.LayerTCP "state" event (dir
// in) with the endpoint's state, sequence variables, windows, cwnd and
// srtt; so does each state a connection enters by sending (dir out):
// SYN-SENT and SYN-RCVD with its first SYN or SYN-ACK, FIN-WAIT1 and
// LAST-ACK with its FIN. With
// Options.PCAP set, every packet is also written to a pcap capture
// (LINKTYPE_RAW, or LINKTYPE_ETHERNET on an Ethernet device) that tcpdump,
// tshark and Wireshark read.
//
// On a TUN with segmentation offload (tun.OffloadDevice, the default on
// Linux) the stack is a gVisor host-GSO endpoint: TCP leaves as segments of
// up to 64 KiB that the kernel cuts, and the kernel's TSO segments arrive
// whole, so one syscall and one pass through gVisor carry up to 45 MSS
// segments at MTU 1500. The trace and pcap show such super-packets whole
// ("gso tcp4 mss 1448 (45 segs)"), as tcpdump on a TSO NIC does; with
// Options.SplitGSO the link hooks, trace and pcap see the MTU-sized
// segments instead. Stats counts both (GSOIn, GSOSegmentsIn, ...).
//
// What netstack is not: it has no socket API (package sockets builds one
// on Stack.Stack), no WebSocket (package ws), and no device of its own
// (package tun has the TUN, the AF_PACKET socket and the in-memory pair);
// its trace events go to a trace.Tracer, whose sinks package trace holds.
//
// Usage:
//
//	dev := ... // a tun.Device: one end of tun.Pipe for tests, a TUN for real traffic
//	st, err := netstack.New(netstack.Options{
//		Device: dev,
//		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")},
//		Tracer: trace.New(trace.NewText(os.Stderr)),
//		Node:   "server",
//	})
//	if err != nil {
//		return err
//	}
//	defer st.Close() // stops the read loop, closes dev, waits for gVisor
//	go func() { <-st.Done(); log.Print(st.Err()) }() // non-nil if dev went away
//
//	s := st.Stack() // the *stack.Stack that package sockets builds on
//	_ = s
//	fmt.Println(st.Stats().Drops)
package netstack
