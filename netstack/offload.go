package netstack

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// Segmentation offload on a tun.OffloadDevice (a TUN with IFF_VNET_HDR,
// or an in-memory pair made with tun.PipeOptions.Offload, which carries
// super-packets and their metadata from one stack to the other as a veth
// pair with GSO and GRO does).
//
// Egress: with TSO and checksum offload agreed, the endpoint is a gVisor
// stack.GSOEndpoint with HostGSOSupported, as link/fdbased is on a socket
// fd: TCP hands down segments of up to 64 KiB with the checksum left
// partial (the pseudo-header sum), and the endpoint writes each with a
// virtio header made from pkt.GSOOptions (TCPv4/TCPv6, gso size = MSS,
// NEEDS_CSUM at the transport header); the kernel cuts and completes them.
// Every other packet (UDP, ICMP, IP fragments) leaves with complete
// checksums as before: the endpoint claims no TX checksum offload.
//
// Ingress: TCP super-packets from the kernel's TSO are delivered to gVisor
// whole, as one large segment; UDP super-packets (USO) are cut into
// datagrams first, since a datagram is a message. Packets whose header says
// NEEDS_CSUM (partial) or DATA_VALID reach gVisor with
// pkt.RXChecksumValidated set; every other packet is verified by gVisor as
// on a device without offloads. gVisor's NIC sets RXChecksumValidated from
// the endpoint's capabilities for each packet it is handed, so the
// endpoint reports CapabilityRXChecksumOffload exactly while it delivers a
// packet known good (rxMu serializes the read loop and the delay queue
// there); TestOffloadRXChecksum holds gVisor to this.
//
// Trace, capture and link hooks see super-packets for what they are: one
// packet of up to 64 KiB, described with "gso tcp4 mss 1448 (45 segs)",
// written to the pcap whole as tcpdump on a TSO NIC shows it. Partial
// checksums are completed in software before a hook or the observer sees a packet
// (so captures verify and hooks can rewrite), which costs one pass over the
// bytes only while tracing, capturing or hooking; such a packet then goes
// to the kernel, or to gVisor, with its checksum complete. With
// Options.SplitGSO (or SetSplitGSO) the segmenter cuts super-packets into
// MTU-sized packets before the hooks and the observer instead, so a netem-like
// loss rule drops one MSS segment, not 45.

// gsoMaxSize is the largest super-packet gVisor may hand down: the IPv4
// total length and IPv6 payload length fields hold no more, and gVisor
// keeps TCP segments below it with room for headers.
const gsoMaxSize = 1 << 16

// tcpMaxOptions is room for TCP options beyond what GSO.HdrLen counts.
const tcpMaxOptions = 40

// GSOMaxSize implements stack.GSOEndpoint.
func (e *stackEndpoint) GSOMaxSize() uint32 { return e.gsoMax }

