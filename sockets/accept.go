package sockets

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/trace"
)

// Accept takes the first established connection from the listener's accept
// queue and returns a new descriptor for it with the peer's address. When
// the queue is empty it sleeps until the listener's wait queue reports
// EventIn, ctx is done, or fd is closed; in nonblocking mode it returns
// EAGAIN instead. The new descriptor is blocking, as with accept(2).
func (s *Sockets) Accept(ctx context.Context, fd int) (int, netip.AddrPort, error) {
	start := s.callStart()
	so, err := s.lookup(fd)
	var (
		nso  *socket
		peer netip.AddrPort
	)
	if err == nil {
		nso, peer, err = s.accept(ctx, nil, so)
	}
	if s.logCalls {
		s.logAccept(start, so, fd, nso, peer, err)
	}
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	return nso.fd, peer, nil
}

// logAccept records an accept call: the peer is an argument the call fills
// in, so it shows only on success.
func (s *Sockets) logAccept(start tcpip.MonotonicTime, so *socket, fd int, nso *socket, peer netip.AddrPort, err error) {
	if err != nil {
		s.logCall(start, so, "accept", itoa(fd), -1, "", err)
		return
	}
	s.logCall(start, nso, "accept", itoa(fd)+", "+peer.String(), nso.fd, "", nil)
}

func (s *Sockets) accept(ctx context.Context, dl *deadline, so *socket) (*socket, netip.AddrPort, error) {
	if !so.stream() {
		return nil, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	var (
		nep   tcpip.Endpoint
		nwq   *waiter.Queue
		pfa   tcpip.FullAddress
		tries int
	)
	var (
		cv      *CallVerdict
		verdict CallVerdict
	)
	if s.hooks.Load() != nil {
		hooked, err := s.hookAccept(ctx, dl.hold(), so, &verdict)
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		if hooked {
			cv = &verdict
		}
	}
	terr, err := s.block(ctx, dl, so, "accept", readMask, so.nonblock.Load(), cv, func() tcpip.Error {
		tries++
		var terr tcpip.Error
		nep, nwq, terr = so.ep.Accept(&pfa)
		return terr
	})
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if terr != nil {
		if s.tr.Enabled() {
			s.emit(so, "", trace.In, "accept", "accept: "+errno(terr).Error(), (&trace.SocketAccept{FD: so.fd, Err: errno(terr).Error()}).Fields()...)
		}
		return nil, netip.AddrPort{}, errno(terr)
	}
	nso := s.newAccepted(so, nep, nwq)
	peer := addrPort(so.domain, pfa)
	if s.tr.Enabled() {
		depth := so.accepted()
		how := "accept queue had a connection"
		if tries > 2 {
			how = "connection accepted after wake-up"
		}
		s.emit(nso, "", trace.In, "accept", fmt.Sprintf("%s, new fd %d, %d left in the queue", how, nso.fd, depth),
			(&trace.SocketAccept{FD: so.fd, NewFD: trace.Some(nso.fd), Peer: peer.String(), Waited: trace.Some(tries > 2), Depth: trace.Some(depth)}).Fields()...)
	}
	return nso, peer, nil
}
