package netstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// Congestion control algorithms for Options.CongestionControl.
const (
	Reno  = "reno"
	Cubic = "cubic"
)

// Default TCP buffer sizes: gVisor's own, with receive buffer moderation
// growing the receive buffer from Default up to Max as the transfer needs.
const (
	DefaultBufferMin     = tcp.MinBufferSize
	DefaultBufferDefault = tcp.DefaultReceiveBufferSize // 1 MiB
	DefaultBufferMax     = tcp.MaxBufferSize            // 4 MiB
)

// Default bounds on orphans (Options.MaxOrphans, MaxOrphanBytes). 64 MiB
// lets 64 connections with a full default send buffer (1 MiB), or 16 with
// the largest (4 MiB), drain after their close at once, far more than a
// server whose peers read has in flight, and it is a quarter of serve's
// default message budget. 4096 is serve's default --max-conns; Linux
// sizes tcp_max_orphans from memory, a few thousand on a small machine.
const (
	DefaultMaxOrphans     = 4096
	DefaultMaxOrphanBytes = 64 << 20
)

// nicID is the only NIC a Stack has.
const nicID tcpip.NICID = 1

// Route sends packets for Dst out of the Stack's device, through Gateway
// if it is valid (on a point-to-point TUN a gateway is rarely needed).
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

// BufferSizes is a TCP buffer size range in bytes; zero fields take the
// defaults (DefaultBufferMin, DefaultBufferDefault, DefaultBufferMax).
type BufferSizes struct {
	Min, Default, Max int
}

// Options configures New. Only Device is required.
type Options struct {
	// Device carries the stack's packets. The Stack owns it from New on
	// and closes it in Close (and when New fails). A device that
	// implements tun.LinkLayer carries Ethernet frames; the stack then
	// speaks ARP and neighbor discovery on it. A tun.OffloadDevice with
	// offloads (a TUN by default) carries TCP super-packets both ways.
	Device tun.Device

	// Addrs are the stack's own addresses, IPv4 and/or IPv6, with the
	// prefix length of the on-link network.
	Addrs []netip.Prefix

	// Routes, when not nil, replaces the default routing table
	// (DefaultRoutes: the on-link network of each address and a default
	// route for IPv4 and IPv6, all out of the device).
	Routes []Route

	// DisableSACK turns selective acknowledgments off (on by default).
	DisableSACK bool

	// DisableDelayedACK makes TCP acknowledge every batch of received
	// data at once, as upstream gVisor does. By default, as on Linux, an
	// ACK of in-order data, or of the peer's FIN on an established
	// connection, waits for a segment the stack sends (the reply, or the
	// FIN of the application's close) to carry it, 40 ms, or longer, up
	// to 200 ms, on a path whose RTT is longer when data arrives further
	// apart, and goes at once when more than one full-sized segment is
	// unacknowledged, for out-of-order data, a FIN after the
	// application's close, at the start of a connection, and on a
	// connection that is not interactive (TCP_QUICKACK set to 1 takes it
	// out of that mode for a while, as on Linux) once the application
	// has read the data (third_party/gvisor patch 9). A trace or a test
	// that wants one ACK per segment, with no timer between, turns it off.
	DisableDelayedACK bool

	// CongestionControl is Reno or Cubic; empty means Reno, gVisor's own
	// default. gVisor's Cubic leaves slow start through HyStart, whose
	// ACK-train test (ACKs less than 2 ms apart for more than half the
	// last RTT) a userspace stack on a sub-millisecond path passes by
	// scheduling jitter alone: on a TUN to the local kernel it stopped
	// at 80 to 250 segments, and a bulk sender stayed window-limited,
	// sending a smaller super-packet for every ACK.
	CongestionControl string

	// TCPReceiveBuffer and TCPSendBuffer size the TCP buffers.
	TCPReceiveBuffer, TCPSendBuffer BufferSizes

	// DisableModerateReceiveBuffer stops the receive buffer from growing
	// with the transfer (on by default).
	DisableModerateReceiveBuffer bool

	// MaxOrphans and MaxOrphanBytes bound the TCP connections the
	// application has closed while data it wrote was still
	// unacknowledged: the number of them, and the bytes their send
	// queues held at the close, together. Such an orphan goes on sending
	// in the background, and one whose peer stops reading holds its
	// buffer until TCP gives up on the peer, minutes later, whatever
	// bounds the application puts on the connections it holds. A close
	// that would pass either bound resets the connection instead (RST,
	// the data dropped), counted in the stack's TCP stats
	// (OrphanResetsCount, OrphanResetsBytes), as Linux resets orphans
	// past tcp_max_orphans or under TCP memory pressure
	// (third_party/gvisor patch 64). 0 means DefaultMaxOrphans and
	// DefaultMaxOrphanBytes; a negative value means no bound.
	MaxOrphans     int
	MaxOrphanBytes int64

	// Forwarding lets the stack route packets not addressed to it.
	Forwarding bool

	// Tracer, if set, receives a LayerLink "packet" event for every packet
	// in and out, a "drop" event for every drop, and a LayerTCP "state"
	// event after every segment a TCP connection receives. Node names this
	// stack in the events.
	Tracer *trace.Tracer
	Node   string

	// PCAP, if set, receives a pcap capture of every packet in and out:
	// LINKTYPE_RAW, or LINKTYPE_ETHERNET with whole frames on a
	// tun.LinkLayer device.
	PCAP io.Writer
	// PCAPStall bounds one write to PCAP when PCAP takes a write deadline
	// (a pipe, a FIFO, a socket); 0 means DefaultPCAPStall. Past it the
	// capture ends with an error and the stack goes on.
	PCAPStall time.Duration

	// Clock, RandSource and SecureRNG replace gVisor's sources of time and
	// randomness; with a manual clock and seeded sources, runs repeat
	// exactly (initial sequence numbers included).
	Clock      tcpip.Clock
	RandSource rand.Source
	SecureRNG  io.Reader

	// ReadBatch is how many packets one device Read may return; 0 means
	// the device's BatchSize. Writes go to the device in batches of its
	// BatchSize and block while it is full; on a device that batches its
	// writes (tun.BatchWriter) the packets of other senders wait behind a
	// write under way in a queue of two such batches, and on a TUN
	// (tun.SerialWriter) their small packets do (see the package doc).
	ReadBatch int

	// Egress and Ingress, if set, are hook chains installed at the link
	// hook points from the start (see SetEgress and SetIngress).
	Egress, Ingress *hook.Chain

	// DelayQueue bounds each direction's queue of packets that hooks
	// delayed; 0 means DefaultDelayQueue.
	DelayQueue int

	// SplitGSO makes the link hooks, the trace and the capture see
	// MTU-sized packets on a device with segmentation offload: TCP
	// super-packets are cut in software before them. Without it they see
	// each super-packet whole (see SetSplitGSO).
	SplitGSO bool
}

