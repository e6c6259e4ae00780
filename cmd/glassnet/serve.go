package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
	"github.com/glassnet/glassnet/ws"
)

// prefixList is a flag that may be repeated and takes comma-separated
// prefixes: --addr 10.200.0.2/24,fd00:200::2/64.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	var s []string
	for _, p := range *l {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func (l *prefixList) Set(v string) error {
	if strings.Trim(v, ", \t") == "" {
		// --addr "$ADDR" with ADDR unset: no address is not the
		// default, which the flag's absence gives.
		return fmt.Errorf("no CIDR in it (want an address with a prefix length, e.g. 10.200.0.2/24 or fd00:200::2/64, or leave the flag out)")
	}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return fmt.Errorf("%w (want an address with a prefix length, e.g. 10.200.0.2/24 or fd00:200::2/64)", err)
		}
		if p.Addr().Is4In6() {
			// ::ffff:10.200.0.2/120 is IPv4's 10.200.0.2/24, and is
			// served, routed and said as that.
			if p.Bits() < 96 {
				return fmt.Errorf("%v: an IPv4-mapped address with a prefix shorter than /96 reaches beyond IPv4; write the IPv4 address, e.g. %v/24", p, p.Addr().Unmap())
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		*l = append(*l, p)
	}
	return nil
}

// ruleList is a repeatable flag holding hook rules.
type ruleList []string

func (l *ruleList) String() string { return strings.Join(*l, "; ") }

func (l *ruleList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// originList is a repeatable flag holding origin patterns.
type originList []string

func (l *originList) String() string { return strings.Join(*l, ",") }

func (l *originList) Set(v string) error {
	if err := ws.CheckOriginPattern(v); err != nil {
		return err
	}
	if err := checkOriginForm(v); err != nil {
		return err
	}
	*l = append(*l, v)
	return nil
}

// checkOriginForm refuses a pattern that no browser's Origin header could
// match, which would turn every page it names away with 403 without a
// word: an origin is scheme://host[:port] (RFC 6454), so a URL copied
// from the address bar with its path or trailing slash, or a user@, never
// matches, nor a scheme's own port, which browsers leave out
// (https://app.example.com, not https://app.example.com:443). A ? is
// path.Match's one character, not a query.
func checkOriginForm(p string) error {
	scheme, host, ok := strings.Cut(p, "://")
	if !ok {
		scheme, host = "", p
	}
	want := host
	if i := strings.IndexAny(want, "/#"); i >= 0 {
		want = want[:i]
	}
	if i := strings.LastIndex(want, "@"); i >= 0 {
		want = want[i+1:]
	}
	if scheme == "http" {
		want = strings.TrimSuffix(want, ":80")
	} else if scheme == "https" {
		want = strings.TrimSuffix(want, ":443")
	}
	if want == host {
		return nil
	}
	if ok {
		want = scheme + "://" + want
	}
	if want == "" || strings.HasSuffix(want, "://") {
		return fmt.Errorf("%q: an origin is scheme://host[:port], and this has no host", p)
	}
	return fmt.Errorf("%q: a browser's Origin is scheme://host[:port], without a path or user, and without the scheme's own port; write %q", p, want)
}

// addLimitFlags defines --allow-origin on fs.
func addLimitFlags(fs *flag.FlagSet, origins *[]string) {
	fs.Var((*originList)(origins), "allow-origin", "also accept WebSocket upgrades from web pages whose origin host matches `PATTERN` (path.Match globs, e.g. 'localhost:*', '*.example.com', 'https://app.example.com'; repeatable); the stack's own page is always allowed, other origins get 403")
}

// checkLimitFlags refuses a --port or --max-message that would silently
// mean something else: 0 would not pick a free port but serve 8080, and a
// negative message size would turn the limit off.
func checkLimitFlags(cmd string, port int, maxMessage int64) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("%s: --port %d: want a port from 1 to 65535", cmd, port)
	}
	if maxMessage <= 0 {
		return fmt.Errorf("%s: --max-message %d: want a positive number of bytes (a WebSocket message larger than this is refused with close 1009)", cmd, maxMessage)
	}
	return nil
}

// sameListenAddr reports whether listeners at host:port a and b would
// take the same port on some address: the same port (not 0, any free
// one) on the same host, or on all of them.
func sameListenAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	all := func(h string) bool {
		ip, err := netip.ParseAddr(h)
		return h == "" || err == nil && ip.IsUnspecified()
	}
	return ha == hb || all(ha) || all(hb)
}

// minIdleTimeout is the shortest --idle-timeout: a WebSocket is pinged
// every third of it and must answer within that third.
const minIdleTimeout = time.Second

const ruleHelp = "`RULE` for packets %s the stack, repeatable, run in order: [FILTER :] ACTION, e.g. 'loss 20%%', 'delay 50ms jitter 10ms', 'tcp and port 8080 and syn : drop', 'rst after 10 packets'"

