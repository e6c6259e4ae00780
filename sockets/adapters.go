package sockets

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// Listener returns a net.Listener on this stack, like net.Listen. network
// is "tcp", "tcp4" or "tcp6"; address is host:port with a literal IP,
// "localhost" or an empty host (every address: dual-stack [::] for "tcp"
// when the stack has IPv6). There is no name resolution. The socket has
// SO_REUSEADDR set, as Go's own listeners do, and a backlog of 1024.
//
// (It is not called Listen because Listen(fd, backlog) is the system call.)
func (s *Sockets) Listener(network, address string) (*Listener, error) {
	domain, ap, err := resolve(network, address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if domain == 0 || (network == "tcp" && ap.Addr().IsUnspecified()) {
		domain = s.dualStackDomain()
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	so, err := s.newSocketLogged(domain, SOCK_STREAM)
	if err != nil {
		return nil, opErr(err)
	}
	start := s.callStart()
	so.ep.SocketOptions().SetReuseAddress(true)
	if s.logCalls {
		s.logCall(start, so, "setsockopt", itoa(so.fd)+", "+optName(SOL_SOCKET, SO_REUSEADDR)+", 1", 0, "", nil)
	}
	if err := s.bindLogged(so, ap); err != nil {
		s.closeLogged(so)
		return nil, opErr(err)
	}
	start = s.callStart()
	err = s.listen(so, maxBacklog)
	if s.logCalls {
		s.logCall(start, so, "listen", itoa(so.fd)+", "+itoa(maxBacklog), 0, "", err)
	}
	if err != nil {
		s.closeLogged(so)
		return nil, opErr(err)
	}
	return &Listener{s: s, so: so, network: network, addr: netAddr(so, s.local(so))}, nil
}

// ListenPacket returns a datagram socket bound to address, like
// net.ListenPacket. network is "udp", "udp4" or "udp6".
func (s *Sockets) ListenPacket(network, address string) (*PacketConn, error) {
	domain, ap, err := resolve(network, address, true)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if domain == 0 || (network == "udp" && ap.Addr().IsUnspecified()) {
		domain = s.dualStackDomain()
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(ap), Err: err}
	}
	if network != "udp" && network != "udp4" && network != "udp6" {
		return nil, opErr(net.UnknownNetworkError(network))
	}
	so, err := s.newSocketLogged(domain, SOCK_DGRAM)
	if err != nil {
		return nil, opErr(err)
	}
	if err := s.bindLogged(so, ap); err != nil {
		s.closeLogged(so)
		return nil, opErr(err)
	}
	return s.newPacketConn(so, network), nil
}

// Dial connects to address on this stack, like net.Dialer.DialContext:
// network is "tcp", "tcp4", "tcp6", "udp", "udp4" or "udp6", and address
// is host:port with a literal IP or "localhost" (an empty host means the
// loopback address). When ctx's deadline passes first the error has
// Timeout() true and matches context.DeadlineExceeded with errors.Is; the
// errno of a failed connect is inside the *net.OpError, so that
// errors.Is(err, syscall.ECONNREFUSED) holds. The net.Conn is a *Conn for
// TCP and a *PacketConn for UDP: assert it to reach their own methods (FD,
// NotifyReadable, StreamOffsets, ...).
func (s *Sockets) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	domain, ap, err := resolve(network, address, false)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var typ int
	var raddr net.Addr
	switch network {
	case "tcp", "tcp4", "tcp6":
		typ, raddr = SOCK_STREAM, net.TCPAddrFromAddrPort(ap)
	case "udp", "udp4", "udp6":
		typ, raddr = SOCK_DGRAM, net.UDPAddrFromAddrPort(ap)
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errTimeout
		}
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	so, err := s.newSocketLogged(domain, typ)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	start := s.callStart()
	err = s.connect(ctx, nil, so, ap)
	if s.logCalls {
		s.logCall(start, so, "connect", itoa(so.fd)+", "+ap.String(), 0, "", err)
	}
	if err != nil {
		s.closeLogged(so)
		if errors.Is(err, context.DeadlineExceeded) {
			err = errTimeout
		}
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if typ == SOCK_DGRAM {
		return s.newPacketConn(so, network), nil
	}
	return s.newConn(so, network), nil
}

// DialContext is Dial under the name http.Transport and net.Dialer use, so
// that it can be assigned to http.Transport.DialContext.
func (s *Sockets) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return s.Dial(ctx, network, address)
}

