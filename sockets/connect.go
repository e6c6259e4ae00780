package sockets

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/trace"
)

// Connect connects fd to addr. For a stream socket it sends a SYN and, when
// blocking, sleeps until the handshake completes (nil), fails (ECONNREFUSED,
// ETIMEDOUT, ENETUNREACH...), ctx is done, or fd is closed. In nonblocking
// mode it returns EINPROGRESS at once; wait for POLLOUT and read SO_ERROR
// for the outcome. A second Connect while the first is in progress returns
// EALREADY, and one on a connected socket EISCONN. For a datagram socket it
// sets the default destination and the only source Recv accepts.
//
// A stream socket whose connect failed cannot connect again (ECONNABORTED):
// open a new one. Linux makes such a socket new again.
//
// A zero addr (netip.AddrPort{}) is connect(2) with AF_UNSPEC: a datagram
// socket forgets its destination and the port Connect gave it (a port Bind
// picked stays, where Linux lets that go too), and a stream socket that is
// neither connected nor listening is left as it is (0). On a connected or
// listening stream socket it gives EOPNOTSUPP, where Linux aborts the
// connection or stops listening: use SO_LINGER 0 and Close for the first.
// Connect on a listener gives EISCONN, as in Linux.
func (s *Sockets) Connect(ctx context.Context, fd int, addr netip.AddrPort) error {
	start := s.callStart()
	so, err := s.lookup(fd)
	if err == nil {
		err = s.connect(ctx, nil, so, addr)
	}
	if s.logCalls {
		s.logCall(start, so, "connect", itoa(fd)+", "+addr.String(), 0, "", err)
	}
	return err
}

func (s *Sockets) connect(ctx context.Context, cancel <-chan struct{}, so *socket, addr netip.AddrPort) error {
	if !addr.IsValid() {
		return s.disconnect(so)
	}
	if so.stream() && so.ep.SocketOptions().GetAcceptConn() {
		return syscall.EISCONN
	}
	fa, err := fullAddress(so.domain, addr, false)
	if err != nil {
		return err
	}
	if so.mappedOnV6Only(addr) {
		return syscall.ENETUNREACH
	}
	if !so.stream() {
		err := errno(so.ep.Connect(fa))
		if so.watch != nil {
			s.refreshConn(so)
		}
		return err
	}

	// Register before the first Connect: the handshake on loopback can
	// complete before Connect even returns.
	w := getWaker(writeMask)
	so.wq.EventRegister(&w.entry)
	defer func() {
		so.wq.EventUnregister(&w.entry)
		putWaker(w)
	}()

	if so.closed() {
		return syscall.EBADF
	}
	terr := so.ep.Connect(fa)
	if _, ok := terr.(*tcpip.ErrConnectStarted); !ok {
		return s.connected(so, addr, terr)
	}
	if s.tr.Enabled() {
		s.refreshConn(so)
		s.emit(so, s.connTo(so, addr), trace.Out, "connect", "SYN sent to "+addr.String()+", handshake in progress",
			(&trace.SocketConnect{FD: so.fd, Peer: addr.String()}).Fields()...)
	}
	if so.nonblock.Load() {
		return syscall.EINPROGRESS
	}
	for {
		select {
		case <-w.ch:
		case <-ctx.Done():
			return ctxErr(ctx, "connect")
		case <-cancel:
			return os.ErrDeadlineExceeded
		}
		if so.closed() {
			return syscall.EBADF
		}
		// Calling Connect again is how a netstack caller learns the
		// outcome: nil once connected, ErrAlreadyConnecting while the
		// handshake runs, or the error that ended it.
		terr = so.ep.Connect(fa)
		if _, ok := terr.(*tcpip.ErrAlreadyConnecting); !ok {
			return s.connected(so, addr, terr)
		}
	}
}

// connTo names the connection a connect is making: the endpoint has no
// peer address until it is connected, so the peer is the one asked for.
func (s *Sockets) connTo(so *socket, addr netip.AddrPort) string {
	c := s.connString(so)
	if c == "" || strings.Contains(c, "->") {
		return c
	}
	return c + "->" + addr.String()
}

// connected reports the outcome of a stream connect.
func (s *Sockets) connected(so *socket, addr netip.AddrPort, terr tcpip.Error) error {
	err := errno(terr)
	if s.tr.Enabled() {
		s.refreshConn(so)
		if err == nil {
			s.emit(so, "", trace.Out, "connect", "connected", (&trace.SocketConnect{FD: so.fd, Peer: addr.String()}).Fields()...)
		} else {
			s.emit(so, s.connTo(so, addr), trace.Out, "connect", "connect to "+addr.String()+" failed: "+err.Error(),
				(&trace.SocketConnect{FD: so.fd, Peer: addr.String(), Err: err.Error()}).Fields()...)
		}
	}
	return err
}

// disconnect is connect with AF_UNSPEC.
func (s *Sockets) disconnect(so *socket) error {
	if !so.stream() {
		err := errno(so.ep.Disconnect())
		if so.watch != nil {
			s.refreshConn(so)
		}
		return err
	}
	if so.ep.SocketOptions().GetAcceptConn() {
		return syscall.EOPNOTSUPP
	}
	if _, terr := so.ep.GetRemoteAddress(); terr == nil {
		return syscall.EOPNOTSUPP
	}
	return nil
}

// mappedOnV6Only reports an IPv4-mapped destination on a socket that takes
// no IPv4: Linux's connect and sendto say ENETUNREACH (tcp_v6_connect,
// ip6_datagram_connect, udpv6_sendmsg), netstack would find no route.
func (so *socket) mappedOnV6Only(addr netip.AddrPort) bool {
	return so.domain == AF_INET6 && addr.Addr().Is4In6() && so.ep.SocketOptions().GetV6Only()
}
