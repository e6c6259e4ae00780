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
	"strconv"
	"sync"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// ServeConfig is what `glassnet serve` takes.
type ServeConfig struct {
	// TUN names the interface to create or attach to.
	TUN string
	// MTU of the interface; 0 means 1500.
	MTU int
	// Addr is the userspace stack's address and prefix (10.200.0.2/24).
	Addr netip.Prefix
	// HostAddr is the kernel side's address; the zero value means the
	// first host address of Addr's prefix (tun.HostAddrFor).
	HostAddr netip.Prefix
	// NoHostConfig leaves the kernel side of the TUN alone.
	NoHostConfig bool
	// Port of the HTTP and WebSocket server; 0 means 8080.
	Port int
	// MaxMessage bounds WebSocket messages; 0 means the ws default.
	MaxMessage int64
	// Kernel, if set, also serves the same handlers on the host's kernel
	// stack at this address (":8081", "127.0.0.1:8081").
	Kernel string
	// Tracer and PCAP record the userspace stack; either may be nil.
	Tracer *trace.Tracer
	PCAP   io.Writer
	// Log receives the ready line and shutdown notes.
	Log io.Writer
}

// Ports of the plain TCP services on the userspace stack.
const (
	EchoPort    = 7
	DiscardPort = 9
)

// Serve runs the userspace stack on a TUN and serves HTTP, WebSocket, echo
// and discard on it until ctx is done; then it sends close 1001 to every
// WebSocket client, closes the listeners and the stack, and returns.
func Serve(ctx context.Context, cfg ServeConfig) error {
	if !cfg.Addr.IsValid() {
		return errors.New("serve: --addr is required (the stack's address, e.g. 10.200.0.2/24)")
	}
	if cfg.Port == 0 {
		cfg.Port = 8080
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	tcfg := tun.Config{Name: cfg.TUN, MTU: cfg.MTU, NoHostConfig: cfg.NoHostConfig}
	if !cfg.NoHostConfig {
		tcfg.HostAddr = cfg.HostAddr
		if !tcfg.HostAddr.IsValid() {
			tcfg.HostAddr = tun.HostAddrFor(cfg.Addr)
		}
		if tcfg.HostAddr.Addr() == cfg.Addr.Addr() {
			return fmt.Errorf("serve: the host address %v is the stack's own address", tcfg.HostAddr)
		}
	}
	dev, err := tun.Open(tcfg)
	if err != nil {
		return err
	}
	st, err := netstack.New(netstack.Options{
		Device: dev,
		Addrs:  []netip.Prefix{cfg.Addr},
		Tracer: cfg.Tracer,
		Node:   "glassnet",
		PCAP:   cfg.PCAP,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	socks := sockets.New(st.Stack(), sockets.Options{Tracer: cfg.Tracer, Node: "glassnet"})

	h := &Handlers{MaxMessage: cfg.MaxMessage, Tracer: cfg.Tracer, Node: "glassnet"}
	var servers []*http.Server
	var wg sync.WaitGroup
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
		wg.Wait()
	}()
	serveHTTP := func(l net.Listener) {
		srv := &http.Server{Handler: h.Mux(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		listeners = append(listeners, l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(l)
		}()
	}

	host := cfg.Addr.Addr().String()
	l, err := socks.Listener("tcp", net.JoinHostPort(host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("serve: listen on port %d: %w", cfg.Port, err)
	}
	serveHTTP(l)
	for _, svc := range []struct {
		port int
		fn   func(net.Conn)
	}{{EchoPort, echoConn}, {DiscardPort, discardConn}} {
		l, err := socks.Listener("tcp", net.JoinHostPort(host, strconv.Itoa(svc.port)))
		if err != nil {
			return fmt.Errorf("serve: listen on port %d: %w", svc.port, err)
		}
		listeners = append(listeners, l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveTCP(l, svc.fn)
		}()
	}
	if cfg.Kernel != "" {
		kl, err := net.Listen("tcp", cfg.Kernel)
		if err != nil {
			return fmt.Errorf("serve: --kernel %s: %w", cfg.Kernel, err)
		}
		serveHTTP(kl)
	}

	url := "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port)) + "/"
	side := "kernel side left as it is"
	if !cfg.NoHostConfig {
		side = "kernel side " + tcfg.HostAddr.String()
	}
	line := fmt.Sprintf("glassnet: serving %s on %s (%s, MTU %d); WebSocket /echo /chat; tcp echo :%d, discard :%d",
		url, dev.Name(), side, dev.MTU(), EchoPort, DiscardPort)
	if cfg.Kernel != "" {
		line += "; kernel stack http://" + cfg.Kernel + "/"
	}
	fmt.Fprintln(cfg.Log, line)

	<-ctx.Done()
	fmt.Fprintln(cfg.Log, "glassnet: shutting down: close 1001 to every WebSocket client")
	h.CloseAll()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdownCtx)
	}
	return nil
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
