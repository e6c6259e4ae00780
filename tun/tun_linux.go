package tun

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TUN is a Linux TUN interface (IFF_TUN|IFF_NO_PI): every Read returns one
// IP packet per buffer and every Write injects IP packets into the kernel as
// if they had arrived on the interface.
//
// Unless Config.NoOffload is set, the interface is opened with
// IFF_VNET_HDR and segmentation offloads (see OffloadDevice): the kernel
// then sends TCP segments of up to 64 KiB (and UDP ones, with USO) whole,
// with checksums left partial, and takes them from ReadGSO's counterpart
// WriteGSO the same way. The interface MTU is unchanged: only where the
// cutting into MTU-sized packets happens moves.
//
// The interface can go away under an open TUN: deleted (ip link del), or
// moved to another network namespace (ip link set NAME netns OTHER), where
// the descriptor stays attached but no packet of this namespace reaches
// it again. Either way every Read and Write from then on, waiting ones
// included, fails with an error that says which and that IsGone
// recognizes. An interface set down is still there: the kernel routes
// nothing to it and Write fails with EIO, which is not gone, until it is
// up again. (Setting it down also drops its IPv6 addresses, unless
// net.ipv6.conf.NAME.keep_addr_on_down is set; nothing puts them back.)
type TUN struct {
	name  string
	mtu   int
	batch int
	fdio  *fdIO   // without offloads (water)
	vio   *vnetIO // with a virtio header on every packet: queue 0
	// queues are every queue's vnetIO, vio first, with Config.Queues > 1.
	queues []*vnetIO

	offloads Offload
	oc       offloadCounters
	split    segmentingReader

	// watch follows the interface in the kernel (linkwatch_linux.go);
	// gone is why it left this network namespace, nil while it is here.
	watch *linkWatch
	gone  atomic.Pointer[string]

	// kdropBase is the interface's tx_dropped at Open (KernelDrops).
	kdropBase uint64

	closeOnce sync.Once
	closeErr  error
}

var (
	_ Device        = (*TUN)(nil)
	_ KernelDropper = (*TUN)(nil)
	_ OffloadDevice = (*TUN)(nil)
	_ VectorWriter  = (*TUN)(nil)
	_ ScatterReader = (*TUN)(nil)
	_ MultiQueue    = (*TUN)(nil)
	_ SerialWriter  = (*TUN)(nil)
)

// Open creates the TUN interface cfg.Name, or attaches to it if it already
// exists, and unless cfg.NoHostConfig is set configures the kernel side
// through netlink: MTU, cfg.TxQueueLen, cfg.HostAddr, link up, cfg.Routes.
//
// A non-persistent interface disappears, with its addresses and routes,
// when the TUN is closed. An interface that already existed as persistent
// (ip tuntap add) stays persistent.
//
// Creating an interface and configuring it need CAP_NET_ADMIN. A user who
// owns a persistent interface can attach to it without privileges if the
// kernel side is already configured and cfg.NoHostConfig is set.
func Open(cfg Config) (*TUN, error) {
	return open(cfg, openHooks{})
}

