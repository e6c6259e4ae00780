package tun

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const tunPath = "/dev/net/tun"

// configureHost sets up the kernel side of the interface through netlink:
// MTU, transmit queue length, host address, link up, extra routes. Every step replaces what is
// there, so attaching to an interface configured earlier is not an error.
func configureHost(name string, cfg Config) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return hostError(name, "look up link", err)
	}
	if err := netlink.LinkSetMTU(link, cfg.MTU); err != nil {
		return hostError(name, fmt.Sprintf("set MTU %d", cfg.MTU), err)
	}
	if err := netlink.LinkSetTxQLen(link, cfg.TxQueueLen); err != nil {
		return hostError(name, fmt.Sprintf("set txqueuelen %d", cfg.TxQueueLen), err)
	}
	if cfg.HostAddr.IsValid() {
		addr := &netlink.Addr{IPNet: ipNet(cfg.HostAddr)}
		if cfg.HostAddr.Addr().Is6() {
			// The link is point-to-point to our own stack: skip
			// duplicate address detection so the address is usable at
			// once instead of after a second of tentative state.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrReplace(link, addr); err != nil {
			return hostError(name, fmt.Sprintf("add address %v", cfg.HostAddr), err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return hostError(name, "set link up", err)
	}
	if cfg.HostAddr.IsValid() && cfg.HostAddr.Addr().Is6() {
		waitLocal(cfg.HostAddr.Addr())
	}
	for _, r := range cfg.Routes {
		route := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       ipNet(r.Masked()),
			Scope:     netlink.SCOPE_LINK,
		}
		if err := netlink.RouteReplace(route); err != nil {
			return hostError(name, fmt.Sprintf("add route %v", r), err)
		}
	}
	return nil
}

// localWait bounds how long waitLocal waits.
const localWait = 2 * time.Second

// waitLocal waits until the kernel delivers packets to its own IPv6
// address a. The kernel sends from an address as soon as it has it, but
// installs the route that delivers packets to it ("local" table) from a
// work queue once the link is up, DAD skipped or not: until then a reply
// to a is dropped (Ip6InAddrErrors). It gives up after localWait and
// leaves the rest to the kernel.
func waitLocal(a netip.Addr) {
	deadline := time.Now().Add(localWait)
	for {
		routes, err := netlink.RouteGet(a.AsSlice())
		if err != nil || time.Now().After(deadline) {
			return
		}
		for _, r := range routes {
			if r.Type == unix.RTN_LOCAL {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// linkMTU returns the MTU the interface has in the kernel. A nonzero want
// must match it, since with NoHostConfig nothing will change it.
func linkMTU(name string, want int) (int, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return 0, hostError(name, "look up link", err)
	}
	have := link.Attrs().MTU
	if want != 0 && want != have {
		return 0, setupError(nil, func(w Words) string {
			return fmt.Sprintf("tun: %s has MTU %d but %s is %d; with %s set the MTU on the host (ip link set %s mtu %d) or %s",
				name, have, w.MTU, want, w.NoHostConfig, name, want, w.LeaveMTU)
		})
	}
	return have, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().Unmap()
	return &net.IPNet{
		IP:   a.AsSlice(),
		Mask: net.CIDRMask(p.Bits()-(p.Addr().BitLen()-a.BitLen()), a.BitLen()),
	}
}

func hostError(name, what string, err error) error {
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		return fmt.Errorf("tun: configure %s: %s: %w", name, what, err)
	}
	return setupError(err, func(w Words) string {
		return fmt.Sprintf("tun: configure %s: %s: %v (needs CAP_NET_ADMIN; run as root, or configure the interface beforehand and set %s)", name, what, err, w.NoHostConfig)
	})
}

// openError explains a failure to open /dev/net/tun or to create or attach
// to the interface. op is the failed step, or empty to derive it from err.
func openError(name, op string, err error) error {
	var serr *os.SyscallError
	if op == "" {
		op = "open " + tunPath
		if errors.As(err, &serr) && serr.Syscall == "ioctl" {
			op = "create or attach " + name + " (TUNSETIFF)"
		}
	}
	var hint func(Words) string
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		hint = said("no TUN driver: load it (modprobe tun), or in a container pass the device (--device /dev/net/tun)")
	case errors.Is(err, unix.EACCES):
		hint = said("needs read and write access to " + tunPath + "; run as root")
	case errors.Is(err, unix.EPERM):
		hint = func(w Words) string {
			return "needs CAP_NET_ADMIN; run as root, or attach to a persistent interface you own (ip tuntap add " + name + " mode tun user $USER) with " + w.NoHostConfig
		}
	case errors.Is(err, unix.EBUSY):
		hint = func(w Words) string { return "another process holds " + name + " open; pick another " + w.Name }
	case errors.Is(err, unix.EINVAL):
		hint = func(w Words) string {
			return name + " exists with other flags (a TAP or multi-queue interface?); pick another " + w.Name
		}
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		err = errno // drop the "ioctl:" wrapper; op says what failed
	}
	if hint == nil {
		return fmt.Errorf("tun: %s: %w", op, err)
	}
	return setupError(err, func(w Words) string { return fmt.Sprintf("tun: %s: %v (%s)", op, err, hint(w)) })
}

// said is advice that names no setting.
func said(s string) func(Words) string { return func(Words) string { return s } }