// Stack is a gVisor network stack with one NIC on a tun.Device. Make one
// with New; the zero value is not usable.
type Stack struct {
	s     *stack.Stack
	addrs []netip.Prefix
	c     counters
	acct  linkAccount
	pcap  *pcapWriter

	// The stack's own link endpoints (doc.go shows how they nest): ep
	// is the one gVisor holds, dev the one that owns the device; the
	// observer, when there is one, sits between hooks and dev.
	ep    *stackEndpoint
	hooks *hookEndpoint
	dev   *deviceEndpoint

	// ipHooks are the chains of the IP hook points (ipPoints), whose
	// rules go into gVisor's iptables the first time one is set.
	ipHooks [len(ipPoints)]hook.Point
	ipOnce  sync.Once

	closeOnce sync.Once
	closeErr  error
	closing   chan struct{} // closed when Close begins
	done      chan struct{} // closed when Close has finished

	errMu sync.Mutex
	err   error // why the stack stopped on its own
}

// New builds a stack on opts.Device, assigns the addresses and routes and
// starts reading packets.
func New(opts Options) (*Stack, error) {
	if opts.Device == nil {
		return nil, errors.New("netstack: Options.Device is nil")
	}
	st := &Stack{closing: make(chan struct{}), done: make(chan struct{})}
	st.acct.c = &st.c
	// The device endpoint owns the device from here on: closing it there
	// closes the device exactly once, whether New fails before gVisor has
	// the NIC or after.
	st.dev = newDeviceEndpoint(opts.Device, opts.ReadBatch, &st.acct)
	st.ep = newStackEndpoint(st.dev, &st.acct)
	st.hooks = newHookEndpoint(framing{l2: st.ep.l2, hw: st.ep.hw}, opts.DelayQueue, &st.acct)
	st.hooks.egress.point.Set(opts.Egress)
	st.hooks.ingress.point.Set(opts.Ingress)
	st.SetSplitGSO(opts.SplitGSO)
	if err := st.build(opts); err != nil {
		_ = st.dev.shutdown()
		st.hooks.stop()
		return nil, err
	}
	return st, nil
}

