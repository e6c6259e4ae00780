// Package netstack builds a gVisor TCP/IP stack on a tun.Device.
//
// A Stack has one NIC whose link endpoint is written here rather than
// taken from gVisor's link packages, so that nothing is lost silently:
//
//   - Ingress: one goroutine reads batches of packets from the device,
//     checks each one's IP version and header lengths against the bytes
//     actually read, and hands the good ones to gVisor. Every packet that
//     fails a check is counted under a DropReason (see Stats) and, when
//     tracing, reported as a "drop" event. gVisor then verifies checksums
//     itself (the endpoint claims no offloads) and counts its own failures
//     (Stats.Malformed).
//   - Egress: gVisor's WritePackets serializes each packet and writes the
//     batch to the device, blocking while the device is full. There is no
//     queue of our own to overflow; a packet is dropped, and counted, only
//     when the device is closed or fails.
//   - Hooks: a hook.Chain at the link ingress (before the checks) and one
//     at the link egress (before the device write) may drop, modify,
//     delay, duplicate or inject packets (Options.Ingress and Egress,
//     Stack.SetIngress and SetEgress; linkhooks.go says how each verdict
//     is carried out). Delayed packets wait in a bounded queue per
//     direction with a goroutine of its own, never in gVisor's; a packet
//     that finds it full is a counted drop (DropQueueFull). Every non-pass
//     verdict is counted (Stats.Verdicts, and Stats.Drops for drops) and,
//     when tracing, is a trace.LayerLink "verdict" event with the fields
//     hook, action, reason and rule. With no chain installed a packet
//     costs one atomic load.
//
// Ethernet devices: a device that implements tun.LinkLayer (tun.NIC, an
// AF_PACKET socket on an interface) carries Ethernet frames rather than IP
// packets. New then puts gVisor's link/ethernet endpoint on top of ours and
// registers the ARP protocol; IPv6 neighbor discovery is part of gVisor's
// ipv6. The ethernet wrapper adds the header on the way out and strips it
// on the way in; our endpoint stays the only place where packets are read,
// written, checked, counted and traced, so it keeps the properties above:
// ingress checks the frame first (a whole header, a destination MAC that
// is ours, broadcast or multicast, an EtherType of IPv4, IPv6 or ARP, an
// ARP body long enough) and then the IP packet inside as for a TUN, and
// every failure is a counted drop (DropEthernetShort, DropOtherHost,
// DropEtherType, DropARPShort). This was chosen over a second endpoint type
// for Ethernet so that a tun.Device keeps meaning "moves packets", with one
// optional interface saying whose link layer they carry, and the read
// loop, the batching and the drop accounting exist once. Trace events then
// print the MACs before the usual summary, as tcpdump -e does
// ("02:00:00:00:00:0a > 02:00:00:00:00:0b, IP 10.0.0.1.5000 > ..."; ARP as
// "ARP, Request who-has 10.0.0.2 tell 10.0.0.1"), and the pcap capture is
// LINKTYPE_ETHERNET.
//
// With Options.Tracer set, every packet in and out becomes a trace.LayerLink
// "packet" event with a tcpdump-style summary (TCP sequence numbers relative
// to the ISN of each direction, as tcpdump prints them), and every segment
// a TCP connection receives produces a trace.LayerTCP "state" event with
// the endpoint's state, sequence variables, windows, cwnd and srtt. With
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
// Usage:
//
//	dev := ... // a tun.Device: tun.Pipe for tests, a TUN for real traffic
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
//
//	s := st.Stack() // the *stack.Stack that package sockets builds on
//	_ = s
//	fmt.Println(st.Stats().Drops)
package netstack
