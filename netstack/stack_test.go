package netstack

import (
	"net/netip"
	"testing"
)

func TestRoutesAndAddrs(t *testing.T) {
	t.Parallel()
	got := DefaultRoutes([]netip.Prefix{addrA4, netip.MustParsePrefix("10.0.0.7/24"), addrA6})
	want := []Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/24")},
		{Dst: netip.MustParsePrefix("fd00::/64")},
		{Dst: netip.MustParsePrefix("0.0.0.0/0")},
		{Dst: netip.MustParsePrefix("::/0")},
	}
	if len(got) != len(want) {
		t.Fatalf("DefaultRoutes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("route %d = %v, want %v", i, got[i], want[i])
		}
	}

	st, dev := newSolo(t, func(o *Options) {
		o.Addrs = []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.1/120")}
		o.Routes = []Route{{Dst: netip.MustParsePrefix("10.0.0.0/24")}}
	})
	if a := st.Addrs(); len(a) != 1 || a[0] != addrA4 {
		t.Errorf("Addrs = %v, want [%v]", a, addrA4)
	}
	if n := len(st.Stack().GetRouteTable()); n != 1 {
		t.Errorf("route table has %d entries, want 1", n)
	}
	ping4(t, dev, 1)
}
