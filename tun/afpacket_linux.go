package tun

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// PacketSocket is an AF_PACKET socket bound to an Ethernet interface: Read returns the frames the interface receives and Write sends
// frames out of it, as tcpdump and a DHCP client do. The kernel keeps the
// interface and goes on processing the same frames; see OpenPacketSocket for what
// must not be configured on it.
//
// Reads and writes move whole batches with one recvmmsg(2) or sendmmsg(2)
// on a nonblocking socket parked in the Go runtime's poller. The socket
// has PACKET_VNET_HDR on, so a frame that another program on the same host
// sent with its checksum left to the hardware (a veth peer does this)
// arrives with the checksum completed here, and a large unsegmented frame
// (GSO, GRO) arrives whole, up to MaxFrameSize.
type PacketSocket struct {
	name  string
	index int // the interface's index
	mtu   int
	batch int
	hw    net.HardwareAddr
	prom  bool
	f     *os.File
	rc    syscall.RawConn

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// kdrops sums PACKET_STATISTICS' drops, which each read resets
	// (KernelDrops).
	kdropMu sync.Mutex
	kdrops  uint64

	// The batches and the poller callbacks of Read and Write, bound once
	// in OpenPacketSocket so that a batch allocates nothing; each is used under
	// its mutex only.
	rmu    sync.Mutex
	rx     mmsgBatch
	readFn func(fd uintptr) bool
	wmu    sync.Mutex
	tx     mmsgBatch
	sendFn func(fd uintptr) bool
}

var (
	_ Device        = (*PacketSocket)(nil)
	_ LinkLayer     = (*PacketSocket)(nil)
	_ BatchWriter   = (*PacketSocket)(nil)
	_ KernelDropper = (*PacketSocket)(nil)
)

// nicRcvBuf is the receive buffer the socket asks for, so that a burst
// waits in the kernel rather than being dropped there.
const nicRcvBuf = 4 << 20

// ENOBUFS from sendmmsg means the interface's queue (a veth peer's
// backlog) is full. Write waits and tries again, for up to about a second
// in all, before it reports the error.
const (
	nobufsFirstWait = 50 * time.Microsecond
	nobufsMaxWait   = 5 * time.Millisecond
	nobufsGiveUp    = time.Second
)

// OpenPacketSocket opens an AF_PACKET socket on the Ethernet interface cfg.Name and
// brings the interface up unless cfg.NoLinkUp is set. It needs CAP_NET_RAW
// (and CAP_NET_ADMIN to bring the link up or set promiscuous mode).
//
// The stack and the kernel then share the interface: both see every frame
// it receives. For the kernel to stay out of the stack's way:
//
//   - Do not give the interface (or any other) the stack's addresses, or
//     the kernel answers ARP and neighbor solicitations for them and
//     resets TCP connections meant for the stack.
//   - With the interface's own MAC (the default), frames for the stack
//     are addressed to the kernel too. The kernel drops IP packets for an
//     address it does not have, unless it forwards (net.ipv4.ip_forward,
//     net.ipv6.conf.all.forwarding): then it would route them back out.
//     Keep forwarding off, or give the stack its own MAC
//     (cfg.HardwareAddr, which turns promiscuous mode on), so the kernel
//     sees frames for another host and ignores them.
//   - The kernel may keep addresses of its own on the interface (it
//     answers for those, the stack ignores them); a dedicated interface
//     without any, IPv6 included (sysctl net.ipv6.conf.IFACE.disable_ipv6=1),
//     is the quietest.
//
// Frames the kernel itself sends out of the interface are not read
// (PACKET_IGNORE_OUTGOING, Linux 4.20 and later). Every multicast frame is
// read (PACKET_MR_ALLMULTI), so neighbor solicitations reach the stack on
// a NIC that filters multicast in hardware.
func OpenPacketSocket(cfg PacketSocketConfig) (*PacketSocket, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = defaultBatchSize
	}
	ifc, err := net.InterfaceByName(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("tun: no interface %s in this network namespace (ip link lists them): %w", cfg.Name, err)
	}
	if ifc.Flags&net.FlagLoopback != 0 || len(ifc.HardwareAddr) != 6 {
		return nil, setupError(nil, func(w Words) string {
			return fmt.Sprintf("tun: %s is not an Ethernet interface (hardware address %q); for a TUN use %s", cfg.Name, ifc.HardwareAddr, w.OpenTUN)
		})
	}
	hw := append(net.HardwareAddr(nil), ifc.HardwareAddr...)
	promisc := cfg.Promiscuous
	if len(cfg.HardwareAddr) != 0 {
		if !bytes.Equal(cfg.HardwareAddr, hw) {
			promisc = true
		}
		hw = append(net.HardwareAddr(nil), cfg.HardwareAddr...)
	}
	if !cfg.NoLinkUp && ifc.Flags&net.FlagUp == 0 {
		link, err := netlink.LinkByIndex(ifc.Index)
		if err == nil {
			err = netlink.LinkSetUp(link)
		}
		if err != nil {
			return nil, linkUpError(cfg.Name, err)
		}
	}

	fd, err := packetSocket(ifc.Index, promisc)
	if err != nil {
		return nil, nicError(cfg.Name, err)
	}
	f := os.NewFile(uintptr(fd), "packet:"+cfg.Name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tun: %s: %w", cfg.Name, err)
	}
	d := &PacketSocket{name: cfg.Name, index: ifc.Index, mtu: ifc.MTU, batch: cfg.BatchSize, hw: hw, prom: promisc, f: f, rc: rc}
	d.readFn = d.rx.recv
	d.sendFn = d.tx.send
	return d, nil
}

