package netstack

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The test in this file checks glassnet patch 54 in third_party/gvisor
// (PATCHES.md there): IPv4 input looks up the source address among the
// interface's own once, not twice, when HandlePacket's check that the
// source is not its own has already made that lookup. Upstream made three
// address lookups per packet received (the source twice, the destination
// once), each under two read locks. What the lookups decide must not
// change: a packet from one of the interface's addresses, or from the
// broadcast address of its subnet, is dropped and counted, with the stack's
// HandleLocal on or off.

// lookupNIC is the interface an IPv4 endpoint is given, with its IsLoopback
// calls counted: HandlePacket asks it once, and each address lookup
// (AcquireAssignedAddress) once more.
type lookupNIC struct {
	stack.NetworkInterface
	calls *int
}

func (n lookupNIC) IsLoopback() bool {
	*n.calls++
	return n.NetworkInterface.IsLoopback()
}

// swallower is the endpoint's transport dispatcher: it counts the packets
// delivered to a transport protocol and keeps none.
type swallower struct {
	stack.TransportDispatcher
	delivered *int
}

func (d swallower) DeliverTransportPacket(tcpip.TransportProtocolNumber, *stack.PacketBuffer) stack.TransportPacketDisposition {
	*d.delivered++
	return stack.TransportPacketHandled
}

// countingIPv4 is ipv4.NewProtocol whose endpoints have a lookupNIC and a
// swallower.
type countingIPv4 struct {
	stack.NetworkProtocol
	calls, delivered *int
}

func (p countingIPv4) NewEndpoint(nic stack.NetworkInterface, d stack.TransportDispatcher) stack.NetworkEndpoint {
	return p.NetworkProtocol.NewEndpoint(lookupNIC{nic, p.calls}, swallower{d, p.delivered})
}

// notLoopback is a link endpoint that does not say it is a loopback one.
type notLoopback struct{ stack.LinkEndpoint }

func (e notLoopback) Capabilities() stack.LinkEndpointCapabilities {
	return e.LinkEndpoint.Capabilities() &^ stack.CapabilityLoopback
}

// TestIPv4InputAddressLookups hands IPv4 packets to the stack's IPv4
// input, as the NIC does, and counts the address lookups each one takes.
func TestIPv4InputAddressLookups(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		handleLocal bool
		src         string
		delivered   bool
		lookups     int // 3 upstream for a packet delivered with HandleLocal
	}{
		{"delivered", true, "10.0.0.9", true, 2},
		{"delivered without HandleLocal", false, "10.0.0.9", true, 2},
		{"from its own address", true, "10.0.0.1", false, 1},
		{"from its subnet's broadcast address", true, "10.0.0.255", false, 1},
		{"from its subnet's broadcast address without HandleLocal", false, "10.0.0.255", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls, delivered int
			s := stack.New(stack.Options{
				NetworkProtocols: []stack.NetworkProtocolFactory{func(s *stack.Stack) stack.NetworkProtocol {
					return countingIPv4{ipv4.NewProtocol(s), &calls, &delivered}
				}},
				HandleLocal: tc.handleLocal,
			})
			t.Cleanup(func() {
				s.Close()
				s.Wait()
			})
			if err := s.CreateNIC(nicID, notLoopback{loopback.New()}); err != nil {
				t.Fatalf("CreateNIC: %v", err)
			}
			addr := tcpip.ProtocolAddress{
				Protocol:          ipv4.ProtocolNumber,
				AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), PrefixLen: 24},
			}
			if err := s.AddProtocolAddress(nicID, addr, stack.AddressProperties{}); err != nil {
				t.Fatalf("AddProtocolAddress: %v", err)
			}
			ep, err := s.GetNetworkEndpoint(nicID, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatalf("GetNetworkEndpoint: %v", err)
			}
			invalid := s.Stats().IP.InvalidSourceAddressesReceived
			invalidBefore := invalid.Value()

			pkt := segmentPacket(ipv4.ProtocolNumber, netip.MustParseAddr(tc.src), netip.MustParseAddr("10.0.0.1"))
			calls = 0
			ep.HandlePacket(pkt)
			pkt.DecRef()

			if got := delivered == 1; got != tc.delivered {
				t.Errorf("delivered %d packets, want delivered %v", delivered, tc.delivered)
			}
			if got := invalid.Value() - invalidBefore; got != 0 == tc.delivered {
				t.Errorf("%d packets counted with an invalid source, want delivered %v", got, tc.delivered)
			}
			// One IsLoopback for HandlePacket itself, one per lookup.
			if lookups := calls - 1; lookups != tc.lookups {
				t.Errorf("%d address lookups, want %d", lookups, tc.lookups)
			}
		})
	}
}
