package netstack

import (
	"time"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// The device endpoint's side of segmentation offload (offload.go says
// what the stack does with it): reading super-packets whole, cutting the
// ones that must be cut, and writing packets gathered from gVisor's views.

// setupOffload makes the device endpoint use dev's offloads, if it has
// any and carries bare IP packets, and returns them.
func (d *deviceEndpoint) setupOffload() tun.Offload {
	od, ok := d.dev.(tun.OffloadDevice)
	if !ok {
		return 0
	}
	if _, l2 := d.dev.(tun.LinkLayer); l2 {
		return 0
	}
	o := od.Offloads()
	if o == 0 {
		return 0
	}
	d.od = od
	d.vw, _ = d.dev.(tun.VectorWriter)
	d.sr, _ = d.dev.(tun.ScatterReader)
	d.frameMax = tun.MaxSuperPacket
	return o
}

// readLoopGSO is readLoop on an offload device: super-packets come whole.
func (d *deviceEndpoint) readLoopGSO() {
	defer d.wg.Done()
	var bufs [][]byte
	sizes := make([]int, d.batch)
	gso := make([]tun.GSO, d.batch)
	var slots *scatterSlots
	if d.sr != nil {
		slots = newScatterSlots(d.batch)
		defer slots.release()
	}
	var backoff time.Duration
	for {
		if slots != nil && !d.up.readsIn() {
			// Nothing reads the bytes: read into gVisor's views
			// (scatterread.go).
			if !d.readFailed(d.readScatter(slots, sizes, gso), &backoff) {
				return
			}
			continue
		}
		if bufs == nil {
			bufs = make([][]byte, d.batch)
			for i := range bufs {
				bufs[i] = make([]byte, d.frameMax)
			}
		}
		n, err := d.od.ReadGSO(bufs, sizes, gso)
		n = min(max(n, 0), len(bufs))
		for i := 0; i < n; i++ {
			size := sizes[i]
			if size > len(bufs[i]) {
				d.acct.drop(trace.In, DropTruncated, size)
				continue
			}
			d.receiveGSO(bufs[i][:max(size, 0)], gso[i])
		}
		if !d.readFailed(err, &backoff) {
			return
		}
	}
}

// receiveGSO passes up one packet read with its metadata: whole, or cut
// into segments when it is a UDP super-packet (a datagram is a message)
// or when the endpoints above read the bytes and asked for segments.
func (d *deviceEndpoint) receiveGSO(b []byte, g tun.GSO) {
	reads := d.up.readsIn()
	valid := g.NeedsCsum || g.DataValid
	if g.Type == tun.GSOUDP || (g.Type != tun.GSONone && reads && d.split.Load()) {
		n, reason := g.Segments(b)
		if reason != "" {
			d.acct.drop(trace.In, reason, len(b))
			return
		}
		if d.seg == nil {
			d.seg = make([]byte, tun.MaxSuperPacket)
		}
		d.acct.c.splitIn.Add(1)
		for i := range n {
			m := g.SegmentAt(d.seg, b, i)
			// The segmenter writes fresh checksums; they are only as
			// good as the header said the super-packet was.
			d.up.receive(d.seg[:m], pktMeta{valid: valid})
		}
		return
	}
	m := pktMeta{gso: g, valid: valid}
	if g.Type != tun.GSONone {
		m.segs, _ = g.Segments(b)
	} else {
		m.gso = tun.GSO{}
	}
	if reads && g.NeedsCsum {
		// What reads the bytes sees complete checksums.
		tun.CompleteChecksum(b, g)
		m.gso.NeedsCsum = false
	}
	d.up.receive(b, m)
}

// sendVec is send for packets gathered from gVisor's views: vecs[i] holds
// the parts of packet i, sizes[i] its length.
func (d *deviceEndpoint) sendVec(vecs [][][]byte, gso []tun.GSO, sizes []int) (int, bool) {
	written := 0
	c := d.acct.c
	for len(vecs) > 0 {
		n, err := d.vw.WriteGSOVec(vecs, gso)
		n = min(max(n, 0), len(vecs))
		for i := range n {
			c.packetsOut.Add(1)
			c.bytesOut.Add(uint64(sizes[i]))
			if gso[i].Type != tun.GSONone {
				c.gsoOut.Add(1)
				c.gsoSegsOut.Add(uint64(segmentsOutLen(sizes[i], gso[i])))
			}
		}
		written += n
		vecs, gso, sizes = vecs[n:], gso[n:], sizes[n:]
		if len(vecs) == 0 {
			return written, true
		}
		if !d.writeFailed(err) {
			for _, sz := range sizes {
				d.acct.drop(trace.Out, DropDeviceClosed, sz)
			}
			return written, false
		}
		d.acct.drop(trace.Out, DropWriteError, sizes[0])
		vecs, gso, sizes = vecs[1:], gso[1:], sizes[1:]
	}
	return written, true
}
