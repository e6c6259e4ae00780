package tun

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Segmentation offload on an in-memory pair (PipeOptions.Offload).
//
// A super-packet crosses the pair as it crosses a veth pair between two
// stacks with GSO and GRO: whole, one queue slot, with its GSO metadata
// and its partial checksum, so neither end cuts or sums what the other
// would only glue back together. The wire keeps its MTU: WriteGSO refuses
// a super-packet whose segments would not fit it, and plain Read hands out
// those segments, cut and summed by the segmenter of gso.go.

// pipeOffloads is what an offload pair agrees to carry.
const pipeOffloads = OffloadCsum | OffloadTSO4 | OffloadTSO6

// pipeSplit is the state of plain Read on an offload pair: the packet
// whose segments are being handed out.
type pipeSplit struct {
	mu      sync.Mutex
	p       memPacket // p.buf nil when none
	next, n int       // segments of p handed out and in all
	scratch []byte    // a segment that does not fit the caller's buffer
}

// Offloads implements OffloadDevice: checksum offload and TSO with
// PipeOptions.Offload, none otherwise.
func (m *PipeEnd) Offloads() Offload {
	if m.offload {
		return pipeOffloads
	}
	return 0
}

// OffloadStats implements OffloadDevice.
func (m *PipeEnd) OffloadStats() OffloadStats { return m.oc.snapshot() }

// ReadGSO implements OffloadDevice: super-packets come whole, each with
// the metadata it was written with. Without Offload it is Read with zero
// metadata.
func (m *PipeEnd) ReadGSO(bufs [][]byte, sizes []int, gso []GSO) (int, error) {
	n := min(len(bufs), len(sizes), len(gso))
	if n == 0 {
		return 0, nil
	}
	if !m.offload {
		clear(gso[:n])
		return m.Read(bufs[:n], sizes[:n])
	}
	return m.readOffload(bufs[:n], nil, sizes[:n], gso[:n])
}

// ReadGSOScatter implements ScatterReader: ReadGSO with each packet's first
// bytes in heads[i] and the rest in tails[i].
func (m *PipeEnd) ReadGSOScatter(heads, tails [][]byte, sizes []int, gso []GSO) (int, error) {
	n := min(len(heads), len(tails), len(sizes), len(gso))
	if n == 0 {
		return 0, nil
	}
	if !m.offload {
		clear(gso[:n])
		return m.readOffload(heads[:n], tails[:n], sizes[:n], nil)
	}
	return m.readOffload(heads[:n], tails[:n], sizes[:n], gso[:n])
}

// readOffload reads on an offload pair: each packet whole into gso's
// slots, or, with gso nil, cut into segments with complete checksums.
// Segments left from a plain Read go first, without metadata. With tails,
// what does not fit bufs[i] goes on into tails[i].
func (m *PipeEnd) readOffload(bufs, tails [][]byte, sizes []int, gso []GSO) (int, error) {
	s := &m.split
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := min(len(bufs), len(sizes))
	n := 0
	defer func() { m.read.Add(uint64(n)) }()
	for n < limit {
		if s.p.buf != nil {
			if s.next < s.n {
				if tails != nil {
					if s.scratch == nil {
						s.scratch = make([]byte, MaxSuperPacket)
					}
					sizes[n] = s.emit(s.scratch)
					spread(bufs[n], tails[n], s.scratch[:sizes[n]])
				} else {
					sizes[n] = s.emit(bufs[n])
				}
				if gso != nil {
					gso[n] = GSO{}
				}
				n++
				continue
			}
			m.release(s.p)
			s.p = memPacket{}
		}
		p, ok, err := m.next(n == 0)
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if !ok {
			break
		}
		b, g := *p.buf, p.gso
		segs := 1
		if g.Type != GSONone {
			segs, _ = g.Segments(b) // checked by WriteGSO
			m.oc.gsoIn.Add(1)
			m.oc.segsIn.Add(uint64(segs))
		}
		if gso != nil {
			if tails != nil {
				spread(bufs[n], tails[n], b)
			} else {
				copy(bufs[n], b)
			}
			sizes[n] = len(b)
			gso[n] = g
			m.release(p)
			n++
			continue
		}
		if g.Type != GSONone {
			m.oc.split.Add(1)
		} else if CompleteChecksum(b, g) {
			m.oc.completed.Add(1)
		}
		s.p, s.next, s.n = p, 0, segs
	}
	if s.p.buf != nil && s.next >= s.n {
		m.release(s.p)
		s.p = memPacket{}
	}
	return n, nil
}

