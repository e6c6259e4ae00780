package app

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// addHostAddrs gives the kernel side of interface name more addresses,
// beyond the one tun.Open configured.
func addHostAddrs(name string, hosts []netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("serve: look up %s: %w", name, err)
	}
	for _, h := range hosts {
		if err := netlink.AddrReplace(link, netlinkAddr(h)); err != nil {
			return fmt.Errorf("serve: add address %v to %s: %w", h, name, err)
		}
	}
	return nil
}

// netlinkAddr converts p, without duplicate address detection for IPv6:
// the link leads to our own stack, so the address is usable at once.
func netlinkAddr(p netip.Prefix) *netlink.Addr {
	a := p.Addr().Unmap()
	bits := p.Bits()
	if p.Addr().Is4In6() {
		bits -= 96
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}}
	if a.Is6() {
		addr.Flags = unix.IFA_F_NODAD
	}
	return addr
}
