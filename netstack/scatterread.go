package netstack

import (
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// Reading into gVisor's memory. On a tun.ScatterReader the device
// endpoint's read loop reads each packet straight into two of gVisor's
// views (a scatter read, readv): a head of headView
// bytes, which holds the headers, and a tail for the rest. A super-packet
// then reaches TCP in the views it was read into, with no copy: the tail
// is handed over when it is more than half of its 64 KiB chunk (a copy
// would take a chunk of that size too), and the slot gets a new view.
// Smaller packets are copied once, from the two views into one of their
// size, as dispatch copies them, so that a small segment never pins a
// large chunk in a receive queue. While link hooks or the observer read
// packets, the loop reads into one buffer instead (readLoopGSO), so they
// see each packet whole.

// scatterSlots are the views a scatter read fills: heads[i] and tails[i] are
// the memory of views[i], one pair per packet of a batch.
type scatterSlots struct {
	headV, tailV []*buffer.View
	heads, tails [][]byte
	flat         []byte // a packet joined into one buffer
}

// tailSize is the capacity of a tail view: what is left of the longest
// packet after the head, within gVisor's largest pooled chunk.
const tailSize = tun.MaxSuperPacket - headView

// takeTailOver is the tail length from which the tail view itself goes to
// gVisor instead of a copy.
const takeTailOver = buffer.MaxChunkSize / 2

func newScatterSlots(n int) *scatterSlots {
	s := &scatterSlots{
		headV: make([]*buffer.View, n), tailV: make([]*buffer.View, n),
		heads: make([][]byte, n), tails: make([][]byte, n),
	}
	for i := range n {
		s.fill(i)
	}
	return s
}

// fill gives slot i the views it lacks. Their bytes are not cleared (the
// read overwrites them): take hands over a head only when the packet
// filled it, and a tail cut to what the packet wrote into it.
func (s *scatterSlots) fill(i int) {
	if s.headV[i] == nil {
		s.headV[i] = newUnzeroedView(headView)
		s.heads[i] = s.headV[i].AsSlice()
	}
	if s.tailV[i] == nil {
		s.tailV[i] = newUnzeroedView(tailSize)
		s.tails[i] = s.tailV[i].AsSlice()
	}
}

// newUnzeroedView is buffer.NewViewSize without clearing the bytes.
func newUnzeroedView(size int) *buffer.View {
	v := buffer.NewView(size)
	v.GrowUnzeroed(size)
	return v
}

// release returns the views to gVisor's pools.
func (s *scatterSlots) release() {
	for i := range s.headV {
		if s.headV[i] != nil {
			s.headV[i].Release()
		}
		if s.tailV[i] != nil {
			s.tailV[i].Release()
		}
	}
}

// join copies the size bytes of slot i into one buffer.
func (s *scatterSlots) join(i, size int) []byte {
	if s.flat == nil {
		s.flat = make([]byte, tun.MaxSuperPacket)
	}
	n := copy(s.flat, s.heads[i][:min(size, headView)])
	if size > n {
		copy(s.flat[n:], s.tails[i][:size-n])
	}
	return s.flat[:size]
}

// take hands over slot i's views holding a packet of size bytes (longer
// than splitHeadOver, so the head is full) as a gVisor buffer, and
// refills the slot.
func (s *scatterSlots) take(i, size int) buffer.Buffer {
	head := s.headV[i]
	s.headV[i] = nil
	b := buffer.MakeWithView(head)
	tailLen := size - headView
	if tailLen > takeTailOver {
		tail := s.tailV[i]
		s.tailV[i] = nil
		tail.CapLength(tailLen)
		b.Append(tail)
	} else {
		b.Append(buffer.NewViewWithData(s.tails[i][:tailLen]))
	}
	s.fill(i)
	return b
}

// copyOut copies the size bytes of slot i (at most splitHeadOver) into
// one view of their size, as a gVisor buffer: a small packet costs one
// copy, and its slot keeps its views.
func (s *scatterSlots) copyOut(i, size int) buffer.Buffer {
	if size <= headView {
		return buffer.MakeWithData(s.heads[i][:size])
	}
	v := newUnzeroedView(size)
	b := v.AsSlice()
	n := copy(b, s.heads[i][:min(size, headView)])
	copy(b[n:], s.tails[i][:size-n])
	return buffer.MakeWithView(v)
}

// payload is slot i's packet of size bytes as a gVisor buffer: copied when
// it is small, its views handed over when it is not.
func (s *scatterSlots) payload(i, size int) buffer.Buffer {
	if size <= splitHeadOver {
		return s.copyOut(i, size)
	}
	return s.take(i, size)
}

// readScatter is one round of the read loop on a tun.ScatterReader (on
// queue q of a multi-queue device); it returns the device's error.
func (d *deviceEndpoint) readScatter(q int, s *scatterSlots, sizes []int, gso []tun.GSO) error {
	var (
		n   int
		err error
	)
	if d.mq != nil {
		n, err = d.mq.ReadQueueScatter(q, s.heads, s.tails, sizes, gso)
	} else {
		n, err = d.sr.ReadGSOScatter(s.heads, s.tails, sizes, gso)
	}
	n = min(max(n, 0), len(sizes))
	d.inMu.Lock()
	defer d.inMu.Unlock()
	for i := range n {
		size := sizes[i]
		if size > headView+tailSize {
			d.acct.drop(trace.In, DropTruncated, size)
			continue
		}
		size = max(size, 0)
		if g := gso[i]; g.Type == tun.GSOUDP || d.up.readsIn() {
			// To be cut, or to be read: in one buffer, as
			// readLoopGSO has it.
			d.receiveGSO(s.join(i, size), g)
			continue
		}
		d.stackSide.receiveViews(s, i, size, gso[i])
	}
	return err
}

// receiveViews is receive for the packet of size bytes in slot i of a
// scatter read: its views go to gVisor as they are, or a copy of a small
// one (payload).
func (e *stackEndpoint) receiveViews(s *scatterSlots, i, size int, g tun.GSO) {
	head := s.heads[i][:min(size, headView)]
	proto, reason := classifySize(head, size)
	if reason != "" {
		e.acct.drop(trace.In, reason, size)
		return
	}
	ref := e.dispatcher.Load()
	if ref == nil || ref.d == nil {
		e.acct.drop(trace.In, DropDetached, size)
		return
	}
	c := e.acct.c
	c.packetsIn.Add(1)
	c.bytesIn.Add(uint64(size))
	if g.Type != tun.GSONone {
		segs, _ := g.SegmentsOf(head, size)
		c.gsoIn.Add(1)
		c.gsoSegsIn.Add(uint64(segs))
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: s.payload(i, size)})
	pkt.GSOOptions = receivedGSO(g)
	e.rxMu.Lock()
	e.rxValid.Store(g.NeedsCsum || g.DataValid)
	ref.d.DeliverNetworkPacket(proto, pkt)
	e.rxValid.Store(false)
	e.rxMu.Unlock()
	pkt.DecRef()
}
