// Package app holds what the glassnet command does (serve, demo), so that
// cmd/glassnet stays flag parsing and wiring and tests can drive the same code.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// ServeConfig is what `glassnet serve` takes.
type ServeConfig struct {
	// TUN names the TUN interface to create or attach to. Exactly one of
	// TUN and NIC is set.
	TUN string
	// NIC names an existing Ethernet interface that the stack attaches to
	// through an AF_PACKET socket (see tun.OpenPacketSocket for what the kernel
	// must not have configured on it).
	NIC string
	// MAC is the stack's MAC address on NIC; empty means the interface's
	// own. Another address turns promiscuous mode on.
	MAC net.HardwareAddr
	// Promiscuous reads every frame on NIC's wire.
	Promiscuous bool
	// MTU of the TUN; 0 means 1500. A NIC keeps the MTU it has.
	MTU int
	// Addrs are the userspace stack's addresses with their prefixes
	// (10.200.0.2/24, fd00:200::2/64), IPv4 and IPv6 in any mix.
	Addrs []netip.Prefix
	// HostAddrs are the kernel side's addresses on the TUN; empty means
	// the first host address of each of Addrs' prefixes
	// (tun.HostAddrFor).
	HostAddrs []netip.Prefix
	// NoHostConfig leaves the kernel side of the TUN alone.
	NoHostConfig bool
	// NoOffload opens the TUN without segmentation and checksum offloads
	// (see tun.Config.NoOffload); they are on by default.
	NoOffload bool
	// Port of the HTTP and WebSocket server, and of the UDP echo; 0 means
	// 8080.
	Port int
	// MaxMessage bounds WebSocket messages; 0 means the ws default.
	MaxMessage int64
	// Kernel, if set, also serves the same handlers on the host's kernel
	// stack at this address (":8081", "127.0.0.1:8081").
	Kernel string
	// Tracer and PCAP record the userspace stack; either may be nil.
	Tracer *trace.Tracer
	PCAP   io.Writer
	// CallLog, if set, receives a strace-like line for every socket call.
	CallLog io.Writer
	// NoCompression refuses permessage-deflate (accepted by default).
	NoCompression bool
	// Log receives the ready line and shutdown notes.
	Log io.Writer
	// Ready, if set, is called once every service listens, right after
	// the ready line.
	Ready func()
	// Rules are hook rules for the link hook points (--egress, --ingress).
	Rules
}

// Ports of the plain TCP services on the userspace stack.
const (
	EchoPort    = 7
	DiscardPort = 9
)

