// Manyconns opens many concurrent WebSocket connections to ONE server port
// on a userspace stack and reports what they cost. A connection is its
// 4-tuple (source address, source port, destination address, destination
// port), not its port: the client stack owns many source addresses, so
// 100,000 connections reach the same 10.0.0.1:80 although no address uses
// more than a thousand ports (the "65,535 ports" limit is per source
// address, toward one destination).
//
// The server stack and the client stack are wired back to back over an
// in-memory link (tun.Pipe). Every connection is opened, upgraded and pinged;
// then the client stack is silenced (a link egress hook drops everything it
// sends, so the server sees no FIN or RST) and closed, so that what remains
// in the process is the server with N idle connections. It prints the time
// to establish them all, the server's heap and goroutine stacks per idle
// connection (after GC, minus the server stack's own baseline) and its
// goroutines per connection.
//
//	go run ./examples/manyconns -n 100000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "manyconns:", err)
		os.Exit(1)
	}
}

var (
	serverAddr = netip.MustParsePrefix("10.0.0.1/8")
	// The client's addresses are 10.1.0.1, 10.1.0.2, ... in the same /8.
	clientBase = netip.MustParseAddr("10.1.0.1")
)

const serverPort = 80

type options struct {
	n          int
	perAddr    int
	parallel   int
	memprofile string
	cpuprofile string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("manyconns", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.IntVar(&o.n, "n", 100000, "connections to open")
	fs.IntVar(&o.perAddr, "per-addr", 1000, "connections per client source address")
	fs.IntVar(&o.parallel, "parallel", 256, "connections being opened at once")
	fs.StringVar(&o.memprofile, "memprofile", "", "write the server's heap profile (idle connections) to this file")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.memprofile != "" {
		runtime.MemProfileRate = 4096
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.n <= 0 || o.perAddr <= 0 || o.parallel <= 0 {
		return errors.New("-n, -per-addr and -parallel must be positive")
	}

	da, db := tun.Pipe(tun.PipeOptions{NameA: "server", NameB: "client", QueueLen: 4096})
	server, err := netstack.New(netstack.Options{Device: da, Addrs: []netip.Prefix{serverAddr}, Node: "server"})
	if err != nil {
		db.Close()
		return err
	}
	defer server.Close()
	srv := newServer(sockets.New(server.Stack(), sockets.Options{Node: "server"}))
	if err := srv.listen(netip.AddrPortFrom(serverAddr.Addr(), serverPort)); err != nil {
		db.Close()
		return err
	}
	defer srv.close()

	base := measure()

	srcs := make([]netip.Prefix, (o.n+o.perAddr-1)/o.perAddr)
	a := clientBase
	for i := range srcs {
		srcs[i] = netip.PrefixFrom(a, serverAddr.Bits())
		a = a.Next()
	}
	client, err := netstack.New(netstack.Options{Device: db, Addrs: srcs, Node: "client"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server %s:%d (one port); client %d source addresses %s..%s, up to %d connections each\n",
		serverAddr.Addr(), serverPort, len(srcs), srcs[0].Addr(), srcs[len(srcs)-1].Addr(), o.perAddr)

	start := time.Now()
	conns, err := dialAll(ctx, client, srcs, o)
	if err != nil {
		client.Close()
		return err
	}
	established := time.Since(start)
	fmt.Fprintf(out, "established %d WebSocket connections in %v (%.0f/s)\n",
		len(conns), established.Round(time.Millisecond), float64(len(conns))/established.Seconds())

	start = time.Now()
	if err := pingAll(ctx, conns, o.parallel); err != nil {
		client.Close()
		return err
	}
	fmt.Fprintf(out, "pinged every connection in %v\n", time.Since(start).Round(time.Millisecond))

	// Silence the client and let it go: the server keeps N established,
	// idle connections, each with its handler waiting for a message.
	client.SetEgress(hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict {
		return hook.Verdict{Action: hook.Drop, Reason: "client-gone"}
	})))
	client.Close()
	clear(conns)
	conns = nil
	time.Sleep(200 * time.Millisecond)

	after := measure()
	open := srv.open.Load()
	if open != int64(o.n) {
		return fmt.Errorf("server has %d open connections, want %d", open, o.n)
	}
	n := float64(o.n)
	heap := float64(after.heap) - float64(base.heap)
	stacks := float64(after.stacks) - float64(base.stacks)
	fmt.Fprintf(out, "server, %d idle connections: heap in use %.1f MiB (%.0f B/conn), goroutine stacks %.1f MiB (%.0f B/conn), total %.0f B/conn\n",
		o.n, heap/(1<<20), heap/n, stacks/(1<<20), stacks/n, (heap+stacks)/n)
	fmt.Fprintf(out, "goroutines per connection: %.2f (%d in the process over a baseline of %d)\n",
		float64(after.goroutines-base.goroutines)/n, after.goroutines, base.goroutines)
	if o.memprofile != "" {
		f, err := os.Create(o.memprofile)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}

type usage struct {
	heap, stacks uint64
	goroutines   int
}

func measure() usage {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{heap: m.HeapInuse, stacks: m.StackInuse, goroutines: runtime.NumGoroutine()}
}

// server accepts on one port and runs a WebSocket echo per connection.
type server struct {
	socks *sockets.Sockets
	ln    net.Listener
	open  atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[*ws.Conn]struct{}
}

func newServer(s *sockets.Sockets) *server {
	return &server{socks: s, conns: map[*ws.Conn]struct{}{}}
}

func (s *server) listen(ap netip.AddrPort) error {
	ln, err := s.socks.Listener("tcp4", ap.String())
	if err != nil {
		return err
	}
	s.ln = ln
	s.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.handle(nc) })
		}
	})
	return nil
}