// packetSocket returns a nonblocking AF_PACKET socket bound to the
// interface with index ifindex.
func packetSocket(ifindex int, promisc bool) (int, error) {
	// Protocol 0 receives nothing until bind names the interface, so no
	// frame of another interface can slip in between.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket(AF_PACKET)", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, os.NewSyscallError(what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("setsockopt(PACKET_VNET_HDR)", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("setsockopt(PACKET_IGNORE_OUTGOING)", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, nicRcvBuf); err != nil {
		// Without CAP_NET_ADMIN take what net.core.rmem_max allows.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, nicRcvBuf)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind(AF_PACKET)", err)
	}
	mreq := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_ALLMULTI}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		return fail("setsockopt(PACKET_MR_ALLMULTI)", err)
	}
	if promisc {
		mreq.Type = unix.PACKET_MR_PROMISC
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
			return fail("setsockopt(PACKET_MR_PROMISC)", err)
		}
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// linkUpError explains a NIC that could not be brought up. Its kernel side
// is not OpenPacketSocket's to configure, so the advice is to bring it up
// beforehand.
func linkUpError(name string, err error) error {
	hint := ""
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		hint = " (needs CAP_NET_ADMIN; run as root, or bring it up beforehand: ip link set " + name + " up)"
	}
	return fmt.Errorf("tun: configure %s: set link up: %w%s", name, err, hint)
}

func nicError(name string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		hint = " (needs CAP_NET_RAW; run as root)"
	case errors.Is(err, unix.ENOPROTOOPT):
		hint = " (needs Linux 4.20 or later)"
	case errors.Is(err, unix.EAFNOSUPPORT):
		hint = " (the kernel has no AF_PACKET support)"
	}
	return fmt.Errorf("tun: open packet socket on %s: %w%s", name, err, hint)
}

// Name returns the interface name.
func (d *PacketSocket) Name() string { return d.name }

// MTU returns the interface's MTU: the largest IP packet in a frame.
func (d *PacketSocket) MTU() int { return d.mtu }

// BatchSize returns the most frames one Read or Write moves.
func (d *PacketSocket) BatchSize() int { return d.batch }

// WritesBatched implements BatchWriter: one sendmmsg(2) carries up to
// BatchSize frames.
func (d *PacketSocket) WritesBatched() bool { return true }

// HardwareAddr returns the stack's MAC address.
func (d *PacketSocket) HardwareAddr() net.HardwareAddr { return d.hw }

// Promiscuous reports whether the socket put the interface in promiscuous
// mode (asked for, or needed by a MAC other than the interface's).
func (d *PacketSocket) Promiscuous() bool { return d.prom }

// MaxFrameSize returns the longest frame Read returns whole.
func (d *PacketSocket) MaxFrameSize() int { return nicMaxFrame }

// Read blocks until the interface has received a frame, then takes what
// else is queued, up to len(bufs) and BatchSize frames, with one
// recvmmsg(2). A frame longer than its buffer is truncated and its full
// length stored in sizes.
func (d *PacketSocket) Read(bufs [][]byte, sizes []int) (int, error) {
	limit := min(d.batch, len(bufs), len(sizes))
	if limit <= 0 {
		return 0, nil
	}
	d.rmu.Lock()
	defer d.rmu.Unlock()
	d.rx.prepare(bufs[:limit], false)
	err := d.rc.Read(d.readFn)
	if err != nil {
		return 0, d.closedOr(err)
	}
	n, rerr := d.rx.n, d.rx.err
	if rerr != nil {
		return 0, d.wrap("read", rerr)
	}
	for i := range n {
		sizes[i] = d.rx.finish(i, bufs[i])
	}
	return n, nil
}

// Write sends the frames with sendmmsg(2), in batches of BatchSize,
// waiting while the socket's send buffer or the interface's queue is full.
// A frame the kernel refuses (longer than MTU plus the header, say) ends
// the call: Write returns how many went before it and the error.
func (d *PacketSocket) Write(pkts [][]byte) (int, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	done := 0
	wait := nobufsFirstWait
	var waited time.Duration
	for done < len(pkts) {
		chunk := pkts[done:min(len(pkts), done+d.batch)]
		d.tx.prepare(chunk, true)
		err := d.rc.Write(d.sendFn)
		if err != nil {
			return done, d.closedOr(err)
		}
		sent, werr := d.tx.n, d.tx.err
		done += sent
		switch {
		case werr == unix.ENOBUFS && waited < nobufsGiveUp:
			time.Sleep(wait)
			waited += wait
			wait = min(2*wait, nobufsMaxWait)
		case werr != nil:
			return done, d.wrap("write", werr)
		case sent == 0:
			return done, d.wrap("write", unix.EIO)
		default:
			wait, waited = nobufsFirstWait, 0
		}
	}
	return done, nil
}

