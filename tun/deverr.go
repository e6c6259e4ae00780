package tun

import (
	"errors"
	"strings"
	"syscall"
)

// IsGone reports whether err, from a device's Read or Write, says that the
// device is gone for good rather than failing for a while: its interface
// was deleted (ENODEV, ENXIO, and EBADFD from a TUN whose interface was
// deleted under it) or moved to another network namespace (ENODEV from a
// TUN, whose descriptor itself goes on as if nothing happened), or its
// file descriptor was closed by someone else (EBADF). A TUN whose interface is deleted also reports EPOLLERR, which
// Go's poller returns before the read as an error whose text ends in "not
// pollable" (internal/poll.ErrNotPollable, not exported); that is gone
// too. ErrClosed, after the device's own Close, is not "gone": the owner
// knows.
func IsGone(err error) bool {
	if err == nil {
		return false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return isGoneErrno(errno)
	}
	return notPollable(err)
}

func notPollable(err error) bool { return strings.HasSuffix(err.Error(), "not pollable") }

// ErrorReason names a device error for counters: the errno's name
// ("EBADFD") for a system error, "EPOLLERR" for the poller's error (see
// IsGone), else the error's text.
func ErrorReason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := errnoName(errno); name != "" {
			return name
		}
	}
	if notPollable(err) {
		return "EPOLLERR"
	}
	return err.Error()
}
