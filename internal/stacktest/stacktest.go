// Package stacktest builds what tests across glassnet share: two userspace
// stacks wired back to back over an in-memory link.
package stacktest

import (
	"net/netip"
	"testing"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/tun"
)

// The addresses of the two stacks a Pair builds.
var (
	ClientPrefix = netip.MustParsePrefix("10.0.0.1/24")
	ServerPrefix = netip.MustParsePrefix("10.0.0.2/24")
)

// Pair builds a client stack (ClientPrefix) and a server stack
// (ServerPrefix) over tun.Pipe(popts), whose ends are named client0 and
// server0 unless popts names them, and returns them with the client's end
// of the link. When the test ends it checks that neither stack dropped a
// packet and closes both; cleanups a test registers after Pair run before.
func Pair(t testing.TB, popts tun.PipeOptions) (client, server *netstack.Stack, clientDev *tun.PipeEnd) {
	t.Helper()
	if popts.NameA == "" && popts.NameB == "" {
		popts.NameA, popts.NameB = "client0", "server0"
	}
	cdev, sdev := tun.Pipe(popts)
	server, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{ServerPrefix}})
	if err != nil {
		cdev.Close()
		t.Fatalf("server stack: %v", err)
	}
	client, err = netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{ClientPrefix}})
	if err != nil {
		server.Close()
		t.Fatalf("client stack: %v", err)
	}
	t.Cleanup(func() {
		for name, st := range map[string]*netstack.Stack{"client": client, "server": server} {
			if s := st.Stats(); s.Dropped() != 0 {
				t.Errorf("%s stack dropped %d packets: %v", name, s.Dropped(), s.Drops)
			}
		}
		// Closing the stacks aborts whatever connection a failed test
		// left open.
		if err := client.Close(); err != nil {
			t.Errorf("client stack Close: %v", err)
		}
		if err := server.Close(); err != nil {
			t.Errorf("server stack Close: %v", err)
		}
	})
	return client, server, cdev
}
