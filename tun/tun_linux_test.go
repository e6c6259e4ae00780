package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/vishvananda/netlink"
)

var (
	hostPrefix  = netip.MustParsePrefix("10.200.0.1/24")
	stackAddr   = netip.MustParseAddr("10.200.0.2")
	hostAddr    = hostPrefix.Addr()
	extraRoute  = netip.MustParsePrefix("10.201.0.0/16")
	host6Prefix = netip.MustParsePrefix("fd00:200::1/64")
	stack6Addr  = netip.MustParseAddr("fd00:200::2")
)

func TestHostAddrFor(t *testing.T) {
	t.Parallel()
	tests := []struct{ stack, want string }{
		{"10.200.0.2/24", "10.200.0.1/24"},
		{"10.200.0.1/24", "10.200.0.2/24"},
		{"10.200.0.77/24", "10.200.0.1/24"},
		{"10.200.0.0/24", "10.200.0.1/24"},
		{"192.168.7.9/16", "192.168.0.1/16"},
		{"10.0.0.1/30", "10.0.0.2/30"},
		{"10.0.0.2/30", "10.0.0.1/30"},
		{"10.0.0.0/31", "10.0.0.1/31"},
		{"10.0.0.1/31", "10.0.0.0/31"},
		{"10.0.0.1/32", ""},
		{"fd00:200::2/64", "fd00:200::1/64"},
		{"fd00:200::1/64", "fd00:200::2/64"},
		{"fd00::/127", "fd00::1/127"},
		{"fd00::1/128", ""},
	}
	for _, tt := range tests {
		got := HostAddrFor(netip.MustParsePrefix(tt.stack))
		want := netip.Prefix{}
		if tt.want != "" {
			want = netip.MustParsePrefix(tt.want)
		}
		if got != want {
			t.Errorf("HostAddrFor(%s) = %v, want %v", tt.stack, got, want)
		}
	}
	if got := HostAddrFor(netip.Prefix{}); got.IsValid() {
		t.Errorf("HostAddrFor(zero) = %v, want the zero Prefix", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "a-name-longer-than-15"}, "longer than 15 bytes"},
		{Config{MTU: 20}, "below the IPv4 minimum"},
		{Config{MTU: 70000}, "out of range"},
		{Config{Routes: []netip.Prefix{{}}}, "invalid route"},
	}
	for _, tt := range tests {
		_, err := Open(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%+v) = %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestOpenErrorText(t *testing.T) {
	t.Parallel()
	ioctl := func(e syscall.Errno) error { return os.NewSyscallError("ioctl", e) }
	tests := []struct {
		err  error
		want string
		is   error
	}{
		{ioctl(syscall.EPERM), "tun: create or attach glass0 (TUNSETIFF): operation not permitted (needs CAP_NET_ADMIN; run as root", os.ErrPermission},
		{syscall.EACCES, "tun: open /dev/net/tun: permission denied (needs read and write access", os.ErrPermission},
		{syscall.ENOENT, "tun: open /dev/net/tun: no such file or directory (no TUN driver: load it (modprobe tun)", os.ErrNotExist},
		{ioctl(syscall.EBUSY), "another process holds glass0 open", syscall.EBUSY},
		{ioctl(syscall.EINVAL), "glass0 exists with other flags", syscall.EINVAL},
		{ioctl(syscall.EIO), "tun: create or attach glass0 (TUNSETIFF): input/output error", syscall.EIO},
	}
	for _, tt := range tests {
		err := openError("glass0", "", tt.err)
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("openError(%v) = %q, want %q in it", tt.err, err, tt.want)
		}
		if !errors.Is(err, tt.is) {
			t.Errorf("openError(%v) is not %v", tt.err, tt.is)
		}
	}
}

