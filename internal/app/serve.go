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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/retry"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ui"
	"github.com/glassnet/glassnet/ws"
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
	// NoDelayedACK makes the stack acknowledge every batch of data at
	// once instead of letting the reply carry the ACK
	// (netstack.Options.DisableDelayedACK).
	NoDelayedACK bool
	// Port of the HTTP and WebSocket server, and of the UDP echo; 0 means
	// DefaultPort (8080).
	Port int
	// MaxMessage bounds WebSocket messages; 0 means the ws default
	// (16 MiB). A negative value is an error: there is no "no limit".
	MaxMessage int64
	// MaxMessageMemory bounds the memory of the WebSocket messages being
	// read, summed over all connections (ws.MemoryBudget); 0 means
	// DefaultMaxMessageMemory (256 MiB), or MaxMessage when that is
	// larger. A connection whose message
	// cannot grow within it is failed with 1013 (try again later) and
	// the others go on. It is an error below MaxMessage, where a message
	// within MaxMessage could never be read whole, and when negative.
	MaxMessageMemory int64
	// AllowOrigins are host patterns (ws.AcceptOptions.OriginPatterns)
	// of the web pages, besides the stack's own, allowed to open a
	// WebSocket; a browser's upgrade from any other origin gets 403.
	AllowOrigins []string
	// IdleTimeout closes a connection silent for this long; 0 means
	// DefaultIdleTimeout (5 minutes), negative means never. A WebSocket
	// is silent while no message goes either way (pings and pongs do
	// not count); it is pinged every third of IdleTimeout, failed with 1011
	// when a pong does not come, and closed with 1001 when silent past
	// IdleTimeout. A TCP echo or discard connection is closed when no
	// byte moved for IdleTimeout; an idle HTTP keep-alive connection
	// too.
	IdleTimeout time.Duration
	// MaxConns bounds the TCP connections the services hold at once
	// (HTTP and WebSocket, echo and discard together); 0 means
	// DefaultMaxConns, negative means no bound. Past it a new HTTP
	// request is answered 503 before any upgrade and a new echo or
	// discard connection is reset; `glassnet ss` counts them.
	MaxConns int
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
	// Outputs, if set, are the files the trace, the capture and the call
	// log are written to: glassnet ss counts the writes each lost.
	Outputs []*OutFile
	// Ready, if set, is called once every service listens, right after
	// the ready line.
	Ready func()
	// Rules are hook rules for the link hook points (--egress, --ingress).
	Rules
	// UI, if set, serves the browser view of the stack (--ui); the stack
	// runs freely until the page pauses it or a breakpoint hits (UI.Run
	// is not needed). The URL goes to Log.
	UI *UIOptions
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
// stack, and returns. When the device goes away first (its interface
// deleted, or moved to another network namespace) Serve returns an error
// that names it and says how; an interface set down is not gone.
func Serve(ctx context.Context, cfg ServeConfig) error {
	// Last: the events the stack deferred reach the sinks before the
	// caller closes what they write to.
	defer cfg.Tracer.Flush()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	dev, where, err := openDevice(cfg)
	if err != nil {
		return err
	}
	s, err := startStack(cfg, dev, where)
	if err != nil {
		return err
	}
	return s.run(ctx)
}

