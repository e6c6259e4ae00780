package netstack

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// endpoint is the link endpoint between a tun.Device and gVisor. On a plain
// device it has no offloads, so gVisor verifies every checksum; on a
// tun.OffloadDevice it moves super-packets (offload.go). On a device that carries bare
// IP packets it has no link header; on a tun.LinkLayer device it moves
// whole Ethernet frames and sits under gVisor's link/ethernet endpoint,
// which adds and strips the header (see Stack.build).
//
// Ingress is one goroutine that reads batches from the device, checks each
// packet (classify) and delivers the good ones. Egress is synchronous:
// WritePackets serializes the packets and writes them to the device in
// batches, blocking while the device is full. Nothing is dropped without
// being counted with a reason.
type endpoint struct {
	dev      tun.Device
	mtu      atomic.Uint32
	batch    int // packets per device Read
	wbatch   int // packets per device Write
	counters *counters
	tap      *tap // nil when neither tracing nor capture is on; set before start

	// l2 marks an Ethernet device (tun.LinkLayer), hw its MAC; frameMax
	// is the read buffer size, the longest frame or packet the device
	// returns whole.
	l2       bool
	hw       tcpip.LinkAddress
	frameMax int

	dispatcher atomic.Pointer[dispatcherRef]

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	out sync.Pool // *outBatch

	// The link hook points (linkhooks.go) and the queues that hold the
	// packets their hooks delay, one per direction.
	egress, ingress hook.Point
	outQ, inQ       *delayQueue

	// Segmentation offload (offload.go). od is the device's offload
	// side when the endpoint uses it, else nil; gsoMax is nonzero when
	// gVisor may hand down TCP super-packets. rxValid is the RX checksum
	// capability reported while rxMu is held for one delivery. split
	// asks for super-packets to be cut before hooks and tap; seg is the
	// read loop's buffer for that.
	od       tun.OffloadDevice
	vw       tun.VectorWriter // od's, if it has one
	sr       tun.SplitReader  // od's, if it has one
	offloads tun.Offload
	gsoMax   uint32
	rxMu     sync.Mutex
	rxValid  atomic.Bool
	split    atomic.Bool
	seg      []byte
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

	// Segments cut in software for hooks and tap (splitOut).
	sbufs    [][]byte
	sgso     []tun.GSO
	segStore [][]byte
}

var _ stack.LinkEndpoint = (*endpoint)(nil)

func newEndpoint(dev tun.Device, batch, queue int, c *counters) *endpoint {
	if batch <= 0 {
		batch = dev.BatchSize()
	}
	if batch <= 0 {
		batch = 1
	}
	wbatch := dev.BatchSize()
	if wbatch <= 0 {
		wbatch = 1
	}
	e := &endpoint{dev: dev, batch: batch, wbatch: wbatch, counters: c, frameMax: dev.MTU()}
	mtu := dev.MTU()
	if ll, ok := dev.(tun.LinkLayer); ok {
		e.l2 = true
		e.hw = tcpip.LinkAddress(ll.HardwareAddr())
		// The ethernet wrapper reports this minus the header to IP.
		mtu += header.EthernetMinimumSize
		e.frameMax = max(ll.MaxFrameSize(), mtu)
	}
	e.mtu.Store(uint32(mtu))
	e.setupOffload(dev)
	e.out.New = func() any { return new(outBatch) }
	e.outQ = newDelayQueue(queue, e.sendDelayed, func(b []byte) { e.drop(trace.Out, DropDeviceClosed, len(b)) })
	e.inQ = newDelayQueue(queue, func(b []byte, g tun.GSO) { e.deliverPacket(b, rxMeta{gso: g, segs: segmentsOut(b, g)}) },
		func(b []byte) { e.drop(trace.In, DropDeviceClosed, len(b)) })
	return e
}

// start launches the ingress goroutine.
func (e *endpoint) start() {
	e.outQ.start()
	e.inQ.start()
	e.wg.Add(1)
	if e.od != nil {
		go e.readLoopGSO()
		return
	}
	go e.readLoop()
}

func (e *endpoint) readLoop() {
	defer e.wg.Done()
	size := e.frameMax
	if size <= 0 {
		size = header.IPv6MinimumMTU
	}
	bufs := make([][]byte, e.batch)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	sizes := make([]int, e.batch)
	for {
		n, err := e.dev.Read(bufs, sizes)
		n = min(max(n, 0), len(bufs))
		for i := 0; i < n; i++ {
			size := sizes[i]
			if size > len(bufs[i]) {
				e.drop(trace.In, DropTruncated, size)
				continue
			}
			if size < 0 {
				size = 0
			}
			e.deliver(bufs[i][:size])
		}
		if err != nil {
			if e.closed.Load() || errors.Is(err, tun.ErrClosed) {
				return
			}
			// A transient device error: back off briefly rather than spin.
			time.Sleep(time.Millisecond)
		}
	}
}

// deliver runs the ingress hooks, if any, on one packet read from the
// device, then checks it and hands it to gVisor. b is only borrowed.
func (e *endpoint) deliver(b []byte) {
	e.deliverMeta(e.ingress.Load(), b, rxMeta{})
}

