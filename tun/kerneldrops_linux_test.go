package tun

import (
	"net"
	"net/netip"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/vishvananda/netlink"
)

// TestTUNKernelDrops: with nothing reading a TUN whose queue holds 16
// packets, the kernel drops most of 200 datagrams sent to the stack; the
// TUN counts as many as the interface's tx_dropped (ip -s link), which the
// stack never sees.
func TestTUNKernelDrops(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix, TxQueueLen: 16})
		if r, n, err := dev.KernelDrops(); err != nil || r != DropTUNQueueFull || n != 0 {
			t.Fatalf("KernelDrops before any packet = %s %d, %v", r, n, err)
		}
		conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, 9999)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for i := range 200 {
			if _, err := conn.Write([]byte{byte(i)}); err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
		}
		// The kernel may drop one more packet of its own meanwhile (an
		// IPv6 router solicitation, say): the two counts are compared
		// when they are still, KernelDrops read on both sides of
		// tx_dropped and the same each time.
		var (
			r       DropReason
			n, want uint64
		)
		for try := 0; ; try++ {
			var before uint64
			_, before, err = dev.KernelDrops()
			if err != nil {
				t.Fatal(err)
			}
			link, err := netlink.LinkByName(dev.Name())
			if err != nil {
				t.Fatal(err)
			}
			want = link.Attrs().Statistics.TxDropped
			r, n, err = dev.KernelDrops()
			if err != nil {
				t.Fatal(err)
			}
			if before == n || try == 20 {
				break
			}
		}
		if r != DropTUNQueueFull || n != want || n < 100 {
			t.Fatalf("KernelDrops = %s %d; want %s %d (tx_dropped), most of 200", r, n, DropTUNQueueFull, want)
		}
	})
}

// TestPacketSocketKernelDrops: with nothing reading an AF_PACKET socket,
// frames past its receive buffer are dropped by the kernel; KernelDrops
// counts them and keeps the count across reads (PACKET_STATISTICS resets
// its own at each).
func TestPacketSocketKernelDrops(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		vethPair(t)
		dev, err := OpenPacketSocket(PacketSocketConfig{Name: "nic0"})
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		netnstest.WaitOperUp(t, "nic1")
		if r, n, err := dev.KernelDrops(); err != nil || r != DropPacketSocketFull {
			t.Fatalf("KernelDrops = %s %d, %v", r, n, err)
		}
		c, err := net.Dial("udp4", netip.AddrPortFrom(nicPeer, 9999).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// 8 MiB of frames, twice the socket's receive buffer (nicRcvBuf).
		payload := make([]byte, 1400)
		for range (2 * nicRcvBuf) / len(payload) {
			c.Write(payload) // ENOBUFS now and then is the sender's own queue
		}
		_, n, err := dev.KernelDrops()
		if err != nil || n == 0 {
			t.Fatalf("KernelDrops after %d MiB unread = %d, %v; want drops", 2*nicRcvBuf>>20, n, err)
		}
		if _, again, err := dev.KernelDrops(); err != nil || again < n {
			t.Fatalf("KernelDrops read again = %d, %v; want at least %d", again, err, n)
		}
	})
}