// Serve runs the userspace stack on a TUN or, through AF_PACKET, on an
// Ethernet interface, and serves HTTP, WebSocket, UDP echo, TCP echo and
// discard on every one of its addresses until ctx is done; then it sends
// close 1001 to every WebSocket client, closes the listeners and the
// stack, and returns.
func Serve(ctx context.Context, cfg ServeConfig) error {
	egress, ingress, err := cfg.Rules.chains()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if len(cfg.Addrs) == 0 {
		return errors.New("serve: --addr is required (the stack's address, e.g. 10.200.0.2/24)")
	}
	if (cfg.TUN == "") == (cfg.NIC == "") {
		return errors.New("serve: name either a TUN (--tun NAME) or an Ethernet interface (--nic IFACE)")
	}
	if cfg.Port == 0 {
		cfg.Port = 8080
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	dev, where, err := openDevice(cfg)
	if err != nil {
		return err
	}
	st, err := netstack.New(netstack.Options{
		Device:  dev,
		Addrs:   cfg.Addrs,
		Tracer:  cfg.Tracer,
		Node:    "glassnet",
		PCAP:    cfg.PCAP,
		Egress:  egress,
		Ingress: ingress,
		// Link rules (loss, delay, corrupt, ...) act on what would be
		// on the wire: MSS segments, not 64 KiB super-packets.
		SplitGSO: egress != nil || ingress != nil,
	})
	if err != nil {
		return err
	}
	var offloads string
	if cfg.TUN != "" {
		offloads = ", offloads " + offloadNote(st.Offloads())
	}
	defer st.Close()
	socks := sockets.New(st.Stack(), sockets.Options{Tracer: cfg.Tracer, Node: "glassnet", CallLog: cfg.CallLog})
	// The control socket lets `glassnet ss` list this stack's sockets. A
	// serve without one still works, so a failure is only reported.
	frames, err := cfg.Rules.frameHook()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	counters := func() map[string]uint64 { return withGSOCounters(stackCounters(st, socks, frames), st.Stats()) }
	// A serve with the same interface name in another network namespace
	// may hold NAME.sock already; then this one is NAME-PID.sock. The notes
	// go out after the ready line.
	var ctlNote string
	copts := ctl.Options{Node: "glassnet", Counters: counters}
	cs, err := ctl.Listen(dev.Name(), socks, copts)
	if inUse := (*ctl.InUseError)(nil); errors.As(err, &inUse) {
		alt := dev.Name() + "-" + strconv.Itoa(os.Getpid())
		if cs, err = ctl.Listen(alt, socks, copts); err == nil {
			ctlNote = "glassnet: another glassnet has the control socket " + dev.Name() + "; see this one with: glassnet ss " + alt
		}
	}
	if err != nil {
		ctlNote = fmt.Sprintf("glassnet: no control socket, glassnet ss will not see this stack: %v", err)
	} else {
		defer cs.Close()
	}

	h := &Handlers{MaxMessage: cfg.MaxMessage, Tracer: cfg.Tracer, Node: "glassnet", Compress: !cfg.NoCompression}
	if frames != nil {
		h.FrameHook = frames
	}
	var (
		servers []*http.Server
		wg      sync.WaitGroup
		closers []io.Closer
	)
	defer func() {
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
	}()
	serveHTTP := func(l net.Listener) {
		srv := &http.Server{Handler: h.Mux(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		closers = append(closers, l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(l)
		}()
	}

	var urls []string
	for _, p := range st.Addrs() {
		host := p.Addr().String()
		hostPort := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
		l, err := socks.Listener("tcp", hostPort(cfg.Port))
		if err != nil {
			return fmt.Errorf("serve: listen on %s: %w", hostPort(cfg.Port), err)
		}
		serveHTTP(l)
		urls = append(urls, "http://"+hostPort(cfg.Port)+"/")
		for _, svc := range []struct {
			port int
			fn   func(net.Conn)
		}{{EchoPort, echoConn}, {DiscardPort, discardConn}} {
			l, err := socks.Listener("tcp", hostPort(svc.port))
			if err != nil {
				return fmt.Errorf("serve: listen on %s: %w", hostPort(svc.port), err)
			}
			closers = append(closers, l)
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveTCP(l, svc.fn)
			}()
		}
		pc, err := socks.ListenPacket("udp", hostPort(cfg.Port))
		if err != nil {
			return fmt.Errorf("serve: listen on udp %s: %w", hostPort(cfg.Port), err)
		}
		closers = append(closers, pc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			echoUDP(pc)
		}()
	}
	if cfg.Kernel != "" {
		kl, err := net.Listen("tcp", cfg.Kernel)
		if err != nil {
			return fmt.Errorf("serve: --kernel %s: %w", cfg.Kernel, err)
		}
		serveHTTP(kl)
	}

	line := fmt.Sprintf("glassnet: serving %s on %s (%s, MTU %d%s); WebSocket /echo /chat; udp echo :%d; tcp echo :%d, discard :%d",
		strings.Join(urls, " and "), dev.Name(), where, dev.MTU(), offloads, cfg.Port, EchoPort, DiscardPort)
	if cfg.Kernel != "" {
		line += "; kernel stack http://" + cfg.Kernel + "/"
	}
	fmt.Fprintln(cfg.Log, line)
	if ctlNote != "" {
		fmt.Fprintln(cfg.Log, ctlNote)
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}

	select {
	case <-ctx.Done():
	case <-st.Done():
		// The stack stopped by itself: its device went away.
		h.CloseAll()
		return fmt.Errorf("serve: the device %s went away: %w", dev.Name(), st.Err())
	}
	fmt.Fprintln(cfg.Log, "glassnet: shutting down: close 1001 to every WebSocket client")
	h.CloseAll()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdownCtx)
	}
	stats := st.Stats()
	fmt.Fprintln(cfg.Log, "glassnet: link: "+linkSummary(stats))
	if v := verdictSummary(stats); v != "" {
		fmt.Fprintln(cfg.Log, "glassnet: hooks: "+v)
	}
	return nil
}

// offloadNote names the offloads a stack uses on its TUN, or says "off".
func offloadNote(o tun.Offload) string {
	if o == 0 {
		return "off"
	}
	return o.String()
}

// withGSOCounters adds the segmentation offload counters to what `glassnet
// ss` shows.
func withGSOCounters(m map[string]uint64, s netstack.Stats) map[string]uint64 {
	m["gso super-packets in"] = s.GSOIn
	m["gso segments in"] = s.GSOSegmentsIn
	m["gso super-packets out"] = s.GSOOut
	m["gso segments out"] = s.GSOSegmentsOut
	m["gso split in"] = s.SplitIn
	m["gso split out"] = s.SplitOut
	return m
}

