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
//
// With Options.Tracer set, every packet in and out becomes a trace.LayerLink
// "packet" event with a tcpdump-style summary (TCP sequence numbers relative
// to the ISN of each direction, as tcpdump prints them), and every segment
// a TCP connection receives produces a trace.LayerTCP "state" event with
// the endpoint's state, sequence variables, windows, cwnd and srtt. With
// Options.PCAP set, every packet is also written to a pcap capture
// (LINKTYPE_RAW) that tcpdump, tshark and Wireshark read.
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
