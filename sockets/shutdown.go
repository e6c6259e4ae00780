package sockets

import (
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/trace"
)

// Shutdown closes one or both directions of a connection without releasing
// the descriptor. SHUT_WR sends FIN after the queued data (later Sends fail
// with EPIPE; the peer reads end of stream); SHUT_RD makes Recv report end
// of stream. On a listener it stops accepting. An unconnected stream socket
// gives ENOTCONN.
func (s *Sockets) Shutdown(fd, how int) error {
	start := s.callStart()
	so, err := s.lookup(fd)
	if err == nil {
		err = s.shutdown(so, how)
	}
	if s.logCalls {
		s.logCall(start, so, "shutdown", itoa(fd)+", "+shutName(how), 0, "", err)
	}
	return err
}

// shutdownLogged is shutdown recorded as a call, for the adapters.
func (s *Sockets) shutdownLogged(so *socket, how int) error {
	start := s.callStart()
	err := s.shutdown(so, how)
	if s.logCalls {
		s.logCall(start, so, "shutdown", itoa(so.fd)+", "+shutName(how), 0, "", err)
	}
	return err
}

func (s *Sockets) shutdown(so *socket, how int) error {
	var flags tcpip.ShutdownFlags
	var name string
	switch how {
	case SHUT_RD:
		flags, name = tcpip.ShutdownRead, "SHUT_RD"
	case SHUT_WR:
		flags, name = tcpip.ShutdownWrite, "SHUT_WR"
	case SHUT_RDWR:
		flags, name = tcpip.ShutdownRead|tcpip.ShutdownWrite, "SHUT_RDWR"
	default:
		return syscall.EINVAL
	}
	err := errno(so.ep.Shutdown(flags))
	if s.tr.Enabled() {
		summary := name
		if how != SHUT_RD && so.stream() && err == nil {
			summary += ": FIN queued after the unsent data"
		}
		if err != nil {
			summary += ": " + err.Error()
		}
		s.emit(so, "", "", "shutdown", summary, (&trace.SocketShutdown{FD: so.fd, How: name}).Fields()...)
	}
	return err
}
