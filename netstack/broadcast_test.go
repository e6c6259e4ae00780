package netstack

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// TestSubnetIsBroadcast checks tcpip.Subnet.IsBroadcast, which
// third_party/gvisor patch 15 answers byte by byte before counting the
// prefix, against upstream's definition (the prefix at most 30 and the
// address equal to Broadcast) for every IPv4 prefix and the addresses at
// the edges of each subnet, and for IPv6.
func TestSubnetIsBroadcast(t *testing.T) {
	t.Parallel()
	bases := []tcpip.Address{
		tcpip.AddrFrom4([4]byte{10, 0, 0, 1}),
		tcpip.AddrFrom4([4]byte{192, 168, 7, 200}),
		tcpip.AddrFrom4([4]byte{255, 255, 255, 255}),
		tcpip.AddrFrom4([4]byte{0, 0, 0, 0}),
	}
	v6 := tcpip.AddrFrom16([16]byte{0: 0xfd, 15: 1})
	for _, base := range bases {
		for prefix := -1; prefix <= 33; prefix++ {
			s := tcpip.AddressWithPrefix{Address: base, PrefixLen: prefix}.Subnet()
			bc := s.Broadcast()
			b4 := bc.As4()
			near := b4
			near[3] ^= 1
			cands := []tcpip.Address{bc, tcpip.AddrFrom4(near), base, s.ID(),
				tcpip.AddrFrom4([4]byte{255, 255, 255, 255}), tcpip.AddrFrom4([4]byte{}), v6}
			for _, a := range cands {
				want := s.Prefix() <= 30 && s.Broadcast() == a
				if got := s.IsBroadcast(a); got != want {
					t.Errorf("%v/%d: IsBroadcast(%v) = %v, want %v", base, prefix, a, got, want)
				}
			}
		}
	}
	s6 := tcpip.AddressWithPrefix{Address: v6, PrefixLen: 64}.Subnet()
	if s6.IsBroadcast(v6) || s6.IsBroadcast(s6.Broadcast()) {
		t.Errorf("an IPv6 subnet has a broadcast address")
	}
}
