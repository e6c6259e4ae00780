package netstack

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// deviceEndpoint is the innermost link endpoint: it owns the tun.Device.
// Ingress is one goroutine that reads batches from the device and hands
// each packet to the endpoint above it (up); egress writes batches to the
// device, blocking while the device is full, through the egress queue
// (tx) on a device that batches its writes. It knows nothing of hooks or
// tracing: it only asks up whether anything above reads the bytes, to
// choose between its copying and its zero-copy paths.
//
// An offload device (tun.OffloadDevice) moves super-packets with their
// metadata (device_offload.go); a tun.ScatterReader reads them straight
// into gVisor's memory (scatterread.go).
//
// A device error that is not the device's own Close is counted under its
// reason (Stats.DeviceErrors) and retried after a pause that doubles up to
// maxErrorBackoff. An error that says the device is gone (the interface
// was deleted or moved to another network namespace, or its descriptor
// closed by someone else) ends the read loop and is reported on gone.
type deviceEndpoint struct {
	dev      tun.Device
	batch    int // packets per device Read
	wbatch   int // packets per device Write
	frameMax int // the read buffer size: the longest packet or frame read whole
	acct     *linkAccount

	// up is the next endpoint toward the stack; stackSide is the
	// outermost one, which the zero-copy paths talk to directly when
	// nothing between reads the bytes.
	up        packetReceiver
	stackSide *stackEndpoint

	// Segmentation offload (device_offload.go): od is the device's
	// offload side when the stack uses it, else nil.
	od    tun.OffloadDevice
	vw    tun.VectorWriter  // od's, if it has one
	sr    tun.ScatterReader // od's, if it has one
	split atomic.Bool       // cut super-packets for whoever reads the bytes above
	seg   []byte            // the read loops' buffer for one segment, under inMu

	// With a multi-queue device (tun.MultiQueue) one read loop per
	// queue reads; mq is the device then, else nil. The loops read at
	// once and hand their batches up one at a time (inMu), so that the
	// endpoints above see one ingress goroutine at a time, as with one
	// queue.
	mq     tun.MultiQueue
	queues int
	inMu   sync.Mutex

	// tx is the egress queue on a device whose Write moves a batch with
	// one system call (tun.BatchWriter), or whose writes take turns
	// (tun.SerialWriter: small packets only), else nil: packets of other
	// senders wait there behind a write under way (egress.go).
	tx *egressQueue

	closed    atomic.Bool
	stop      chan struct{} // closed by shutdown: ends an error backoff
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	// gone is closed when the device went away under the stack; goneErr
	// says how. goneOnce guards both.
	gone     chan struct{}
	goneErr  error
	goneOnce sync.Once
}

// packetReceiver takes packets moving up, toward the stack: b is only
// borrowed, m is what the device said about it.
type packetReceiver interface {
	receive(b []byte, m pktMeta)
	// readsIn reports whether this endpoint, or one above it, reads the
	// bytes of the packets it is handed.
	readsIn() bool
}

// packetSender takes packets moving down, toward the device: bufs[i] with
// the offload metadata gso[i]. It returns how many of bufs it took, and
// false once the device is closed (having counted what it did not write).
type packetSender interface {
	send(bufs [][]byte, gso []tun.GSO) (int, bool)
	// readsOut reports whether this endpoint, or one below it, reads the
	// bytes of the packets it is handed.
	readsOut() bool
}

// pktMeta is what the link endpoints know of a packet besides its bytes.
type pktMeta struct {
	gso   tun.GSO // of a super-packet moved whole; zero otherwise
	segs  int     // segments a received super-packet carries
	valid bool    // received checksums known good: gVisor skips verifying them
}

func newDeviceEndpoint(dev tun.Device, batch int, acct *linkAccount) *deviceEndpoint {
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
	d := &deviceEndpoint{dev: dev, batch: batch, wbatch: wbatch, frameMax: dev.MTU(), acct: acct, stop: make(chan struct{}), gone: make(chan struct{})}
	if ll, ok := dev.(tun.LinkLayer); ok {
		d.frameMax = max(ll.MaxFrameSize(), dev.MTU()+header.EthernetMinimumSize)
	}
	if bw, ok := dev.(tun.BatchWriter); ok && bw.WritesBatched() {
		d.tx = newEgressQueue(egressQueueLen)
		d.tx.round = egressQueueBatches * wbatch
	} else if sw, ok := dev.(tun.SerialWriter); ok && sw.WritesSerialized() {
		// Small packets only: the writes stay one packet each.
		d.tx = newEgressQueue(egressQueueLen)
		d.tx.small = egressSmallMax
		d.tx.round = egressQueueBatches * wbatch
	}
	return d
}

// start launches the read loop, and the egress queue's goroutine.
func (d *deviceEndpoint) start() {
	if d.tx != nil {
		d.wg.Add(1)
		go d.tx.run(d)
	}
	if d.od != nil {
		queues := 1
		if mq, ok := d.dev.(tun.MultiQueue); ok && mq.Queues() > 1 {
			d.mq, queues = mq, mq.Queues()
			d.queues = queues
		}
		for q := range queues {
			d.wg.Add(1)
			go d.readLoopGSO(q)
		}
		return
	}
	d.wg.Add(1)
	go d.readLoop()
}

