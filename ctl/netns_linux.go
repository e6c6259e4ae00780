package ctl

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ownNetns names the network namespace this process runs in, as
// /proc/self/ns/net reads ("net:[4026531840]"), or "" when it cannot be
// read.
func ownNetns() string {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return ""
	}
	return ns
}

// peerNetns names the network namespace of the process that serves the
// control socket at path: its PID from the connection's SO_PEERCRED, its
// namespace from /proc. The connection asks nothing, which the server
// takes as such.
func peerNetns(path string) (string, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	rc, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return "", err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return "", err
	}
	if cerr != nil {
		return "", cerr
	}
	return os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cred.Pid))
}