// nest links the stack's endpoints in the order doc.go shows, with the
// observer obs (nil when neither tracing nor capturing) next to the
// device, and the Ethernet filter under it on an Ethernet device.
func (st *Stack) nest(obs *observer) {
	st.acct.obs = obs
	st.dev.stackSide = st.ep
	st.hooks.up = st.ep
	var below packetSender = st.dev
	var above packetReceiver = st.hooks
	if obs != nil {
		obs.up, obs.down = st.hooks, st.dev
		below, above = obs, obs
	}
	st.ep.down = st.hooks
	st.hooks.down = below
	if st.ep.l2 {
		above = &ethernetFilter{hw: st.ep.hw, acct: &st.acct, up: above}
	}
	st.dev.up = above
}

func (st *Stack) build(opts Options) error {
	cc := opts.CongestionControl
	switch cc {
	case "":
		cc = Reno
	case Reno, Cubic:
	default:
		return fmt.Errorf("netstack: unknown congestion control %q", cc)
	}
	if mtu := opts.Device.MTU(); mtu < header.IPv4MinimumMTU {
		return fmt.Errorf("netstack: device MTU %d below the IPv4 minimum %d", mtu, header.IPv4MinimumMTU)
	}
	for _, p := range opts.Addrs {
		np, err := normalizePrefix(p)
		if err != nil {
			return err
		}
		st.addrs = append(st.addrs, np)
	}

	var (
		flows *flowTable
		pr    *probe
	)
	if opts.Tracer.Enabled() {
		flows = newFlowTable()
		pr = &probe{tracer: opts.Tracer, node: opts.Node, flows: flows}
	}
	if opts.PCAP != nil {
		linkType := uint32(pcapLinkTypeRaw)
		if st.ep.l2 {
			linkType = pcapLinkTypeEthernet
		}
		w, err := newPCAPWriterStall(opts.PCAP, linkType, cmp.Or(opts.PCAPStall, DefaultPCAPStall))
		if err != nil {
			return fmt.Errorf("netstack: pcap header: %w", err)
		}
		st.pcap = w
	}

	tcpFactory := stack.TransportProtocolFactory(tcp.NewProtocol)
	if pr != nil {
		tcpFactory = tcp.NewProtocolProbe(pr.fire)
	}
	netProtos := []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol}
	if st.ep.l2 {
		// IPv6 neighbor discovery is part of ipv6; IPv4 needs ARP.
		netProtos = append(netProtos, arp.NewProtocol)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   netProtos,
		TransportProtocols: []stack.TransportProtocolFactory{tcpFactory, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		Clock:              opts.Clock,
		RandSource:         opts.RandSource,
		SecureRNG:          opts.SecureRNG,
		// Traffic to the stack's own addresses stays inside it, and a
		// packet that comes in from the device with one of them as its
		// source is dropped as ip-invalid-source, as Linux drops a
		// martian source on any interface but loopback.
		HandleLocal: true,
	})
	st.s = s
	fail := func(err error) error {
		s.Close()
		s.Wait()
		return err
	}
	if err := setTCPOptions(s, opts, cc); err != nil {
		return fail(err)
	}

	var obs *observer
	if opts.Tracer.Enabled() || st.pcap != nil {
		obs = &observer{tracer: opts.Tracer, node: opts.Node, flows: flows, pcap: st.pcap, clock: s.Clock(), ethernet: st.ep.l2}
	}
	st.nest(obs)
	if opts.Tracer.Enabled() {
		installIPHooks(s, obs)
	}
	var linkEP stack.LinkEndpoint = st.ep
	if st.ep.l2 {
		linkEP = ethernet.New(st.ep)
	}
	if err := s.CreateNICWithOptions(nicID, linkEP, stack.NICOptions{Name: opts.Device.Name(), QDisc: qdisc{st.ep}}); err != nil {
		return fail(fmt.Errorf("netstack: create NIC: %s", err))
	}
	if opts.Forwarding {
		for _, p := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
			if err := s.SetForwardingDefaultAndAllNICs(p, true); err != nil {
				return fail(fmt.Errorf("netstack: forwarding: %s", err))
			}
		}
	}
	for _, p := range st.addrs {
		pa := tcpip.ProtocolAddress{
			Protocol: protoOf(p.Addr()),
			AddressWithPrefix: tcpip.AddressWithPrefix{
				Address:   tcpip.AddrFromSlice(p.Addr().AsSlice()),
				PrefixLen: p.Bits(),
			},
		}
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			return fail(fmt.Errorf("netstack: add address %v: %s", p, err))
		}
	}
	routes := opts.Routes
	if routes == nil {
		routes = DefaultRoutes(st.addrs)
	}
	table := make([]tcpip.Route, 0, len(routes))
	for _, r := range routes {
		tr, err := toRoute(r)
		if err != nil {
			return fail(err)
		}
		table = append(table, tr)
	}
	s.SetRouteTable(table)

	st.hooks.start()
	st.dev.start()
	go st.watchDevice(opts.Device.Name())
	return nil
}

