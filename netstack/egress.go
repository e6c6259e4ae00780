package netstack

import (
	"sync"

	"github.com/glassnet/glassnet/tun"
)

// egressQueue lets the packets of many connections leave in one device
// Write on a device whose Write moves a batch with one system call
// (tun.BatchWriter: sendmmsg on an AF_PACKET socket). Without it every
// sender makes its own system call for its one or two packets, and waits
// for the device while another sender's call is under way.
//
// It is a combining writer. A sender that finds the device idle writes
// its own packets at once, as before, and then, before it returns, what
// other senders queued while it was in the system call, in one more
// Write. A sender that finds a write under way copies its packets into
// the queue and returns without waiting. So one connection alone pays
// nothing (its packets never wait for another), and under load a write
// carries the packets that came while the last one was in the kernel, as
// Linux's qdisc hands a NIC's driver a batch (xmit_more).
//
// The writer takes one round of the others' packets, no more, and no
// round at all of more than two device batches (round): it is often one
// of gVisor's TCP processors, which owns the segments of many
// connections, and if it wrote until the queue stayed empty it could be
// kept at the device for as long as the load lasts while those
// connections' segments waited (their peers' retransmission timers then
// fire). When packets are still queued after its round, or more than a
// round when its own write is done, it hands the device to the queue's
// own goroutine (run), which writes until the queue is empty. Under a steady load that goroutine does the writing, at
// one wake-up per busy period; a lone sender never meets it.
//
// Nothing waits for a packet that may never come: the device is left
// idle only by a writer that finds the queue empty, under the lock the
// senders queue under, so every queued packet has a writer. The queue is
// bounded, at as many packets as Linux's default txqueuelen
// (egressQueueLen): a sender whose packets do not fit waits until the
// writer has taken the queue (the device is full then, and the sender
// would have waited for it anyway). Packets leave in the order they were queued,
// after the writer's own; the packets of one flow, which gVisor sends
// under the flow's lock, keep their order. Counting is the device
// endpoint's (deviceEndpoint.write): a queued packet is written, refused
// (a write error) or dropped as device-closed like any other, only later.
//
// What the endpoints above see does not change: the hooks, the trace and
// the capture have seen each packet before it reaches the queue, on the
// sender's goroutine and in its order.
//
// A TUN (tun.SerialWriter) writes one packet per system call, so a write
// carries no more for being combined; but its senders take turns on the
// descriptor's write lock, and under load gVisor's TCP processors, which
// hold the segments of many connections, park there behind connection
// goroutines. On such a device the queue takes only small packets (small:
// ACKs and short replies, up to egressSmallMax bytes, whose copy costs far
// less than the write(2) their sender would wait for): they go out from
// the writer, one system call each as before, and their sender returns.
// A larger packet (a super-packet of up to 64 KiB) is not copied: its
// sender writes it itself, as before, once the packets queued before it
// have been written (so a flow's packets keep their order); when the
// device is idle it becomes the writer and takes the queue's round after
// its own write like any other.
type egressQueue struct {
	limit int // packets the queue holds
	// round is the most packets a sender takes as the writer after its
	// own write; with more queued it hands them all to run. 0: no bound
	// (limit is).
	round int
	// small is the longest packet the queue copies; 0 takes every packet.
	small int

	mu    sync.Mutex
	space *sync.Cond // signaled when the writer takes the queue, or leaves
	busy  bool       // a sender, or run, is writing to the device
	// stopped is set when run has ended: a writer that would hand the
	// device over then writes the rest itself.
	stopped bool
	// handoff wakes run, which takes over the device (busy stays set);
	// sent under mu.
	handoff chan struct{}
	// next is where senders queue; the writer swaps it with its own
	// (taken) and writes that, so senders go on queueing meanwhile.
	next, taken egressBatch
	// queued counts the packets ever queued and written those the writer
	// has taken and written (takenN is how many it is writing): a large
	// packet's sender waits until written reaches what was queued when
	// it came.
	queued, written uint64
	takenN          int
	waiting         int // large packets' senders waiting for their turn
}

// egressSmallMax is the longest packet a TUN's egress queue copies (small):
// every packet of a 1500-byte MTU, and every pure ACK and short reply of
// an offload device, whose super-packets, tens of KiB long, are written
// by their senders.
const egressSmallMax = 2048

// egressPkts is what one sender hands the queue: packets whole (bufs), or
// each gathered from its parts (vecs, with their lengths in sizes), with
// their offload metadata.
type egressPkts struct {
	bufs  [][]byte
	vecs  [][][]byte
	gso   []tun.GSO
	sizes []int
}

func (p egressPkts) len() int {
	if p.vecs != nil {
		return len(p.vecs)
	}
	return len(p.bufs)
}

// fits reports whether every packet is at most small bytes long (small 0:
// any length).
func (p egressPkts) fits(small int) bool {
	if small <= 0 {
		return true
	}
	if p.vecs != nil {
		for _, n := range p.sizes {
			if n > small {
				return false
			}
		}
		return true
	}
	for _, b := range p.bufs {
		if len(b) > small {
			return false
		}
	}
	return true
}

// write writes the packets to d.
func (p egressPkts) write(d *deviceEndpoint) (int, bool) {
	if p.vecs != nil {
		return d.writeVec(p.vecs, p.gso, p.sizes)
	}
	return d.write(p.bufs, p.gso)
}

