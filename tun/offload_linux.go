package tun

import (
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The offload path opens /dev/net/tun itself: songgao/water cannot set
// IFF_VNET_HDR, so it serves only Config.NoOffload (and kernels that
// refuse IFF_VNET_HDR).

// wantOffloads is what Open asks the kernel for, in order of preference:
// everything, then without UDP segmentation (before Linux 6.2), then
// checksums only, then nothing (packets still carry a virtio header).
var wantOffloads = [...]Offload{
	OffloadCsum | OffloadTSO4 | OffloadTSO6 | OffloadUSO4 | OffloadUSO6,
	OffloadCsum | OffloadTSO4 | OffloadTSO6,
	OffloadCsum,
	0,
}

// tunFlags converts an Offload set to TUNSETOFFLOAD's TUN_F_* bits.
func tunFlags(o Offload) uintptr {
	var f uintptr
	for _, x := range [...]struct {
		o Offload
		f uintptr
	}{
		{OffloadCsum, unix.TUN_F_CSUM},
		{OffloadTSO4, unix.TUN_F_TSO4},
		{OffloadTSO6, unix.TUN_F_TSO6},
		{OffloadUSO4, unix.TUN_F_USO4},
		{OffloadUSO6, unix.TUN_F_USO6},
	} {
		if o&x.o != 0 {
			f |= x.f
		}
	}
	return f
}

// openHooks lets tests make the kernel look older than it is.
type openHooks struct {
	// refuse: TUNSETOFFLOAD fails with EINVAL for any set containing one
	// of these offloads.
	refuse Offload
}

// openVnet opens /dev/net/tun, creates or attaches to the interface name
// with IFF_TUN|IFF_NO_PI|IFF_VNET_HDR and agrees on offloads. It returns
// the file, the kernel's name for the interface and the offloads agreed.
func openVnet(name string, persist bool, hooks openHooks) (*os.File, string, Offload, error) {
	return openVnetQueue(name, persist, false, hooks)
}

// openVnetQueue is openVnet for one queue of a multi-queue interface
// (IFF_MULTI_QUEUE) when multi is set.
func openVnetQueue(name string, persist, multi bool, hooks openHooks) (*os.File, string, Offload, error) {
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", 0, &os.PathError{Op: "open", Path: tunPath, Err: err}
	}
	fail := func(err error) (*os.File, string, Offload, error) {
		unix.Close(fd)
		return nil, "", 0, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fail(err)
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if multi {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fail(os.NewSyscallError("ioctl", err))
	}
	kname := ifr.Name()
	p := 0
	if persist {
		p = 1
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, p); err != nil {
		return fail(os.NewSyscallError("ioctl(TUNSETPERSIST)", err))
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrLen); err != nil {
		return fail(os.NewSyscallError("ioctl(TUNSETVNETHDRSZ)", err))
	}
	var agreed Offload
	for _, o := range wantOffloads {
		err = setOffload(fd, o, hooks)
		if err == nil {
			agreed = o
			break
		}
	}
	if err != nil {
		return fail(os.NewSyscallError("ioctl(TUNSETOFFLOAD)", err))
	}
	return os.NewFile(uintptr(fd), tunPath), kname, agreed, nil
}

func setOffload(fd int, o Offload, hooks openHooks) error {
	if o&hooks.refuse != 0 {
		return unix.EINVAL
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETOFFLOAD, tunFlags(o))
	if e != 0 {
		return e
	}
	return nil
}

// vnetIO moves packets, each behind a virtio_net_hdr, over a nonblocking
// TUN fd in the Go runtime poller, with readv(2) and writev(2) so that
// the header and the packet stay in separate buffers. A read or write
// takes as many packets as the kernel has or takes without blocking, in
// one poller round.
type vnetIO struct {
	pollFile
	ops     sync.Pool // *vnetOp
	c       *offloadCounters
	packets atomic.Uint64 // read
}

// vnetOp carries one batch through syscall.RawConn; its callbacks are
// bound once, so a batch costs no allocation.
type vnetOp struct {
	io *vnetIO

	bufs   [][]byte // read
	tails  [][]byte // or read each packet into bufs[i], then tails[i]
	sizes  []int
	gso    []GSO
	limit  int
	noWait bool // read: return at once when nothing is queued

	pkts [][]byte   // write
	vecs [][][]byte // or write these, each gathered from its parts
	wgso []GSO      // nil: zero headers

	n   int
	err error

	hdr  [vnetHdrLen]byte
	iov  [3]unix.Iovec
	iovs []unix.Iovec // for vecs

	readFn, writeFn func(fd uintptr) bool
}

func newVnetIO(f *os.File, c *offloadCounters) (*vnetIO, error) {
	d := &vnetIO{c: c}
	if err := d.init(f); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *vnetIO) op() *vnetOp {
	if o, ok := d.ops.Get().(*vnetOp); ok {
		return o
	}
	o := &vnetOp{io: d}
	o.readFn = o.read
	o.writeFn = o.write
	return o
}

func (d *vnetIO) put(o *vnetOp) {
	iovs := o.iovs[:0]
	*o = vnetOp{io: d, readFn: o.readFn, writeFn: o.writeFn, iovs: iovs}
	d.ops.Put(o)
}

// read reads up to limit packets with their metadata. With noWait it
// returns 0 packets instead of blocking.
func (d *vnetIO) read(bufs [][]byte, sizes []int, gso []GSO, limit int, noWait bool) (int, error) {
	return d.readScatter(bufs, nil, sizes, gso, limit, noWait)
}

// readScatter is read with packet i scattered over bufs[i] and then
// tails[i], when tails is not nil.
func (d *vnetIO) readScatter(bufs, tails [][]byte, sizes []int, gso []GSO, limit int, noWait bool) (int, error) {
	limit = min(limit, len(bufs), len(sizes), len(gso))
	if tails != nil {
		limit = min(limit, len(tails))
	}
	if limit <= 0 {
		return 0, nil
	}
	o := d.op()
	defer d.put(o)
	o.bufs, o.tails, o.sizes, o.gso, o.limit, o.noWait = bufs, tails, sizes, gso, limit, noWait
	err := d.rc.Read(o.readFn)
	n, rerr := o.n, o.err
	d.packets.Add(uint64(n))
	if err != nil {
		return n, d.closedOr(err)
	}
	if rerr != nil && n == 0 {
		return 0, rerr
	}
	return n, nil
}

// read is the RawConn.Read callback: readv until limit or EAGAIN. Packets
// with malformed metadata are counted and skipped.
func (o *vnetOp) read(fd uintptr) bool {
	for o.n < o.limit {
		b := o.bufs[o.n]
		o.iov[0].Base = &o.hdr[0]
		o.iov[0].SetLen(vnetHdrLen)
		o.iov[1].Base = nil
		if len(b) > 0 {
			o.iov[1].Base = &b[0]
		}
		o.iov[1].SetLen(len(b))
		niov, room := 2, len(b)
		if o.tails != nil {
			t := o.tails[o.n]
			o.iov[2].Base = nil
			if len(t) > 0 {
				o.iov[2].Base = &t[0]
			}
			o.iov[2].SetLen(len(t))
			niov, room = 3, room+len(t)
		}
		r, res, e := sysRetry(func() (uintptr, unix.Errno) {
			r, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&o.iov[0])), uintptr(niov))
			return r, e
		})
		switch res {
		case sysWait:
			return o.n > 0 || o.noWait
		case sysFailed:
			o.err = e
			return true
		}
		m := int(r)
		if m < vnetHdrLen {
			o.io.c.drop(DropVnetShort)
			continue
		}
		m -= vnetHdrLen
		head := b[:min(m, len(b))]
		g, reason := parseVnetHdrSize(o.hdr[:], m)
		if reason != "" {
			o.io.c.drop(reason)
			continue
		}
		if g.Type != GSONone {
			segs, reason := g.SegmentsOf(head, m)
			if reason != "" {
				o.io.c.drop(reason)
				continue
			}
			o.io.c.gsoIn.Add(1)
			o.io.c.segsIn.Add(uint64(segs))
		}
		if m == room {
			// The kernel truncates silently to fit the buffer;
			// the IP header tells the length the packet had.
			m = max(m, ipPacketLen(head))
		}
		o.sizes[o.n] = m
		o.gso[o.n] = g
		o.n++
	}
	return true
}

