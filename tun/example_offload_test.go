package tun_test

import (
	"fmt"
	"log"
	"net/netip"

	"github.com/glassnet/glassnet/tun"
)

// A TUN opened with offloads hands over TCP super-packets whole through
// ReadGSO; GSO.SegmentAt cuts one into the packets it stands for, as the
// kernel would have. (Opening a TUN needs CAP_NET_ADMIN, so this example
// is compiled, not run.)
func ExampleOffloadDevice() {
	stack := netip.MustParsePrefix("10.200.0.2/24")
	dev, err := tun.Open(tun.Config{Name: "glass0", HostAddr: tun.HostAddrFor(stack)})
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Close()
	fmt.Println("offloads:", dev.Offloads()) // e.g. csum,tso4,tso6,uso4,uso6

	bufs := make([][]byte, dev.BatchSize())
	for i := range bufs {
		bufs[i] = make([]byte, tun.MaxSuperPacket)
	}
	sizes := make([]int, len(bufs))
	gso := make([]tun.GSO, len(bufs))
	seg := make([]byte, dev.MTU())
	n, err := dev.ReadGSO(bufs, sizes, gso)
	if err != nil {
		log.Fatal(err)
	}
	for i := range n {
		pkt, g := bufs[i][:sizes[i]], gso[i]
		if g.Type == tun.GSONone {
			continue // an ordinary packet; g.NeedsCsum says if its checksum is partial
		}
		segs, _ := g.Segments(pkt)
		fmt.Printf("%d bytes: gso %v mss %d (%d segs)\n", len(pkt), g.Type, g.Size, segs)
		for j := range segs {
			m := g.SegmentAt(seg, pkt, j) // at most MTU bytes, checksums complete
			_ = seg[:m]
		}
	}
}