// Close closes the socket, which wakes a blocked Read or Write and undoes
// the promiscuous and multicast settings it made. Closing twice is
// harmless.
func (d *PacketSocket) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.closeErr = d.f.Close()
	})
	return d.closeErr
}

func (d *PacketSocket) closedOr(err error) error {
	if d.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return d.wrap("poll", err)
}

func (d *PacketSocket) wrap(op string, err error) error {
	if errors.Is(err, ErrClosed) {
		return ErrClosed
	}
	if errors.Is(err, unix.ENETDOWN) && d.interfaceDeleted() {
		// The kernel says ENETDOWN once, both when the interface goes
		// down (it may come back up) and when it is deleted or moved
		// to another network namespace (then nothing more ever
		// arrives): tell the second apart. This namespace no longer
		// lists it either way.
		return fmt.Errorf("tun: %s %s: interface deleted, or moved to another network namespace: %w", op, d.name, unix.ENODEV)
	}
	return fmt.Errorf("tun: %s %s: %w", op, d.name, err)
}

// interfaceDeleted reports whether the socket's interface is gone from
// this network namespace (deleted, or moved to another). The
// kernel closes an interface it deletes before it unlists it, so this
// looks a few times over deletedWait before it answers no.
func (d *PacketSocket) interfaceDeleted() bool {
	for i := 0; ; i++ {
		if _, err := net.InterfaceByIndex(d.index); err != nil {
			return true
		}
		if i == 10 {
			return false
		}
		time.Sleep(deletedWait / 10)
	}
}

// deletedWait is how long interfaceDeleted watches an interface that went
// down for its deletion.
const deletedWait = 100 * time.Millisecond

// mmsgBatch is the message array of one recvmmsg or sendmmsg call: for
// message i a virtio_net_hdr (vnet[i]) and the frame (the caller's
// buffer), as two iovecs.
type mmsgBatch struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	vnet [][vnetHdrLen]byte

	count int   // messages prepared
	n     int   // messages moved by the last call
	err   error // its error
}

// recv is the RawConn.Read callback: one recvmmsg(2) for the prepared
// messages, waiting in the poller while nothing is queued.
func (b *mmsgBatch) recv(fd uintptr) bool {
	return b.call(fd, unix.SYS_RECVMMSG, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
}

// send is the RawConn.Write callback: one sendmmsg(2) for the prepared
// messages, waiting in the poller while the socket is full.
func (b *mmsgBatch) send(fd uintptr) bool {
	return b.call(fd, unix.SYS_SENDMMSG, unix.MSG_DONTWAIT)
}

// call makes one recvmmsg or sendmmsg over the prepared messages and keeps
// its count or its error; it returns false to wait in the poller.
func (b *mmsgBatch) call(fd, sysno uintptr, flags int) bool {
	r, res, e := sysRetry(func() (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(sysno, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(b.count), uintptr(flags), 0, 0)
		return r, e
	})
	switch res {
	case sysWait:
		return false
	case sysFailed:
		b.err = e
	default:
		b.n = int(r)
	}
	return true
}

// prepare points the messages at bufs. For sending, the virtio headers are
// zero: no offload asked of the kernel.
func (b *mmsgBatch) prepare(bufs [][]byte, send bool) {
	b.count, b.n, b.err = len(bufs), 0, nil
	if len(b.hdrs) < len(bufs) {
		b.hdrs = make([]unix.Mmsghdr, len(bufs))
		b.iovs = make([]unix.Iovec, 2*len(bufs))
		b.vnet = make([][vnetHdrLen]byte, len(bufs))
	}
	for i, buf := range bufs {
		if send {
			b.vnet[i] = [vnetHdrLen]byte{}
		}
		v := &b.iovs[2*i]
		v.Base = &b.vnet[i][0]
		v.SetLen(vnetHdrLen)
		p := &b.iovs[2*i+1]
		p.Base = nil
		if len(buf) > 0 {
			p.Base = &buf[0]
		}
		p.SetLen(len(buf))
		h := &b.hdrs[i]
		*h = unix.Mmsghdr{}
		h.Hdr.Iov = v
		h.Hdr.SetIovlen(2)
	}
}

// finish returns the full length of received frame i, stored in buf, and
// completes its transport checksum if the sender left that to hardware.
func (b *mmsgBatch) finish(i int, buf []byte) int {
	n := int(b.hdrs[i].Len) - vnetHdrLen
	if n < 0 {
		return 0
	}
	h := vnetHdr(b.vnet[i][:])
	if h.Flags()&vnetFlagNeedsCsum != 0 && n <= len(buf) {
		completeChecksum(buf[:n], int(h.CsumStart()), int(h.CsumOffset()))
	}
	return n
}