// write writes pkts, each behind the header made from the matching gso
// (a zero header when gso is nil), and returns how many went.
func (d *vnetIO) write(pkts [][]byte, gso []GSO) (int, error) {
	if len(pkts) == 0 {
		return 0, nil
	}
	o := d.op()
	o.pkts, o.wgso = pkts, gso
	return d.runWrite(o)
}

// writeVec writes each packet gathered from its parts, behind the header
// made from the matching gso, and returns how many went.
func (d *vnetIO) writeVec(pkts [][][]byte, gso []GSO) (int, error) {
	if len(pkts) == 0 {
		return 0, nil
	}
	o := d.op()
	o.vecs, o.wgso = pkts, gso
	return d.runWrite(o)
}

// runWrite runs a prepared write through the poller and gives o back.
func (d *vnetIO) runWrite(o *vnetOp) (int, error) {
	defer d.put(o)
	if err := d.rc.Write(o.writeFn); err != nil {
		return o.n, d.closedOr(err)
	}
	return o.n, o.err
}

// write is the RawConn.Write callback: writev until every packet went, an
// error, or EAGAIN (then the poller waits and calls again).
func (o *vnetOp) write(fd uintptr) bool {
	if o.vecs != nil {
		return o.writeVecs(fd)
	}
	for o.n < len(o.pkts) {
		pkt := o.pkts[o.n]
		var g GSO
		if o.wgso != nil {
			g = o.wgso[o.n]
		}
		putVnetHdr(o.hdr[:], g)
		o.iov[0].Base = &o.hdr[0]
		o.iov[0].SetLen(vnetHdrLen)
		o.iov[1].Base = nil
		if len(pkt) > 0 {
			o.iov[1].Base = &pkt[0]
		}
		o.iov[1].SetLen(len(pkt))
		_, res, e := sysRetry(func() (uintptr, unix.Errno) {
			r, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&o.iov[0])), 2)
			return r, e
		})
		switch res {
		case sysWait:
			return false
		case sysFailed:
			o.err = e
			return true
		}
		if g.Type != GSONone {
			if segs, _ := g.Segments(pkt); segs > 0 {
				o.io.c.gsoOut.Add(1)
				o.io.c.segsOut.Add(uint64(segs))
			}
		}
		o.n++
	}
	return true
}