// TestOpenUnprivileged proves that a user without CAP_NET_ADMIN gets an
// error that says what is missing.
func TestOpenUnprivileged(t *testing.T) {
	netnstest.RunUnprivileged(t, func(t *testing.T) {
		if _, err := os.Stat(tunPath); err != nil {
			netnstest.SkipOrFail(t, "no %s: %v", tunPath, err)
		}
		dev, err := Open(Config{Name: "glassnoperm"})
		if err == nil {
			dev.Close()
			t.Fatal("Open succeeded without privileges")
		}
		// Where /dev/net/tun is mode 0666 the open succeeds and TUNSETIFF
		// needs CAP_NET_ADMIN; where it is 0600 the open itself is refused.
		// Either way the error must say what is missing.
		want := "needs CAP_NET_ADMIN; run as root"
		if st, serr := os.Stat(tunPath); serr == nil && st.Mode().Perm()&0o006 != 0o006 {
			want = "needs read and write access to " + tunPath + "; run as root"
		}
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Open without privileges: %v; want a permission error containing %q", err, want)
		}
		t.Log(err)
	})
}

// TestTUNConfigure checks the kernel side after Open: link up, MTU,
// address, extra route.
func TestTUNConfigure(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{MTU: 1400, HostAddr: hostPrefix, Routes: []netip.Prefix{extraRoute}})
		if dev.Name() != DefaultName || dev.MTU() != 1400 || dev.BatchSize() != defaultBatchSize {
			t.Errorf("Name, MTU, BatchSize = %q, %d, %d; want %q, 1400, %d", dev.Name(), dev.MTU(), dev.BatchSize(), DefaultName, defaultBatchSize)
		}
		link, err := netlink.LinkByName(DefaultName)
		if err != nil {
			t.Fatal(err)
		}
		if tt, ok := link.(*netlink.Tuntap); !ok || tt.Mode != netlink.TUNTAP_MODE_TUN {
			t.Errorf("link is %T %+v, want a TUN", link, link)
		}
		attrs := link.Attrs()
		if attrs.Flags&net.FlagUp == 0 {
			t.Error("link is not up")
		}
		if attrs.MTU != 1400 {
			t.Errorf("link MTU %d, want 1400", attrs.MTU)
		}
		if attrs.TxQLen != DefaultTxQueueLen {
			t.Errorf("link txqueuelen %d, want %d", attrs.TxQLen, DefaultTxQueueLen)
		}
		if !hasAddr(t, link, hostPrefix) {
			t.Errorf("link lacks address %v", hostPrefix)
		}
		routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == extraRoute.String() {
				found = true
			}
		}
		if !found {
			t.Errorf("no route to %v through %s in %v", extraRoute, DefaultName, routes)
		}
	})
}

// TestTUNReadFromKernel sends UDP datagrams from a kernel socket to the
// stack's address and reads them as IPv4 packets from the TUN, several in
// one Read.
func TestTUNReadFromKernel(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix})
		conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, 9999)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
		if local.Addr().Unmap() != hostAddr {
			t.Fatalf("kernel socket bound to %v, want source %v", local, hostAddr)
		}

		const count = 5
		for i := range count {
			if _, err := conn.Write([]byte{'p', 'k', 't', byte('0' + i)}); err != nil {
				t.Fatal(err)
			}
		}
		got, reads := 0, 0
		maxBatch := 0
		readUntil(t, dev, 5*time.Second, func(pkts [][]byte) bool {
			reads++
			udp := 0
			for _, pkt := range pkts {
				p, ok := parseUDP4(pkt)
				if !ok || p.dstPort != 9999 {
					continue // the kernel may send other traffic
				}
				if p.src != hostAddr || p.dst != stackAddr || p.srcPort != local.Port() {
					t.Errorf("packet %v:%d -> %v:%d, want %v -> %v:9999", p.src, p.srcPort, p.dst, p.dstPort, local, stackAddr)
				}
				if want := []byte{'p', 'k', 't', byte('0' + got)}; !bytes.Equal(p.payload, want) {
					t.Errorf("payload %q, want %q", p.payload, want)
				}
				if !ipv4ChecksumOK(pkt) {
					t.Error("IPv4 header checksum does not verify")
				}
				got++
				udp++
			}
			maxBatch = max(maxBatch, udp)
			return got == count
		})
		t.Logf("%d datagrams in %d reads, at most %d in one", got, reads, maxBatch)
		if maxBatch < 2 {
			t.Errorf("no Read returned more than one of %d queued packets", count)
		}
	})
}

