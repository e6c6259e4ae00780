package app

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/tun"
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
	// DefaultMaxMessageMemory bounds the memory of the WebSocket
	// messages being read on all of serve's connections together.
	DefaultMaxMessageMemory = 256 << 20
)

// ConfigError is a mistake in what the command line asked for (a flag's
// value, flags that exclude each other), as against a failure while
// running: glassnet exits 2 for it and 1 for the rest.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// configErr marks err, if any, as a ConfigError.
func configErr(err error) error {
	if err == nil {
		return nil
	}
	return &ConfigError{err}
}

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

// checkMessageMemory refuses a --max-message-memory that is negative, or
// smaller than the largest message (maxMessage, 0 for the ws default): no
// connection could then read a message that --max-message allows. 0 is
// the default.
func checkMessageMemory(cmd string, memory, maxMessage int64) error {
	if maxMessage == 0 {
		maxMessage = ws.DefaultMaxMessageSize
	}
	switch {
	case memory < 0:
		return fmt.Errorf("%s: --max-message-memory %d: want a positive number of bytes (the memory of the WebSocket messages being read on all connections together)", cmd, memory)
	case memory > 0 && memory < maxMessage:
		return fmt.Errorf("%s: --max-message-memory %d is less than --max-message %d: a message that --max-message allows could never be read whole", cmd, memory, maxMessage)
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
		// The prefix is the route into the interface: a short one would
		// send much of the address space (all of it at /0) there.
		if min := minPrefix(p.Addr()); p.Bits() < min {
			return fmt.Errorf("%s: --addr %v: a prefix shorter than /%d would route that much of the address space to the stack; use e.g. /24 (IPv4) or /64 (IPv6)", cmd, p, min)
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
		if a.As4()[0] == 0 {
			return "in 0.0.0.0/8, this host on this network (RFC 1122), never a destination"
		}
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		// In a /31 or /32 every address is a host's (RFC 3021).
		if bits >= 0 && bits <= 30 {
			b := a.As4()
			host := ^uint32(0) >> bits
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			if v&host == host {
				return "the broadcast address of " + netip.PrefixFrom(a, bits).Masked().String()
			}
			if v&host == 0 {
				return "the network address of " + netip.PrefixFrom(a, bits).Masked().String()
			}
		}
	}
	return ""
}

// minPrefix is the shortest prefix length an --addr may have.
func minPrefix(a netip.Addr) int {
	if a.Is4() {
		return 8
	}
	return 16
}

// checkHostAddrs refuses a kernel-side address (--host-addr) the kernel
// cannot use to reach the stack: not a host's address (as for --addr), or
// on no prefix that holds one of the stack's addresses.
func checkHostAddrs(hosts, stack []netip.Prefix) error {
	for i, h := range hosts {
		if !h.IsValid() {
			return fmt.Errorf("serve: --host-addr %v: not an address with a prefix length", h)
		}
		for _, q := range hosts[:i] {
			if q.Addr() == h.Addr() {
				return fmt.Errorf("serve: --host-addr %v: %v is given twice", h, h.Addr())
			}
		}
		if why := notAHostAddr(h); why != "" {
			return fmt.Errorf("serve: --host-addr %v: %v is %s; the kernel side needs an address on the stack's network, e.g. 10.200.0.1/24", h, h.Addr(), why)
		}
		if min := minPrefix(h.Addr()); h.Bits() < min {
			return fmt.Errorf("serve: --host-addr %v: a prefix shorter than /%d would route that much of the address space to the stack", h, min)
		}
		reaches := false
		for _, p := range stack {
			if h.Masked().Contains(p.Addr()) {
				reaches = true
			}
		}
		if !reaches {
			return fmt.Errorf("serve: --host-addr %v: no --addr lies in %v, so the kernel would have no route to the stack; give the kernel side an address on the stack's network", h, h.Masked())
		}
	}
	if len(hosts) == 0 {
		return nil // each --addr's first host address
	}
	// Given, they replace every default: an --addr on none of their
	// networks would be one the host cannot reach.
	for _, p := range stack {
		covered := false
		for _, h := range hosts {
			covered = covered || h.Masked().Contains(p.Addr())
		}
		if !covered {
			eg := ""
			if h := tun.HostAddrFor(p); h.IsValid() {
				eg = fmt.Sprintf(" (e.g. --host-addr %v)", h)
			}
			return fmt.Errorf("serve: --addr %v: no --host-addr lies on its network, so the kernel would have no route to it; give one there too%s, or leave --host-addr out for each --addr's first host address", p, eg)
		}
	}
	return nil
}

// checkDevice refuses a TUN name Linux would not take, an MTU the
// stack's addresses cannot use, and flags that apply to the other kind of
// device than the one named.
func checkDevice(cfg ServeConfig) error {
	if cfg.NIC != "" {
		switch {
		case cfg.MTU != 0:
			return fmt.Errorf("serve: --mtu applies to a TUN; %s keeps its own MTU (ip link set %s mtu N)", cfg.NIC, cfg.NIC)
		case len(cfg.HostAddrs) != 0 || cfg.NoHostConfig:
			return errors.New("serve: --host-addr and --no-host-config apply to a TUN; with --nic the kernel side is whatever is on the other end of the wire")
		case cfg.NoOffload:
			return errors.New("serve: --no-offload applies to a TUN; AF_PACKET on --nic moves packets without offloads")
		}
	} else if len(cfg.MAC) != 0 || cfg.Promiscuous {
		return errors.New("serve: --mac and --promisc apply to --nic, not to a TUN")
	}
	for _, n := range []struct{ flag, name string }{{"--tun", cfg.TUN}, {"--nic", cfg.NIC}} {
		if n.name == "" {
			continue
		}
		// Linux's dev_valid_name
		if len(n.name) > 15 || n.name == "." || n.name == ".." || strings.ContainsAny(n.name, "/: \t\n") {
			return fmt.Errorf("serve: %s %q: an interface name is 1 to 15 bytes, without '/', ':' or spaces", n.flag, n.name)
		}
	}
	if cfg.MTU == 0 {
		return nil
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return fmt.Errorf("serve: --mtu %d: want an MTU from 68 to 65535 (or leave it out for 1500)", cfg.MTU)
	}
	for _, p := range cfg.Addrs {
		if p.Addr().Is6() && !p.Addr().Is4In6() && cfg.MTU < 1280 {
			return fmt.Errorf("serve: --mtu %d: IPv6 (--addr %v) needs a link MTU of at least 1280 (RFC 8200)", cfg.MTU, p)
		}
	}
	return nil
}

// checkListenAddr refuses an ADDR for a listener on the host's stack
// (--kernel) that is not host:port with a port number: net.Listen would
// refuse it only once the stack runs, in its own words.
func checkListenAddr(cmd, flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = fmt.Errorf("port %q is not a number from 0 to 65535", port)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %s %s: want ADDR as host:port, e.g. 127.0.0.1:8081 (port 0: any free one): %v", cmd, flag, addr, err)
	}
	return nil
}

// UIListenError is err from listening for the browser view at --ui's
// address, with what to do when another program has the address.
func UIListenError(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("--ui: %w; another program listens there (a glassnet with --ui still running?): give --ui another ADDR, e.g. --ui 127.0.0.1:0 for any free port", err)
	}
	return fmt.Errorf("--ui: %w", err)
}

// flagWords are the command line's words for the settings a tun error
// names in Go's.
var flagWords = tun.Words{
	Name:         "--tun NAME",
	MTU:          "--mtu",
	LeaveMTU:     "leave --mtu out",
	NoHostConfig: "--no-host-config",
	OpenTUN:      "--tun",
}

// reworded is an error said in other words, which still wraps it.
type reworded struct {
	msg string
	err error
}

func (e *reworded) Error() string { return e.msg }
func (e *reworded) Unwrap() error { return e.err }

// commandWords returns err from opening a device in the command line's
// words: --tun NAME for Config.Name, and so on.
func commandWords(err error) error {
	var se *tun.SetupError
	if !errors.As(err, &se) {
		return err
	}
	return &reworded{strings.Replace(err.Error(), se.Error(), se.Say(flagWords), 1), err}
}