func open(cfg Config, hooks openHooks) (*TUN, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(tunPath); err != nil {
		return nil, openError(cfg.Name, "open "+tunPath, err)
	}

	persist := cfg.Persist
	if existing, err := netlink.LinkByName(cfg.Name); err == nil {
		tt, ok := existing.(*netlink.Tuntap)
		if !ok || tt.Mode != netlink.TUNTAP_MODE_TUN {
			return nil, setupError(nil, func(w Words) string {
				return fmt.Sprintf("tun: %s exists and is a %s interface, not a TUN; pick another %s", cfg.Name, existing.Type(), w.Name)
			})
		}
		// water sets or clears IFF_PERSIST on every attach; keep what the
		// administrator chose.
		persist = persist || !tt.NonPersist
	}

	var t *TUN
	if cfg.Queues > 1 {
		var err error
		if t, err = openQueues(cfg, persist, hooks); err != nil {
			return nil, err
		}
	} else if !cfg.NoOffload {
		f, name, offloads, err := openVnet(cfg.Name, persist, hooks)
		switch {
		case err == nil:
			t = &TUN{name: name, batch: cfg.BatchSize, offloads: offloads}
			t.vio, err = newVnetIO(f, &t.oc)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("tun: %s: %w", cfg.Name, err)
			}
		case errors.Is(err, unix.EINVAL):
			// A kernel without IFF_VNET_HDR on TUN, or an interface
			// that is not ours to change: try the plain way, which
			// says what is wrong if it fails too.
		default:
			return nil, openError(cfg.Name, "", err)
		}
	}
	if t == nil {
		// Without offloads the interface is opened through
		// songgao/water, which cannot set IFF_VNET_HDR.
		wcfg := water.Config{DeviceType: water.TUN}
		wcfg.Name = cfg.Name
		wcfg.Persist = persist
		ifce, err := water.New(wcfg)
		if err != nil {
			return nil, openError(cfg.Name, "", err)
		}
		f, ok := ifce.ReadWriteCloser.(*os.File)
		if !ok {
			ifce.Close()
			return nil, fmt.Errorf("tun: %s: unexpected file type %T from water", cfg.Name, ifce.ReadWriteCloser)
		}
		fdio, err := newFdIO(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("tun: %s: %w", cfg.Name, err)
		}
		t = &TUN{name: ifce.Name(), batch: cfg.BatchSize, fdio: fdio}
	}

	var err error
	if cfg.NoHostConfig {
		t.mtu, err = linkMTU(t.name, cfg.MTU)
	} else {
		t.mtu = cfg.MTU
		err = configureHost(t.name, cfg)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	if t.watch, err = watchLink(t.name, t.setGone); err != nil {
		t.Close()
		return nil, err
	}
	// A persistent interface may have dropped packets before this Open.
	if n, err := t.txDropped(); err == nil {
		t.kdropBase = n
	}
	return t, nil
}

// openQueues opens cfg.Queues queues of a multi-queue interface, each
// with a virtio header and the same offloads.
func openQueues(cfg Config, persist bool, hooks openHooks) (*TUN, error) {
	t := &TUN{batch: cfg.BatchSize}
	for q := range cfg.Queues {
		f, name, offloads, err := openVnetQueue(cfg.Name, persist, true, hooks)
		if err == nil && q > 0 && offloads != t.offloads {
			f.Close()
			err = fmt.Errorf("queue %d agreed offloads %v, queue 0 %v", q, offloads, t.offloads)
		}
		var vio *vnetIO
		if err == nil {
			if vio, err = newVnetIO(f, &t.oc); err != nil {
				f.Close()
			}
		}
		if err != nil {
			t.Close()
			if errors.Is(err, unix.EINVAL) {
				return nil, fmt.Errorf("tun: %s: %d queues: %w (an interface created without IFF_MULTI_QUEUE, or a kernel without IFF_VNET_HDR on TUN)", cfg.Name, cfg.Queues, err)
			}
			return nil, openError(cfg.Name, "", err)
		}
		t.name, t.offloads = name, offloads
		t.queues = append(t.queues, vio)
	}
	t.vio = t.queues[0]
	return t, nil
}

// Queues implements MultiQueue: how many queues the interface has.
func (t *TUN) Queues() int { return max(len(t.queues), 1) }

// ReadQueueGSO implements MultiQueue: ReadGSO on queue q.
func (t *TUN) ReadQueueGSO(q int, bufs [][]byte, sizes []int, gso []GSO) (int, error) {
	if q == 0 {
		return t.ReadGSO(bufs, sizes, gso)
	}
	vio, err := t.queue(q)
	if err != nil {
		return 0, err
	}
	n, err := vio.read(bufs, sizes, gso, t.batch, false)
	if err != nil {
		return n, t.wrap("read", err)
	}
	return n, nil
}

// ReadQueueScatter implements MultiQueue: ReadGSOScatter on queue q.
func (t *TUN) ReadQueueScatter(q int, heads, tails [][]byte, sizes []int, gso []GSO) (int, error) {
	if q == 0 {
		return t.ReadGSOScatter(heads, tails, sizes, gso)
	}
	vio, err := t.queue(q)
	if err != nil {
		return 0, err
	}
	n, err := vio.readScatter(heads, tails, sizes, gso, t.batch, false)
	if err != nil {
		return n, t.wrap("read", err)
	}
	return n, nil
}

// WriteQueueGSO implements MultiQueue: WriteGSO on queue q.
func (t *TUN) WriteQueueGSO(q int, pkts [][]byte, gso []GSO) (int, error) {
	if q == 0 {
		return t.WriteGSO(pkts, gso)
	}
	if len(gso) < len(pkts) {
		return 0, fmt.Errorf("tun: write %s: %d packets but %d GSO entries", t.name, len(pkts), len(gso))
	}
	vio, err := t.queue(q)
	if err != nil {
		return 0, err
	}
	n, err := vio.write(pkts, gso)
	if err != nil {
		return n, t.wrap("write", err)
	}
	return n, nil
}

