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

// TestServeDeviceDeleted deletes the interface under a running serve, a
// TUN or the veth end of --nic: Serve returns an error that says the
// device went away, wrapping netstack.ErrDeviceGone.
func TestServeDeviceDeleted(t *testing.T) {
	t.Run("tun", func(t *testing.T) {
		netnstest.RunTUN(t, func(t *testing.T) {
			serveThenDelete(t, ServeConfig{TUN: "glass0"}, "glass0")
		})
	})
	t.Run("nic", func(t *testing.T) {
		netnstest.Run(t, func(t *testing.T) {
			hosts, err := hostAddrs([]netip.Prefix{stack4}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := labVeth(hosts); err != nil {
				t.Fatal(err)
			}
			serveThenDelete(t, ServeConfig{NIC: LabStackLink}, LabStackLink)
		})
	})
}

// serveThenDelete runs Serve with cfg on 10.200.0.2/24, deletes the
// interface name once it is ready, and checks how Serve ends.
func serveThenDelete(t *testing.T, cfg ServeConfig, name string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := &readyWriter{ch: make(chan string, 4)}
	served := make(chan error, 1)
	cfg.Addrs = []netip.Prefix{stack4}
	cfg.Port = 8080
	cfg.Log = ready
	go func() { served <- Serve(ctx, cfg) }()
	select {
	case <-ready.ch:
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready line")
	}
	if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip link del: %v: %s", err, out)
	}
	select {
	case err := <-served:
		if !errors.Is(err, netstack.ErrDeviceGone) || !strings.Contains(err.Error(), name+" went away") {
			t.Fatalf("Serve = %v, want the device went away", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Serve still running 10 s after %s was deleted", name)
	}
}
