package tun

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linkWatch follows a TUN's interface through the kernel's link
// notifications (rtnetlink, group RTMGRP_LINK) in the network namespace
// it was opened in, and calls gone once when the interface leaves it.
//
// A TUN's descriptor does not always say so itself: when the interface is
// deleted the kernel detaches the descriptor (reads fail with EBADFD), but
// when it is moved to another namespace (ip link set NAME netns OTHER) the
// descriptor stays attached and valid, reads wait for packets that no
// longer come, and writes fail with EIO (the kernel set the interface
// down to move it) until someone brings it up over there, and then go
// there. Either way the kernel announces RTM_DELLINK in the namespace the
// interface left, with IFLA_NEW_NETNSID when it moved.
//
// The socket waits in the Go runtime's poller: no polling, and Close
// ends the watch.
type linkWatch struct {
	index int32
	f     *os.File
	rc    syscall.RawConn
	gone  func(why string)

	closed atomic.Bool // set by close before it closes f
	done   chan struct{}
}

// What linkWatch reports to gone.
const (
	whyMoved   = "interface moved to another network namespace"
	whyDeleted = "interface deleted"
	// After the socket overflowed, an RTM_GETLINK answered ENODEV:
	// which of the two it was is lost.
	whyVanished = "interface deleted or moved to another network namespace"
)

// watchSeq is the sequence number of watchLink's RTM_GETLINK requests.
const watchSeq = 1

// Offsets in the messages linkWatch reads and writes: a netlink header
// (struct nlmsghdr, linux/netlink.h) and behind it a struct ifinfomsg
// (linux/rtnetlink.h), or for NLMSG_ERROR a struct nlmsgerr, whose first
// field is the negated errno, 0 for success.
const (
	nlmsgLenOff   = 0
	nlmsgTypeOff  = 4
	nlmsgFlagsOff = 6
	nlmsgSeqOff   = 8

	ifinfoFamilyOff = 0
	ifinfoIndexOff  = 4

	nlmsgerrErrorOff = 0
)

// watchLink starts watching the interface name, which must exist in the
// calling thread's network namespace.
func watchLink(name string, gone func(why string)) (*linkWatch, error) {
	w, err := newLinkWatch(name, gone)
	if err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// newLinkWatch is watchLink without starting run: the kernel queues what
// it announces meanwhile.
func newLinkWatch(name string, gone func(why string)) (*linkWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("tun: watch %s: %w", name, os.NewSyscallError("socket(AF_NETLINK)", err))
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: watch %s: %w", name, os.NewSyscallError("bind(RTMGRP_LINK)", err))
	}
	f := os.NewFile(uintptr(fd), "rtnetlink:"+name)
	rc, err := f.SyscallConn()
	var ifc *net.Interface
	if err == nil {
		// Subscribed first, looked up second: a change in between is
		// not missed.
		ifc, err = net.InterfaceByName(name)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tun: watch %s: %w", name, err)
	}
	return &linkWatch{index: int32(ifc.Index), f: f, rc: rc, gone: gone, done: make(chan struct{})}, nil
}

// close ends the watch and waits for it.
func (w *linkWatch) close() {
	w.closed.Store(true)
	w.f.Close()
	<-w.done
}

// run reads notifications until the interface is gone or the watch is
// closed.
//
// When the socket's buffer overflowed the kernel dropped notifications,
// and says so once (ENOBUFS). It then drops everything for the socket,
// answers included, until a read finds the buffer empty: run reads what
// is queued and then asks whether the interface is still there.
func (w *linkWatch) run() {
	defer close(w.done)
	var (
		buf  = make([]byte, 64<<10)
		n    int
		rerr error
		ask  bool // the socket overflowed: ask once it is drained
	)
	read := func(fd uintptr) bool {
		r, res, e := sysRetry(func() (uintptr, unix.Errno) {
			r, _, e := unix.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			return r, e
		})
		switch {
		case res == sysWait && ask:
			ask = false
			if _, err := unix.Write(int(fd), w.getLink()); err != nil {
				n, rerr = 0, os.NewSyscallError("write(RTM_GETLINK)", err)
				return true
			}
			return false
		case res == sysWait:
			return false
		case res == sysFailed:
			n, rerr = 0, e
		default:
			n, rerr = int(r), nil
		}
		return true
	}
	for {
		err := w.rc.Read(read)
		if w.closed.Load() {
			return // the poller's "use of closed file", not os.ErrClosed
		}
		if err == nil {
			err = rerr
		}
		var why string
		switch {
		case err == unix.ENOBUFS:
			ask = true
		case err != nil:
			// Never seen. Without the watch a move would go
			// unnoticed: better stop loudly.
			why = "lost track of the interface: " + err.Error()
		default:
			why = w.scan(buf[:n])
		}
		if why != "" {
			w.gone(why)
			return
		}
	}
}

// scan returns why the interface is gone if one of the messages in b
// says it is, else "".
func (w *linkWatch) scan(b []byte) string {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return ""
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.RTM_DELLINK:
			if len(m.Data) < unix.SizeofIfInfomsg || int32(binary.NativeEndian.Uint32(m.Data[ifinfoIndexOff:])) != w.index {
				continue
			}
			attrs, _ := syscall.ParseNetlinkRouteAttr(&m)
			for _, a := range attrs {
				if a.Attr.Type == unix.IFLA_NEW_NETNSID {
					return whyMoved
				}
			}
			return whyDeleted
		case unix.NLMSG_ERROR:
			// The kernel's answer to getLink when the interface is
			// not there; when it is, the answer is an RTM_NEWLINK.
			if m.Header.Seq == watchSeq && len(m.Data) >= nlmsgerrErrorOff+4 && int32(binary.NativeEndian.Uint32(m.Data[nlmsgerrErrorOff:])) == -int32(unix.ENODEV) {
				return whyVanished
			}
		}
	}
	return ""
}

// getLink returns an RTM_GETLINK request for the interface, which the
// kernel answers with RTM_NEWLINK, or with an error (ENODEV) when it is
// not in the namespace.
func (w *linkWatch) getLink() []byte {
	b := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[nlmsgLenOff:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[nlmsgTypeOff:], unix.RTM_GETLINK)
	binary.NativeEndian.PutUint16(b[nlmsgFlagsOff:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(b[nlmsgSeqOff:], watchSeq)
	ifi := b[unix.NLMSG_HDRLEN:]
	ifi[ifinfoFamilyOff] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(ifi[ifinfoIndexOff:], uint32(w.index))
	return b
}