// WriteQueueVec implements MultiQueue: WriteGSOVec on queue q.
func (t *TUN) WriteQueueVec(q int, pkts [][][]byte, gso []GSO) (int, error) {
	if q == 0 {
		return t.WriteGSOVec(pkts, gso)
	}
	if len(gso) < len(pkts) {
		return 0, fmt.Errorf("tun: write %s: %d packets but %d GSO entries", t.name, len(pkts), len(gso))
	}
	vio, err := t.queue(q)
	if err != nil {
		return 0, err
	}
	n, err := vio.writeVec(pkts, gso)
	if err != nil {
		return n, t.wrap("write", err)
	}
	return n, nil
}

// QueuePackets implements MultiQueue.
func (t *TUN) QueuePackets() []uint64 {
	if len(t.queues) == 0 {
		if t.vio != nil {
			return []uint64{t.vio.packets.Load()}
		}
		return []uint64{0}
	}
	n := make([]uint64, len(t.queues))
	for i, q := range t.queues {
		n[i] = q.packets.Load()
	}
	return n
}

func (t *TUN) queue(q int) (*vnetIO, error) {
	if q < 0 || q >= len(t.queues) {
		return nil, fmt.Errorf("tun: %s: no queue %d of %d", t.name, q, t.Queues())
	}
	return t.queues[q], nil
}

// Name returns the kernel's name for the interface.
func (t *TUN) Name() string { return t.name }

// MTU returns the interface MTU in bytes.
func (t *TUN) MTU() int { return t.mtu }

// BatchSize returns the most packets one Read returns.
func (t *TUN) BatchSize() int { return t.batch }

// WritesSerialized implements SerialWriter: writes on one queue wait for
// the descriptor's write lock, one packet each.
func (t *TUN) WritesSerialized() bool { return true }

// Offloads returns the offloads agreed with the kernel: none with
// Config.NoOffload, or when the kernel refused them.
func (t *TUN) Offloads() Offload { return t.offloads }

// OffloadStats returns the counters of super-packets moved and of packets
// dropped for malformed virtio headers.
func (t *TUN) OffloadStats() OffloadStats { return t.oc.snapshot() }

// Read blocks until the kernel has a packet for the interface, then reads
// more packets that are already queued, without blocking, until bufs,
// sizes or BatchSize runs out. A packet longer than its buffer is truncated
// and its full length stored in sizes (taken from the IP header: the kernel
// reports only what it copied).
//
// With offloads, Read cuts the kernel's super-packets into packets no
// longer than the MTU and completes partial checksums, in software.
func (t *TUN) Read(bufs [][]byte, sizes []int) (int, error) {
	var (
		n   int
		err error
	)
	if t.vio != nil {
		n, err = t.split.read(t.vio, &t.oc, bufs, sizes, t.batch)
	} else {
		n, err = t.fdio.read(bufs, sizes, t.batch)
	}
	if err != nil {
		return n, t.wrap("read", err)
	}
	return n, nil
}

// ReadGSO implements OffloadDevice: like Read, but super-packets come
// whole (buffers of MaxSuperPacket bytes take every one) and partial
// checksums stay partial; gso says which is which. Without offloads every
// packet has a zero GSO.
func (t *TUN) ReadGSO(bufs [][]byte, sizes []int, gso []GSO) (int, error) {
	var (
		n   int
		err error
	)
	if t.vio != nil {
		n, err = t.vio.read(bufs, sizes, gso, t.batch, false)
	} else {
		n, err = t.fdio.read(bufs, sizes, min(t.batch, len(gso)))
		clear(gso[:n])
	}
	if err != nil {
		return n, t.wrap("read", err)
	}
	return n, nil
}

// ReadGSOScatter implements ScatterReader: ReadGSO with each packet scattered
// over heads[i] and tails[i] by readv(2).
func (t *TUN) ReadGSOScatter(heads, tails [][]byte, sizes []int, gso []GSO) (int, error) {
	if t.vio == nil {
		return 0, fmt.Errorf("tun: read %s: split reads need offloads (IFF_VNET_HDR)", t.name)
	}
	n, err := t.vio.readScatter(heads, tails, sizes, gso, t.batch, false)
	if err != nil {
		return n, t.wrap("read", err)
	}
	return n, nil
}