// spread copies b into head and what does not fit on into tail.
func spread(head, tail, b []byte) {
	k := copy(head, b)
	copy(tail, b[k:])
}

// next takes the next packet off the queue once it is due: waiting for
// one if wait, else reporting false when none is queued.
func (m *PipeEnd) next(wait bool) (memPacket, bool, error) {
	var p memPacket
	if wait {
		select {
		case <-m.done:
			return p, false, ErrClosed
		case p = <-m.in:
		}
	} else {
		select {
		case p = <-m.in:
		default:
			return p, false, nil
		}
	}
	if err := m.wait(p); err != nil {
		m.release(p)
		return memPacket{}, false, err
	}
	return p, true, nil
}

// emit writes the next segment of the packet being cut (or the packet
// itself, its checksum complete) into b and returns its length; longer
// than b when truncated.
func (s *pipeSplit) emit(b []byte) int {
	i := s.next
	s.next++
	pkt, g := *s.p.buf, s.p.gso
	if g.Type == GSONone {
		copy(b, pkt)
		return len(pkt)
	}
	if k := g.SegmentAt(b, pkt, i); k > 0 {
		return k
	}
	if s.scratch == nil {
		s.scratch = make([]byte, MaxSuperPacket)
	}
	k := g.SegmentAt(s.scratch, pkt, i)
	copy(b, s.scratch[:k])
	return k
}

// WriteGSO implements OffloadDevice. Each packet is copied and queued
// with its metadata. A super-packet must be TCP that the segmenter can
// cut into packets no longer than the MTU; a packet without segmentation
// must fit the MTU. Without Offload, metadata other than zero is refused.
func (m *PipeEnd) WriteGSO(pkts [][]byte, gso []GSO) (int, error) {
	for i, pkt := range pkts {
		var g GSO
		if i < len(gso) {
			g = gso[i]
		}
		if err := m.check(len(pkt), pkt, g); err != nil {
			return i, err
		}
		buf := m.buffer(len(pkt))
		*buf = append((*buf)[:0], pkt...)
		if err := m.sendGSO(buf, g); err != nil {
			return i, err
		}
	}
	return len(pkts), nil
}

// WriteGSOVec implements VectorWriter: WriteGSO of packets gathered from
// their parts, copied straight into the queued buffer.
func (m *PipeEnd) WriteGSOVec(pkts [][][]byte, gso []GSO) (int, error) {
	for i, parts := range pkts {
		var g GSO
		if i < len(gso) {
			g = gso[i]
		}
		size := 0
		for _, b := range parts {
			size += len(b)
		}
		buf := m.buffer(size)
		for _, b := range parts {
			*buf = append(*buf, b...)
		}
		if err := m.check(size, *buf, g); err != nil {
			m.release(memPacket{buf: buf})
			return i, err
		}
		if err := m.sendGSO(buf, g); err != nil {
			return i, err
		}
	}
	return len(pkts), nil
}

// buffer returns an empty pool buffer with room for size bytes.
func (m *PipeEnd) buffer(size int) *[]byte {
	var buf *[]byte
	if size <= m.mtu {
		buf = m.pool.Get().(*[]byte)
	} else {
		buf = m.big.Get().(*[]byte)
	}
	*buf = (*buf)[:0]
	return buf
}

