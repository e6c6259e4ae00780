package netstack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// stackEndpoint is the outermost of the stack's own link endpoints, the one
// gVisor's NIC holds (under gVisor's link/ethernet on an Ethernet device):
// it turns gVisor's PacketBuffers into bytes on the way out and bytes into
// PacketBuffers on the way in, checks every packet before gVisor sees it
// (classify), and says what the link offers (MTU, offloads). The endpoints
// below it each do one thing (doc.go shows the nesting): down is the next
// one toward the device, dev the innermost, which the gathered write uses
// directly when nothing between reads the bytes.
//
// Egress is synchronous: WritePackets serializes the packets and sends
// them down in batches, blocking while the device is full; only on a
// device that batches its writes, or with small packets on one whose
// writes take turns (a TUN), may it return with its packets queued behind
// another sender's write (egress.go). Nothing is dropped without
// being counted with a reason.
type stackEndpoint struct {
	mtu    atomic.Uint32
	l2     bool              // the device carries Ethernet frames
	hw     tcpip.LinkAddress // its MAC
	wbatch int               // packets per device Write
	acct   *linkAccount

	dispatcher atomic.Pointer[dispatcherRef]

	down packetSender
	dev  *deviceEndpoint

	out sync.Pool // *outBatch

	// Segmentation offload (offload.go): offloads are the device's when
	// the stack uses them; gsoMax is nonzero when gVisor may hand down
	// TCP super-packets. rxValid is the RX checksum capability reported
	// while rxMu is held for one delivery. split asks for super-packets
	// to be cut before whatever reads the bytes below.
	offloads tun.Offload
	gsoMax   uint32
	rxMu     sync.Mutex
	rxValid  atomic.Bool
	split    atomic.Bool
}

// dispatcherRef boxes the interface so it fits an atomic.Pointer.
type dispatcherRef struct{ d stack.NetworkDispatcher }

// outBatch holds reusable buffers for one device Write.
type outBatch struct {
	bufs  [][]byte  // what is handed to Write
	gso   []tun.GSO // the offload metadata of each (zero without)
	store [][]byte  // backing storage, reused across calls

	// Packets as lists of gVisor's views, for a tun.VectorWriter
	// (gather): vecs[i] is a window on parts, sizes[i] its length.
	parts [][]byte
	vecs  [][][]byte
	sizes []int

	// Segments cut in software for what reads the bytes (splitOut).
	sbufs    [][]byte
	sgso     []tun.GSO
	segStore [][]byte
}

var _ stack.LinkEndpoint = (*stackEndpoint)(nil)

func newStackEndpoint(dev *deviceEndpoint, acct *linkAccount) *stackEndpoint {
	e := &stackEndpoint{wbatch: dev.wbatch, acct: acct, dev: dev}
	mtu := dev.dev.MTU()
	if ll, ok := dev.dev.(tun.LinkLayer); ok {
		e.l2 = true
		e.hw = tcpip.LinkAddress(ll.HardwareAddr())
		// The ethernet wrapper reports this minus the header to IP.
		mtu += header.EthernetMinimumSize
	}
	e.mtu.Store(uint32(mtu))
	e.offloads = dev.setupOffload()
	if tso := tun.OffloadCsum | tun.OffloadTSO4 | tun.OffloadTSO6; e.offloads&tso == tso {
		e.gsoMax = gsoMaxSize
	}
	e.out.New = func() any { return new(outBatch) }
	return e
}

// receive implements packetReceiver: it checks one packet and hands gVisor
// a copy, or counts why not. b is only borrowed.
func (e *stackEndpoint) receive(b []byte, m pktMeta) {
	var (
		proto  tcpip.NetworkProtocolNumber
		reason DropReason
	)
	if e.l2 {
		proto, reason = classifyFrame(b, e.hw)
	} else {
		proto, reason = classify(b)
	}
	if reason != "" {
		e.acct.drop(trace.In, reason, len(b))
		return
	}
	ref := e.dispatcher.Load()
	if ref == nil || ref.d == nil {
		e.acct.drop(trace.In, DropDetached, len(b))
		return
	}
	c := e.acct.c
	c.packetsIn.Add(1)
	c.bytesIn.Add(uint64(len(b)))
	if m.gso.Type != tun.GSONone {
		c.gsoIn.Add(1)
		c.gsoSegsIn.Add(uint64(m.segs))
	}
	if e.offloads != 0 {
		e.deliverChecked(ref.d, proto, b, m)
		return
	}
	deliverCopy(ref.d, proto, b, stack.GSO{})
}

