package sockets

import (
	"net/netip"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// fullAddress converts ap to the netstack form for a socket of the given
// domain. An unspecified address (or the zero AddrPort) means "any" when
// any is true (Bind) and is kept literal otherwise (Connect, SendTo). IPv4
// addresses on an AF_INET6 socket become IPv4-mapped IPv6 addresses, as in
// Linux; IPv6 addresses on an AF_INET socket are EAFNOSUPPORT.
func fullAddress(domain int, ap netip.AddrPort, wildcard bool) (tcpip.FullAddress, error) {
	a := ap.Addr()
	fa := tcpip.FullAddress{Port: ap.Port()}
	if !a.IsValid() || (wildcard && a.IsUnspecified()) {
		return fa, nil
	}
	switch domain {
	case AF_INET:
		a = a.Unmap()
		if !a.Is4() {
			return fa, syscall.EAFNOSUPPORT
		}
		fa.Addr = tcpip.AddrFrom4(a.As4())
	default:
		if a.Is6() && a.Zone() != "" {
			return fa, syscall.EINVAL
		}
		fa.Addr = tcpip.AddrFrom16(a.As16())
	}
	return fa, nil
}

// addrPort converts a netstack address back. An empty address is the
// unspecified address of the socket's family; an IPv4 address on an
// AF_INET6 socket comes back IPv4-mapped.
func addrPort(domain int, fa tcpip.FullAddress) netip.AddrPort {
	var a netip.Addr
	switch fa.Addr.Len() {
	case 4:
		a = netip.AddrFrom4(fa.Addr.As4())
		if domain == AF_INET6 {
			// An IPv4 peer of a dual-stack socket: Linux reports
			// it IPv4-mapped.
			a = netip.AddrFrom16(a.As16())
		}
	case 16:
		a = netip.AddrFrom16(fa.Addr.As16())
	default:
		if domain == AF_INET {
			a = netip.IPv4Unspecified()
		} else {
			a = netip.IPv6Unspecified()
		}
	}
	return netip.AddrPortFrom(a, fa.Port)
}
