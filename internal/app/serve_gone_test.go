package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/tun"
	"github.com/vishvananda/netlink"
)

// TestServeDeviceDeleted deletes the interface under a running serve, a
// TUN or the veth end of --nic: Serve returns an error that says the
// device went away and how, wrapping netstack.ErrDeviceGone.
func TestServeDeviceDeleted(t *testing.T) {
	t.Run("tun", func(t *testing.T) {
		netnstest.RunTUN(t, func(t *testing.T) {
			serveThen(t, ServeConfig{TUN: "glass0"}, stack4, "glass0", deleteLink, "interface deleted")
		})
	})
	t.Run("nic", func(t *testing.T) {
		netnstest.Run(t, func(t *testing.T) {
			hosts, err := hostAddrs("serve", []netip.Prefix{stack4}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := labVeth(hosts); err != nil {
				t.Fatal(err)
			}
			serveThen(t, ServeConfig{NIC: LabStackLink}, stack4, LabStackLink, deleteLink, "interface deleted")
		})
	})
}

// TestServeTUNMoved moves the TUN under a running serve to another
// network namespace (ip link set NAME netns OTHER): the descriptor stays
// valid and silent, and Serve returns an error that says where the
// interface went, wrapping netstack.ErrDeviceGone.
func TestServeTUNMoved(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		move := func(t *testing.T, name string) error {
			link, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			return netlink.LinkSetNsFd(link, netnstest.Another(t))
		}
		serveThen(t, ServeConfig{TUN: "gnmv0"}, netip.MustParsePrefix("10.236.0.2/24"), "gnmv0", move, "interface moved to another network namespace")
	})
}

func deleteLink(t *testing.T, name string) error {
	if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link del: %v: %s", err, out)
	}
	return nil
}

// serveThen runs Serve with cfg on addr, does what to the interface name
// once it is ready, and checks that Serve ends with an error that names
// the device and says want.
func serveThen(t *testing.T, cfg ServeConfig, addr netip.Prefix, name string, what func(t *testing.T, name string) error, want string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := &readyWriter{ch: make(chan string, 4)}
	served := make(chan error, 1)
	cfg.Addrs = []netip.Prefix{addr}
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
	if err := what(t, name); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, netstack.ErrDeviceGone) || !strings.Contains(err.Error(), name+" went away") || !strings.Contains(err.Error(), name+": "+want) {
			t.Fatalf("Serve = %v, want the device %s went away: %s", err, name, want)
		}
		t.Logf("Serve = %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("Serve still running 10 s after the interface %s was changed", name)
	}
}

// TestServeDeviceMistakes opens what cannot serve: an interface that is
// not a TUN with --tun, a TUN another process holds, a TUN or loopback
// with --nic, an interface that does not exist. Each error says what to do
// in the command line's words, not the tun package's Go names.
func TestServeDeviceMistakes(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		held, err := tun.Open(tun.Config{Name: "gnheld0", NoHostConfig: true})
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		if out, err := exec.Command("ip", "tuntap", "add", "gnkept0", "mode", "tun").CombinedOutput(); err != nil {
			t.Fatalf("ip tuntap add: %v: %s", err, out)
		}
		addr := []netip.Prefix{netip.MustParsePrefix("10.237.0.2/24")}
		for _, tc := range []struct {
			cfg  ServeConfig
			want string
		}{
			{ServeConfig{TUN: "lo"}, "lo exists and is a device interface, not a TUN; pick another --tun NAME"},
			{ServeConfig{TUN: "gnheld0"}, "another process holds gnheld0 open; pick another --tun NAME"},
			{ServeConfig{NIC: "gnheld0"}, "gnheld0 is not an Ethernet interface (hardware address \"\"); for a TUN use --tun"},
			{ServeConfig{NIC: "gnnone0"}, "no interface gnnone0 in this network namespace (ip link lists them)"},
			{ServeConfig{TUN: "gnkept0", NoHostConfig: true, MTU: 1400}, "gnkept0 has MTU 1500 but --mtu is 1400; with --no-host-config set the MTU on the host (ip link set gnkept0 mtu 1400) or leave --mtu out"},
		} {
			tc.cfg.Addrs = addr
			err := Serve(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "Config") || strings.Contains(err.Error(), "Open") {
				t.Errorf("Serve(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
			}
		}
	})
}

// TestCommandWords: what the tun package says of a device names settings
// as the command line's flags, whatever wraps it, and still wraps the
// system error.
func TestCommandWords(t *testing.T) {
	t.Parallel()
	if _, err := tun.Open(tun.Config{Name: strings.Repeat("x", 40)}); commandWords(err) != err {
		t.Errorf("commandWords changed %v, which names no setting", err)
	}
	for _, w := range []string{flagWords.Name, flagWords.MTU, flagWords.LeaveMTU, flagWords.NoHostConfig, flagWords.OpenTUN} {
		if w == "" || strings.Contains(w, "Config") {
			t.Errorf("flagWords %+v leaves a setting in Go's words", flagWords)
		}
	}
}