// run serves until ctx is done, then shuts down and closes the stack.
func (s *server) run(ctx context.Context) (err error) {
	if s.clock != nil {
		defer s.clock.Stop() // after the stack
	}
	defer func() {
		// What Close has to say when all else went well: the capture
		// ended early (its reader stopped reading).
		if cerr := s.st.Close(); cerr != nil && err == nil {
			fmt.Fprintf(s.cfg.Log, "glassnet: %v\n", cerr)
		}
	}()
	if s.view != nil {
		// Before the stack closes: nothing may stay held while it does.
		defer s.view.Close()
		// Interrupted: the view closes, which runs the stepper on and
		// lets every held unit go, and stops no step after that, so
		// that the stack can close.
		stop := context.AfterFunc(ctx, func() { s.view.Close() })
		defer stop()
	}
	ctlNote, closeCtl := s.listenControl()
	defer closeCtl()
	defer s.closeServices()
	if err := s.startServices(); err != nil {
		return err
	}
	memCtx, stopMem := context.WithCancel(ctx)
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		returnMemory(memCtx, memoryTick, func() uint64 { st := s.st.Stats(); return st.BytesIn + st.BytesOut }, func() { s.memReturns.Add(1) })
	}()
	defer func() { stopMem(); <-memDone }()
	uiLine, err := s.startView()
	if err != nil {
		return err
	}
	fmt.Fprintln(s.cfg.Log, s.readyLine())
	if ctlNote != "" {
		fmt.Fprintln(s.cfg.Log, ctlNote)
	}
	if uiLine != "" {
		fmt.Fprintln(s.cfg.Log, uiLine)
	}
	if s.cfg.Ready != nil {
		s.cfg.Ready()
	}
	select {
	case <-ctx.Done():
	case <-s.st.Done():
		// The stack stopped by itself: its device went away.
		s.h.CloseAll()
		return fmt.Errorf("serve: the device %s went away: %w", s.dev.Name(), s.st.Err())
	}
	s.shutdown()
	s.closeServices()
	// The connections just closed end with FIN, not with the RST the
	// stack's Close gives each connection still open, when their peers
	// answer in time.
	settle, cancel := context.WithTimeout(context.Background(), settleTime)
	defer cancel()
	if n := s.st.Settle(settle); n > 0 {
		fmt.Fprintf(s.cfg.Log, "glassnet: %d connections still closing after %v: reset\n", n, settleTime)
	}
	return nil
}

// settleTime bounds how long serve waits at shutdown for the peers of the
// connections it closed to acknowledge their FINs and send theirs.
const settleTime = time.Second

// CheckServe reports, as a *ConfigError, what Serve would refuse in cfg
// before it touches a device: a command can check its flags before it
// creates its output files.
func CheckServe(cfg ServeConfig) error {
	_, err := cfg.withDefaults()
	return err
}

// withDefaults checks cfg and fills in its defaults.
func (cfg ServeConfig) withDefaults() (ServeConfig, error) {
	cfg, err := cfg.checked()
	return cfg, configErr(err)
}