// TestTUNWriteToKernel writes a hand-built IPv4/UDP packet from the stack's
// address to a kernel socket; the kernel accepts it only if the checksums
// are right.
func TestTUNWriteToKernel(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix})
		ln, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(hostAddr, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		dst := ln.LocalAddr().(*net.UDPAddr).AddrPort()

		pkt := buildUDP4(stackAddr, 5555, hostAddr, dst.Port(), []byte("hello kernel"))
		if n, err := dev.Write([][]byte{pkt}); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		ln.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 100)
		n, from, err := ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("kernel socket: %v", err)
		}
		if string(buf[:n]) != "hello kernel" || from != netip.AddrPortFrom(stackAddr, 5555) {
			t.Fatalf("kernel received %q from %v, want %q from %v:5555", buf[:n], from, "hello kernel", stackAddr)
		}

		// The kernel rejects what is not an IP packet, and Write says so.
		n, err = dev.Write([][]byte{pkt, {0x00, 0x01, 0x02}})
		if n != 1 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Write(valid, garbage) = %d, %v; want 1, EINVAL", n, err)
		}
	})
}

// TestTUNIPv6 checks an IPv6 host address is usable at once and packets
// to the stack's IPv6 address come out of the TUN.
func TestTUNIPv6(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: host6Prefix})
		link, err := netlink.LinkByName(dev.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !hasAddr(t, link, host6Prefix) {
			t.Fatalf("link lacks %v", host6Prefix)
		}
		conn, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stack6Addr, 9999)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte("v6")); err != nil {
			t.Fatalf("send to %v right after Open: %v", stack6Addr, err)
		}
		readUntil(t, dev, 5*time.Second, func(pkts [][]byte) bool {
			for _, pkt := range pkts {
				// IPv6, next header UDP, destination the stack.
				if len(pkt) >= 48 && pkt[0]>>4 == 6 && pkt[6] == 17 &&
					netip.AddrFrom16([16]byte(pkt[24:40])) == stack6Addr &&
					binary.BigEndian.Uint16(pkt[42:44]) == 9999 {
					if src := netip.AddrFrom16([16]byte(pkt[8:24])); src != host6Prefix.Addr() {
						t.Errorf("source %v, want %v", src, host6Prefix.Addr())
					}
					return true
				}
			}
			return false
		})
	})
}

// TestTUNReadTruncates checks the Device contract for a packet longer than
// its buffer: truncated, with the full length in sizes.
func TestTUNReadTruncates(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix})
		conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, 9999)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		bufs, sizes := [][]byte{make([]byte, 100)}, []int{0}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			n, err := dev.Read(bufs, sizes)
			if err != nil || n != 1 {
				t.Fatalf("Read = %d, %v", n, err)
			}
			if p, ok := parseUDP4(bufs[0]); ok && p.dstPort == 9999 {
				if sizes[0] != 20+8+1000 {
					t.Fatalf("sizes[0] = %d, want the full length %d", sizes[0], 20+8+1000)
				}
				return
			}
		}
		t.Fatal("no truncated datagram read")
	})
}

// TestTUNClose checks that Close wakes a blocked Read, that Read and Write
// return ErrClosed afterwards, and that a non-persistent interface goes.
func TestTUNClose(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev, err := Open(Config{HostAddr: hostPrefix})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			bufs, sizes := [][]byte{make([]byte, 1500)}, []int{0}
			for {
				// IPv6 housekeeping may arrive; keep reading until closed.
				if _, err := dev.Read(bufs, sizes); err != nil {
					done <- err
					return
				}
			}
		}()
		time.Sleep(100 * time.Millisecond) // let the reader block
		start := time.Now()
		if err := dev.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != ErrClosed {
				t.Errorf("blocked Read returned %v, want ErrClosed", err)
			}
			t.Logf("blocked Read returned %v after %v", err, time.Since(start))
		case <-time.After(2 * time.Second):
			t.Fatal("Close did not wake the blocked Read within 2s")
		}
		if _, err := dev.Read([][]byte{make([]byte, 1500)}, []int{0}); err != ErrClosed {
			t.Errorf("Read after Close = %v, want ErrClosed", err)
		}
		if _, err := dev.Write([][]byte{buildUDP4(stackAddr, 1, hostAddr, 2, nil)}); err != ErrClosed {
			t.Errorf("Write after Close = %v, want ErrClosed", err)
		}
		if err := dev.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
		if _, err := netlink.LinkByName(DefaultName); err == nil {
			t.Errorf("%s still exists after Close", DefaultName)
		}
	})
}

