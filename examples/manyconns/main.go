// Manyconns opens many concurrent WebSocket connections to ONE server port
// on a userspace stack and reports what they cost. A connection is its
// 4-tuple (source address, source port, destination address, destination
// port), not its port: the client stack owns many source addresses, so
// 100,000 connections reach the same 10.0.0.1:80 although no address uses
// more than a thousand ports (the "65,535 ports" limit is per source
// address, toward one destination; the server's side of every connection
// is the same port 80).
//
// The server stack and the client stack are wired back to back over an
// in-memory link (tun.Pipe). The server has one accept loop; each
// connection is upgraded on a goroutine that ends with the handshake, and
// from then on it is served from notifications only (ws.Conn.NotifyReadable
// over sockets.Conn.NotifyReadable): an idle connection is its TCP
// endpoint, its socket and its ws.Conn, with one entry on the endpoint's
// wait queue and no goroutine, no stack and no buffer. A ping is answered
// by the notification's own short-lived goroutine; a message is echoed by
// the callback, which then waits again.
//
// Every connection is opened, upgraded, pinged and sent one message that
// must come back; then the client stack is silenced (a link egress hook
// drops everything it sends, so the server sees no FIN or RST) and closed,
// so that what remains in the process is the server with N idle
// connections. It prints the time to establish them all, the server's heap
// (live objects after GC) and goroutine stacks per idle connection, minus
// the server stack's own baseline, and its goroutines per connection; with
// -owners, the heap per connection broken down by owner (gVisor's TCP
// endpoint, demuxer, routes, timers; the sockets layer; ws).
//
// The heap spans in use are printed too. With both stacks in one process
// they exceed the live objects by more than the server alone would: the
// two stacks allocate the same kinds of objects at the same time, sharing
// spans, and once the client's objects are freed the server's sit in
// half-empty spans. -client-process runs the client stack in a child
// process instead (this program again), linked to the server by a
// SOCK_SEQPACKET socket pair, one packet per message: the server's process
// then holds nothing of the client's, and its spans, stacks and peak RSS
// are the server's own.
//
//	go run ./examples/manyconns -n 100000 -owners
//	go run ./examples/manyconns -n 100000 -client-process
package main

import (
	"bytes"
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
	"strconv"
	"strings"
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
	if os.Getenv(clientEnv) == "1" {
		os.Exit(clientMain(context.Background(), os.Args[1:]))
	}
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
	n             int
	perAddr       int
	parallel      int
	memprofile    string
	cpuprofile    string
	owners        bool
	cc            string
	clientProcess bool
}