func (cfg ServeConfig) checked() (ServeConfig, error) {
	if len(cfg.Addrs) == 0 {
		return cfg, errors.New("serve: --addr is required (the stack's address, e.g. 10.200.0.2/24)")
	}
	if (cfg.TUN == "") == (cfg.NIC == "") {
		return cfg, errors.New("serve: name either a TUN (--tun NAME) or an Ethernet interface (--nic IFACE)")
	}
	if err := cfg.Rules.Check(); err != nil {
		return cfg, fmt.Errorf("serve: %w", err)
	}
	if err := checkLimits("serve", cfg.Port, cfg.MaxMessage, cfg.AllowOrigins); err != nil {
		return cfg, err
	}
	if err := checkMessageMemory("serve", cfg.MaxMessageMemory, cfg.MaxMessage); err != nil {
		return cfg, err
	}
	if err := checkStackAddrs("serve", cfg.Addrs); err != nil {
		return cfg, err
	}
	if err := checkHostAddrs(cfg.HostAddrs, cfg.Addrs); err != nil {
		return cfg, err
	}
	if err := checkDevice(cfg); err != nil {
		return cfg, err
	}
	if cfg.Kernel != "" {
		if err := checkListenAddr("serve", "--kernel", cfg.Kernel); err != nil {
			return cfg, err
		}
	}
	if cfg.TUN != "" && !cfg.NoHostConfig && len(cfg.HostAddrs) == 0 {
		for _, p := range cfg.Addrs {
			if !tun.HostAddrFor(p).IsValid() {
				return cfg, fmt.Errorf("serve: --addr %v leaves no room for the kernel side's address; use a shorter prefix (e.g. /24), or give --host-addr, or --no-host-config", p)
			}
		}
	}
	if cfg.TUN != "" && !cfg.NoHostConfig {
		// before anything is created: the kernel side on the stack's own
		if _, err := hostAddrs("serve", cfg.Addrs, cfg.HostAddrs); err != nil {
			return cfg, err
		}
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	cfg.MaxMessageMemory = cfg.messageMemory()
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	// The services write to it from goroutines of their own.
	cfg.Log = &syncWriter{w: cfg.Log}
	return cfg, nil
}

// messageMemory is MaxMessageMemory, or its default when it is 0:
// DefaultMaxMessageMemory, or MaxMessage when that is larger.
func (cfg *ServeConfig) messageMemory() int64 {
	if cfg.MaxMessageMemory != 0 {
		return cfg.MaxMessageMemory
	}
	return max(DefaultMaxMessageMemory, cfg.MaxMessage)
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// server is one running serve: the stack, its socket table and what
// serves on it.
type server struct {
	cfg   ServeConfig
	dev   tun.Device
	where string // the kernel side, for the ready line
	// kernelAddr is where --kernel listens, its port resolved
	kernelAddr string
	st         *netstack.Stack
	socks      *sockets.Sockets
	frames     *ws.FrameCounter
	h          *Handlers
	limit      *connLimit
	view       *ui.Server // with --ui
	clock      *netstack.PausableClock

	udpErrors    atomic.Uint64   // UDP echo read errors
	memReturns   atomic.Uint64   // memory given back after a load (memreturn.go)
	acceptErrors atomic.Uint64   // accept errors of the TCP services
	refused      refusedRequests // HTTP requests net/http answered without a handler

	urls    []string // the HTTP servers on the stack
	https   []*http.Server
	closers []io.Closer // listeners
	wg      sync.WaitGroup
}

// startStack runs a stack and a socket table on dev, which it closes on
// failure. where describes the kernel side, for the ready line.
func startStack(cfg ServeConfig, dev tun.Device, where string) (_ *server, err error) {
	egress, ingress, err := cfg.Rules.chains()
	var frames *ws.FrameCounter
	if err == nil {
		frames, err = cfg.Rules.frameHook()
	}
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	var view *ui.Server
	var clock tcpip.Clock
	var pc *netstack.PausableClock
	if cfg.UI != nil {
		pc = netstack.NewPausableClock(netstack.PausableClockOptions{})
		clock = pc
		if view, err = ui.New(ui.Options{Live: true, Run: true, Clock: pc, Token: cfg.UI.Token}); err != nil {
			pc.Stop()
			dev.Close()
			return nil, fmt.Errorf("serve: %w", err)
		}
		defer func() {
			if err != nil { // the stack did not start: neither does the view
				view.Close()
				pc.Stop()
			}
		}()
		if cfg.Tracer == nil {
			cfg.Tracer = trace.New()
		}
		// Events are timed on the stack's clock, which the page pauses.
		t0 := pc.NowMonotonic()
		cfg.Tracer.SetClock(func() time.Duration { return pc.NowMonotonic().Sub(t0) })
		cfg.Tracer.Correlate()
		cfg.Tracer.AddSink(view.Sink())
		// The view installs the rules, next to its hold points.
		egress, ingress = nil, nil
	}
	st, err := netstack.New(netstack.Options{
		Device:  dev,
		Addrs:   cfg.Addrs,
		Tracer:  cfg.Tracer,
		Node:    "glassnet",
		PCAP:    cfg.PCAP,
		Egress:  egress,
		Ingress: ingress,
		Clock:   clock,

		DisableDelayedACK: cfg.NoDelayedACK,
		// Link rules (loss, delay, corrupt, ...) and holds act on what
		// would be on the wire: MSS segments, not 64 KiB super-packets.
		SplitGSO: egress != nil || ingress != nil || view != nil,
	})
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, dev: dev, where: where, st: st, frames: frames, view: view, clock: pc}
	s.socks = sockets.New(st.Stack(), sockets.Options{Tracer: cfg.Tracer, Node: "glassnet", CallLog: cfg.CallLog})
	s.limit = &connLimit{max: int64(max(cfg.MaxConns, 0)), reset: s.reset}
	s.h = &Handlers{MaxMessage: cfg.MaxMessage, MessageMemory: ws.NewMemoryBudget(cfg.messageMemory()), AllowOrigins: cfg.AllowOrigins, IdleTimeout: max(cfg.IdleTimeout, 0),
		Tracer: cfg.Tracer, Node: "glassnet", Compress: !cfg.NoCompression, limit: s.limit}
	if frames != nil {
		s.h.FrameHook = frames
	}
	if view != nil {
		if err = view.AddNode(ui.Node{Name: "glassnet", Stack: st, Sockets: s.socks, Egress: cfg.Rules.Egress, Ingress: cfg.Rules.Ingress}); err != nil {
			st.Close()
			return nil, fmt.Errorf("serve: %w", err)
		}
		s.h.FrameHook = view.FrameHook("glassnet")
	}
	return s, nil
}

// startView serves the browser view (--ui) and returns the line that
// says where, or "" when it has none to say.
func (s *server) startView() (string, error) {
	if s.view == nil {
		return "", nil
	}
	if s.cfg.UI.Listener != nil {
		s.view.StartOn(s.cfg.UI.Listener)
		return "", nil
	}
	url, err := s.view.Start(s.cfg.UI.Addr)
	if err != nil {
		return "", fmt.Errorf("serve: %w", UIListenError(err))
	}
	return ui.Announce(url), nil
}

// listenControl opens the control socket that lets `glassnet ss` list the
// stack's sockets and counters. A serve without one still works, so a
// failure is only a note for after the ready line. A serve with the same
// interface name in another network namespace may hold NAME.sock
// already; then this one is NAME-PID.sock.
func (s *server) listenControl() (note string, closeCtl func()) {
	name := s.dev.Name()
	copts := ctl.Options{Node: "glassnet", Counters: s.counters, Log: s.cfg.Log}
	cs, err := ctl.Listen(name, s.socks, copts)
	// Another stack has the name: NAME-PID, or NAME-PID-2 and on when
	// that is taken too (in a lab every stack is PID 1 of its own PID
	// namespace).
	inUse := (*ctl.InUseError)(nil)
	for i := 1; i <= 100 && errors.As(err, &inUse); i++ {
		alt := name + "-" + strconv.Itoa(os.Getpid())
		if i > 1 {
			alt += "-" + strconv.Itoa(i)
		}
		if cs, err = ctl.Listen(alt, s.socks, copts); err == nil {
			note = "glassnet: another glassnet has the control socket " + name + "; see this one with: glassnet ss " + alt
		}
	}
	if err != nil {
		return fmt.Sprintf("glassnet: no control socket, glassnet ss will not see this stack: %v", err), func() {}
	}
	return note, func() { cs.Close() }
}

// counters are what `glassnet ss` prints under the socket table.
func (s *server) counters() map[string]uint64 {
	m := withPathCounters(stackCounters(s.st, s.socks, s.frames), s.st)
	// Packets the kernel dropped before the stack could read them: its
	// queue to the stack (a TUN's) or the socket's buffer (AF_PACKET) full.
	if kd, ok := s.dev.(tun.KernelDropper); ok {
		if r, n, err := kd.KernelDrops(); err == nil {
			m["drop "+string(r)] = n
		}
	}
	m["udp echo read errors"] = s.udpErrors.Load()
	m["memory returned after a load"] = s.memReturns.Load()
	m["tcp accept errors"] = s.acceptErrors.Load()
	for _, o := range s.cfg.Outputs {
		name, n := o.FailedCounter()
		m[name] = n
	}
	s.limit.counters(m)
	s.h.ends.counters(m)
	s.refused.counters(m)
	return m
}

// startServices listens on each of the stack's addresses (HTTP and
// WebSocket, TCP echo and discard, UDP echo) and, with cfg.Kernel, on the
// kernel's stack too.
func (s *server) startServices() error {
	for _, p := range s.st.Addrs() {
		if err := s.serveAddr(p.Addr()); err != nil {
			return err
		}
	}
	if s.cfg.Kernel != "" {
		kl, err := net.Listen("tcp", s.cfg.Kernel)
		if err != nil {
			return fmt.Errorf("serve: --kernel %s: %w", s.cfg.Kernel, err)
		}
		s.kernelAddr = kl.Addr().String() // the port a :0 got
		s.serveHTTP(kl)
	}
	return nil
}

// stopping reports whether err is the stack closing under a service (an
// accept on a closed stack fails with EINVAL): the device went away, or
// serve is shutting down, which serve says itself. The stack's Done may
// come a moment after its sockets fail, and long after when its close
// waits (a capture's reader that stopped, a busy machine); its Err says
// the device went away before the close starts.
func (s *server) stopping(err error) bool {
	if errors.Is(err, net.ErrClosed) || s.st.Err() != nil {
		return true
	}
	select {
	case <-s.st.Done():
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

// keepAliveListener turns on TCP keepalive for every connection it
// accepts, with the times Go's net package gives the kernel's (a probe
// after 15 s of silence, every 15 s, 9 unanswered ones end it): a peer that
// vanished without a FIN or RST (its address gone, its host off) is found
// out and its connection freed, with --idle-timeout 0 too.
type keepAliveListener struct {
	*sockets.Listener
	socks *sockets.Sockets
}

func (l keepAliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if sc, ok := c.(*sockets.Conn); ok {
		fd := sc.FD()
		for _, o := range []struct{ level, name, v int }{
			{sockets.IPPROTO_TCP, sockets.TCP_KEEPIDLE, 15},
			{sockets.IPPROTO_TCP, sockets.TCP_KEEPINTVL, 15},
			{sockets.IPPROTO_TCP, sockets.TCP_KEEPCNT, 9},
			{sockets.SOL_SOCKET, sockets.SO_KEEPALIVE, 1},
		} {
			// A connection reset before this refuses them; it needs
			// no keepalive then, and Accept's caller finds it closed.
			l.socks.SetSockOpt(fd, o.level, o.name, o.v)
		}
	}
	return c, err
}

// serveAddr starts every service on one of the stack's addresses.
func (s *server) serveAddr(a netip.Addr) error {
	hostPort := func(port int) string { return net.JoinHostPort(a.String(), strconv.Itoa(port)) }
	sl, err := s.socks.Listener("tcp", hostPort(s.cfg.Port))
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", hostPort(s.cfg.Port), err)
	}
	s.serveHTTP(keepAliveListener{sl, s.socks})
	url := "http://" + hostPort(s.cfg.Port) + "/"
	if a.Is6() && a.IsLinkLocalUnicast() {
		// A client needs the zone, the interface, to reach it (RFC 6874).
		url = "http://[" + a.String() + "%25" + s.dev.Name() + "]:" + strconv.Itoa(s.cfg.Port) + "/"
	}
	s.urls = append(s.urls, url)
	for _, svc := range []struct {
		port int
		echo bool
	}{{EchoPort, true}, {DiscardPort, false}} {
		sl, err := s.socks.Listener("tcp", hostPort(svc.port))
		if err != nil {
			return fmt.Errorf("serve: listen on %s: %w", hostPort(svc.port), err)
		}
		l := keepAliveListener{sl, s.socks}
		fn := tcpService(svc.echo, s.cfg.IdleTimeout, s.limit, s.socks)
		loop := &retry.Loop{What: "tcp accept on " + hostPort(svc.port), Errors: &s.acceptErrors, Log: s.cfg.Log, Stopping: s.stopping}
		s.goServe(l, func() { serveTCP(l, fn, s.limit, loop) })
	}
	pc, err := s.socks.ListenPacket("udp", hostPort(s.cfg.Port))
	if err != nil {
		return fmt.Errorf("serve: listen on udp %s: %w", hostPort(s.cfg.Port), err)
	}
	s.goServe(pc, func() { echoUDP(pc, &s.udpErrors, s.cfg.Log) })
	return nil
}

// serveHTTP serves the handlers on l, within the connection limit.
func (s *server) serveHTTP(l net.Listener) {
	srv := newHTTPServer(s.h.Mux())
	if s.cfg.IdleTimeout > 0 {
		srv.IdleTimeout = s.cfg.IdleTimeout
	}
	s.limit.limitHTTP(srv)
	s.refused.watch(srv)
	s.https = append(s.https, srv)
	s.goServe(l, func() {
		// net/http retries what it takes for temporary; anything else
		// ends the service, which must not go unsaid.
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !s.stopping(err) {
			s.acceptErrors.Add(1)
			fmt.Fprintf(s.cfg.Log, "glassnet: http on %s stopped: %v\n", l.Addr(), err)
		}
	})
}

// reset closes c with RST instead of FIN (SO_LINGER 0): a connection
// turned away at the bound learns it at once.
func (s *server) reset(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok { // *sockets.Conn, *net.TCPConn
		l.SetLinger(0)
	}
	c.Close()
}

// goServe runs serve in a goroutine until l is closed.
func (s *server) goServe(l io.Closer, serve func()) {
	s.closers = append(s.closers, l)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		serve()
	}()
}

// closeServices closes every listener and waits for the services to end.
func (s *server) closeServices() {
	for _, c := range s.closers {
		c.Close()
	}
	s.closers = nil
	s.wg.Wait()
}

// readyLine says where everything serves.
func (s *server) readyLine() string {
	var offloads string
	if s.cfg.TUN != "" {
		offloads = ", offloads " + offloadNote(s.st.Offloads())
	}
	line := fmt.Sprintf("glassnet: serving %s on %s (%s, MTU %d%s); WebSocket /echo /chat; udp echo :%d; tcp echo :%d, discard :%d",
		strings.Join(s.urls, " and "), s.dev.Name(), s.where, s.dev.MTU(), offloads, s.cfg.Port, EchoPort, DiscardPort)
	if s.kernelAddr != "" {
		line += "; kernel stack http://" + s.kernelAddr + "/"
		if host, _, err := net.SplitHostPort(s.kernelAddr); err == nil {
			if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
				line += " (every interface of the host)"
			}
		}
	}
	return line
}