// readsIn implements packetReceiver: what reaches gVisor is copied, not read.
func (*stackEndpoint) readsIn() bool { return false }

// deliverCopy hands gVisor a copy of b.
//
// A large packet (a super-packet) is copied as two views, the first
// holding every header: gVisor clones the chunk under a header it pulls up
// when the chunk is shared, and a clone of a small chunk is cheap, of a
// 64 KiB one is another copy of the packet.
//
// gso names a TCP super-packet's segments (Type and MSS), so that TCP
// counts each of them received, as Linux's segs_in does; the zero GSO
// for an ordinary packet.
func deliverCopy(d stack.NetworkDispatcher, proto tcpip.NetworkProtocolNumber, b []byte, gso stack.GSO) {
	var payload buffer.Buffer
	if len(b) > splitHeadOver {
		payload = buffer.MakeWithData(b[:headView])
		payload.Append(buffer.NewViewWithData(b[headView:]))
	} else {
		payload = buffer.MakeWithData(b)
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: payload})
	pkt.GSOOptions = gso
	d.DeliverNetworkPacket(proto, pkt)
	pkt.DecRef()
}

// A packet longer than splitHeadOver reaches gVisor as a first view of
// headView bytes, room for the IP and transport headers with options
// (IPv4 60 + TCP 60, IPv6 40 + TCP 60 and some extension headers), and a
// view of the rest.
const (
	splitHeadOver = 4096
	headView      = 256
)

// WritePackets implements stack.LinkWriter. It blocks while the device is
// full. Packets it cannot write because the device is closed or failed are
// counted as drops.
func (e *stackEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	return e.write(pkts.AsSlice())
}

// writePacket writes one packet, as WritePackets does.
func (e *stackEndpoint) writePacket(pkt *stack.PacketBuffer) tcpip.Error {
	one := [1]*stack.PacketBuffer{pkt}
	_, err := e.write(one[:])
	return err
}

// qdisc is the NIC's queueing discipline: none in gVisor. gVisor's
// default stub wraps every packet in a new PacketBufferList on its way to
// WritePackets; this hands it to the endpoint as it is. Packets leave in
// batches when gVisor writes several at once through WritePackets, and on
// a device that batches its writes the device endpoint's egress queue
// (egress.go) puts the packets of several senders in one write: below
// the hooks, the trace and the capture, which see each packet on its
// sender's goroutine, and with no goroutine of its own.
type qdisc struct{ e *stackEndpoint }

// WritePacket implements stack.QueueingDiscipline.
func (q qdisc) WritePacket(pkt *stack.PacketBuffer) tcpip.Error { return q.e.writePacket(pkt) }

// Close implements stack.QueueingDiscipline; the device endpoint owns the device.
func (qdisc) Close() {}

func (e *stackEndpoint) write(list []*stack.PacketBuffer) (int, tcpip.Error) {
	if len(list) == 0 {
		return 0, nil
	}
	if e.dev.closed.Load() {
		for _, pkt := range list {
			e.acct.drop(trace.Out, DropDeviceClosed, pkt.Size())
		}
		return 0, &tcpip.ErrClosedForSend{}
	}
	ob := e.out.Get().(*outBatch)
	defer e.out.Put(ob)
	written := 0
	for len(list) > 0 {
		chunk := list
		if len(chunk) > e.wbatch {
			chunk = chunk[:e.wbatch]
		}
		list = list[len(chunk):]
		var (
			n  int
			ok bool
		)
		reads := e.down.readsOut()
		if e.dev.vw != nil && !reads {
			// Nothing reads the bytes: the device gathers each
			// packet from gVisor's views, with no copy here.
			ob.gather(chunk, e)
			n, ok = e.dev.sendVec(ob.vecs, ob.gso, ob.sizes)
		} else {
			ob.fill(chunk, e)
			bufs, gso := ob.bufs, ob.gso
			split := false
			if e.gsoMax > 0 && reads {
				if e.split.Load() {
					bufs, gso = ob.splitOut(e, bufs, gso)
					split = len(bufs) != len(chunk)
				}
				// What reads the bytes sees complete checksums.
				for i := range bufs {
					if tun.CompleteChecksum(bufs[i], gso[i]) {
						gso[i].NeedsCsum, gso[i].CsumStart, gso[i].CsumOffset = false, 0, 0
					}
				}
			}
			n, ok = e.down.send(bufs, gso)
			if split {
				// The segmenter's cuts do not change how many of
				// gVisor's packets were taken.
				n = 0
				if ok {
					n = len(chunk)
				}
			}
		}
		written += n
		if !ok {
			// The device is closed: nothing more will go out.
			for _, pkt := range list {
				e.acct.drop(trace.Out, DropDeviceClosed, pkt.Size())
			}
			break
		}
	}
	if written == 0 {
		if e.dev.closed.Load() {
			return 0, &tcpip.ErrClosedForSend{}
		}
		return 0, &tcpip.ErrAborted{}
	}
	return written, nil
}

