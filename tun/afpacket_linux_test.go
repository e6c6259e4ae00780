package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/glassnet/glassnet/internal/netnstest"
)

var (
	nicHost = netip.MustParsePrefix("10.9.0.1/24")
	nicPeer = netip.MustParseAddr("10.9.0.2")
)

// udp4ChecksumOK verifies the UDP checksum of an IPv4 packet without
// options, pseudo-header included.
func udp4ChecksumOK(pkt []byte) bool {
	if len(pkt) < 28 {
		return false
	}
	u := pkt[20:]
	sum := checksum(0, pkt[12:20])
	sum = checksum(sum, []byte{0, 17, u[4], u[5]})
	return checksum(sum, u) == 0xffff
}

func TestCompleteChecksum(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 7, 8, 9, 1472} {
		pkt := buildUDP4(nicPeer, 1000, nicHost.Addr(), 2000, bytes.Repeat([]byte{0xa5, 0x5a, 0x01}, n)[:n])
		frame := append(make([]byte, 14), pkt...)
		want := binary.BigEndian.Uint16(frame[14+26:])
		// What a sender leaves for the hardware: the pseudo-header sum.
		u := pkt[20:]
		partial := checksum(checksum(0, pkt[12:20]), []byte{0, 17, u[4], u[5]})
		binary.BigEndian.PutUint16(frame[14+26:], partial)
		completeChecksum(frame, 14+20, 6)
		if got := binary.BigEndian.Uint16(frame[14+26:]); got != want {
			t.Errorf("payload %d: checksum %#04x, want %#04x", n, got, want)
		}
	}
	// Offsets beyond the frame leave it alone rather than panic.
	short := []byte{1, 2, 3, 4}
	completeChecksum(short, 2, 6)
	completeChecksum(short, 9, 0)
	if !bytes.Equal(short, []byte{1, 2, 3, 4}) {
		t.Errorf("short frame changed: % x", short)
	}
}

func TestNICConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  PacketSocketConfig
		want string
	}{
		{PacketSocketConfig{}, "Name is empty"},
		{PacketSocketConfig{Name: "a-name-longer-than-15"}, "longer than 15"},
		{PacketSocketConfig{Name: "eth0", HardwareAddr: net.HardwareAddr{1, 2, 3}}, "not a 6-byte"},
		{PacketSocketConfig{Name: "eth0", HardwareAddr: net.HardwareAddr{1, 0, 0, 0, 0, 1}}, "multicast"},
		{PacketSocketConfig{Name: "glassnet-none0"}, "no interface glassnet-none0"},
		{PacketSocketConfig{Name: "lo"}, "not an Ethernet interface"},
	} {
		if _, err := OpenPacketSocket(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenPacketSocket(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// vethPair creates veth "nic0" (for the NIC device) and "nic1" (the
// kernel's, with nicHost) in the test's namespace, and tells the kernel
// that nicPeer is at nic0's MAC.
func vethPair(t *testing.T) (nic0 net.HardwareAddr) {
	t.Helper()
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "nic1"}, PeerName: "nic0"}); err != nil {
		t.Fatalf("create veth: %v", err)
	}
	l1, err := netlink.LinkByName("nic1")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(l1, &netlink.Addr{IPNet: ipNet(nicHost)}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l1); err != nil {
		t.Fatal(err)
	}
	l0, err := netlink.LinkByName("nic0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.NeighAdd(&netlink.Neigh{
		LinkIndex:    l1.Attrs().Index,
		State:        netlink.NUD_PERMANENT,
		IP:           nicPeer.AsSlice(),
		HardwareAddr: l0.Attrs().HardwareAddr,
	}); err != nil {
		t.Fatal(err)
	}
	return l0.Attrs().HardwareAddr
}

// TestNICVeth opens a NIC on one end of a veth pair: it reads what the
// kernel sends from the other end, in batches and with checksums
// completed, and the kernel receives what it writes.
func TestNICVeth(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		mac := vethPair(t)
		dev, err := OpenPacketSocket(PacketSocketConfig{Name: "nic0"})
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		if !bytes.Equal(dev.HardwareAddr(), mac) || dev.MTU() != 1500 || dev.Name() != "nic0" {
			t.Fatalf("NIC %s: MAC %v MTU %d, want %v 1500", dev.Name(), dev.HardwareAddr(), dev.MTU(), mac)
		}
		if l, _ := netlink.LinkByName("nic0"); l.Attrs().Flags&net.FlagUp == 0 {
			t.Error("OpenPacketSocket left nic0 down")
		}
		// The kernel takes the carrier change of nic1 (its peer just came
		// up) on its own time, up to a second; until then it drops what is
		// sent through nic1.
		netnstest.WaitOperUp(t, "nic1")

		// Kernel to NIC: UDP datagrams to nicPeer, whose checksums the
		// kernel leaves to the (virtual) hardware.
		c, err := net.Dial("udp4", netip.AddrPortFrom(nicPeer, 9999).String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		const count = 200
		for i := range count {
			if _, err := c.Write([]byte{byte(i), 'g', 'l', 'a', 's', 's'}); err != nil {
				t.Fatal(err)
			}
		}
		bufs := make([][]byte, dev.BatchSize())
		for i := range bufs {
			bufs[i] = make([]byte, dev.MaxFrameSize())
		}
		sizes := make([]int, len(bufs))
		got, reads, batched := 0, 0, false
		deadline := time.AfterFunc(5*time.Second, func() { dev.Close() })
		defer deadline.Stop()
		for got < count {
			n, err := dev.Read(bufs, sizes)
			if err != nil {
				t.Fatalf("read after %d datagrams: %v", got, err)
			}
			reads++
			batched = batched || n > 1
			for i := range n {
				f := bufs[i][:sizes[i]]
				if len(f) < 14 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
					continue // IPv6 router solicitations and the like
				}
				pkt := f[14:]
				u, ok := parseUDP4(pkt)
				if !ok || u.dst != nicPeer || u.dstPort != 9999 {
					continue
				}
				if !bytes.Equal(f[:6], mac) {
					t.Fatalf("frame to %v, want %v", net.HardwareAddr(f[:6]), mac)
				}
				if !ipv4ChecksumOK(pkt) || !udp4ChecksumOK(pkt) {
					t.Fatalf("datagram %d: bad checksum: % x", u.payload[0], pkt)
				}
				got++
			}
		}
		t.Logf("%d datagrams in %d reads", got, reads)
		if !batched {
			t.Error("no Read returned more than one frame")
		}

		// NIC to kernel: a UDP datagram from nicPeer to the kernel.
		l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(nicHost.Addr(), 7777)))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		l1, _ := net.InterfaceByName("nic1")
		pkt := buildUDP4(nicPeer, 5555, nicHost.Addr(), 7777, []byte("from the NIC"))
		frame := append(append(append([]byte{}, l1.HardwareAddr...), mac...), 0x08, 0x00)
		frame = append(frame, pkt...)
		if n, err := dev.Write([][]byte{frame, frame}); n != 2 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		l.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 100)
		for range 2 {
			n, from, err := l.ReadFromUDP(buf)
			if err != nil || string(buf[:n]) != "from the NIC" || from.Port != 5555 {
				t.Fatalf("kernel received %q from %v, %v", buf[:n], from, err)
			}
		}

		// A frame longer than the MTU allows is refused, not cut.
		big := append(append([]byte{}, frame[:14]...), make([]byte, 1600)...)
		if n, err := dev.Write([][]byte{big}); n != 0 || err == nil {
			t.Errorf("Write of a %d-byte frame = %d, %v; want an error", len(big), n, err)
		}
	})
}