// shutdown sends close 1001 to every WebSocket client, stops the HTTP
// servers (within a second) and says what the link moved and what the
// hooks decided.
// shutdownGrace is how long shutdown lets HTTP requests under way finish.
const shutdownGrace = time.Second

func (s *server) shutdown() {
	fmt.Fprintln(s.cfg.Log, "glassnet: shutting down: close 1001 to every WebSocket client")
	if s.view != nil {
		s.view.Close() // releases what it held
	}
	s.h.CloseAll()
	// A second for the requests under way (the page is small); then
	// what is left is closed. net/http's Shutdown waits for a connection
	// that has not sent its whole request head for as long as it lasts
	// (until ReadHeaderTimeout), so a few clients that trickle a head
	// used to hold the exit for seconds.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, srv := range s.https {
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	}
	stats := s.st.Stats()
	fmt.Fprintln(s.cfg.Log, "glassnet: link: "+linkSummary(stats)+kernelDropNote(s.dev))
	if v := verdictSummary(stats, s.frames); v != "" {
		fmt.Fprintln(s.cfg.Log, "glassnet: hooks: "+v)
	}
}

// offloadNote names the offloads a stack uses on its TUN, or says "off".
func offloadNote(o tun.Offload) string {
	if o == 0 {
		return "off"
	}
	return o.String()
}