// egressBatch is a batch of queued packets in buffers of its own, reused.
type egressBatch struct {
	bufs  [][]byte  // the packets, windows on store
	gso   []tun.GSO // their offload metadata
	store [][]byte
}

func newEgressQueue(limit int) *egressQueue {
	q := &egressQueue{limit: max(limit, 1), handoff: make(chan struct{}, 1)}
	q.space = sync.NewCond(&q.mu)
	return q
}

// add copies the packets into the batch.
func (b *egressBatch) add(bufs [][]byte, gso []tun.GSO) {
	for i, p := range bufs {
		b.put(gsoAt(gso, i), p)
	}
}

// addVec copies the packets gathered from their parts into the batch.
func (b *egressBatch) addVec(vecs [][][]byte, gso []tun.GSO) {
	for i, parts := range vecs {
		b.put(gsoAt(gso, i), parts...)
	}
}

// put appends one packet, joined from parts, in a buffer of the batch's
// own (reused from an earlier batch when there is one).
func (b *egressBatch) put(g tun.GSO, parts ...[]byte) {
	n := len(b.bufs)
	if n == len(b.store) {
		b.store = append(b.store, nil)
	}
	s := b.store[n][:0]
	for _, part := range parts {
		s = append(s, part...)
	}
	b.store[n] = s
	b.bufs = append(b.bufs, s)
	b.gso = append(b.gso, g)
}

// gsoAt is gso[i], or none when the device gave no offload metadata.
func gsoAt(gso []tun.GSO, i int) tun.GSO {
	if i < len(gso) {
		return gso[i]
	}
	return tun.GSO{}
}

func (b *egressBatch) reset() {
	clear(b.bufs)
	b.bufs, b.gso = b.bufs[:0], b.gso[:0]
}

// send is deviceEndpoint.send (or sendVec) through the queue: p goes to
// the device now, or after the write under way. It reports every packet
// queued as taken, and false only when its own write found the device
// closed.
func (q *egressQueue) send(d *deviceEndpoint, p egressPkts) (int, bool) {
	n := p.len()
	q.mu.Lock()
	if !p.fits(q.small) {
		// Not copied: written by its sender after what was queued
		// before it, or, on an idle device, by its sender as the writer.
		if q.busy {
			target := q.queued
			for q.busy && q.written < target {
				q.waiting++
				q.space.Wait()
				q.waiting--
			}
		}
		if q.busy {
			q.mu.Unlock()
			return p.write(d)
		}
	} else {
		for q.busy && len(q.next.bufs) > 0 && len(q.next.bufs)+n > q.limit {
			q.space.Wait()
		}
		if q.busy {
			if p.vecs != nil {
				q.next.addVec(p.vecs, p.gso)
			} else {
				q.next.add(p.bufs, p.gso)
			}
			q.queued += uint64(n)
			q.mu.Unlock()
			d.acct.c.queuedOut.Add(uint64(n))
			return n, true
		}
	}
	q.busy = true
	q.mu.Unlock()
	w, ok := p.write(d)
	if q.takeRound() {
		d.write(q.taken.bufs, q.taken.gso)
		q.taken.reset()
		q.mu.Lock()
		if len(q.next.bufs) > 0 && !q.stopped {
			q.handoff <- struct{}{}
			q.mu.Unlock()
			return w, ok
		}
		q.mu.Unlock()
		q.drain(d)
	}
	return w, ok
}

// take swaps the queued packets into taken, for the writer alone, and
// reports true; with nothing queued it leaves the device idle and
// reports false.
func (q *egressQueue) take() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.written += uint64(q.takenN)
	q.takenN = len(q.next.bufs)
	if len(q.next.bufs) == 0 {
		q.busy = false
		q.space.Broadcast()
		return false
	}
	q.next, q.taken = q.taken, q.next
	q.space.Broadcast()
	return true
}

// takeRound is take for a sender that has written its own packets: with
// more than a round queued it hands the device to run instead, busy
// still set, and reports false.
func (q *egressQueue) takeRound() bool {
	if q.round > 0 {
		q.mu.Lock()
		if len(q.next.bufs) > q.round && !q.stopped {
			q.handoff <- struct{}{}
			q.mu.Unlock()
			return false
		}
		q.mu.Unlock()
	}
	return q.take()
}

// drain writes what is queued, a batch at a time, until the queue is
// empty; then the device is idle again.
func (q *egressQueue) drain(d *deviceEndpoint) {
	for q.take() {
		d.write(q.taken.bufs, q.taken.gso)
		q.taken.reset()
	}
}

// run is the queue's goroutine: it writes what a writer handed over,
// until d stops.
func (q *egressQueue) run(d *deviceEndpoint) {
	defer d.wg.Done()
	for {
		select {
		case <-q.handoff:
			q.drain(d)
		case <-d.stop:
			return
		}
	}
}

// stop is called once run has ended (or never started): a writer hands
// nothing over from now on, and what was handed over and not taken is
// written here (the device being closed, counted as dropped).
func (q *egressQueue) stop(d *deviceEndpoint) {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	select {
	case <-q.handoff:
		q.drain(d)
	default:
	}
}