func (d *deviceEndpoint) readLoop() {
	defer d.wg.Done()
	size := d.frameMax
	if size <= 0 {
		size = header.IPv6MinimumMTU
	}
	bufs := make([][]byte, d.batch)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	sizes := make([]int, d.batch)
	var backoff time.Duration
	for {
		n, err := d.dev.Read(bufs, sizes)
		n = min(max(n, 0), len(bufs))
		for i := 0; i < n; i++ {
			size := sizes[i]
			if size > len(bufs[i]) {
				d.acct.drop(trace.In, DropTruncated, size)
				continue
			}
			d.up.receive(bufs[i][:max(size, 0)], pktMeta{})
		}
		if !d.readFailed(err, &backoff) {
			return
		}
	}
}

// egressQueueBatches is how many device batches (BatchSize packets) a
// sender takes from the egress queue as the writer, after its own write;
// more go to the queue's goroutine.
const egressQueueBatches = 2

// egressQueueLen is how many packets the egress queue holds: Linux's
// default txqueuelen. With two device batches' worth (128 packets) the
// replies of 1,000 busy connections filled it while a write was under
// way, and their senders parked until the writer took it: a goroutine
// hand-off more for a third of the messages on a TUN, for nearly half on
// AF_PACKET.
const egressQueueLen = 1000

// maxErrorBackoff is the longest pause between reads that fail.
const maxErrorBackoff = time.Second

// readFailed handles the error of one device Read: nil resets the
// backoff; an error is counted and waited out, doubling the pause each
// time. It reports false when the read loop must end: the device was
// closed, or it is gone.
func (d *deviceEndpoint) readFailed(err error, backoff *time.Duration) bool {
	if err == nil {
		*backoff = 0
		return true
	}
	if d.closed.Load() || errors.Is(err, tun.ErrClosed) {
		return false
	}
	d.acct.c.deviceError(trace.In, err)
	if tun.IsGone(err) {
		d.setGone(err)
		return false
	}
	*backoff = min(max(2**backoff, time.Millisecond), maxErrorBackoff)
	t := time.NewTimer(*backoff)
	select {
	case <-t.C:
	case <-d.stop:
		t.Stop()
	}
	return !d.closed.Load()
}

// setGone records that the device went away, once.
func (d *deviceEndpoint) setGone(err error) {
	d.goneOnce.Do(func() {
		d.goneErr = err
		close(d.gone)
	})
}

// send implements packetSender: it writes bufs to the device in batches,
// or, on a device with an egress queue (tx), hands them to the queue when
// another sender's write is under way (egress.go).
func (d *deviceEndpoint) send(bufs [][]byte, gso []tun.GSO) (int, bool) {
	if d.tx != nil {
		return d.tx.send(d, egressPkts{bufs: bufs, gso: gso})
	}
	return d.write(bufs, gso)
}

// write writes bufs to the device in batches. A packet the device refuses
// is dropped as a write error and the rest still go out.
func (d *deviceEndpoint) write(bufs [][]byte, gso []tun.GSO) (int, bool) {
	written := 0
	for len(bufs) > 0 {
		var (
			n   int
			err error
		)
		d.acct.c.writesOut.Add(1)
		if d.mq != nil {
			n, err = d.writeQueues(len(bufs), func(i int) []byte { return bufs[i] }, func(q, i, j int) (int, error) {
				return d.mq.WriteQueueGSO(q, bufs[i:j], gso[i:j])
			})
		} else if d.od != nil {
			n, err = d.od.WriteGSO(bufs, gso)
		} else {
			n, err = d.dev.Write(bufs)
		}
		n = min(max(n, 0), len(bufs))
		c := d.acct.c
		for i, b := range bufs[:n] {
			c.packetsOut.Add(1)
			c.bytesOut.Add(uint64(len(b)))
			if d.od != nil && gso[i].Type != tun.GSONone {
				c.gsoOut.Add(1)
				c.gsoSegsOut.Add(uint64(segmentsOut(b, gso[i])))
			}
		}
		written += n
		bufs = bufs[n:]
		if d.od != nil {
			gso = gso[n:]
		}
		if len(bufs) == 0 {
			return written, true
		}
		if !d.writeFailed(err) {
			for _, b := range bufs {
				d.acct.drop(trace.Out, DropDeviceClosed, len(b))
			}
			return written, false
		}
		// bufs[0] was refused (or the device stopped short without saying
		// why, which is treated the same so the loop always advances).
		d.acct.drop(trace.Out, DropWriteError, len(bufs[0]))
		bufs = bufs[1:]
		if d.od != nil {
			gso = gso[1:]
		}
	}
	return written, true
}

// writeFailed counts the error of a device Write that stopped short. It
// reports false when nothing more can be written: the device is closed
// or gone.
func (d *deviceEndpoint) writeFailed(err error) bool {
	if errors.Is(err, tun.ErrClosed) || d.closed.Load() {
		return false
	}
	if err != nil {
		d.acct.c.deviceError(trace.Out, err)
		if tun.IsGone(err) {
			d.setGone(err)
			return false
		}
	}
	return true
}

// readsOut implements packetSender: the device only moves the bytes.
func (*deviceEndpoint) readsOut() bool { return false }

// shutdown closes the device, which ends the read loop, and waits for it.
// It is safe to call more than once and from several goroutines.
func (d *deviceEndpoint) shutdown() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		close(d.stop)
		d.closeErr = d.dev.Close()
	})
	d.wg.Wait()
	if d.tx != nil {
		d.tx.stop(d)
	}
	return d.closeErr
}
