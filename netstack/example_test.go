package netstack_test

import (
	"fmt"
	"net/netip"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/tun"
)

func Example() {
	// Two stacks wired back to back in memory.
	da, db := tun.Pipe(tun.PipeOptions{})
	a, err := netstack.New(netstack.Options{
		Device: da,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
	})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := netstack.New(netstack.Options{
		Device: db,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
	})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	fmt.Println(a.NICID(), a.Addrs(), b.Addrs())
	fmt.Println(a.Stats().Dropped())
	// Output:
	// 1 [10.0.0.1/24] [10.0.0.2/24]
	// 0
}