// ErrDeviceGone is what Err wraps when the stack stopped because its
// device went away: the interface was deleted or moved to another network
// namespace, or its file descriptor closed by someone else.
var ErrDeviceGone = errors.New("netstack: device gone")

// errClosed is what calls on a closed stack return.
var errClosed = net.ErrClosed

// watchDevice closes the stack when its device goes away, and records why.
func (st *Stack) watchDevice(name string) {
	select {
	case <-st.dev.gone:
		st.errMu.Lock()
		st.err = fmt.Errorf("%w: %s: %w", ErrDeviceGone, name, st.dev.goneErr)
		st.errMu.Unlock()
		_ = st.Close()
	case <-st.closing:
	}
}

// Done returns a channel that is closed once the stack has stopped: after
// Close, or when its device went away (then Err says so).
func (st *Stack) Done() <-chan struct{} { return st.done }

// Err returns why the stack stopped on its own: an error wrapping
// ErrDeviceGone, and the device's error, when the device went away. It is
// nil while the stack runs and after an ordinary Close.
func (st *Stack) Err() error {
	st.errMu.Lock()
	defer st.errMu.Unlock()
	return st.err
}

// stopped reports whether the stack is closing or closed.
func (st *Stack) stopped() bool {
	select {
	case <-st.closing:
		return true
	default:
		return st.dev.closed.Load()
	}
}

func setTCPOptions(s *stack.Stack, opts Options, cc string) error {
	sack := tcpip.TCPSACKEnabled(!opts.DisableSACK)
	delack := tcpip.TCPDelayedACKEnabled(!opts.DisableDelayedACK)
	ccOpt := tcpip.CongestionControlOption(cc)
	mod := tcpip.TCPModerateReceiveBufferOption(!opts.DisableModerateReceiveBuffer)
	rcv := bufferRange(opts.TCPReceiveBuffer)
	snd := bufferRange(opts.TCPSendBuffer)
	rcvOpt := tcpip.TCPReceiveBufferSizeRangeOption{Min: rcv.Min, Default: rcv.Default, Max: rcv.Max}
	sndOpt := tcpip.TCPSendBufferSizeRangeOption{Min: snd.Min, Default: snd.Default, Max: snd.Max}
	orphans := tcpip.TCPOrphanLimitOption{Count: orphanBound(opts.MaxOrphans, DefaultMaxOrphans), Bytes: orphanBound(opts.MaxOrphanBytes, DefaultMaxOrphanBytes)}
	for _, o := range []struct {
		name string
		opt  tcpip.SettableTransportProtocolOption
	}{
		{"SACK", &sack},
		{"delayed ACK", &delack},
		{"congestion control", &ccOpt},
		{"moderate receive buffer", &mod},
		{"receive buffer", &rcvOpt},
		{"send buffer", &sndOpt},
		{"orphan limit", &orphans},
	} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o.opt); err != nil {
			return fmt.Errorf("netstack: TCP %s: %s", o.name, err)
		}
	}
	return nil
}

// orphanBound is an Options orphan bound as gVisor takes it: 0 the
// default, negative no bound (gVisor's 0).
func orphanBound[T int | int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func bufferRange(b BufferSizes) BufferSizes {
	if b.Min <= 0 {
		b.Min = DefaultBufferMin
	}
	if b.Default <= 0 {
		b.Default = DefaultBufferDefault
	}
	if b.Max <= 0 {
		b.Max = DefaultBufferMax
	}
	if b.Default < b.Min {
		b.Default = b.Min
	}
	if b.Max < b.Default {
		b.Max = b.Default
	}
	return b
}

// DefaultRoutes is the routing table New uses when Options.Routes is nil:
// each address's on-link network, then 0.0.0.0/0 and ::/0, all out of the
// device.
func DefaultRoutes(addrs []netip.Prefix) []Route {
	var rs []Route
	seen := make(map[netip.Prefix]bool)
	for _, p := range addrs {
		m := p.Masked()
		if !seen[m] {
			seen[m] = true
			rs = append(rs, Route{Dst: m})
		}
	}
	return append(rs,
		Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0)},
		Route{Dst: netip.PrefixFrom(netip.IPv6Unspecified(), 0)},
	)
}

