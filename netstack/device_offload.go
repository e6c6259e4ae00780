package netstack

import (
	"encoding/binary"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

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
	if d.vw != nil && d.tx != nil && d.tx.small == 0 {
		// The queue would copy every gathered packet, super-packets
		// too: gathered writes pass it by.
		d.tx = nil
	}
	d.sr, _ = d.dev.(tun.ScatterReader)
	d.frameMax = tun.MaxSuperPacket
	return o
}

// readLoopGSO is readLoop on an offload device: super-packets come whole.
// q is the queue it reads on a multi-queue device.
func (d *deviceEndpoint) readLoopGSO(q int) {
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
			if !d.readFailed(d.readScatter(q, slots, sizes, gso), &backoff) {
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
		var (
			n   int
			err error
		)
		if d.mq != nil {
			n, err = d.mq.ReadQueueGSO(q, bufs, sizes, gso)
		} else {
			n, err = d.od.ReadGSO(bufs, sizes, gso)
		}
		n = min(max(n, 0), len(bufs))
		d.inMu.Lock()
		for i := 0; i < n; i++ {
			size := sizes[i]
			if size > len(bufs[i]) {
				d.acct.drop(trace.In, DropTruncated, size)
				continue
			}
			d.receiveGSO(bufs[i][:max(size, 0)], gso[i])
		}
		d.inMu.Unlock()
		if !d.readFailed(err, &backoff) {
			return
		}
	}
}

// receiveGSO passes up one packet read with its metadata (under inMu): whole, or cut
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
// the parts of packet i, sizes[i] its length. Through the egress queue
// (tx), small ones are copied when another sender's write is under way.
func (d *deviceEndpoint) sendVec(vecs [][][]byte, gso []tun.GSO, sizes []int) (int, bool) {
	if d.tx != nil {
		return d.tx.send(d, egressPkts{vecs: vecs, gso: gso, sizes: sizes})
	}
	return d.writeVec(vecs, gso, sizes)
}

// writeVec writes packets gathered from their parts to the device.
func (d *deviceEndpoint) writeVec(vecs [][][]byte, gso []tun.GSO, sizes []int) (int, bool) {
	written := 0
	c := d.acct.c
	for len(vecs) > 0 {
		var (
			n   int
			err error
		)
		c.writesOut.Add(1)
		if d.mq != nil {
			n, err = d.writeQueues(len(vecs), func(i int) []byte {
				if len(vecs[i]) == 0 {
					return nil
				}
				return vecs[i][0]
			}, func(q, i, j int) (int, error) {
				return d.mq.WriteQueueVec(q, vecs[i:j], gso[i:j])
			})
		} else {
			n, err = d.vw.WriteGSOVec(vecs, gso)
		}
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

// writeQueues writes n packets on a multi-queue device, each on the queue
// of its flow (flowQueue of its first bytes, head(i)), in runs of
// consecutive packets on one queue (write(q, i, j) writes packets i to
// j-1). Writing a flow on one queue makes the kernel send its packets
// back on that queue too (tun.MultiQueue). It returns how many went
// before the first error or short write.
func (d *deviceEndpoint) writeQueues(n int, head func(i int) []byte, write func(q, i, j int) (int, error)) (int, error) {
	done := 0
	for done < n {
		q := flowQueue(head(done), d.queues)
		j := done + 1
		for j < n && flowQueue(head(j), d.queues) == q {
			j++
		}
		m, err := write(q, done, j)
		done += min(max(m, 0), j-done)
		if err != nil || done < j {
			return done, err
		}
	}
	return done, nil
}

// flowQueue picks one of n queues for the IP packet that starts with b: a
// hash of its addresses and TCP or UDP ports that is the same for both
// directions of a flow. A packet too short to tell goes on queue 0.
func flowQueue(b []byte, n int) int {
	if n <= 1 || len(b) == 0 {
		return 0
	}
	var h uint32
	var proto byte
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < header.IPv4MinimumSize {
			return 0
		}
		h = binary.BigEndian.Uint32(b[12:16]) ^ binary.BigEndian.Uint32(b[16:20])
		proto, l4 = b[9], b[min(int(b[0]&0xf)*4, len(b)):]
	case 6:
		if len(b) < header.IPv6MinimumSize {
			return 0
		}
		for i := 8; i < 40; i += 4 {
			h ^= binary.BigEndian.Uint32(b[i : i+4])
		}
		proto, l4 = b[6], b[header.IPv6MinimumSize:]
	default:
		return 0
	}
	if (proto == uint8(header.TCPProtocolNumber) || proto == uint8(header.UDPProtocolNumber)) && len(l4) >= 4 {
		h ^= uint32(binary.BigEndian.Uint16(l4[0:2]) ^ binary.BigEndian.Uint16(l4[2:4]))
	}
	h ^= h >> 16
	h *= 0x45d9f3b
	h ^= h >> 16
	return int(h % uint32(n))
}