// withPathCounters adds to what `glassnet ss` shows the counters of the
// fast path: segmentation offload, the device writes on the way out (and
// the packets that waited in the egress queue of a device that batches
// its writes), and TCP's timers (retransmission timeouts, tail loss
// probes, ACKs the delayed-ACK timer had to send), segment queue drops,
// the listen queues' overflows (SYN cookies), the segments dropped as
// RFC 5961 and PAWS have it and the ACKs that answer them, and the ICMP
// errors the rate limit held back.
func withPathCounters(m map[string]uint64, st *netstack.Stack) map[string]uint64 {
	s := st.Stats()
	m["gso super-packets in"] = s.GSOIn
	m["gso segments in"] = s.GSOSegmentsIn
	m["gso super-packets out"] = s.GSOOut
	m["gso segments out"] = s.GSOSegmentsOut
	m["gso split in"] = s.SplitIn
	m["gso split out"] = s.SplitOut
	m["device writes"] = s.DeviceWrites
	m["packets queued out"] = s.QueuedOut
	t := st.Stack().Stats().TCP
	m["tcp retransmission timeouts"] = t.Timeouts.Value()
	m["tcp tail loss probes"] = t.TailLossProbes.Value()
	m["tcp delayed acks by timer"] = t.DelayedACKTimeouts.Value()
	m["tcp segment queue drops"] = t.SegmentQueueDropped.Value()
	// Connections closed with data unacknowledged (orphans), and those
	// reset at their close past the stack's bound on them (netstack
	// Options.MaxOrphans, MaxOrphanBytes), as Linux's TCPAbortOnMemory.
	m["tcp orphans sending"] = t.Orphans.Value()
	m["tcp orphans sending, bytes at close"] = t.OrphanBytes.Value()
	m["tcp orphans reset: too many"] = t.OrphanResetsCount.Value()
	m["tcp orphans reset: too many bytes"] = t.OrphanResetsBytes.Value()
	// A listener whose half-open connections reach its backlog (a SYN
	// flood, as Linux's SyncookiesSent and ListenDrops show it).
	m["tcp syn cookies sent"] = t.ListenOverflowSynCookieSent.Value()
	m["tcp syn cookies accepted"] = t.ListenOverflowSynCookieRcvd.Value()
	m["tcp syn cookies invalid"] = t.ListenOverflowInvalidSynCookieRcvd.Value()
	m["tcp listen syns dropped (accept queue full)"] = t.ListenOverflowSynDrop.Value()
	m["tcp listen acks dropped (accept queue full)"] = t.ListenOverflowAckDrop.Value()
	// Segments a synchronized connection drops as Linux does and the ACKs
	// that answer them (gVisor patches 84, 85 and 88), as nstat shows
	// TcpExtPAWSEstab, TcpExtTCPChallengeACK, TcpExtTCPSYNChallenge and
	// TcpExtTCPACKSkippedSeq, PAWS and Challenge (Linux counts the two
	// kinds of ACK RFC 5961 refuses only as drop reasons).
	m["tcp drops: ack of data never sent"] = t.AckUnsentDropped.Value()
	m["tcp drops: ack older than any window"] = t.AckTooOldDropped.Value()
	m["tcp drops: paws (timestamp too old)"] = t.PAWSRejected.Value()
	m["tcp challenge acks sent"] = t.ChallengeACKs.Value()
	m["tcp syns challenged"] = t.SYNChallenges.Value()
	m["tcp acks rate limited: out of window"] = t.ACKsSkippedSeq.Value()
	m["tcp acks rate limited: paws"] = t.ACKsSkippedPAWS.Value()
	m["tcp acks rate limited: challenge"] = t.ACKsSkippedChallenge.Value()
	// ICMP errors (port unreachable, ...) not sent for the rate limit, per
	// destination and in all, as Linux's icmp_ratelimit and
	// icmp_msgs_per_sec hold them back (gVisor patch 75).
	icmp := st.Stack().Stats().ICMP
	m["icmp errors rate limited"] = icmp.V4.PacketsSent.RateLimited.Value() + icmp.V6.PacketsSent.RateLimited.Value()
	return m
}

