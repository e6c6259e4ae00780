package conformance

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

// linkMTU is the MTU of the in-memory link between the two userspace
// stacks: small, so that frames straddle segments.
const linkMTU = 1280

var (
	clientPrefix = netip.MustParsePrefix("10.0.0.1/24")
	serverPrefix = netip.MustParsePrefix("10.0.0.2/24")
)

// transport is where the peers run: listen on the server side, dial from
// the client side.
type transport struct {
	name   string
	listen func(t *testing.T) net.Listener
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

func loopback() transport {
	var d net.Dialer
	return transport{
		name: "loopback",
		listen: func(t *testing.T) net.Listener {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		dial: d.DialContext,
	}
}

// userspace builds two netstack stacks over tun.Pipe, closed when the test
// ends.
func userspace(t *testing.T) transport {
	t.Helper()
	cdev, sdev := tun.Pipe(tun.PipeOptions{MTU: linkMTU, NameA: "client0", NameB: "server0"})
	server, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{serverPrefix}})
	if err != nil {
		cdev.Close()
		t.Fatal(err)
	}
	client, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{clientPrefix}})
	if err != nil {
		server.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for name, st := range map[string]*netstack.Stack{"client": client, "server": server} {
			if s := st.Stats(); s.Dropped() != 0 {
				t.Errorf("%s stack dropped %d packets: %v", name, s.Dropped(), s.Drops)
			}
		}
		client.Close()
		server.Close()
	})
	cs := sockets.New(client.Stack(), sockets.Options{})
	ss := sockets.New(server.Stack(), sockets.Options{})
	return transport{
		name: "userspace",
		listen: func(t *testing.T) net.Listener {
			l, err := ss.Listener("tcp4", net.JoinHostPort(serverPrefix.Addr().String(), "80"))
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		dial: cs.DialContext,
	}
}

// echo reads messages and writes them back until reading fails.
func echo(c *ws.Conn) error {
	ctx := context.Background()
	for {
		typ, p, err := c.ReadMessage(ctx)
		if err != nil {
			return err
		}
		if err := c.WriteMessage(ctx, typ, p); err != nil {
			return err
		}
	}
}

// acceptServer serves the echo with ws.Accept behind net/http.
func acceptServer(t *testing.T, tr transport) Target {
	l := tr.listen(t)
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, err := ws.Accept(w, r, &ws.AcceptOptions{ConnOptions: ws.ConnOptions{Compression: ws.CompressionOptions{Enabled: true}}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		echo(c)
	})}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return serverTarget(tr, l.Addr().String())
}

// upgradeServer serves the echo with ws.Upgrade on raw connections.
func upgradeServer(t *testing.T, tr transport) Target {
	l := tr.listen(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[nc] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, nc)
					mu.Unlock()
				}()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := ws.Upgrade(ctx, nc, &ws.AcceptOptions{ConnOptions: ws.ConnOptions{Compression: ws.CompressionOptions{Enabled: true}}})
				cancel()
				if err != nil {
					nc.Close()
					return
				}
				defer c.CloseNow()
				echo(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return serverTarget(tr, l.Addr().String())
}

func serverTarget(tr transport, addr string) Target {
	return Target{Server: &ServerTarget{
		Dial: func(ctx context.Context) (net.Conn, error) { return tr.dial(ctx, "tcp", addr) },
		Host: addr, Path: "/echo",
	}}
}

// dialClient is ws.Dial as the client under test.
func dialClient(t *testing.T, tr transport) Target {
	return Target{Client: &ClientTarget{
		Listener: tr.listen(t),
		Connect: func(ctx context.Context, u string, protocols []string) error {
			c, _, err := ws.Dial(ctx, u, &ws.DialOptions{NetDial: tr.dial, Subprotocols: protocols, ConnOptions: ws.ConnOptions{Compression: ws.CompressionOptions{Enabled: true}}})
			if err != nil {
				return err
			}
			defer c.CloseNow()
			return echo(c)
		},
	}}
}

// clientClient is ws.Client on a connection the caller opened.
func clientClient(t *testing.T, tr transport) Target {
	return Target{Client: &ClientTarget{
		Listener: tr.listen(t),
		Connect: func(ctx context.Context, u string, protocols []string) error {
			pu, err := url.Parse(u)
			if err != nil {
				return err
			}
			nc, err := tr.dial(ctx, "tcp", pu.Host)
			if err != nil {
				return err
			}
			defer nc.Close()
			c, _, err := ws.Client(ctx, nc, u, &ws.DialOptions{Subprotocols: protocols, ConnOptions: ws.ConnOptions{Compression: ws.CompressionOptions{Enabled: true}}})
			if err != nil {
				return err
			}
			defer c.CloseNow()
			return echo(c)
		},
	}}
}

// TestConformance runs every case against ws as a server (ws.Accept
// behind net/http, ws.Upgrade on raw connections) and as a client (ws.Dial,
// ws.Client), over kernel loopback and over two userspace stacks. Group 9
// runs at full size (messages up to 16 MiB) against ws.Accept and ws.Dial
// over loopback and against ws.Accept over the userspace stacks, where it
// costs the most time; the other targets, and -short, run it scaled down
// (messages up to 1 MiB, which still span hundreds of segments).
func TestConformance(t *testing.T) {
	targets := []struct {
		name      string
		make      func(*testing.T, transport) Target
		transport string
		short     bool
	}{
		// The longest first: subtests run two at a time.
		{"server/Accept", acceptServer, "userspace", false},
		{"server/Accept", acceptServer, "loopback", false},
		{"server/Upgrade", upgradeServer, "loopback", true},
		{"client/Dial", dialClient, "loopback", false},
		{"client/Client", clientClient, "loopback", true},
		{"client/Dial", dialClient, "userspace", true},
		{"server/Upgrade", upgradeServer, "userspace", true},
		{"client/Client", clientClient, "userspace", true},
	}
	for _, tt := range targets {
		trName := tt.transport
		name := tt.name + "/" + trName
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := loopback()
			if trName == "userspace" {
				tr = userspace(t)
			}
			target := tt.make(t, tr)
			target.Name = name
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			start := time.Now()
			// Groups 12 and 13 run against ws.Accept and ws.Dial over
			// loopback; they cost mostly handshakes.
			opts := Options{Short: tt.short || testing.Short(), Only: only(), NoCompression: tt.short || trName == "userspace"}
			if os.Getenv("GLASSNET_CONFORMANCE_VERBOSE") != "" {
				opts.Progress = func(r Result) { t.Logf("%v %v", r, r.Duration.Round(time.Millisecond)) }
			}
			results, err := Run(ctx, target, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d cases in %v\n%s", len(results), time.Since(start).Round(time.Millisecond), Table(name, results))
			for _, r := range results {
				if !r.Passed() {
					t.Error(r)
				}
			}
		})
	}
}

// only reads GLASSNET_CONFORMANCE_CASES, a comma-separated list of case ID
// prefixes, to run a few cases while working on them.
func only() []string {
	v := strings.TrimSpace(os.Getenv("GLASSNET_CONFORMANCE_CASES"))
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