// SupportedGSO implements stack.GSOEndpoint: host GSO on a device with
// TSO, none otherwise.
func (e *stackEndpoint) SupportedGSO() stack.SupportedGSO {
	if e.gsoMax > 0 {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

var _ stack.GSOEndpoint = (*stackEndpoint)(nil)

// gsoOf returns the virtio metadata for a packet gVisor hands down.
func (e *stackEndpoint) gsoOf(pkt *stack.PacketBuffer) tun.GSO {
	o := pkt.GSOOptions
	if e.gsoMax == 0 || o.Type == stack.GSONone {
		return tun.GSO{}
	}
	g := tun.GSO{HdrLen: uint16(pkt.HeaderSize())}
	if o.NeedsCsum {
		g.NeedsCsum = true
		g.CsumStart = uint16(len(pkt.NetworkHeader().Slice()))
		g.CsumOffset = o.CsumOffset
	}
	if pkt.Data().Size() > int(o.MSS) && o.MSS > 0 {
		switch o.Type {
		case stack.GSOTCPv4:
			g.Type = tun.GSOTCPv4
		case stack.GSOTCPv6:
			g.Type = tun.GSOTCPv6
		}
		g.Size = o.MSS
	}
	return g
}

// segmentsOut is how many packets the kernel makes of a packet written
// with g.
func segmentsOut(b []byte, g tun.GSO) int { return segmentsOutLen(len(b), g) }

func segmentsOutLen(size int, g tun.GSO) int {
	if g.Type == tun.GSONone || g.Size == 0 {
		return 1
	}
	payload := size - int(g.HdrLen)
	if payload <= 0 {
		return 1
	}
	return (payload + int(g.Size) - 1) / int(g.Size)
}

// SetSplitGSO chooses what the link hooks, the trace and the capture see
// on a device with segmentation offload: with split, MTU-sized packets cut
// from each super-packet in software before the hooks run; without (the
// default), the super-packets whole. It is safe while packets flow.
func (st *Stack) SetSplitGSO(split bool) {
	st.ep.split.Store(split)
	st.dev.split.Store(split)
}

// Offloads returns the offloads the stack uses on its device: what the
// device agreed with the kernel, or none (a device without offloads, an
// Ethernet device, or a TUN opened with tun.Config.NoOffload).
func (st *Stack) Offloads() tun.Offload { return st.ep.offloads }

// receivedGSO is what gVisor is told of a TCP super-packet received whole:
// its segments' size, by which TCP counts the segments it stands for
// (segs_in). A received packet's GSO is read by nothing else in gVisor but
// forwarding (off unless Options.Forwarding), which sends a super-packet
// on whole with it.
func receivedGSO(g tun.GSO) stack.GSO {
	switch g.Type {
	case tun.GSOTCPv4:
		return stack.GSO{Type: stack.GSOTCPv4, MSS: g.Size}
	case tun.GSOTCPv6:
		return stack.GSO{Type: stack.GSOTCPv6, MSS: g.Size}
	}
	return stack.GSO{}
}

// deliverChecked is deliverCopy on an offload device, telling gVisor
// through the capabilities whether to verify the checksums (see the
// comment at the top of this file).
func (e *stackEndpoint) deliverChecked(d stack.NetworkDispatcher, proto tcpip.NetworkProtocolNumber, b []byte, m pktMeta) {
	e.rxMu.Lock()
	e.rxValid.Store(m.valid)
	deliverCopy(d, proto, b, receivedGSO(m.gso))
	e.rxValid.Store(false)
	e.rxMu.Unlock()
}

// splitOut cuts the super-packets among bufs into MTU-sized packets with
// complete checksums, for the hooks and the observer that asked for segments. The
// result lives in ob until its next use.
func (ob *outBatch) splitOut(e *stackEndpoint, bufs [][]byte, gso []tun.GSO) ([][]byte, []tun.GSO) {
	ob.sbufs, ob.sgso = ob.sbufs[:0], ob.sgso[:0]
	used := 0
	for i, b := range bufs {
		g := gso[i]
		if g.Type == tun.GSONone {
			ob.sbufs = append(ob.sbufs, b)
			ob.sgso = append(ob.sgso, g)
			continue
		}
		n, reason := g.Segments(b)
		if reason != "" {
			// Not something the segmenter knows: leave it to the
			// kernel, which refuses it if it must.
			ob.sbufs = append(ob.sbufs, b)
			ob.sgso = append(ob.sgso, g)
			continue
		}
		e.acct.c.splitOut.Add(1)
		need := int(g.HdrLen) + int(g.Size) + tcpMaxOptions
		for j := range n {
			if used == len(ob.segStore) {
				ob.segStore = append(ob.segStore, nil)
			}
			dst := ob.segStore[used]
			if len(dst) < need {
				dst = make([]byte, need)
				ob.segStore[used] = dst
			}
			m := g.SegmentAt(dst, b, j)
			if m == 0 {
				// gVisor's header length was short of the real
				// headers: the rest of this packet cannot be cut.
				e.acct.drop(trace.Out, tun.DropGSOHeaders, len(b))
				break
			}
			used++
			ob.sbufs = append(ob.sbufs, dst[:m])
			ob.sgso = append(ob.sgso, tun.GSO{})
		}
	}
	return ob.sbufs, ob.sgso
}

// gather records pkts as lists of their views, with the offload metadata
// e gives each, for a vectored write. The views stay gVisor's: they are
// valid until WritePackets returns.
func (ob *outBatch) gather(pkts []*stack.PacketBuffer, e *stackEndpoint) {
	ob.parts, ob.vecs, ob.sizes, ob.gso = ob.parts[:0], ob.vecs[:0], ob.sizes[:0], ob.gso[:0]
	for _, pkt := range pkts {
		ob.gso = append(ob.gso, e.gsoOf(pkt))
		size := 0
		vl, off := pkt.AsViewList()
		for v := vl.Front(); v != nil; v = v.Next() {
			b := v.AsSlice()
			if off >= len(b) {
				off -= len(b)
				continue
			}
			ob.parts = append(ob.parts, b[off:])
			size += len(b) - off
			off = 0
		}
		ob.sizes = append(ob.sizes, size)
		ob.vecs = append(ob.vecs, nil) // set below: parts may move while growing
	}
	at := 0
	for i := range ob.vecs {
		n := 0
		for sz := 0; sz < ob.sizes[i]; n++ {
			sz += len(ob.parts[at+n])
		}
		ob.vecs[i] = ob.parts[at : at+n : at+n]
		at += n
	}
}
