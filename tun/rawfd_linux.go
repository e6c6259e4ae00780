package tun

import "golang.org/x/sys/unix"

// The devices' descriptors are non-blocking and run through Go's poller
// (syscall.RawConn): a Read or Write callback makes system calls until it
// is done, and returns false to wait in the poller when the kernel says
// EAGAIN. sysRetry is the one place that reads what a call came to.

// sysResult is what one system call on a non-blocking descriptor came to.
type sysResult uint8

const (
	sysDone   sysResult = iota // it succeeded
	sysWait                    // EAGAIN: nothing now; wait in the poller
	sysFailed                  // another error
)

// sysRetry makes the system call call, again while it is interrupted
// (EINTR), and returns its result, what it came to, and its errno when it
// failed.
func sysRetry(call func() (uintptr, unix.Errno)) (uintptr, sysResult, unix.Errno) {
	for {
		r, e := call()
		switch e {
		case 0:
			return r, sysDone, 0
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return r, sysWait, 0
		default:
			return r, sysFailed, e
		}
	}
}