// deliverNow checks one packet and hands it to gVisor, or counts why not.
// b is only borrowed: gVisor gets a copy.
func (e *endpoint) deliverNow(b []byte) { e.deliverPacket(b, rxMeta{}) }

// deliverPacket is deliverNow for a packet with offload metadata.
func (e *endpoint) deliverPacket(b []byte, m rxMeta) {
	var (
		proto  tcpip.NetworkProtocolNumber
		reason DropReason
	)
	if e.ethernet() {
		proto, reason = classifyFrame(b, e.hw)
	} else {
		proto, reason = classify(b)
	}
	if reason != "" {
		e.drop(trace.In, reason, len(b))
		return
	}
	ref := e.dispatcher.Load()
	if ref == nil || ref.d == nil {
		e.drop(trace.In, DropDetached, len(b))
		return
	}
	e.counters.packetsIn.Add(1)
	e.counters.bytesIn.Add(uint64(len(b)))
	if m.gso.Type != tun.GSONone {
		e.counters.gsoIn.Add(1)
		e.counters.gsoSegsIn.Add(uint64(m.segs))
	}
	if e.tap != nil {
		e.tap.packet(trace.In, b, m.gso)
	}
	if e.od != nil {
		e.dispatchOffload(ref.d, proto, b, m.valid)
		return
	}
	dispatch(ref.d, proto, b)
}

// dispatch hands gVisor a copy of b.
//
// A large packet (a super-packet) is copied as two views, the first
// holding every header: gVisor clones the chunk under a header it pulls up
// when the chunk is shared, and a clone of a small chunk is cheap, of a
// 64 KiB one is another copy of the packet.
func dispatch(d stack.NetworkDispatcher, proto tcpip.NetworkProtocolNumber, b []byte) {
	var payload buffer.Buffer
	if len(b) > splitHeadOver {
		payload = buffer.MakeWithData(b[:headView])
		payload.Append(buffer.NewViewWithData(b[headView:]))
	} else {
		payload = buffer.MakeWithData(b)
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: payload})
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

// ethernet reports whether the device carries Ethernet frames.
func (e *endpoint) ethernet() bool { return e.l2 }

// drop counts a packet of size bytes that goes no further.
func (e *endpoint) drop(dir trace.Dir, reason DropReason, size int) {
	e.counters.drop(reason)
	if e.tap != nil {
		e.tap.drop(dir, reason, size)
	}
}

// WritePackets implements stack.LinkWriter. It blocks while the device is
// full. Packets it cannot write because the device is closed or failed are
// counted as drops.
func (e *endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	return e.write(pkts.AsSlice())
}

// writePacket writes one packet, as WritePackets does.
func (e *endpoint) writePacket(pkt *stack.PacketBuffer) tcpip.Error {
	one := [1]*stack.PacketBuffer{pkt}
	_, err := e.write(one[:])
	return err
}

// qdisc is the NIC's queueing discipline: none. gVisor's default stub
// wraps every packet in a new PacketBufferList on its way to WritePackets;
// this hands it to the endpoint as it is. Packets still leave in batches
// when gVisor writes several at once through WritePackets.
type qdisc struct{ e *endpoint }

// WritePacket implements stack.QueueingDiscipline.
func (q qdisc) WritePacket(pkt *stack.PacketBuffer) tcpip.Error { return q.e.writePacket(pkt) }

// Close implements stack.QueueingDiscipline; the endpoint owns the device.
func (qdisc) Close() {}

