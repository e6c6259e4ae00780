//go:build !linux

package app

import (
	"net/netip"

	"github.com/glassnet/glassnet/tun"
)

func addHostAddrs(name string, hosts []netip.Prefix) error { return tun.ErrNotSupported }