func toRoute(r Route) (tcpip.Route, error) {
	dst, err := normalizePrefix(r.Dst)
	if err != nil {
		return tcpip.Route{}, fmt.Errorf("netstack: route: %w", err)
	}
	dst = dst.Masked()
	subnet, err := tcpip.NewSubnet(tcpip.AddrFromSlice(dst.Addr().AsSlice()), tcpip.MaskFromBytes(maskBytes(dst)))
	if err != nil {
		return tcpip.Route{}, fmt.Errorf("netstack: route %v: %w", r.Dst, err)
	}
	tr := tcpip.Route{Destination: subnet, NIC: nicID}
	if r.Gateway.IsValid() {
		tr.Gateway = tcpip.AddrFromSlice(r.Gateway.Unmap().AsSlice())
	}
	return tr, nil
}

// normalizePrefix checks p and turns an IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.1/120) into the IPv4 prefix it means (10.0.0.1/24).
func normalizePrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("netstack: invalid prefix %v", p)
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return p, fmt.Errorf("netstack: IPv4-mapped prefix %v shorter than /96", p)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96), nil
	}
	return netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()), nil
}

func maskBytes(p netip.Prefix) []byte {
	b := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

func protoOf(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

// Stack returns the gVisor stack, for building sockets on it.
func (st *Stack) Stack() *stack.Stack { return st.s }

// NICID returns the ID of the stack's only NIC.
func (st *Stack) NICID() tcpip.NICID { return nicID }

// Addrs returns the stack's own addresses (IPv4-mapped ones as IPv4).
func (st *Stack) Addrs() []netip.Prefix {
	return append([]netip.Prefix(nil), st.addrs...)
}

// Stats returns a snapshot of the link counters, the offload device's
// drops, and gVisor's malformed packet counters.
func (st *Stack) Stats() Stats {
	s := st.c.snapshot()
	s.Malformed = malformedFrom(st.s.Stats())
	if st.dev.od != nil {
		// The device's drops for malformed offload metadata.
		for r, n := range st.dev.od.OffloadStats().Drops {
			s.Drops[r] += n
		}
	}
	return s
}

// Closing returns how many TCP connections are closing: their FIN sent
// and not yet acknowledged, or the peer's FIN not yet in (FIN-WAIT-1,
// FIN-WAIT-2, CLOSING, LAST-ACK).
func (st *Stack) Closing() int {
	n := 0
	for _, te := range st.s.RegisteredEndpoints() {
		ep, ok := te.(*tcp.Endpoint)
		if !ok {
			continue
		}
		switch tcp.EndpointState(ep.State()) {
		case tcp.StateFinWait1, tcp.StateFinWait2, tcp.StateClosing, tcp.StateLastAck:
			n++
		}
	}
	return n
}

// Settle waits until no TCP connection is closing (see Closing), polling
// every 10 ms, or until ctx is done, and returns how many still are. A
// program that has closed its connections calls it before Close, so that
// they end as TCP ends them rather than with the RST Close sends to every
// connection still open (a connection in TIME-WAIT ends without one).
func (st *Stack) Settle(ctx context.Context) int {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		n := st.Closing()
		if n == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return n
		case <-st.closing:
			return n
		case <-t.C:
		}
	}
}

// closeGrace is how long Close lets gVisor abort connections (sending
// their RSTs) before it closes the device anyway, which unblocks a write
// stuck on a full device that nobody drains.
const closeGrace = time.Second

// Close aborts every connection, closes the device, stops the read loop
// and waits for all of gVisor's goroutines. It returns the device's Close
// error, or the first pcap write error. It is safe to call more than once
// and from several goroutines.
func (st *Stack) Close() error {
	st.closeOnce.Do(func() {
		close(st.closing)
		// Abort connections first, so their RSTs can still reach the wire.
		aborted := make(chan struct{})
		go func() {
			st.s.Close()
			close(aborted)
		}()
		t := time.NewTimer(closeGrace)
		select {
		case <-aborted:
		case <-t.C:
		}
		t.Stop()
		err := st.dev.shutdown()
		st.hooks.stop()
		<-aborted
		st.s.Wait()
		if st.pcap != nil {
			if perr := st.pcap.error(); perr != nil && err == nil {
				err = fmt.Errorf("netstack: pcap: %w", perr)
			}
		}
		st.closeErr = err
		close(st.done)
	})
	return st.closeErr
}
