package tun

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/vishvananda/netlink"
)

// TestTUNQueueHoldsBurst checks that the kernel's queue to the stack
// (DefaultTxQueueLen) holds what 1,000 TCP connections send at once, their
// initial windows of 10 segments each, while the stack's reader is away:
// a reader descheduled for a moment on a busy machine must not cost the
// peers a loss each (with 4,096 packets, glassbench's bulk echo over 1,000
// connections lost thousands of packets there per run, each one a
// retransmission, most after a timeout). The kernel sends 10,000 UDP
// datagrams with nothing reading; none may be dropped, and all must be
// read after.
func TestTUNQueueHoldsBurst(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix})
		conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, 9999)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		const burst = 1000 * 10
		for i := range burst {
			if _, err := conn.Write([]byte{byte(i), byte(i >> 8)}); err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
		}
		link, err := netlink.LinkByName(DefaultName)
		if err != nil {
			t.Fatal(err)
		}
		if s := link.Attrs().Statistics; s == nil || s.TxDropped != 0 {
			t.Fatalf("the kernel dropped packets queued for the stack: %+v (txqueuelen %d)", s, link.Attrs().TxQLen)
		}
		got := 0
		readUntil(t, dev, 10*time.Second, func(pkts [][]byte) bool {
			for _, pkt := range pkts {
				if p, ok := parseUDP4(pkt); ok && p.dstPort == 9999 {
					got++
				}
			}
			return got == burst
		})
	})
}
