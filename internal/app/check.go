package app

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/glassnet/glassnet/ws"
)

// Defaults of the limits serve puts on its clients (ServeConfig).
const (
	// DefaultPort is the HTTP, WebSocket and UDP echo port.
	DefaultPort = 8080
	// DefaultIdleTimeout closes a connection on which nothing has
	// moved for this long: a WebSocket without a message either way,
	// a TCP echo or discard connection without a byte.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultMaxConns is how many TCP connections serve's services hold
	// at once (HTTP and WebSocket, echo, discard, together) before they
	// turn new ones away.
	DefaultMaxConns = 4096
)

// checkLimits refuses a limit or port whose value would silently mean
// something else than it says. cmd is "serve" or "lab", for the message.
func checkLimits(cmd string, port int, maxMessage int64, origins []string) error {
	if port < 0 || port > 65535 {
		return fmt.Errorf("%s: --port %d: want a port from 1 to 65535", cmd, port)
	}
	if port == EchoPort || port == DiscardPort {
		return fmt.Errorf("%s: --port %d: TCP port %d is the stack's %s service; pick another", cmd, port, port, map[int]string{EchoPort: "echo", DiscardPort: "discard"}[port])
	}
	if maxMessage < 0 {
		return fmt.Errorf("%s: --max-message %d: want a positive number of bytes (a WebSocket message larger than this is refused with close 1009)", cmd, maxMessage)
	}
	for _, p := range origins {
		if err := ws.CheckOriginPattern(p); err != nil {
			return fmt.Errorf("%s: --allow-origin: %w", cmd, err)
		}
	}
	return nil
}

// checkStackAddrs refuses an address the stack cannot own as a host: the
// unspecified address, a broadcast or multicast address, loopback. Each
// would make the stack answer to nobody, or to everybody, without a word.
func checkStackAddrs(cmd string, addrs []netip.Prefix) error {
	for i, p := range addrs {
		if !p.IsValid() {
			return fmt.Errorf("%s: --addr %v: not an address with a prefix length", cmd, p)
		}
		if why := notAHostAddr(p); why != "" {
			return fmt.Errorf("%s: --addr %v: %v is %s; the stack needs an address of its own, e.g. 10.200.0.2/24 or fd00:200::2/64", cmd, p, p.Addr(), why)
		}
		for _, q := range addrs[:i] {
			if q.Addr() == p.Addr() {
				return fmt.Errorf("%s: --addr %v: %v is given twice", cmd, p, p.Addr())
			}
		}
	}
	return nil
}

// notAHostAddr says why p's address cannot be a host's own, or "".
func notAHostAddr(p netip.Prefix) string {
	a := p.Addr().Unmap()
	switch {
	case a.IsUnspecified():
		return "the unspecified address (any address)"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the limited broadcast address"
	case a.IsMulticast():
		return "a multicast address"
	case a.IsLoopback():
		return "a loopback address, which never leaves a host"
	}
	if a.Is4() {
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		// In a /31 or /32 every address is a host's (RFC 3021).
		if bits >= 0 && bits <= 30 {
			b := a.As4()
			host := ^uint32(0) >> bits
			if v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]); v&host == host {
				return "the broadcast address of " + netip.PrefixFrom(a, bits).Masked().String()
			}
		}
	}
	return ""
}
