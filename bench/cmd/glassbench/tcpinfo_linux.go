package main

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// senderTCPInfo reads TCP_INFO from c when it is a kernel TCP socket.
func senderTCPInfo(c net.Conn) senderInfo {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return senderInfo{}
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return senderInfo{}
	}
	var ti *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) { ti, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || gerr != nil {
		return senderInfo{}
	}
	if ti.Rtt == 0 {
		return senderInfo{}
	}
	s := senderInfo{OK: true, MinRTT: time.Duration(ti.Min_rtt) * time.Microsecond, SRTT: time.Duration(ti.Rtt) * time.Microsecond}
	if ti.Busy_time > 0 {
		s.RwndLimited = float64(ti.Rwnd_limited) / float64(ti.Busy_time)
	}
	return s
}