func parseOptions(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("manyconns", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.IntVar(&o.n, "n", 100000, "connections to open")
	fs.IntVar(&o.perAddr, "per-addr", 1000, "connections per client source address")
	fs.IntVar(&o.parallel, "parallel", 256, "connections being opened at once")
	fs.StringVar(&o.memprofile, "memprofile", "", "write the server's heap profile (idle connections) to this file")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.BoolVar(&o.owners, "owners", false, "break the server's memory per connection down by owner (gVisor endpoint, demuxer, sockets, ws...)")
	fs.StringVar(&o.cc, "cc", "cubic", "the server stack's congestion control, cubic or reno (reno keeps about 160 bytes less per connection)")
	fs.BoolVar(&o.clientProcess, "client-process", false, "run the client stack in a child process, linked to the server by a SOCK_SEQPACKET socket pair, so that the server's process holds nothing of the client's")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.n <= 0 || o.perAddr <= 0 || o.parallel <= 0 {
		return o, errors.New("-n, -per-addr and -parallel must be positive")
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseOptions(args, out)
	if err != nil {
		return err
	}
	if o.memprofile != "" || o.owners {
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

	var (
		sdev tun.Device
		cdev tun.Device // the client's end, in this process
		cend *os.File   // the client's end, for a child process
	)
	if o.clientProcess {
		var send *os.File
		if send, cend, err = packetPair(); err != nil {
			return err
		}
		defer cend.Close()
		if sdev, err = newPacketDevice("server", send); err != nil {
			return err
		}
	} else {
		sdev, cdev = tun.Pipe(tun.PipeOptions{NameA: "server", NameB: "client", QueueLen: 4096})
	}
	server, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{serverAddr}, Node: "server", CongestionControl: o.cc})
	if err != nil {
		if cdev != nil {
			cdev.Close()
		}
		return err
	}
	defer server.Close()
	srv := newServer(sockets.New(server.Stack(), sockets.Options{Node: "server"}))
	if err := srv.listen(netip.AddrPortFrom(serverAddr.Addr(), serverPort)); err != nil {
		if cdev != nil {
			cdev.Close()
		}
		return err
	}
	defer srv.close()

	base := measure()
	var baseOwners map[string]float64
	if o.owners {
		baseOwners = heapByOwner()
	}

	var both usage
	if o.clientProcess {
		// The child opens, pings and echoes every connection, reports
		// as it goes, and exits without a word on the link once told:
		// the server keeps N established, idle connections.
		if err := runClientProcess(ctx, cend, args, out); err != nil {
			return err
		}
	} else {
		client, conns, err := clientSide(ctx, cdev, o, out)
		if err != nil {
			return err
		}
		// How much the heap spans exceed the live objects while both
		// stacks are alive.
		both = measure()

		// Silence the client and let it go: the server keeps N
		// established, idle connections, each with a notification armed.
		client.SetEgress(hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict {
			return hook.Verdict{Action: hook.Drop, Reason: "client-gone"}
		})))
		client.Close()
		clear(conns)
	}
	settle(base.goroutines)

	after := measure()
	open := srv.open.Load()
	if open != int64(o.n) {
		return fmt.Errorf("server has %d open connections, want %d", open, o.n)
	}
	n := float64(o.n)
	live := float64(after.live) - float64(base.live)
	inuse := float64(after.inuse) - float64(base.inuse)
	stacks := float64(after.stacks) - float64(base.stacks)
	fmt.Fprintf(out, "server, %d idle connections: heap %.1f MiB (%.0f B/conn), goroutine stacks %.1f MiB (%.0f B/conn), total %.0f B/conn\n",
		o.n, live/(1<<20), live/n, stacks/(1<<20), stacks/n, (live+stacks)/n)
	if o.clientProcess {
		fmt.Fprintf(out, "heap spans in use %.0f B/conn, %.0f B/conn more than the live objects (the client ran in another process); with stacks %.0f B/conn\n",
			inuse/n, (inuse-live)/n, (inuse+stacks)/n)
	} else {
		fmt.Fprintf(out, "heap spans in use %.0f B/conn, %.0f B/conn more than the live objects: holes the client stack's freed objects left in spans shared with the server's (with both stacks alive the spans exceeded the live objects by %.1f%%; -client-process measures without them)\n",
			inuse/n, (inuse-live)/n, 100*(float64(both.inuse)/float64(both.live)-1))
	}
	fmt.Fprintf(out, "goroutines per connection: %.2f (%d in the process over a baseline of %d)\n",
		float64(after.goroutines-base.goroutines)/n, after.goroutines, base.goroutines)
	if o.owners {
		printOwners(out, baseOwners, heapByOwner(), o.n)
	}
	if hwm := peakRSS(); hwm > 0 {
		what := "both stacks, all connections, both ends"
		if o.clientProcess {
			what = "the server alone"
		}
		fmt.Fprintf(out, "process peak RSS %.0f MiB (%s)\n", float64(hwm)/(1<<20), what)
	}
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

// clientSide builds the client stack on dev, then opens, pings and echoes
// every connection, reporting each step to out.
func clientSide(ctx context.Context, dev tun.Device, o options, out io.Writer) (*netstack.Stack, []*ws.Conn, error) {
	srcs := make([]netip.Prefix, (o.n+o.perAddr-1)/o.perAddr)
	a := clientBase
	for i := range srcs {
		srcs[i] = netip.PrefixFrom(a, serverAddr.Bits())
		a = a.Next()
	}
	client, err := netstack.New(netstack.Options{Device: dev, Addrs: srcs, Node: "client"})
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "server %s:%d (one port); client %d source addresses %s..%s, up to %d connections each\n",
		serverAddr.Addr(), serverPort, len(srcs), srcs[0].Addr(), srcs[len(srcs)-1].Addr(), o.perAddr)

	start := time.Now()
	conns, err := dialAll(ctx, client, srcs, o)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	established := time.Since(start)
	fmt.Fprintf(out, "established %d WebSocket connections in %v (%.0f/s)\n",
		len(conns), established.Round(time.Millisecond), float64(len(conns))/established.Seconds())

	start = time.Now()
	pongs, echoes, err := pingAll(ctx, conns, o.parallel)
	fmt.Fprintf(out, "pinged every connection and echoed a message on each in %v: %d pongs, %d echoes\n",
		time.Since(start).Round(time.Millisecond), pongs, echoes)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, conns, nil
}