// newSocketLogged is newSocket recorded as a socket call, for the adapters.
func (s *Sockets) newSocketLogged(domain, typ int) (*socket, error) {
	start := s.callStart()
	so, err := s.newSocket(domain, typ)
	if s.logCalls {
		fd := -1
		if err == nil {
			fd = so.fd
		}
		s.logCall(start, so, "socket", domainName(domain)+", "+typeName(typ), fd, "", err)
	}
	return so, err
}

// bindLogged is bind recorded as a call, for the adapters.
func (s *Sockets) bindLogged(so *socket, ap netip.AddrPort) error {
	start := s.callStart()
	err := s.bind(so, ap)
	if s.logCalls {
		s.logCall(start, so, "bind", itoa(so.fd)+", "+ap.String(), 0, "", err)
	}
	return err
}

func (s *Sockets) bind(so *socket, ap netip.AddrPort) error {
	fa, err := fullAddress(so.domain, ap, true)
	if err != nil {
		return err
	}
	if ap.Addr().Is4In6() && so.domain == AF_INET6 && so.ep.SocketOptions().GetV6Only() {
		// An IPv4 address on a socket that takes no IPv4: EINVAL in
		// Linux's inet6_bind.
		return syscall.EINVAL
	}
	return errno(so.ep.Bind(fa))
}

// dualStackDomain is AF_INET6 (which also takes IPv4) when the stack has
// IPv6, else AF_INET.
func (s *Sockets) dualStackDomain() int {
	if s.stack.NetworkProtocolInstance(ipv6.ProtocolNumber) != nil {
		return AF_INET6
	}
	return AF_INET
}

// resolve splits a host:port address without any name lookup. domain is 0
// when the caller should pick (empty host with network "tcp" or "udp").
func resolve(network, address string, listen bool) (int, netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, lerr := net.LookupPort(network, portStr)
		if lerr != nil {
			return 0, netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: address}
		}
		port = uint64(p)
	}
	want6 := len(network) > 0 && network[len(network)-1] == '6'
	want4 := len(network) > 0 && network[len(network)-1] == '4'

	var a netip.Addr
	switch host {
	case "":
		switch {
		case listen && want6:
			a = netip.IPv6Unspecified()
		case listen:
			a = netip.IPv4Unspecified()
		case want6:
			a = netip.IPv6Loopback()
		default:
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	case "localhost":
		if want6 {
			a = netip.IPv6Loopback()
		} else {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	default:
		a, err = netip.ParseAddr(host)
		if err != nil {
			return 0, netip.AddrPort{}, &net.AddrError{Err: "not a literal IP address (no name resolution on this stack)", Addr: host}
		}
	}
	ap := netip.AddrPortFrom(a, uint16(port))
	switch {
	case want4:
		if !a.Unmap().Is4() {
			return 0, ap, &net.AddrError{Err: "not an IPv4 address", Addr: host}
		}
		return AF_INET, netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	case want6:
		if a.Is4() {
			return 0, ap, &net.AddrError{Err: "not an IPv6 address", Addr: host}
		}
		return AF_INET6, ap, nil
	case host == "" && listen:
		return 0, ap, nil
	case a.Unmap().Is4():
		return AF_INET, netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	default:
		return AF_INET6, ap, nil
	}
}

// errTimeout is the dial error when the context's deadline passes: like the
// net package's, it is a timeout and matches context.DeadlineExceeded.
var errTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded
}