// Write injects each packet into the kernel as if it had arrived on the
// interface. The kernel rejects a packet that is not IPv4 or IPv6 (EINVAL);
// Write then returns how many packets went before it and the error.
func (t *TUN) Write(pkts [][]byte) (int, error) {
	var (
		n   int
		err error
	)
	if t.vio != nil {
		n, err = t.vio.write(pkts, nil)
	} else {
		n, err = t.fdio.write(pkts)
	}
	if err != nil {
		return n, t.wrap("write", err)
	}
	return n, nil
}

// WriteGSO implements OffloadDevice: each packet goes with the metadata in
// the matching element of gso, so the kernel segments super-packets and
// completes partial checksums. Metadata the agreed offloads do not cover
// is refused by the kernel (EINVAL). Without offloads it is Write, and
// every element of gso must be zero.
func (t *TUN) WriteGSO(pkts [][]byte, gso []GSO) (int, error) {
	if len(gso) < len(pkts) {
		return 0, fmt.Errorf("tun: write %s: %d packets but %d GSO entries", t.name, len(pkts), len(gso))
	}
	if t.vio == nil {
		for i, g := range gso[:len(pkts)] {
			if g != (GSO{}) {
				return i, fmt.Errorf("tun: write %s: offload metadata on a device without offloads", t.name)
			}
		}
		return t.Write(pkts)
	}
	n, err := t.vio.write(pkts, gso)
	if err != nil {
		return n, t.wrap("write", err)
	}
	return n, nil
}

// WriteGSOVec implements VectorWriter: WriteGSO for packets each gathered
// from its parts by writev(2), with no copy into one buffer.
func (t *TUN) WriteGSOVec(pkts [][][]byte, gso []GSO) (int, error) {
	if len(gso) < len(pkts) {
		return 0, fmt.Errorf("tun: write %s: %d packets but %d GSO entries", t.name, len(pkts), len(gso))
	}
	if t.vio == nil {
		return 0, fmt.Errorf("tun: write %s: vectored writes need offloads (IFF_VNET_HDR)", t.name)
	}
	n, err := t.vio.writeVec(pkts, gso)
	if err != nil {
		return n, t.wrap("write", err)
	}
	return n, nil
}

// Close releases the interface and wakes any blocked Read. Closing twice is
// harmless.
func (t *TUN) Close() error {
	t.closeOnce.Do(func() {
		if t.watch != nil {
			t.watch.close()
		}
		switch {
		case len(t.queues) > 0:
			for _, q := range t.queues {
				if err := q.close(); err != nil && t.closeErr == nil {
					t.closeErr = err
				}
			}
		case t.vio != nil:
			t.closeErr = t.vio.close()
		case t.fdio != nil:
			t.closeErr = t.fdio.close()
		}
	})
	return t.closeErr
}

func (t *TUN) wrap(op string, err error) error {
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	if why := t.gone.Load(); why != nil {
		return fmt.Errorf("tun: %s %s: %s: %w", op, t.name, *why, unix.ENODEV)
	}
	if errors.Is(err, unix.EBADFD) || notPollable(err) {
		// The kernel detaches a TUN's descriptors from an interface it
		// deletes (EBADFD), and polls them as EPOLLERR; the link watch
		// may not have said so yet.
		return fmt.Errorf("tun: %s %s: %s: %w", op, t.name, whyDeleted, err)
	}
	return fmt.Errorf("tun: %s %s: %w", op, t.name, err)
}

// setGone records why the interface left this network namespace, once,
// and fails every Read and Write from then on, those waiting included,
// with an error that says so (wrap) and that IsGone recognizes: a
// deadline in the past wakes them in the poller. The descriptors stay
// open until Close.
func (t *TUN) setGone(why string) {
	if !t.gone.CompareAndSwap(nil, &why) {
		return
	}
	var files []*pollFile
	switch {
	case len(t.queues) > 0:
		for _, q := range t.queues {
			files = append(files, &q.pollFile)
		}
	case t.vio != nil:
		files = append(files, &t.vio.pollFile)
	case t.fdio != nil:
		files = append(files, &t.fdio.pollFile)
	}
	for _, p := range files {
		// Fails only once Close has closed the file, which wakes
		// everyone anyway.
		_ = p.f.SetDeadline(time.Unix(1, 0))
	}
}

