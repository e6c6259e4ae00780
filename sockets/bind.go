package sockets

import (
	"fmt"
	"net/netip"

	"github.com/glassnet/glassnet/trace"
)

// maxBacklog caps the listen backlog like net.core.somaxconn (gVisor's
// sentry uses the same limit).
const maxBacklog = 1024

// Bind assigns a local address to fd. An unspecified address binds to every
// local address; port 0 picks a free ephemeral port. A port already bound
// without SO_REUSEADDR on both sockets gives EADDRINUSE.
func (s *Sockets) Bind(fd int, addr netip.AddrPort) error {
	start := s.callStart()
	so, err := s.lookup(fd)
	if err == nil {
		err = s.bindSocket(so, addr)
	}
	if s.logCalls {
		s.logCall(start, so, "bind", itoa(fd)+", "+addr.String(), 0, "", err)
	}
	return err
}

func (s *Sockets) bindSocket(so *socket, addr netip.AddrPort) error {
	if err := s.bind(so, addr); err != nil {
		return err
	}
	if s.tr.Enabled() {
		s.refreshConn(so)
		s.emit(so, "", "", "bind", "bound to "+s.connString(so), (&trace.SocketFD{FD: so.fd}).Fields()...)
	}
	return nil
}

// Listen turns a stream socket into a listener whose accept queue holds
// backlog established connections. As in Linux, the queue actually admits
// backlog+1 (gVisor's sentry adds the same one), a negative backlog or one
// above 1024 is capped at 1024, and an unbound socket is bound to an
// ephemeral port first. Further SYNs are dropped while the queue is full;
// the client retransmits them.
func (s *Sockets) Listen(fd, backlog int) error {
	start := s.callStart()
	so, err := s.lookup(fd)
	if err == nil {
		err = s.listen(so, backlog)
	}
	if s.logCalls {
		s.logCall(start, so, "listen", itoa(fd)+", "+itoa(backlog), 0, "", err)
	}
	return err
}

func (s *Sockets) listen(so *socket, backlog int) error {
	if backlog < 0 || backlog > maxBacklog {
		backlog = maxBacklog
	}
	if err := errno(so.ep.Listen(backlog + 1)); err != nil {
		return err
	}
	so.mu.Lock()
	so.backlog = backlog
	so.mu.Unlock()
	if so.watch != nil {
		s.refreshConn(so)
		so.watch.listening.Store(true)
	}
	if s.tr.Enabled() {
		s.emit(so, "", "", "listen", fmt.Sprintf("listening, backlog %d", backlog),
			(&trace.SocketListen{FD: so.fd, Backlog: backlog}).Fields()...)
	}
	return nil
}

// GetSockName returns the local address of fd.
func (s *Sockets) GetSockName(fd int) (netip.AddrPort, error) {
	so, err := s.lookup(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	fa, terr := so.ep.GetLocalAddress()
	if terr != nil {
		return netip.AddrPort{}, errno(terr)
	}
	return addrPort(so.domain, fa), nil
}

// GetPeerName returns the address fd is connected to, or ENOTCONN.
func (s *Sockets) GetPeerName(fd int) (netip.AddrPort, error) {
	so, err := s.lookup(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return s.peer(so)
}

func (s *Sockets) peer(so *socket) (netip.AddrPort, error) {
	fa, terr := so.ep.GetRemoteAddress()
	if terr != nil {
		return netip.AddrPort{}, errno(terr)
	}
	return addrPort(so.domain, fa), nil
}

// local is GetSockName for a socket already looked up.
func (s *Sockets) local(so *socket) netip.AddrPort {
	fa, terr := so.ep.GetLocalAddress()
	if terr != nil {
		return netip.AddrPort{}
	}
	return addrPort(so.domain, fa)
}