// TestTUNPersistAndAttach creates a persistent interface, attaches to it
// again, and checks it survives both closes.
func TestTUNPersistAndAttach(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev, err := Open(Config{Name: "glasspersist", Persist: true, HostAddr: hostPrefix})
		if err != nil {
			t.Fatal(err)
		}
		dev.Close()
		link, err := netlink.LinkByName("glasspersist")
		if err != nil {
			t.Fatalf("persistent interface gone after Close: %v", err)
		}
		// Attach without Persist: the interface stays persistent, and
		// configuring the same address again is not an error.
		dev = openTUN(t, Config{Name: "glasspersist", HostAddr: hostPrefix})
		dev.Close()
		if _, err := netlink.LinkByName("glasspersist"); err != nil {
			t.Fatalf("persistent interface gone after a second attach: %v", err)
		}
		if err := netlink.LinkDel(link); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTUNNoHostConfig checks that NoHostConfig leaves the kernel side
// alone and reports the MTU the interface has.
func TestTUNNoHostConfig(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{NoHostConfig: true, HostAddr: hostPrefix})
		link, err := netlink.LinkByName(dev.Name())
		if err != nil {
			t.Fatal(err)
		}
		if link.Attrs().Flags&net.FlagUp != 0 {
			t.Error("link is up although NoHostConfig is set")
		}
		if hasAddr(t, link, hostPrefix) {
			t.Error("link has an address although NoHostConfig is set")
		}
		if dev.MTU() != link.Attrs().MTU {
			t.Errorf("MTU() = %d, link MTU %d", dev.MTU(), link.Attrs().MTU)
		}
		dev.Close()

		_, err = Open(Config{NoHostConfig: true, MTU: 9000})
		if err == nil || !strings.Contains(err.Error(), "Config.MTU is 9000") {
			t.Errorf("Open with NoHostConfig and a different MTU: %v, want an MTU mismatch error", err)
		}
	})
}

// TestTUNNameTaken checks Open refuses a name that belongs to an interface
// of another kind.
func TestTUNNameTaken(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		_, err := Open(Config{Name: "lo"})
		if err == nil || !strings.Contains(err.Error(), "not a TUN") {
			t.Errorf("Open(lo): %v, want a 'not a TUN' error", err)
		}
	})
}

func openTUN(t *testing.T, cfg Config) *TUN {
	t.Helper()
	dev, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

func hasAddr(t *testing.T, link netlink.Link, want netip.Prefix) bool {
	t.Helper()
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			return true
		}
	}
	return false
}

// readUntil reads batches from dev and hands each to done until it returns
// true. After timeout it closes dev and fails.
func readUntil(t *testing.T, dev *TUN, timeout time.Duration, done func(pkts [][]byte) bool) {
	t.Helper()
	result := make(chan error, 1)
	go func() {
		bufs := make([][]byte, 8)
		sizes := make([]int, len(bufs))
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		for {
			n, err := dev.Read(bufs, sizes)
			if err != nil {
				result <- err
				return
			}
			pkts := make([][]byte, n)
			for i := range n {
				pkts[i] = bufs[i][:min(sizes[i], len(bufs[i]))]
			}
			if done(pkts) {
				result <- nil
				return
			}
		}
	}()
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	case <-time.After(timeout):
		dev.Close()
		<-result
		t.Fatalf("expected packets not read within %v", timeout)
	}
}

type udp4 struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	payload          []byte
}

