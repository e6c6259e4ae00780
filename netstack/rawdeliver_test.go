package netstack

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/raw"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TestRawEndpointsStillReceive checks what glassnet patch 61 in
// third_party/gvisor (PATCHES.md there) must keep: a raw endpoint gets a
// copy of every packet of its protocol while it is registered, after other
// raw endpoints, of its protocol and of another, came and went. The patch
// counts the raw endpoints registered and skips the lookup of a protocol's
// raw endpoints, and its read lock, for every packet received while there
// are none; the count must follow every registration and removal. The skip
// changes only a cost, held by BenchmarkEtherEchoSmall and sockets'
// BenchmarkConnEchoSmall.
func TestRawEndpointsStillReceive(t *testing.T) {
	t.Parallel()
	s, addr := loopStack(t, loopback.New(), stack.NICOptions{})
	open := func(proto tcpip.TransportProtocolNumber) (tcpip.Endpoint, *waiter.Queue) {
		t.Helper()
		var wq waiter.Queue
		ep, err := raw.NewEndpoint(s, ipv4.ProtocolNumber, proto, &wq)
		if err != nil {
			t.Fatal(err)
		}
		return ep, &wq
	}
	noop := func(tcpip.Endpoint) {}

	first, _ := open(tcp.ProtocolNumber)
	other, _ := open(udp.ProtocolNumber)
	kept, wq := open(tcp.ProtocolNumber)
	defer kept.Close()
	first.Close()
	other.Close()
	first.Close() // a second Close removes nothing

	re, readable := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&re)
	defer wq.EventUnregister(&re)
	sendOnce(t, s, addr, noop)
	select {
	case <-readable:
	default:
		t.Fatal("a raw TCP endpoint, registered while another came and went, received none of a connection's packets")
	}
	res, err := kept.Read(discard{}, tcpip.ReadOptions{})
	if err != nil || res.Total < header20 {
		t.Fatalf("raw endpoint Read = %+v, %v; want a packet", res, err)
	}
}

// header20 is the size of an IPv4 header without options: a raw endpoint
// reads the IP header with the packet.
const header20 = 20

// discard is an io.Writer that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
