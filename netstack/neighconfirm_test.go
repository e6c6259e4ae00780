package netstack

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/internal/echobench"
	"github.com/glassnet/glassnet/tun"
)

// The tests in this file check glassnet patch 48 in third_party/gvisor
// (PATCHES.md there): TCP's confirmations of its route's neighbor (every
// ACK of new data) move a Reachable entry's timer on at most once per
// confirmQuiet (100 ms) and take no lock in between, and a route without a
// neighbor (a TUN) takes none at all. What the entry does must not change:
// it stays Reachable while the connection makes progress and goes Stale a
// reachable time after the progress stops.

// neighborState is the state of a's neighbor entry for addr.
func neighborState(t *testing.T, st *Stack, addr netip.Addr) stack.NeighborState {
	t.Helper()
	entries, err := st.Stack().Neighbors(nicID, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("Neighbors: %v", err)
	}
	for _, e := range entries {
		if e.Addr == tcpip.AddrFrom4(addr.As4()) {
			return e.State
		}
	}
	t.Fatalf("no neighbor entry for %v", addr)
	return 0
}

// TestNeighborConfirmedByTCP: over Ethernet, an entry that TCP's ACKs
// confirm stays Reachable for many reachable times, and goes Stale one
// reachable time (and no more than confirmQuiet less) after the last ACK.
func TestNeighborConfirmedByTCP(t *testing.T) {
	t.Parallel()
	const reachable = time.Second
	clock := faketime.NewManualClock()
	a, b := newEtherPair(t, func(_ string, o *Options) { o.Clock = clock })
	for _, st := range []*Stack{a, b} {
		c := stack.DefaultNUDConfigurations()
		c.BaseReachableTime = reachable
		c.MinRandomFactor, c.MaxRandomFactor = 1, 1
		if err := st.Stack().SetNUDConfigurations(nicID, ipv4.ProtocolNumber, c); err != nil {
			t.Fatalf("SetNUDConfigurations: %v", err)
		}
	}
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	msg := make([]byte, 64)
	echo := func() {
		t.Helper()
		echoBack(t, client, server, msg)
	}
	peer := addrB4.Addr()
	echo()
	if s := neighborState(t, a, peer); s != stack.Reachable {
		t.Fatalf("after the first echo the entry is %v, want %v", s, stack.Reachable)
	}
	// Four reachable times of traffic, 10 ms apart.
	for i := 0; i < int(4*reachable/(10*time.Millisecond)); i++ {
		clock.Advance(10 * time.Millisecond)
		echo()
		if s := neighborState(t, a, peer); s != stack.Reachable {
			t.Fatalf("%v into the traffic the entry is %v, want %v", time.Duration(i+1)*10*time.Millisecond, s, stack.Reachable)
		}
	}
	// Quiet: the connection's ACKs stop confirming the entry.
	clock.Advance(reachable - confirmQuiet - time.Millisecond)
	if s := neighborState(t, a, peer); s != stack.Reachable {
		t.Fatalf("%v after the last echo the entry is %v, want %v", reachable-confirmQuiet-time.Millisecond, s, stack.Reachable)
	}
	clock.Advance(confirmQuiet + time.Millisecond)
	if s := neighborState(t, a, peer); s != stack.Stale {
		t.Fatalf("%v after the last echo the entry is %v, want %v", reachable, s, stack.Stale)
	}
}

// confirmQuiet is the quiet time of patch 48 (stack's confirmQuiet).
const confirmQuiet = 100 * time.Millisecond

// BenchmarkEtherEchoSmall is a 64-byte echo between two stacks over an
// Ethernet pipe, where every ACK of new data confirms the route's neighbor:
// CPU per echo holds the cost of patch 48.
func BenchmarkEtherEchoSmall(b *testing.B) {
	da, db := tun.Pipe(tun.PipeOptions{MTU: 1500 + header.EthernetMinimumSize})
	x := mustNew(b, Options{Device: etherDev{da, macA}, Addrs: []netip.Prefix{addrA4}, Node: "a"})
	y := mustNew(b, Options{Device: etherDev{db, macB}, Addrs: []netip.Prefix{addrB4}, Node: "b"})
	server, client := connect(b, x, y, addrB4, ipv4.ProtocolNumber)
	echobench.Run(b, client, server, 64)
}