// linkSummary says what the link moved and dropped: "1234 packets in, 1180
// out, 2 dropped (other-host 2)", and how many were super-packets.
func linkSummary(s netstack.Stats) string {
	line := fmt.Sprintf("%d packets in, %d out, %d dropped", s.PacketsIn, s.PacketsOut, s.Dropped())
	if s.GSOIn+s.GSOOut > 0 {
		line += fmt.Sprintf(" (super-packets: %d in carrying %d segments, %d out carrying %d)", s.GSOIn, s.GSOSegmentsIn, s.GSOOut, s.GSOSegmentsOut)
	}
	var reasons []string
	for r, n := range s.Drops {
		if n > 0 {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
	}
	if len(reasons) > 0 {
		sort.Strings(reasons)
		line += " (" + strings.Join(reasons, ", ") + ")"
	}
	return line
}

// openDevice opens the TUN or the NIC that cfg names and configures the
// kernel side. It also returns a note on the kernel side for the ready
// line.
func openDevice(cfg ServeConfig) (tun.Device, string, error) {
	for _, p := range cfg.Addrs {
		if !p.IsValid() {
			return nil, "", fmt.Errorf("serve: invalid address %v", p)
		}
	}
	if cfg.NIC != "" {
		if cfg.MTU != 0 {
			return nil, "", fmt.Errorf("serve: --mtu applies to a TUN; %s keeps its own MTU (ip link set %s mtu N)", cfg.NIC, cfg.NIC)
		}
		if len(cfg.HostAddrs) != 0 || cfg.NoHostConfig {
			return nil, "", errors.New("serve: --host-addr and --no-host-config apply to a TUN; with --nic the kernel side is whatever is on the other end of the wire")
		}
		if cfg.NoOffload {
			return nil, "", errors.New("serve: --no-offload applies to a TUN; AF_PACKET on --nic moves packets without offloads")
		}
		if err := checkKernelAddrs(cfg.Addrs); err != nil {
			return nil, "", err
		}
		dev, err := tun.OpenPacketSocket(tun.PacketSocketConfig{Name: cfg.NIC, HardwareAddr: cfg.MAC, Promiscuous: cfg.Promiscuous})
		if err != nil {
			return nil, "", err
		}
		where := "AF_PACKET, MAC " + dev.HardwareAddr().String()
		if dev.Promiscuous() {
			where += ", promiscuous"
		}
		return dev, where, nil
	}
	if len(cfg.MAC) != 0 || cfg.Promiscuous {
		return nil, "", errors.New("serve: --mac and --promisc apply to --nic, not to a TUN")
	}
	tcfg := tun.Config{Name: cfg.TUN, MTU: cfg.MTU, NoHostConfig: cfg.NoHostConfig, NoOffload: cfg.NoOffload}
	var hosts []netip.Prefix
	if !cfg.NoHostConfig {
		var err error
		if hosts, err = hostAddrs(cfg.Addrs, cfg.HostAddrs); err != nil {
			return nil, "", err
		}
		if len(hosts) > 0 {
			tcfg.HostAddr = hosts[0]
		}
	} else if len(cfg.HostAddrs) != 0 {
		return nil, "", errors.New("serve: --host-addr and --no-host-config exclude each other")
	}
	dev, err := tun.Open(tcfg)
	if err != nil {
		return nil, "", err
	}
	if len(hosts) > 1 {
		if err := addHostAddrs(dev.Name(), hosts[1:]); err != nil {
			dev.Close()
			return nil, "", err
		}
	}
	if cfg.NoHostConfig {
		return dev, "kernel side left as it is", nil
	}
	var hs []string
	for _, h := range hosts {
		hs = append(hs, h.String())
	}
	return dev, "kernel side " + strings.Join(hs, ", "), nil
}

// hostAddrs returns the kernel side's addresses on a TUN: the ones given,
// or else the first host address of each of the stack's prefixes.
func hostAddrs(stack, given []netip.Prefix) ([]netip.Prefix, error) {
	hosts := given
	if len(hosts) == 0 {
		for _, p := range stack {
			if h := tun.HostAddrFor(p); h.IsValid() {
				hosts = append(hosts, h)
			}
		}
	}
	for _, h := range hosts {
		for _, p := range stack {
			if h.Addr() == p.Addr() {
				return nil, fmt.Errorf("serve: the host address %v is the stack's own address", h)
			}
		}
	}
	return hosts, nil
}

// checkKernelAddrs refuses to share a wire with a kernel that owns one of
// the stack's addresses: it would answer ARP and neighbor solicitations
// for it and reset the stack's TCP connections.
func checkKernelAddrs(stack []netip.Prefix) error {
	ifcs, err := net.Interfaces()
	if err != nil {
		return nil // nothing to check against; the stack may still work
	}
	for _, ifc := range ifcs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ka, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			for _, p := range stack {
				if ka.Unmap() == p.Addr().Unmap() {
					ones, _ := ipn.Mask.Size()
					return fmt.Errorf("serve: the kernel has the stack's address %v on %s and would answer for it; remove it (ip addr del %v/%d dev %s) or pick another --addr",
						p.Addr(), ifc.Name, ka.Unmap(), ones, ifc.Name)
				}
			}
		}
	}
	return nil
}

// echoUDP sends every datagram back to where it came from until pc is
// closed.
func echoUDP(pc net.PacketConn) {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		pc.WriteTo(buf[:n], from)
	}
}

// serveTCP accepts connections until l is closed and runs fn on each; then
// it closes the connections still open and waits for their handlers.
func serveTCP(l net.Listener, fn func(net.Conn)) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = make(map[net.Conn]struct{})
	)
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
}

// echoConn is RFC 862: send back what arrives.
func echoConn(c net.Conn) { io.Copy(c, c) }

// discardConn is RFC 863: read and throw away.
func discardConn(c net.Conn) { io.Copy(io.Discard, c) }