func (e *endpoint) write(list []*stack.PacketBuffer) (int, tcpip.Error) {
	if len(list) == 0 {
		return 0, nil
	}
	if e.closed.Load() {
		for _, pkt := range list {
			e.drop(trace.Out, DropDeviceClosed, pkt.Size())
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
		chain := e.egress.Load()
		if e.vw != nil && chain == nil && e.tap == nil {
			// Nothing looks at the bytes: the device gathers each
			// packet from gVisor's views, with no copy here.
			ob.gather(chunk, e)
			if !e.writeVecBatch(ob, &written) {
				for _, pkt := range list {
					e.drop(trace.Out, DropDeviceClosed, pkt.Size())
				}
				break
			}
			continue
		}
		ob.fill(chunk, e)
		bufs, gso := ob.bufs, ob.gso
		split := false
		if e.gsoMax > 0 && (chain != nil || e.tap != nil) {
			if e.split.Load() {
				bufs, gso = ob.splitOut(e, bufs, gso)
				split = len(bufs) != len(chunk)
			}
			// Hooks and captures see complete checksums.
			for i := range bufs {
				if tun.CompleteChecksum(bufs[i], gso[i]) {
					gso[i].NeedsCsum, gso[i].CsumStart, gso[i].CsumOffset = false, 0, 0
				}
			}
		}
		if chain != nil {
			bufs, gso = e.hookOut(chain, bufs, gso)
		}
		if e.tap != nil {
			for i, b := range bufs {
				e.tap.packet(trace.Out, b, gso[i])
			}
		}
		before := written
		ok := e.writeBatch(bufs, gso, &written)
		if chain != nil || split {
			// What the hooks dropped, delayed or added, or the
			// segmenter cut, does not change how many of gVisor's
			// packets were taken.
			written = before + len(chunk)
			if !ok {
				written = before
			}
		}
		if !ok {
			// The device is closed: nothing more will go out.
			for _, pkt := range list {
				e.drop(trace.Out, DropDeviceClosed, pkt.Size())
			}
			break
		}
	}
	if written == 0 {
		if e.closed.Load() {
			return 0, &tcpip.ErrClosedForSend{}
		}
		return 0, &tcpip.ErrAborted{}
	}
	return written, nil
}

// writeBatch writes bufs to the device, adding the packets written to
// *written. A packet the device refuses is dropped as a write error and the
// rest still go out; it returns false, having counted what is left as
// dropped, once the device is closed.
func (e *endpoint) writeBatch(bufs [][]byte, gso []tun.GSO, written *int) bool {
	for len(bufs) > 0 {
		var (
			n   int
			err error
		)
		if e.od != nil {
			n, err = e.od.WriteGSO(bufs, gso)
		} else {
			n, err = e.dev.Write(bufs)
		}
		n = min(max(n, 0), len(bufs))
		for i, b := range bufs[:n] {
			e.counters.packetsOut.Add(1)
			e.counters.bytesOut.Add(uint64(len(b)))
			if e.od != nil && gso[i].Type != tun.GSONone {
				e.counters.gsoOut.Add(1)
				e.counters.gsoSegsOut.Add(uint64(segmentsOut(b, gso[i])))
			}
		}
		*written += n
		bufs = bufs[n:]
		if e.od != nil {
			gso = gso[n:]
		}
		if len(bufs) == 0 {
			return true
		}
		if errors.Is(err, tun.ErrClosed) || e.closed.Load() {
			for _, b := range bufs {
				e.drop(trace.Out, DropDeviceClosed, len(b))
			}
			return false
		}
		// bufs[0] was refused (or the device stopped short without saying
		// why, which is treated the same so the loop always advances).
		e.drop(trace.Out, DropWriteError, len(bufs[0]))
		bufs = bufs[1:]
		if e.od != nil {
			gso = gso[1:]
		}
	}
	return true
}

// fill serializes pkts into the batch's reusable buffers, with the
// offload metadata e gives each.
func (ob *outBatch) fill(pkts []*stack.PacketBuffer, e *endpoint) {
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

// shutdown closes the device, which ends the read loop, and waits for it.
// It is safe to call more than once and from several goroutines.
func (e *endpoint) shutdown() error {
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		// Closing the device first ends a delayed write stuck on it.
		e.closeErr = e.dev.Close()
		e.outQ.stop()
		e.inQ.stop()
	})
	e.wg.Wait()
	return e.closeErr
}

// MTU implements stack.NetworkLinkEndpoint.
func (e *endpoint) MTU() uint32 { return e.mtu.Load() }

// SetMTU implements stack.NetworkLinkEndpoint.
func (e *endpoint) SetMTU(mtu uint32) { e.mtu.Store(mtu) }

// MaxHeaderLength implements stack.NetworkLinkEndpoint: IP packets travel
// bare on a TUN device, and on an Ethernet device the wrapper adds its
// header itself.
func (*endpoint) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.NetworkLinkEndpoint: the MAC of an Ethernet
// device, none for a TUN.
func (e *endpoint) LinkAddress() tcpip.LinkAddress { return e.hw }

// SetLinkAddress implements stack.NetworkLinkEndpoint; it is ignored.
func (*endpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.NetworkLinkEndpoint. No TX checksum
// offload: gVisor computes every checksum it does not leave partial for a
// super-packet. RX checksum offload only while an offload device's packet
// known good is being delivered (see offload.go); otherwise gVisor checks
// every checksum on receive.
func (e *endpoint) Capabilities() stack.LinkEndpointCapabilities {
	if e.rxValid.Load() {
		return stack.CapabilityRXChecksumOffload
	}
	return stack.CapabilityNone
}

// Attach implements stack.NetworkLinkEndpoint.
func (e *endpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.dispatcher.Store(nil)
		return
	}
	e.dispatcher.Store(&dispatcherRef{d: d})
}

// IsAttached implements stack.NetworkLinkEndpoint.
func (e *endpoint) IsAttached() bool { return e.dispatcher.Load() != nil }

// Wait implements stack.NetworkLinkEndpoint: it waits for the read loop.
func (e *endpoint) Wait() { e.wg.Wait() }

// ARPHardwareType implements stack.NetworkLinkEndpoint.
func (*endpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.NetworkLinkEndpoint; there is no link header.
func (*endpoint) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.NetworkLinkEndpoint; there is no link header.
func (*endpoint) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.NetworkLinkEndpoint. gVisor calls it when the NIC
// is removed; it closes the device and waits for the read loop.
func (e *endpoint) Close() { _ = e.shutdown() }

// SetOnCloseAction implements stack.NetworkLinkEndpoint. The Stack owns the
// endpoint's lifetime, so there is nothing to run.
func (*endpoint) SetOnCloseAction(func()) {}
