package tun

import (
	"errors"
	"syscall"
)

// IsGone reports whether err, from a device's Read or Write, says that the
// device is gone for good rather than failing for a while: its interface
// was deleted (ENODEV, ENXIO, and EBADFD from a TUN whose interface was
// deleted under it), or its file descriptor was closed by someone else
// (EBADF). ErrClosed, after the device's own Close, is not "gone": the
// owner knows.
func IsGone(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return isGoneErrno(errno)
}

// ErrorReason names a device error for counters: the errno's name
// ("EBADFD") for a system error, else the error's text.
func ErrorReason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := errnoName(errno); name != "" {
			return name
		}
	}
	return err.Error()
}
