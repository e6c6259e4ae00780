package netstack

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The tests in this file check glassnet patch 58 in third_party/gvisor
// (PATCHES.md there): IPv4 input's lookup of a packet's source address walks
// the interface's addresses, looking for a subnet whose broadcast address the
// source is, only when the source is the broadcast address of one of their
// subnets. Upstream walked them for every packet from a peer. A packet from a
// subnet's broadcast address is still dropped and counted.

// enabledEndpoint is the network endpoint of an AddressableEndpointState
// made by hand: it is enabled, and nothing else of it is asked.
type enabledEndpoint struct{ stack.NetworkEndpoint }

func (enabledEndpoint) Enabled() bool { return true }

func prefix(t *testing.T, s string) tcpip.AddressWithPrefix {
	t.Helper()
	p := netip.MustParsePrefix(s)
	return tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(p.Addr().AsSlice()), PrefixLen: p.Bits()}
}

func addr4(s string) tcpip.Address {
	return tcpip.AddrFromSlice(netip.MustParseAddr(s).AsSlice())
}

// TestSubnetBroadcastWalk looks addresses up as IPv4 input does off
// loopback, with a matcher that counts the addresses it is shown, and checks
// each answer against AcquireAssignedAddressOrMatching's, which shows it
// every address for an address not the table's own.
func TestSubnetBroadcastWalk(t *testing.T) {
	t.Parallel()
	var a stack.AddressableEndpointState
	a.Init(enabledEndpoint{}, stack.AddressableEndpointStateOptions{})
	add := func(s string) {
		t.Helper()
		ep, err := a.AddAndAcquirePermanentAddress(prefix(t, s), stack.AddressProperties{})
		if err != nil {
			t.Fatalf("AddAndAcquirePermanentAddress(%s): %v", s, err)
		}
		ep.DecRef()
	}
	for _, s := range []string{"10.0.0.1/24", "10.1.0.1/16", "192.168.7.0/31", "172.16.0.1/32"} {
		add(s)
	}

	check := func(name, addr string, found bool, walked int) {
		t.Helper()
		local := addr4(addr)
		shown := 0
		match := func(ep stack.AddressEndpoint) bool {
			shown++
			subnet := ep.Subnet()
			return subnet.IsBroadcast(local)
		}
		got := a.AcquireAssignedAddressOrBroadcast(local, match, false, stack.NeverPrimaryEndpoint, true) != nil
		if got != found {
			t.Errorf("%s (%s): found %v, want %v", name, addr, got, found)
		}
		if shown != walked {
			t.Errorf("%s (%s): the matcher was shown %d addresses, want %d", name, addr, shown, walked)
		}
		if want := a.AcquireAssignedAddressOrMatching(local, match, false, stack.NeverPrimaryEndpoint, true) != nil; got != want {
			t.Errorf("%s (%s): found %v, AcquireAssignedAddressOrMatching finds %v", name, addr, got, want)
		}
	}
	// A walk that finds the address stops at it: the map's order decides
	// how many it is shown, at least one.
	walkToFind := func(name, addr string) {
		t.Helper()
		local := addr4(addr)
		shown := 0
		ep := a.AcquireAssignedAddressOrBroadcast(local, func(ep stack.AddressEndpoint) bool {
			shown++
			subnet := ep.Subnet()
			return subnet.IsBroadcast(local)
		}, false, stack.NeverPrimaryEndpoint, true)
		if ep == nil || shown == 0 {
			t.Errorf("%s (%s): found %v after showing the matcher %d addresses, want found after one or more", name, addr, ep != nil, shown)
		}
	}

	check("a peer", "10.0.0.9", false, 0)
	check("a peer in no subnet", "198.51.100.7", false, 0)
	check("its own address", "10.0.0.1", true, 0)
	check("the other address of a /31", "192.168.7.1", false, 0)
	check("the limited broadcast address", "255.255.255.255", false, 0)
	walkToFind("a /24's broadcast address", "10.0.0.255")
	walkToFind("a /16's broadcast address", "10.1.255.255")

	if err := a.RemovePermanentAddress(addr4("10.0.0.1")); err != nil {
		t.Fatalf("RemovePermanentAddress: %v", err)
	}
	check("a removed subnet's broadcast address", "10.0.0.255", false, 0)
	walkToFind("a remaining subnet's broadcast address", "10.1.255.255")
	add("10.2.0.1/24")
	walkToFind("an added subnet's broadcast address", "10.2.0.255")
	check("a peer in the added subnet", "10.2.0.9", false, 0)
}

// TestIPv4DropsSubnetBroadcastSource hands IPv4 packets to the stack's IPv4
// input, as the NIC does, while the interface's addresses change, and checks
// which are dropped as coming from a subnet's broadcast address.
func TestIPv4DropsSubnetBroadcastSource(t *testing.T) {
	t.Parallel()
	for _, handleLocal := range []bool{true, false} {
		var calls, delivered int
		s := stack.New(stack.Options{
			NetworkProtocols: []stack.NetworkProtocolFactory{func(s *stack.Stack) stack.NetworkProtocol {
				return countingIPv4{ipv4.NewProtocol(s), &calls, &delivered}
			}},
			HandleLocal: handleLocal,
		})
		t.Cleanup(func() {
			s.Close()
			s.Wait()
		})
		if err := s.CreateNIC(nicID, notLoopback{loopback.New()}); err != nil {
			t.Fatalf("CreateNIC: %v", err)
		}
		add := func(p string) {
			t.Helper()
			pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: prefix(t, p)}
			if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
				t.Fatalf("AddProtocolAddress(%s): %v", p, err)
			}
		}
		ep, err := s.GetNetworkEndpoint(nicID, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatalf("GetNetworkEndpoint: %v", err)
		}
		invalid := s.Stats().IP.InvalidSourceAddressesReceived
		send := func(src string, want bool) {
			t.Helper()
			before, invalidBefore := delivered, invalid.Value()
			pkt := segmentPacket(ipv4.ProtocolNumber, netip.MustParseAddr(src), netip.MustParseAddr("10.1.0.1"))
			ep.HandlePacket(pkt)
			pkt.DecRef()
			if got := delivered - before; got != 0 != want {
				t.Errorf("HandleLocal %v: a packet from %s delivered %d times, want delivered %v", handleLocal, src, got, want)
			}
			if got := invalid.Value() - invalidBefore; got != 0 == want {
				t.Errorf("HandleLocal %v: a packet from %s counted %d times with an invalid source, want counted %v", handleLocal, src, got, !want)
			}
		}

		add("10.1.0.1/16")
		send("10.1.0.9", true)
		send("10.1.255.255", false)
		send("10.0.0.255", true)
		add("10.0.0.1/24")
		send("10.0.0.255", false)
		send("10.0.0.9", true)
		add("192.168.7.0/31")
		send("192.168.7.1", true)
		if err := s.RemoveAddress(nicID, addr4("10.0.0.1")); err != nil {
			t.Fatalf("RemoveAddress: %v", err)
		}
		send("10.0.0.255", true)
		send("10.1.255.255", false)
	}
}