// usage is the process's memory after a full collection: live is the
// heap objects still reachable (HeapAlloc once the sweep is done), inuse
// the heap spans holding them (HeapInuse), stacks the goroutine stacks.
type usage struct {
	live, inuse, stacks uint64
	goroutines          int
}

// settle gives the goroutines that are ending (the client stack's, the
// last callbacks' on a loaded machine) time to end, up to a few seconds:
// the measurement is of the connections at rest.
func settle(baseline int) {
	time.Sleep(200 * time.Millisecond)
	// at or below the baseline three times in a row: a timer's goroutine
	// comes and goes, and one low sample can fall between two of them
	for deadline, calm := time.Now().Add(5*time.Second), 0; calm < 3 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if runtime.NumGoroutine() > baseline {
			calm = 0
		} else {
			calm++
		}
	}
}

// peakRSS is the process's peak resident set size in bytes (VmHWM), or 0
// where /proc does not say.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func measure() usage {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{live: m.HeapAlloc, inuse: m.HeapInuse, stacks: m.StackInuse, goroutines: heldGoroutines()}
}

// heldGoroutines is the fewest goroutines over a tenth of a second: those
// that stay, without the ones the stacks' timers start for a moment (the
// collections just before wake many of them at once).
func heldGoroutines() int {
	n := runtime.NumGoroutine()
	for range 5 {
		time.Sleep(20 * time.Millisecond)
		n = min(n, runtime.NumGoroutine())
	}
	return n
}

// server accepts on one port and echoes every message, with no goroutine
// per idle connection.
type server struct {
	socks *sockets.Sockets
	ln    net.Listener
	open  atomic.Int64
	// wg counts the accept loop, and each connection from its accept
	// until it ends.
	wg sync.WaitGroup
}

func newServer(s *sockets.Sockets) *server { return &server{socks: s} }

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
			s.wg.Add(1)
			go s.upgrade(nc)
		}
	})
	return nil
}

// upgrade runs the handshake, then hands the connection to notifications;
// its goroutine ends here.
func (s *server) upgrade(nc net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	c, err := ws.Upgrade(ctx, nc, nil)
	cancel()
	if err != nil {
		nc.Close()
		s.wg.Done()
		return
	}
	s.open.Add(1)
	sc := &serverConn{s: s, c: c}
	sc.next = sc.serve
	c.NotifyReadable(sc.next)
}

// serverConn is what an idle connection holds beyond its ws.Conn: the
// callback its notification calls.
type serverConn struct {
	s    *server
	c    *ws.Conn
	next func()
}

// serve runs on a notification's goroutine once a message has arrived (or
// the connection has ended): it echoes the message and waits again.
func (sc *serverConn) serve() {
	ctx := context.Background()
	typ, p, err := sc.c.ReadMessage(ctx)
	if err == nil {
		err = sc.c.WriteMessage(ctx, typ, p)
	}
	if err != nil {
		sc.c.CloseNow()
		sc.s.open.Add(-1)
		sc.s.wg.Done()
		return
	}
	sc.c.NotifyReadable(sc.next)
}

// close ends every connection without a close handshake (the peers are
// gone) and waits until each has run its last callback. Nothing lists the
// connections but the socket table: closing a descriptor wakes its
// pending notification, whose read then fails.
func (s *server) close() {
	s.ln.Close()
	for _, row := range s.socks.Table() {
		s.socks.Close(row.FD)
	}
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

// pingAll pings every connection and waits for its pong (Ping needs no
// reader), then sends it a message and reads the echo. It returns how many
// pongs and echoes came back.
func pingAll(ctx context.Context, conns []*ws.Conn, parallel int) (pongs, echoes int64, err error) {
	var (
		next      atomic.Int64
		np, ne    atomic.Int64
		wg        sync.WaitGroup
		once      sync.Once
		first     error
		msg       = []byte("hello from the client")
		pingBytes = []byte("are you there")
	)
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				c := conns[i]
				pctx, cancel := context.WithTimeout(ctx, time.Minute)
				err := c.Ping(pctx, pingBytes)
				if err == nil {
					np.Add(1)
					err = c.WriteMessage(pctx, ws.MessageBinary, msg)
				}
				var p []byte
				if err == nil {
					_, p, err = c.ReadMessage(pctx)
				}
				cancel()
				if err == nil && !bytes.Equal(p, msg) {
					err = fmt.Errorf("echo %q, want %q", p, msg)
				}
				if err != nil {
					once.Do(func() { first = fmt.Errorf("connection %d: %w", i, err) })
					return
				}
				ne.Add(1)
			}
		})
	}
	wg.Wait()
	return np.Load(), ne.Load(), first
}
