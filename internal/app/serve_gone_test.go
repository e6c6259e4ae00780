package app

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/netstack"
)

// TestServeTUNDeleted deletes the TUN under a running serve: Serve returns
// an error that says the device went away (and wraps
// netstack.ErrDeviceGone), and the log says so too.
func TestServeTUNDeleted(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ready := &readyWriter{ch: make(chan string, 4)}
		served := make(chan error, 1)
		go func() {
			served <- Serve(ctx, ServeConfig{
				TUN:   "glass0",
				Addrs: []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")},
				Port:  8080,
				Log:   ready,
			})
		}()
		select {
		case <-ready.ch:
		case err := <-served:
			t.Fatalf("Serve: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no ready line")
		}
		if out, err := exec.Command("ip", "link", "del", "glass0").CombinedOutput(); err != nil {
			t.Fatalf("ip link del: %v: %s", err, out)
		}
		select {
		case err := <-served:
			if !errors.Is(err, netstack.ErrDeviceGone) || !strings.Contains(err.Error(), "glass0 went away") {
				t.Fatalf("Serve = %v, want the device went away", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve still running 10 s after its TUN was deleted")
		}
	})
}
