package netstack

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/tun"
)

// batchLink is a batchDevice on an Ethernet device.
type batchLink struct {
	*batchDevice
	tun.LinkLayer
}

// TestEgressPacketSocketBatches: a stack on an AF_PACKET socket on a veth
// sends the datagrams of several UDP sockets that come while one write is
// in the socket with the next Write, one sendmmsg, and the kernel on the
// other end of the veth receives every one.
func TestEgressPacketSocketBatches(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		kernel := netip.MustParsePrefix("10.9.1.1/24")
		stack := netip.MustParsePrefix("10.9.1.2/24")
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "egr1"}, PeerName: "egr0"}); err != nil {
			t.Fatalf("create veth: %v", err)
		}
		l1, err := netlink.LinkByName("egr1")
		if err != nil {
			t.Fatal(err)
		}
		ipn := &net.IPNet{IP: kernel.Addr().AsSlice(), Mask: net.CIDRMask(kernel.Bits(), 32)}
		if err := netlink.AddrAdd(l1, &netlink.Addr{IPNet: ipn}); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l1); err != nil {
			t.Fatal(err)
		}
		ps, err := tun.OpenPacketSocket(tun.PacketSocketConfig{Name: "egr0"})
		if err != nil {
			t.Fatal(err)
		}
		if !ps.WritesBatched() {
			t.Fatal("an AF_PACKET socket does not say it batches its writes")
		}
		d := newBatchDevice(ps, 1)
		d.hdr = header.EthernetMinimumSize
		st := mustNew(t, Options{Device: batchLink{d, ps}, Addrs: []netip.Prefix{stack}})
		for _, name := range []string{"egr0", "egr1"} {
			netnstest.WaitOperUp(t, name)
		}

		recv, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(kernel.Addr(), batchPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer recv.Close()
		warm, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(kernel.Addr(), 8)))
		if err != nil {
			t.Fatal(err)
		}
		defer warm.Close()

		// One datagram to another port first, so that the stack has the
		// kernel's MAC (ARP) before the measured ones.
		src, dst := fullAddr(stack, 5999), fullAddr(kernel, 8)
		wc, err := gonet.DialUDP(st.Stack(), &src, &dst, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		buf := make([]byte, 64)
		warm.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := wc.Write([]byte("warm")); err != nil {
			t.Fatal(err)
		}
		if _, err := warm.Read(buf); err != nil {
			t.Fatalf("the kernel never received the first datagram: %v", err)
		}

		const n = 8
		conns := make([]*gonet.UDPConn, n)
		dst = fullAddr(kernel, batchPort)
		for i := range conns {
			src := fullAddr(stack, uint16(6000+i))
			c, err := gonet.DialUDP(st.Stack(), &src, &dst, ipv4.ProtocolNumber)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		}
		first := sendWhileGated(t, d, conns)
		close(d.gates[0])
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		var ports []uint16
		recv.SetReadDeadline(time.Now().Add(10 * time.Second))
		for range n {
			_, from, err := recv.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("the kernel received %d of %d datagrams: %v", len(ports), n, err)
			}
			ports = append(ports, from.Port())
		}
		slices.Sort(ports)
		if want := []uint16{6000, 6001, 6002, 6003, 6004, 6005, 6006, 6007}; !slices.Equal(ports, want) {
			t.Errorf("the kernel received datagrams from ports %v, want %v", ports, want)
		}
		want := [][]uint16{{6000}, {6001, 6002, 6003, 6004, 6005, 6006, 6007}}
		if got := d.recorded(); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("AF_PACKET writes carried ports %v, want %v", got, want)
		}
		// The stack's other frames (neighbor discovery, say) may wait too.
		if s := st.Stats(); s.QueuedOut < n-1 || s.Dropped() != 0 {
			t.Errorf("QueuedOut %d (want at least %d), drops %v", s.QueuedOut, n-1, s.Drops)
		}
	})
}