// writeVecs is write for packets in parts.
func (o *vnetOp) writeVecs(fd uintptr) bool {
	for o.n < len(o.vecs) {
		parts := o.vecs[o.n]
		g := o.wgso[o.n]
		putVnetHdr(o.hdr[:], g)
		o.iovs = o.iovs[:0]
		var hv unix.Iovec
		hv.Base = &o.hdr[0]
		hv.SetLen(vnetHdrLen)
		o.iovs = append(o.iovs, hv)
		size := 0
		for _, p := range parts {
			if len(p) == 0 {
				continue
			}
			var v unix.Iovec
			v.Base = &p[0]
			v.SetLen(len(p))
			o.iovs = append(o.iovs, v)
			size += len(p)
		}
		_, res, e := sysRetry(func() (uintptr, unix.Errno) {
			r, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&o.iovs[0])), uintptr(len(o.iovs)))
			return r, e
		})
		switch res {
		case sysWait:
			return false
		case sysFailed:
			o.err = e
			return true
		}
		if g.Type != GSONone && g.Size > 0 && size > int(g.HdrLen) {
			o.io.c.gsoOut.Add(1)
			o.io.c.segsOut.Add(uint64(segCount(size-int(g.HdrLen), int(g.Size))))
		}
		o.n++
	}
	return true
}

// segmentingReader serves the plain Read of an offload TUN: it reads into a
// buffer of its own and hands out IP packets no longer than the MTU with
// complete checksums, cutting super-packets in software. Segments that do
// not fit the caller's buffers wait for the next Read.
type segmentingReader struct {
	mu      sync.Mutex
	buf     []byte // MaxSuperPacket
	scratch []byte // a segment that does not fit the caller's buffer
	pkt     []byte // the packet being handed out, within buf
	g       GSO
	next, n int // segments of pkt handed out and in all
	sizes   [1]int
	gso     [1]GSO
	bufs    [1][]byte
}

func (s *segmentingReader) read(d *vnetIO, c *offloadCounters, bufs [][]byte, sizes []int, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit = min(limit, len(bufs), len(sizes))
	if limit <= 0 {
		return 0, nil
	}
	if s.buf == nil {
		s.buf = make([]byte, MaxSuperPacket)
		s.bufs[0] = s.buf
	}
	n := 0
	for n < limit {
		if s.next < s.n {
			s.emit(bufs[n], &sizes[n])
			n++
			continue
		}
		m, err := d.read(s.bufs[:], s.sizes[:], s.gso[:], 1, n > 0)
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if m == 0 {
			return n, nil
		}
		size := s.sizes[0]
		g := s.gso[0]
		if size > len(s.buf) {
			// Longer than any IP packet can be: pass on truncated.
			copy(bufs[n], s.buf)
			sizes[n] = size
			n++
			continue
		}
		s.pkt, s.g = s.buf[:size], g
		s.next, s.n = 0, 1
		if g.Type != GSONone {
			s.n, _ = g.Segments(s.pkt) // checked by vnetOp.read
			c.split.Add(1)
		} else if CompleteChecksum(s.pkt, g) {
			c.completed.Add(1)
		}
	}
	return n, nil
}

// emit hands out the next segment (or the whole packet) into b.
func (s *segmentingReader) emit(b []byte, size *int) {
	i := s.next
	s.next++
	if s.g.Type == GSONone {
		copy(b, s.pkt)
		*size = len(s.pkt)
		return
	}
	if m := s.g.SegmentAt(b, s.pkt, i); m > 0 {
		*size = m
		return
	}
	// Too short for the segment: truncated, with the full length.
	if s.scratch == nil {
		s.scratch = make([]byte, MaxSuperPacket)
	}
	m := s.g.SegmentAt(s.scratch, s.pkt, i)
	copy(b, s.scratch[:m])
	*size = m
}