// parseUDP4 reads an IPv4/UDP packet without options.
func parseUDP4(pkt []byte) (udp4, bool) {
	if len(pkt) < 28 || pkt[0] != 0x45 || pkt[9] != 17 {
		return udp4{}, false
	}
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	ulen := int(binary.BigEndian.Uint16(pkt[24:26]))
	payload := pkt[28:min(len(pkt), total, 20+ulen)]
	return udp4{
		src:     netip.AddrFrom4([4]byte(pkt[12:16])),
		dst:     netip.AddrFrom4([4]byte(pkt[16:20])),
		srcPort: binary.BigEndian.Uint16(pkt[20:22]),
		dstPort: binary.BigEndian.Uint16(pkt[22:24]),
		payload: payload,
	}, true
}

// buildUDP4 builds an IPv4/UDP packet with correct header and UDP
// checksums.
func buildUDP4(src netip.Addr, srcPort uint16, dst netip.Addr, dstPort uint16, payload []byte) []byte {
	pkt := make([]byte, 28+len(payload))
	pkt[0] = 0x45                                          // version 4, IHL 5
	binary.BigEndian.PutUint16(pkt[2:4], uint16(len(pkt))) // total length
	binary.BigEndian.PutUint16(pkt[4:6], 0x1234)           // identification
	pkt[6] = 0x40                                          // don't fragment
	pkt[8] = 64                                            // TTL
	pkt[9] = 17                                            // UDP
	s, d := src.As4(), dst.As4()
	copy(pkt[12:16], s[:])
	copy(pkt[16:20], d[:])
	binary.BigEndian.PutUint16(pkt[10:12], ^checksum(0, pkt[:20]))

	u := pkt[20:]
	binary.BigEndian.PutUint16(u[0:2], srcPort)
	binary.BigEndian.PutUint16(u[2:4], dstPort)
	binary.BigEndian.PutUint16(u[4:6], uint16(len(u)))
	copy(u[8:], payload)
	// Pseudo-header: source, destination, zero, protocol, UDP length.
	sum := checksum(0, pkt[12:20])
	sum = checksum(sum, []byte{0, 17, u[4], u[5]})
	sum = ^checksum(sum, u)
	if sum == 0 {
		sum = 0xffff // RFC 768: zero means no checksum
	}
	binary.BigEndian.PutUint16(u[6:8], sum)
	return pkt
}

func ipv4ChecksumOK(pkt []byte) bool {
	ihl := int(pkt[0]&0x0f) * 4
	return len(pkt) >= ihl && checksum(0, pkt[:ihl]) == 0xffff
}

// checksum adds b to the ones' complement sum initial (RFC 1071).
func checksum(initial uint16, b []byte) uint16 {
	sum := uint32(initial)
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// TestTUNMultiQueue opens an interface with two queues and sends UDP from
// 32 kernel sockets (32 flows) to the stack's address: every datagram
// is read from one queue or the other, each queue carries some of them
// (the kernel spreads flows over queues; all 32 on one queue would be a
// chance of 2^-31), and Close ends the readers of both queues.
func TestTUNMultiQueue(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{HostAddr: hostPrefix, Queues: 2})
		if dev.Queues() != 2 || dev.Offloads() == 0 {
			t.Fatalf("Queues %d, offloads %v; want 2 queues with offloads", dev.Queues(), dev.Offloads())
		}
		const flows = 32
		var (
			mu   sync.Mutex
			seen = map[uint16]int{} // source port -> queue
		)
		all := make(chan struct{})
		var allOnce sync.Once
		var wg sync.WaitGroup
		for q := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bufs := [][]byte{make([]byte, MaxSuperPacket)}
				sizes, gso := make([]int, 1), make([]GSO, 1)
				for {
					n, err := dev.ReadQueueGSO(q, bufs, sizes, gso)
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("queue %d: %v", q, err)
						}
						return
					}
					for i := range n {
						p, ok := parseUDP4(bufs[i][:sizes[i]])
						if !ok || p.dstPort != 9999 {
							continue
						}
						mu.Lock()
						seen[p.srcPort] = q
						if len(seen) == flows {
							allOnce.Do(func() { close(all) })
						}
						mu.Unlock()
					}
				}
			}()
		}
		conns := make([]*net.UDPConn, flows)
		for i := range conns {
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(stackAddr, 9999)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		}
		// UDP may lose a datagram on a busy machine (the suite runs
		// packages in parallel under -race): a flow not read within a
		// second sends again, up to ten times. A queue nobody reads
		// still loses every datagram of its flows, and fails the test.
		for try := 0; ; try++ {
			for _, c := range conns {
				port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
				mu.Lock()
				_, ok := seen[port]
				mu.Unlock()
				if ok {
					continue
				}
				if _, err := c.Write([]byte("flow")); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-all:
			case <-time.After(time.Second):
				if try < 10 {
					continue
				}
				mu.Lock()
				t.Errorf("only %d of %d flows read after 10 sends each", len(seen), flows)
				mu.Unlock()
			}
			break
		}
		dev.Close()
		wg.Wait()
		per := [2]int{}
		for _, q := range seen {
			per[q]++
		}
		t.Logf("flows per queue: %v; packets per queue: %v", per, dev.QueuePackets())
		if per[0] == 0 || per[1] == 0 {
			t.Errorf("flows per queue %v: one queue carried none", per)
		}
	})
}