func (s *server) handle(nc net.Conn) {
	defer nc.Close()
	ctx := context.Background()
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	c, err := ws.Upgrade(hctx, nc, nil)
	cancel()
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.open.Add(1)
	defer func() {
		s.open.Add(-1)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	for {
		typ, p, err := c.ReadMessage(ctx)
		if err != nil {
			return
		}
		if err := c.WriteMessage(ctx, typ, p); err != nil {
			return
		}
	}
}

// close ends every connection without a close handshake (the peers are
// gone) and waits for the handlers.
func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.CloseNow()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// dialAll opens o.n WebSocket connections from the client stack, o.perAddr
// from each source address, o.parallel at a time.
func dialAll(ctx context.Context, client *netstack.Stack, srcs []netip.Prefix, o options) ([]*ws.Conn, error) {
	conns := make([]*ws.Conn, o.n)
	remote := tcpip.FullAddress{Addr: tcpip.AddrFrom4(serverAddr.Addr().As4()), Port: serverPort}
	url := fmt.Sprintf("ws://%s:%d/", serverAddr.Addr(), serverPort)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range o.parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.n || ctx.Err() != nil {
					return
				}
				src := srcs[i/o.perAddr].Addr()
				local := tcpip.FullAddress{NIC: client.NICID(), Addr: tcpip.AddrFrom4(src.As4())}
				c, err := dialOne(ctx, client, local, remote, url)
				if err != nil {
					once.Do(func() {
						first = fmt.Errorf("connection %d from %s: %w", i, src, err)
						cancel()
					})
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if first != nil {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
		return nil, first
	}
	return conns, nil
}

func dialOne(ctx context.Context, client *netstack.Stack, local, remote tcpip.FullAddress, url string) (*ws.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	nc, err := gonet.DialTCPWithBind(ctx, client.Stack(), local, remote, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	c, _, err := ws.Client(ctx, nc, url, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// pingAll pings every connection and waits for its pong. A pong is
// delivered by the connection's reader, so each connection gets one; the
// readers end when the client stack goes away.
func pingAll(ctx context.Context, conns []*ws.Conn, parallel int) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				c := conns[i]
				go func() {
					for {
						if _, _, err := c.ReadMessage(context.Background()); err != nil {
							return
						}
					}
				}()
				pctx, cancel := context.WithTimeout(ctx, time.Minute)
				err := c.Ping(pctx, []byte("are you there"))
				cancel()
				if err != nil {
					once.Do(func() { first = fmt.Errorf("ping %d: %w", i, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
