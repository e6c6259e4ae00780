package sockets

import (
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// errno converts a netstack error into the errno a Linux system call would
// return in the same situation. It is the only place in the package where
// tcpip.Error values are translated; the table follows gVisor's own
// pkg/syserr mapping so that behavior matches what gVisor's sentry reports
// to applications.
//
// ErrClosedForReceive has no errno (recv(2) reports it as end of file); the
// receive path handles it before calling errno, and errno maps a stray one to
// EPIPE only so that it is never silently lost.
func errno(err tcpip.Error) error {
	switch err.(type) {
	case nil:
		return nil
	case *tcpip.ErrWouldBlock:
		return syscall.EAGAIN
	case *tcpip.ErrConnectStarted:
		return syscall.EINPROGRESS
	case *tcpip.ErrAlreadyConnecting:
		return syscall.EALREADY
	case *tcpip.ErrAlreadyConnected:
		return syscall.EISCONN
	case *tcpip.ErrNotConnected:
		return syscall.ENOTCONN
	case *tcpip.ErrConnectionRefused:
		return syscall.ECONNREFUSED
	case *tcpip.ErrConnectionReset:
		return syscall.ECONNRESET
	case *tcpip.ErrConnectionAborted:
		return syscall.ECONNABORTED
	case *tcpip.ErrTimeout:
		return syscall.ETIMEDOUT
	case *tcpip.ErrClosedForSend, *tcpip.ErrAborted, *tcpip.ErrClosedForReceive:
		return syscall.EPIPE
	case *tcpip.ErrPortInUse:
		return syscall.EADDRINUSE
	case *tcpip.ErrBadLocalAddress:
		return syscall.EADDRNOTAVAIL
	case *tcpip.ErrNoPortAvailable:
		return syscall.EAGAIN
	case *tcpip.ErrAlreadyBound, *tcpip.ErrInvalidEndpointState, *tcpip.ErrInvalidOptionValue,
		*tcpip.ErrUnknownProtocol, *tcpip.ErrMalformedHeader, *tcpip.ErrInvalidPortRange,
		*tcpip.ErrMulticastInputCannotBeOutput, *tcpip.ErrMissingRequiredFields:
		return syscall.EINVAL
	case *tcpip.ErrUnknownProtocolOption:
		return syscall.ENOPROTOOPT
	case *tcpip.ErrNotSupported:
		return syscall.EOPNOTSUPP
	case *tcpip.ErrAddressFamilyNotSupported:
		return syscall.EAFNOSUPPORT
	case *tcpip.ErrDestinationRequired:
		return syscall.EDESTADDRREQ
	case *tcpip.ErrNetworkUnreachable:
		return syscall.ENETUNREACH
	case *tcpip.ErrHostUnreachable:
		return syscall.EHOSTUNREACH
	case *tcpip.ErrHostDown:
		return syscall.EHOSTDOWN
	case *tcpip.ErrNoNet:
		return syscall.ENONET
	case *tcpip.ErrMessageTooLong:
		return syscall.EMSGSIZE
	case *tcpip.ErrNoBufferSpace:
		return syscall.ENOBUFS
	case *tcpip.ErrBroadcastDisabled:
		return syscall.EACCES
	case *tcpip.ErrNotPermitted:
		return syscall.EPERM
	case *tcpip.ErrBadBuffer, *tcpip.ErrBadAddress:
		return syscall.EFAULT
	case *tcpip.ErrQueueSizeNotSupported:
		return syscall.ENOTTY
	case *tcpip.ErrNoSuchFile:
		return syscall.ENOENT
	case *tcpip.ErrUnknownNICID, *tcpip.ErrUnknownDevice, *tcpip.ErrInvalidNICID:
		return syscall.ENODEV
	case *tcpip.ErrDuplicateAddress, *tcpip.ErrDuplicateNICID:
		return syscall.EEXIST
	case *tcpip.ErrEndpointBusy:
		return syscall.EBUSY
	default:
		return syscall.EINVAL
	}
}