func TestNICClose(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		vethPair(t)
		dev, err := OpenPacketSocket(PacketSocketConfig{Name: "nic0", Promiscuous: true})
		if err != nil {
			t.Fatal(err)
		}
		if link, _ := netlink.LinkByName("nic0"); link.Attrs().Promisc == 0 {
			t.Error("nic0 not promiscuous with Promiscuous set")
		}
		errc := make(chan error, 1)
		go func() {
			// Read until Close, whatever arrives.
			bufs, sizes := [][]byte{make([]byte, dev.MaxFrameSize())}, []int{0}
			for {
				if _, err := dev.Read(bufs, sizes); err != nil {
					errc <- err
					return
				}
			}
		}()
		time.Sleep(50 * time.Millisecond)
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Read after Close = %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not wake Read")
		}
		if _, err := dev.Write([][]byte{make([]byte, 60)}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Close = %v, want ErrClosed", err)
		}
		if err := dev.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		// Promiscuous mode ended with the socket.
		if link, _ := netlink.LinkByName("nic0"); link.Attrs().Promisc != 0 {
			t.Error("nic0 still promiscuous after Close")
		}
	})
}

// TestNICBatchAllocs checks that moving a batch of frames through Write on
// one end of a veth and Read on the other allocates nothing: the poller
// callbacks are bound once per NIC, not per batch.
func TestNICBatchAllocs(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		vethPair(t)
		tx, err := OpenPacketSocket(PacketSocketConfig{Name: "nic0"})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		rx, err := OpenPacketSocket(PacketSocketConfig{Name: "nic1"})
		if err != nil {
			t.Fatal(err)
		}
		defer rx.Close()
		netnstest.WaitOperUp(t, "nic1")
		const batch = 8
		frames := make([][]byte, batch)
		for i := range frames {
			f := make([]byte, 200)
			copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			copy(f[6:], tx.HardwareAddr())
			f[12], f[13] = 0x88, 0xb5 // IEEE 802 local experimental EtherType
			frames[i] = f
		}
		bufs := make([][]byte, batch)
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		sizes := make([]int, batch)
		move := func() {
			if _, err := tx.Write(frames); err != nil {
				t.Fatal(err)
			}
			for got := 0; got < batch; {
				n, err := rx.Read(bufs, sizes)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					if sizes[i] == 200 && bufs[i][12] == 0x88 && bufs[i][13] == 0xb5 {
						got++
					}
				}
			}
		}
		move() // first use sizes the batches
		if a := testing.AllocsPerRun(50, move); a != 0 {
			t.Errorf("a batch of %d frames through Write and Read allocates %v times", batch, a)
		}
	})
}

// TestPacketSocketInterfaceDeleted: deleting the interface under a Read
// ends it with an error IsGone recognizes; setting it down only does not.
func TestPacketSocketInterfaceDeleted(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		vethPair(t)
		dev, err := OpenPacketSocket(PacketSocketConfig{Name: "nic0"})
		if err != nil {
			t.Fatal(err)
		}
		defer dev.Close()
		errc := make(chan error, 1)
		read := func() {
			bufs, sizes := [][]byte{make([]byte, dev.MaxFrameSize())}, []int{0}
			for {
				if _, err := dev.Read(bufs, sizes); err != nil {
					errc <- err
					return
				}
			}
		}
		go read()
		l0, err := netlink.LinkByName("nic0")
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetDown(l0); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if IsGone(err) {
				t.Fatalf("Read on an interface set down = %v, which IsGone calls gone", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no error when the interface went down")
		}
		go read()
		if err := netlink.LinkSetUp(l0); err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkDel(l0); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !IsGone(err) {
				t.Fatalf("Read on a deleted interface = %v, want an error IsGone recognizes", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no error when the interface was deleted")
		}
	})
}
