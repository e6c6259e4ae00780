//go:build !linux

package tun

import "syscall"

func isGoneErrno(e syscall.Errno) bool {
	switch e {
	case syscall.ENODEV, syscall.ENXIO, syscall.EBADF:
		return true
	}
	return false
}

func errnoName(syscall.Errno) string { return "" }