// fdIO moves packets over a nonblocking packet file descriptor registered
// with the Go runtime poller, so a blocked read wakes when the file is
// closed. Any fd that returns one packet per read(2) and takes one per
// write(2) fits: a TUN fd, or an AF_PACKET socket.
type fdIO struct {
	pollFile
	ops sync.Pool // *fdOp
}

// pollFile is a nonblocking file in the Go runtime poller that knows
// whether it was closed on purpose: the part fdIO and vnetIO share.
type pollFile struct {
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
}

func (p *pollFile) init(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	p.f, p.rc = f, rc
	return nil
}

// fdOp carries one read or write through syscall.RawConn, whose callback
// is a func value: bound once per fdOp and reused, it costs no allocation
// per packet.
type fdOp struct {
	pkt   []byte   // write
	bufs  [][]byte // read
	sizes []int
	limit int
	n     int
	err   error

	readFn, writeFn func(fd uintptr) bool
}

func newFdIO(f *os.File) (*fdIO, error) {
	d := new(fdIO)
	if err := d.init(f); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *fdIO) op() *fdOp {
	if o, ok := d.ops.Get().(*fdOp); ok {
		return o
	}
	o := new(fdOp)
	o.readFn = o.read
	o.writeFn = o.write
	return o
}

func (d *fdIO) put(o *fdOp) {
	*o = fdOp{readFn: o.readFn, writeFn: o.writeFn}
	d.ops.Put(o)
}

func (d *fdIO) read(bufs [][]byte, sizes []int, limit int) (int, error) {
	limit = min(limit, len(bufs), len(sizes))
	if limit <= 0 {
		return 0, nil
	}
	o := d.op()
	defer d.put(o)
	o.bufs, o.sizes, o.limit = bufs, sizes, limit
	err := d.rc.Read(o.readFn)
	n, rerr := o.n, o.err
	if err != nil {
		return n, d.closedOr(err)
	}
	if rerr != nil && n == 0 {
		return 0, rerr
	}
	// An error after some packets is dropped: the next read meets it
	// again if it persists.
	return n, nil
}

// read is the RawConn.Read callback: it reads packets until limit or
// EAGAIN.
func (o *fdOp) read(fd uintptr) bool {
	for o.n < o.limit {
		b := o.bufs[o.n]
		r, res, e := sysRetry(func() (uintptr, unix.Errno) {
			var p unsafe.Pointer
			if len(b) > 0 {
				p = unsafe.Pointer(&b[0])
			}
			r, _, e := unix.Syscall(unix.SYS_READ, fd, uintptr(p), uintptr(len(b)))
			return r, e
		})
		switch res {
		case sysWait:
			// Nothing (more) queued: done if we have a packet,
			// otherwise wait in the poller.
			return o.n > 0
		case sysFailed:
			o.err = e
			return true
		}
		m := int(r)
		if m == len(b) {
			// The kernel truncates silently to fit the buffer;
			// the IP header tells the length the packet had.
			m = max(m, ipPacketLen(b))
		}
		o.sizes[o.n] = m
		o.n++
	}
	return true
}

func (d *fdIO) write(pkts [][]byte) (int, error) {
	o := d.op()
	defer d.put(o)
	for i, pkt := range pkts {
		o.pkt, o.err = pkt, nil
		err := d.rc.Write(o.writeFn)
		if err != nil {
			return i, d.closedOr(err)
		}
		if o.err != nil {
			return i, o.err
		}
	}
	return len(pkts), nil
}

// write is the RawConn.Write callback for one packet.
func (o *fdOp) write(fd uintptr) bool {
	_, res, e := sysRetry(func() (uintptr, unix.Errno) {
		var p unsafe.Pointer
		if len(o.pkt) > 0 {
			p = unsafe.Pointer(&o.pkt[0])
		}
		r, _, e := unix.Syscall(unix.SYS_WRITE, fd, uintptr(p), uintptr(len(o.pkt)))
		return r, e
	})
	o.err = nil
	if res == sysFailed {
		o.err = e
	}
	return res != sysWait
}

func (d *pollFile) close() error {
	d.closed.Store(true)
	return d.f.Close()
}

// closedOr returns ErrClosed if the file was closed (the poller reports
// that as an internal "use of closed file" error), else err.
func (d *pollFile) closedOr(err error) error {
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return err
}