// TestTUNMultiQueueConfig: more than one queue needs offloads, and an
// interface made without IFF_MULTI_QUEUE refuses a second queue with a
// clear error.
func TestTUNMultiQueueConfig(t *testing.T) {
	if err := (Config{Queues: 2, NoOffload: true}).validate(); err == nil || !strings.Contains(err.Error(), "need offloads") {
		t.Errorf("Queues 2 with NoOffload: %v, want an error", err)
	}
	if err := (Config{Queues: -1}).validate(); err == nil {
		t.Error("Queues -1: no error")
	}
	netnstest.RunTUN(t, func(t *testing.T) {
		single := openTUN(t, Config{Name: "gsingle0", Persist: true})
		defer func() {
			single.Close()
			if l, err := netlink.LinkByName("gsingle0"); err == nil {
				netlink.LinkDel(l)
			}
		}()
		_, err := Open(Config{Name: "gsingle0", Queues: 2, NoHostConfig: true})
		if err == nil || !strings.Contains(err.Error(), "IFF_MULTI_QUEUE") {
			t.Errorf("two queues on a single-queue interface: %v, want an error naming IFF_MULTI_QUEUE", err)
		}
	})
}

// TestSetupErrorWords: advice that names a setting says it in Go by
// default and in a caller's own words through Say, and the error still
// wraps the system error.
func TestSetupErrorWords(t *testing.T) {
	t.Parallel()
	ioctl := func(e syscall.Errno) error { return os.NewSyscallError("ioctl", e) }
	mine := Words{Name: "<name>", MTU: "<mtu>", LeaveMTU: "<leave mtu>", NoHostConfig: "<nohost>", OpenTUN: "<open>"}
	for _, tc := range []struct {
		err        error
		goWord, my string
		is         error
	}{
		{openError("glass0", "", ioctl(syscall.EPERM)), "with NoHostConfig", "with <nohost>", syscall.EPERM},
		{openError("glass0", "", ioctl(syscall.EBUSY)), "pick another Config.Name", "pick another <name>", syscall.EBUSY},
		{openError("glass0", "", ioctl(syscall.EINVAL)), "pick another Config.Name", "pick another <name>", syscall.EINVAL},
		{hostError("glass0", "set link up", syscall.EPERM), "and set NoHostConfig", "and set <nohost>", syscall.EPERM},
	} {
		var se *SetupError
		if !errors.As(tc.err, &se) {
			t.Errorf("%v is not a *SetupError", tc.err)
			continue
		}
		if !strings.Contains(tc.err.Error(), tc.goWord) {
			t.Errorf("%q does not say %q", tc.err, tc.goWord)
		}
		said := se.Say(mine)
		if !strings.Contains(said, tc.my) || strings.Contains(said, "Config") || strings.Contains(said, "NoHostConfig") {
			t.Errorf("Say = %q, want %q and no Go names", said, tc.my)
		}
		if !errors.Is(tc.err, tc.is) {
			t.Errorf("%v does not wrap %v", tc.err, tc.is)
		}
	}
	if err := hostError("glass0", "set link up", syscall.EIO); errors.As(err, new(*SetupError)) {
		t.Errorf("hostError(EIO) = %v names a setting; only a permission error has advice", err)
	}
}
