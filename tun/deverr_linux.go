package tun

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func isGoneErrno(e syscall.Errno) bool {
	switch e {
	case unix.ENODEV, unix.ENXIO, unix.EBADFD, unix.EBADF:
		return true
	}
	return false
}

func errnoName(e syscall.Errno) string { return unix.ErrnoName(e) }
