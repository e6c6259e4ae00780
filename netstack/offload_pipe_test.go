package netstack

import (
	"bytes"

	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/tun"
)

// Two stacks over a pipe with offloads move TCP as 64 KiB super-packets,
// each way, over IPv4 and IPv6, and the data arrives intact.
func TestPipeOffloadTransfer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		srv   netip.Prefix
		proto tcpip.NetworkProtocolNumber
	}{
		{"v4", addrB4, ipv4.ProtocolNumber},
		{"v6", addrB6, ipv6.ProtocolNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t, tun.PipeOptions{Offload: true}, nil)
			want := tun.OffloadCsum | tun.OffloadTSO4 | tun.OffloadTSO6
			if a.Offloads() != want || b.Offloads() != want {
				t.Fatalf("offloads %v and %v, want %v", a.Offloads(), b.Offloads(), want)
			}
			server, client := connect(t, a, b, tc.srv, tc.proto)
			exchange(t, client, server, 8<<20)
			for _, st := range []*Stack{a, b} {
				s := st.Stats()
				if s.GSOOut == 0 || s.GSOIn == 0 || s.GSOSegmentsOut <= s.GSOOut || s.GSOSegmentsIn <= s.GSOIn {
					t.Errorf("no super-packets: out %d (%d segments), in %d (%d segments)", s.GSOOut, s.GSOSegmentsOut, s.GSOIn, s.GSOSegmentsIn)
				}
				if s.Dropped() != 0 {
					t.Errorf("drops during transfer: %v", s.Drops)
				}
			}
		})
	}
}

// UDP (fragmented and not) and ping work over a pipe with offloads; the
// end the test reads with plain Read gets packets with complete checksums.
func TestPipeOffloadUDPAndPing(t *testing.T) {
	t.Parallel()
	t.Run("udp", func(t *testing.T) {
		t.Parallel()
		a, b := newPair(t, tun.PipeOptions{Offload: true}, nil)
		la, lb := fullAddr(addrA4, 5000), fullAddr(addrB4, 5001)
		cb, err := gonet.DialUDP(b.Stack(), &lb, nil, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatalf("bind: %v", err)
		}
		defer cb.Close()
		ca, err := gonet.DialUDP(a.Stack(), &la, &lb, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ca.Close()
		buf := make([]byte, 8000)
		for _, size := range []int{14, 1400, 5000} {
			msg := pattern(int64(size), size)
			if _, err := ca.Write(msg); err != nil {
				t.Fatalf("write %d: %v", size, err)
			}
			cb.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := cb.ReadFrom(buf)
			if err != nil {
				t.Fatalf("read %d: %v", size, err)
			}
			if !bytes.Equal(buf[:n], msg) {
				t.Errorf("datagram of %d bytes arrived as %d bytes, or changed", size, n)
			}
		}
	})
	t.Run("ping", func(t *testing.T) {
		t.Parallel()
		da, db := tun.Pipe(tun.PipeOptions{Offload: true})
		t.Cleanup(func() { db.Close() })
		mustNew(t, Options{Device: da, Addrs: []netip.Prefix{addrA4, addrA6}, Node: "solo"})
		ping4(t, db, 1)
		ping4(t, db, 2)
	})
}

// Link hooks on a pipe with offloads see super-packets whole, or, with
// SplitGSO, packets no longer than the MTU.
func TestPipeOffloadHooks(t *testing.T) {
	t.Parallel()
	for _, split := range []bool{false, true} {
		name := "whole"
		if split {
			name = "split"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var maxOut, maxIn atomic.Int64
			seen := func(m *atomic.Int64) hook.PacketFunc {
				return func(p *hook.Packet) hook.Verdict {
					for {
						old := m.Load()
						if int64(len(p.Data)) <= old || m.CompareAndSwap(old, int64(len(p.Data))) {
							break
						}
					}
					return hook.Verdict{}
				}
			}
			const mtu = 1500
			a, b := newPair(t, tun.PipeOptions{MTU: mtu, Offload: true}, func(which string, o *Options) {
				if which == "a" {
					o.SplitGSO = split
					o.Egress = hook.NewChain(seen(&maxOut))
					o.Ingress = hook.NewChain(seen(&maxIn))
				}
			})
			server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
			exchange(t, client, server, 2<<20)
			s := a.Stats()
			if split {
				if maxOut.Load() > mtu || maxIn.Load() > mtu {
					t.Errorf("with split, hooks saw %d out, %d in; want at most the MTU %d", maxOut.Load(), maxIn.Load(), mtu)
				}
				if s.SplitOut == 0 || s.SplitIn == 0 {
					t.Errorf("split %d out, %d in; want both nonzero", s.SplitOut, s.SplitIn)
				}
			} else if maxOut.Load() <= mtu || maxIn.Load() <= mtu {
				t.Errorf("hooks saw at most %d out, %d in; want super-packets beyond the MTU %d", maxOut.Load(), maxIn.Load(), mtu)
			}
			if s.Dropped() != 0 {
				t.Errorf("drops: %v", s.Drops)
			}
		})
	}
}

// A segment an ingress hook corrupts (hook.Corrupt: checksums left wrong)
// is checked by gVisor even when the device vouched for its checksums, so
// that it is dropped as corrupt and not delivered.
func TestPipeOffloadCorruptIngress(t *testing.T) {
	t.Parallel()
	r, err := hook.ParseRule("tcp and len > 100 : corrupt 100%")
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Hook()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newPair(t, tun.PipeOptions{Offload: true}, func(which string, o *Options) {
		if which == "b" {
			o.Ingress = hook.NewChain(h)
		}
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	if _, err := client.Write(pattern(1, 1000)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Malformed.TCPChecksum == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no tcp-checksum drops of the corrupted segments (verdicts %v)", b.Stats().Verdicts)
		}
		time.Sleep(time.Millisecond)
	}
	server.SetReadDeadline(time.Now())
	if m, err := server.Read(make([]byte, 2000)); err == nil {
		t.Errorf("%d bytes of a corrupted segment were delivered", m)
	}
}