// check returns why the packet pkt of size bytes cannot be written with
// g, or nil. pkt holds at least the headers.
func (m *PipeEnd) check(size int, pkt []byte, g GSO) error {
	if g.Type == GSONone {
		if g.NeedsCsum && !m.offload {
			return fmt.Errorf("tun: %s: partial checksum without offloads", m.name)
		}
		if size > m.mtu {
			return fmt.Errorf("tun: %s: packet of %d bytes exceeds MTU %d", m.name, size, m.mtu)
		}
		return m.checkCsum(size, g)
	}
	if !m.offload || (g.Type != GSOTCPv4 && g.Type != GSOTCPv6) {
		m.oc.drop(DropVnetGSOType)
		return fmt.Errorf("tun: %s: segmentation %s not offered (the pair offers %v; set PipeOptions.Offload, or write the packet without GSO)", m.name, g.Type, m.Offloads())
	}
	if size > MaxSuperPacket {
		return fmt.Errorf("tun: %s: super-packet of %d bytes exceeds %d", m.name, size, MaxSuperPacket)
	}
	l, reason := g.layoutHead(pkt, size)
	if reason != "" {
		m.oc.drop(reason)
		return fmt.Errorf("tun: %s: super-packet refused (%s): its headers are not a TCP segment over IPv4 or IPv6 that GSO %s can cut; write it without GSO", m.name, reason, g.Type)
	}
	if seg := l.hdrLen + min(int(g.Size), l.end-l.hdrLen); seg > m.mtu {
		m.oc.drop(DropVnetGSOSize)
		return fmt.Errorf("tun: %s: segments of %d bytes exceed MTU %d", m.name, seg, m.mtu)
	}
	return m.checkCsum(size, g)
}

func (m *PipeEnd) checkCsum(size int, g GSO) error {
	if g.NeedsCsum && int(g.CsumStart)+int(g.CsumOffset)+2 > size {
		m.oc.drop(DropVnetCsum)
		return fmt.Errorf("tun: %s: checksum at %d+%d outside a packet of %d bytes", m.name, g.CsumStart, g.CsumOffset, size)
	}
	return nil
}

// sendGSO queues buf with g, counting super-packets.
func (m *PipeEnd) sendGSO(buf *[]byte, g GSO) error {
	segs := 0
	if g.Type != GSONone {
		segs, _ = g.Segments(*buf)
	}
	if err := m.send(memPacket{buf: buf, gso: g}); err != nil {
		return err
	}
	if segs > 0 {
		m.oc.gsoOut.Add(1)
		m.oc.segsOut.Add(uint64(segs))
	}
	return nil
}

// offloadCounters are the live counters behind OffloadStats, of a TUN or a
// pair.
type offloadCounters struct {
	gsoIn, segsIn, gsoOut, segsOut atomic.Uint64
	split, completed               atomic.Uint64
	drops                          [len(offloadDropReasons)]atomic.Uint64
}

// offloadDropReasons are the reasons a device drops a packet's offload
// metadata for.
var offloadDropReasons = [...]DropReason{DropVnetShort, DropVnetGSOType, DropVnetGSOSize, DropVnetCsum, DropGSOHeaders}

func (c *offloadCounters) drop(reason DropReason) {
	for i, r := range offloadDropReasons {
		if r == reason {
			c.drops[i].Add(1)
			return
		}
	}
}

func (c *offloadCounters) snapshot() OffloadStats {
	s := OffloadStats{
		GSOIn: c.gsoIn.Load(), GSOSegmentsIn: c.segsIn.Load(),
		GSOOut: c.gsoOut.Load(), GSOSegmentsOut: c.segsOut.Load(),
		Split: c.split.Load(), Completed: c.completed.Load(),
		Drops: make(map[DropReason]uint64, len(offloadDropReasons)),
	}
	for i, r := range offloadDropReasons {
		s.Drops[r] = c.drops[i].Load()
	}
	return s
}

var (
	_ OffloadDevice = (*PipeEnd)(nil)
	_ VectorWriter  = (*PipeEnd)(nil)
	_ ScatterReader = (*PipeEnd)(nil)
)