// linkSummary says what the link moved and dropped: "1234 packets in, 1180
// out, 2 dropped (other-host 2)", how many were super-packets, and what
// the stack dropped above the link ("; 5 dropped by the stack above the
// link (tcp-checksum 5)").
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
	var above []string
	var n uint64
	for r, c := range s.Malformed.Reasons() {
		above = append(above, fmt.Sprintf("%s %d", r, c))
		n += c
	}
	if n > 0 {
		sort.Strings(above)
		line += fmt.Sprintf("; %d dropped by the stack above the link (%s)", n, strings.Join(above, ", "))
	}
	return line
}

// kernelDropNote says, for the link summary, how many packets for the
// stack the device's kernel side dropped before the stack read them:
// "; 12 dropped by the kernel before the stack read them (tun-queue-full)",
// or "" when none was or it cannot be told.
func kernelDropNote(dev tun.Device) string {
	kd, ok := dev.(tun.KernelDropper)
	if !ok {
		return ""
	}
	r, n, err := kd.KernelDrops()
	if err != nil || n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d dropped by the kernel before the stack read them (%s)", n, r)
}

// openDevice opens the TUN or the NIC that cfg names and configures the
// kernel side. It also returns a note on the kernel side for the ready
// line.
func openDevice(cfg ServeConfig) (tun.Device, string, error) {
	if cfg.NIC != "" {
		if err := checkKernelAddrs(cfg.Addrs, "would answer ARP and neighbor solicitations for it on the wire and reset the stack's connections"); err != nil {
			return nil, "", configErr(err)
		}
		dev, err := tun.OpenPacketSocket(tun.PacketSocketConfig{Name: cfg.NIC, HardwareAddr: cfg.MAC, Promiscuous: cfg.Promiscuous})
		if err != nil {
			return nil, "", fmt.Errorf("serve: %w", commandWords(err))
		}
		where := "AF_PACKET, MAC " + dev.HardwareAddr().String()
		if dev.Promiscuous() {
			where += ", promiscuous"
		}
		return dev, where, nil
	}
	if err := checkKernelAddrs(cfg.Addrs, "would keep every packet to it for itself and never send one into "+cfg.TUN); err != nil {
		return nil, "", configErr(err)
	}
	tcfg := tun.Config{Name: cfg.TUN, MTU: cfg.MTU, NoHostConfig: cfg.NoHostConfig, NoOffload: cfg.NoOffload}
	var hosts []netip.Prefix
	if !cfg.NoHostConfig {
		var err error
		if hosts, err = hostAddrs("serve", cfg.Addrs, cfg.HostAddrs); err != nil {
			return nil, "", configErr(err)
		}
		if len(hosts) > 0 {
			tcfg.HostAddr = hosts[0]
		}
	} else if len(cfg.HostAddrs) != 0 {
		return nil, "", errors.New("serve: --host-addr and --no-host-config exclude each other")
	}
	dev, err := tun.Open(tcfg)
	if err != nil {
		return nil, "", fmt.Errorf("serve: %w", commandWords(err))
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
// or else the first host address of each of the stack's prefixes. cmd is
// "serve" or "lab", for the message when one is the stack's own.
func hostAddrs(cmd string, stack, given []netip.Prefix) ([]netip.Prefix, error) {
	hosts := given
	if len(hosts) == 0 {
		for _, p := range stack {
			// Two stack addresses on one network share the kernel side's.
			if h := tun.HostAddrFor(p); h.IsValid() && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	for _, h := range hosts {
		for _, p := range stack {
			if h.Addr() != p.Addr() {
				continue
			}
			if len(given) > 0 {
				return nil, fmt.Errorf("%s: --host-addr %v: %v is the stack's own (--addr %v); give the kernel side another address on that network", cmd, h, h.Addr(), p)
			}
			other := "give the stack another address"
			if cmd == "serve" {
				other += ", or the kernel side one with --host-addr"
			}
			return nil, fmt.Errorf("%s: --addr %v: the kernel side takes the first host address of each prefix, %v, which is the stack's own; %s", cmd, p, h.Addr(), other)
		}
	}
	return hosts, nil
}

// checkKernelAddrs refuses a stack address that the kernel owns on any
// interface. On a shared wire the kernel would answer ARP and neighbor
// solicitations for it and reset the stack's TCP connections; behind a
// TUN it would deliver packets to the address locally, so that they never
// reach the stack. consequence says which, for the message.
func checkKernelAddrs(stack []netip.Prefix, consequence string) error {
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
					return fmt.Errorf("serve: the kernel has the stack's address %v on %s and %s; remove it (ip addr del %v/%d dev %s) or pick another --addr",
						p.Addr(), ifc.Name, consequence, ka.Unmap(), ones, ifc.Name)
				}
			}
		}
	}
	return nil
}

// echoUDP sends every datagram back to where it came from until pc is
// closed (RFC 862). A read error other than the close is counted in errs
// and retried after a pause; after a run of them echoUDP gives up and says
// so on log (retry.Loop). (An unconnected UDP socket has no error to
// report but its close: a run of them means the socket is broken.)
func echoUDP(pc net.PacketConn, errs *atomic.Uint64, log io.Writer) {
	buf := make([]byte, 64<<10)
	loop := retry.Loop{What: fmt.Sprintf("udp echo on %v", pc.LocalAddr()), Errors: errs, Log: log}
	for {
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			loop.OK()
			pc.WriteTo(buf[:n], from)
			continue
		}
		if !loop.Again(err) {
			return
		}
	}
}