// fill serializes pkts into the batch's reusable buffers, with the
// offload metadata e gives each.
func (ob *outBatch) fill(pkts []*stack.PacketBuffer, e *stackEndpoint) {
	for len(ob.store) < len(pkts) {
		ob.store = append(ob.store, nil)
	}
	ob.bufs = ob.bufs[:0]
	ob.gso = ob.gso[:0]
	for i, pkt := range pkts {
		ob.gso = append(ob.gso, e.gsoOf(pkt))
		b := ob.store[i][:0]
		// The views from the header offset on, without AsSlices, which
		// allocates a slice of them for every packet.
		vl, off := pkt.AsViewList()
		for v := vl.Front(); v != nil; v = v.Next() {
			s := v.AsSlice()
			if off >= len(s) {
				off -= len(s)
				continue
			}
			b = append(b, s[off:]...)
			off = 0
		}
		ob.store[i] = b
		ob.bufs = append(ob.bufs, b)
	}
}

// MTU implements stack.NetworkLinkEndpoint.
func (e *stackEndpoint) MTU() uint32 { return e.mtu.Load() }

// SetMTU implements stack.NetworkLinkEndpoint.
func (e *stackEndpoint) SetMTU(mtu uint32) { e.mtu.Store(mtu) }

// MaxHeaderLength implements stack.NetworkLinkEndpoint: IP packets travel
// bare on a TUN device, and on an Ethernet device the wrapper adds its
// header itself.
func (*stackEndpoint) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.NetworkLinkEndpoint: the MAC of an Ethernet
// device, none for a TUN.
func (e *stackEndpoint) LinkAddress() tcpip.LinkAddress { return e.hw }

// SetLinkAddress implements stack.NetworkLinkEndpoint; it is ignored.
func (*stackEndpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.NetworkLinkEndpoint. No TX checksum
// offload: gVisor computes every checksum it does not leave partial for a
// super-packet. RX checksum offload only while an offload device's packet
// known good is being delivered (see offload.go); otherwise gVisor checks
// every checksum on receive.
func (e *stackEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	if e.rxValid.Load() {
		return stack.CapabilityRXChecksumOffload
	}
	return stack.CapabilityNone
}

// Attach implements stack.NetworkLinkEndpoint.
func (e *stackEndpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.dispatcher.Store(nil)
		return
	}
	e.dispatcher.Store(&dispatcherRef{d: d})
}

// IsAttached implements stack.NetworkLinkEndpoint.
func (e *stackEndpoint) IsAttached() bool { return e.dispatcher.Load() != nil }

// Wait implements stack.NetworkLinkEndpoint: it waits for the read loop.
func (e *stackEndpoint) Wait() { e.dev.wg.Wait() }

// ARPHardwareType implements stack.NetworkLinkEndpoint.
func (*stackEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.NetworkLinkEndpoint; there is no link header.
func (*stackEndpoint) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.NetworkLinkEndpoint; there is no link header.
func (*stackEndpoint) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.NetworkLinkEndpoint. gVisor calls it when the NIC
// is removed; it closes the device and waits for the read loop.
func (e *stackEndpoint) Close() { _ = e.dev.shutdown() }

// SetOnCloseAction implements stack.NetworkLinkEndpoint. The Stack owns the
// endpoint's lifetime, so there is nothing to run.
func (*stackEndpoint) SetOnCloseAction(func()) {}