// addRuleFlags defines --egress and --ingress on fs.
func addRuleFlags(fs *flag.FlagSet, r *app.Rules) {
	fs.Var((*ruleList)(&r.Egress), "egress", fmt.Sprintf(ruleHelp, "leaving"))
	fs.Var((*ruleList)(&r.Ingress), "ingress", fmt.Sprintf(ruleHelp, "entering"))
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var cfg app.ServeConfig
	var addrs, hostAddrs prefixList
	fs.StringVar(&cfg.TUN, "tun", "", "TUN interface `NAME` to create or attach to")
	fs.StringVar(&cfg.NIC, "nic", "", "Ethernet `IFACE` to attach to through AF_PACKET (instead of --tun)")
	mac := fs.String("mac", "", "with --nic, the stack's own `MAC` (default: the interface's; another one turns on promiscuous mode)")
	fs.BoolVar(&cfg.Promiscuous, "promisc", false, "with --nic, read every frame on the wire")
	fs.Var(&addrs, "addr", "the userspace stack's `CIDR`s, comma-separated or repeated, e.g. 10.200.0.2/24,fd00:200::2/64 (required)")
	fs.Var(&hostAddrs, "host-addr", "the kernel side's `CIDR`s on the TUN (default: the first host address of each --addr prefix)")
	fs.BoolVar(&cfg.NoHostConfig, "no-host-config", false, "leave the kernel side of the TUN alone")
	fs.BoolVar(&cfg.NoOffload, "no-offload", false, "open the TUN without segmentation and checksum offloads (TSO/USO, on by default): every packet at most MTU bytes, one syscall each")
	fs.BoolVar(&cfg.NoDelayedACK, "no-delayed-ack", false, "acknowledge every batch of received data at once, as upstream gVisor does, instead of waiting (40 ms, up to 200 ms on a longer path) for the reply to carry the ACK (Linux's delayed ACK, on by default)")
	fs.IntVar(&cfg.Port, "port", app.DefaultPort, "port of the HTTP and WebSocket server and of the UDP echo")
	fs.IntVar(&cfg.MTU, "mtu", 0, "MTU of the TUN (default 1500)")
	fs.Int64Var(&cfg.MaxMessage, "max-message", 16<<20, "largest WebSocket message accepted, in `BYTES`")
	fs.Int64Var(&cfg.MaxMessageMemory, "max-message-memory", app.DefaultMaxMessageMemory, "most memory, in `BYTES`, that the WebSocket messages being read take on all connections together (at least --max-message; raised to it when left out); a connection whose message does not fit is failed with 1013, try again later")
	addLimitFlags(fs, &cfg.AllowOrigins)
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", app.DefaultIdleTimeout, "close a WebSocket without a message either way, or a TCP echo or discard connection without a byte, after `D` (at least 1s; 0: never)")
	fs.IntVar(&cfg.MaxConns, "max-conns", app.DefaultMaxConns, "most TCP connections served at once, HTTP and WebSocket, echo and discard together; past it HTTP gets 503 and echo and discard a reset (0: no limit)")
	fs.BoolVar(&cfg.NoCompression, "no-compress", false, "refuse permessage-deflate (accepted from clients that offer it by default)")
	fs.StringVar(&cfg.Kernel, "kernel", "", "also serve the same handlers on the host's kernel stack at `ADDR` (e.g. 127.0.0.1:8081)")
	tracePath := fs.String("trace", "", "write every event as JSON lines to `FILE` (- for stdout)")
	pcapPath := fs.String("pcap", "", "write every packet to `FILE` (pcap)")
	callsPath := fs.String("calls", "", "write a strace-like line for every socket call to `FILE` (- for stdout)")
	addRuleFlags(fs, &cfg.Rules)
	var uiAddr uiFlag
	fs.Var(&uiAddr, "ui", "serve the browser view at `ADDR` on the host's stack (default "+ui.DefaultAddr+"); the stack runs until the page pauses it")
	args = uiArgs(args)
	rest, err := parseFlags(fs, args, stdout, true)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return unexpectedArg("serve", args, rest[0])
	}
	if err := checkEmptyOutputs("serve", fs, "trace", "pcap", "calls"); err != nil {
		return err
	}
	if err := checkEmptyArgs("serve", fs, map[string]string{
		"tun":    "name the TUN interface, e.g. glass0",
		"nic":    "name the Ethernet interface, e.g. eth1",
		"mac":    "give the stack's MAC, e.g. 02:00:00:00:00:02 (or leave --mac out for the interface's)",
		"kernel": "give host:port, e.g. 127.0.0.1:8081 (or leave --kernel out to serve on the userspace stack alone)",
	}); err != nil {
		return err
	}
	if cfg.MTU == 0 && isSet(fs, "mtu") {
		// app takes 0 for the default, which the flag says is 1500
		return usagef("serve: --mtu 0: want an MTU from 68 to 65535 (or leave it out for 1500)")
	}
	if err := cfg.Rules.Check(); err != nil {
		return usagef("serve: %w", err)
	}
	if err := checkLimitFlags("serve", cfg.Port, cfg.MaxMessage); err != nil {
		return usagef("%w", err)
	}
	// app takes 0 for the default (256 MiB, or --max-message if larger)
	// and checks the rest (app.CheckServe, below).
	switch {
	case !isSet(fs, "max-message-memory"):
		cfg.MaxMessageMemory = 0
	case cfg.MaxMessageMemory == 0:
		return usagef("serve: --max-message-memory 0: want a positive number of bytes (the memory of the WebSocket messages being read on all connections together)")
	}
	if err := checkOutputs("serve", map[string]string{"--trace": *tracePath, "--pcap": *pcapPath, "--calls": *callsPath}); err != nil {
		return err
	}
	switch {
	case cfg.IdleTimeout < 0:
		return usagef("serve: --idle-timeout %v: want a duration, or 0 to never close an idle connection", cfg.IdleTimeout)
	case cfg.IdleTimeout > 0 && cfg.IdleTimeout < minIdleTimeout:
		// 5ms for 5m would close every connection as it opens
		return usagef("serve: --idle-timeout %v: want %v or more (a WebSocket is pinged every third of it), or 0 to never close an idle connection", cfg.IdleTimeout, minIdleTimeout)
	case cfg.IdleTimeout == 0:
		cfg.IdleTimeout = -1 // app: negative is never
	}
	switch {
	case cfg.MaxConns < 0:
		return usagef("serve: --max-conns %d: want a number of connections, or 0 for no limit", cfg.MaxConns)
	case cfg.MaxConns == 0:
		cfg.MaxConns = -1 // app: negative is no limit
	}
	switch {
	case cfg.TUN == "" && cfg.NIC == "":
		return usagef("serve: --tun NAME or --nic IFACE is required")
	case cfg.TUN != "" && cfg.NIC != "":
		return usagef("serve: --tun and --nic exclude each other")
	case len(addrs) == 0:
		return usagef("serve: --addr is required (want an address with a prefix length, e.g. 10.200.0.2/24)")
	case len(hostAddrs) > 0 && cfg.NoHostConfig:
		return usagef("serve: --host-addr and --no-host-config exclude each other")
	case cfg.NoOffload && cfg.NIC != "":
		return usagef("serve: --no-offload applies to a TUN; --nic moves packets without offloads")
	}
	cfg.Addrs, cfg.HostAddrs = addrs, hostAddrs
	if *mac != "" {
		hw, err := net.ParseMAC(*mac)
		if err != nil {
			return usagef("serve: --mac: %w", err)
		}
		if len(hw) != 6 || bytes.Equal(hw, make([]byte, 6)) || hw[0]&1 != 0 {
			return usagef("serve: --mac %s: want a unicast Ethernet address of the stack's own (not all zeros, not multicast: the first byte even), e.g. 02:00:00:00:00:02", *mac)
		}
		cfg.MAC = hw
	}
	// Before the outputs are created: a mistake must not leave an
	// earlier --trace or --pcap file empty.
	if err := app.CheckServe(cfg); err != nil {
		return err
	}
	var out outputs
	if *tracePath == "-" || *callsPath == "-" {
		// Into a pipe, the trace's writes are bounded, so that a reader
		// that stops reading (a paused less) does not hold the stack;
		// what serve says goes the same way, after them.
		if f, ok := stdout.(*os.File); ok {
			if pf := app.PipeOutFile(f); pf != nil {
				out.files = append(out.files, pf)
				stdout = pf
			}
		}
	}
	if err := out.open("serve", *tracePath, *pcapPath, stdout); err != nil {
		return err
	}
	if out.calls, err = out.create("serve", "--calls", *callsPath, stdout); err != nil {
		return errors.Join(err, out.close())
	}
	if out.trace != nil {
		cfg.Tracer = trace.New(trace.NewJSON(out.trace))
	}
	cfg.PCAP, cfg.CallLog = out.pcap, out.calls
	cfg.Outputs = out.files
	if uiAddr.set {
		if cfg.Kernel != "" && sameListenAddr(cfg.Kernel, cmp.Or(uiAddr.addr, ui.DefaultAddr)) {
			return usagef("serve: --kernel %s and --ui %s would listen on one address of the host's stack; give one of them another port", cfg.Kernel, cmp.Or(uiAddr.addr, ui.DefaultAddr))
		}
		cfg.UI = &app.UIOptions{Addr: uiAddr.addr}
	}
	cfg.Log = stdout
	if *tracePath == "-" || *callsPath == "-" {
		cfg.Log = stderr
	}
	err = app.Serve(ctx, cfg)
	return errors.Join(err, out.close())
}
