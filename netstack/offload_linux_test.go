package netstack

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// The stack's side of a TUN in these tests, and the kernel's.
var (
	tunStack4 = netip.MustParsePrefix("10.210.0.2/24")
	tunStack6 = netip.MustParsePrefix("fd00:210::2/64")
)

// tunFamily is one address family of the kernel-peer tests.
type tunFamily struct {
	name  string
	stack netip.Prefix
	proto tcpip.NetworkProtocolNumber
}

var tunFamilies = []tunFamily{
	{"v4", tunStack4, ipv4.ProtocolNumber},
	{"v6", tunStack6, ipv6.ProtocolNumber},
}

// tunStack opens a TUN (offloads as asked) and a stack on it, inside the
// test's network namespace.
func tunStack(t *testing.T, fam tunFamily, noOffload bool, edit func(*Options)) (*Stack, *tun.TUN) {
	t.Helper()
	dev, err := tun.Open(tun.Config{Name: "goff0", HostAddr: tun.HostAddrFor(fam.stack), NoOffload: noOffload})
	if err != nil {
		t.Fatalf("tun.Open: %v", err)
	}
	o := Options{Device: dev, Addrs: []netip.Prefix{fam.stack}, Node: "glass"}
	if edit != nil {
		edit(&o)
	}
	return mustNew(t, o), dev
}

const bulkBytes = 8 << 20

// bulkBothWays has the kernel send bulkBytes to a listener on the stack,
// which checks them by hash and then sends bulkBytes of its own back; the
// kernel checks those the same way.
func bulkBothWays(t *testing.T, st *Stack, fam tunFamily) {
	t.Helper()
	la := tcpip.FullAddress{NIC: st.NICID(), Addr: tcpip.AddrFromSlice(fam.stack.Addr().AsSlice()), Port: 5001}
	// The connection of an earlier call holds the port until the
	// kernel's FIN, sent as that call returned, has been processed.
	var (
		ln  *gonet.TCPListener
		err error
	)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ln, err = gonet.ListenTCP(st.Stack(), la, fam.proto)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	up := payload(bulkBytes, 1)
	down := payload(bulkBytes, 2)
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil {
			srvErr <- fmt.Errorf("stack read: %w", err)
			return
		}
		if n != bulkBytes || !bytes.Equal(h.Sum(nil), sum(up)) {
			srvErr <- fmt.Errorf("stack received %d bytes that do not hash as sent", n)
			return
		}
		if _, err := c.Write(down); err != nil {
			srvErr <- fmt.Errorf("stack write: %w", err)
			return
		}
		srvErr <- nil
	}()
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(fam.stack.Addr(), 5001).String(), 5*time.Second)
	if err != nil {
		t.Fatalf("kernel dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(up); err != nil {
		t.Fatalf("kernel write: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatalf("kernel read: %v (stack: %+v)", err, st.Stats())
	}
	if n != bulkBytes || !bytes.Equal(h.Sum(nil), sum(down)) {
		t.Fatalf("kernel received %d bytes that do not hash as sent", n)
	}
	if err := <-srvErr; err != nil {
		t.Fatal(err)
	}
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) * 2654435761
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// TestTUNBulkOffload moves 8 MiB each way between the kernel and the stack
// over a TUN, IPv4 and IPv6, with offloads and without, and checks the
// bytes by hash and that super-packets flowed both ways exactly when
// offloads are on.
func TestTUNBulkOffload(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		for _, fam := range tunFamilies {
			for _, off := range []bool{false, true} {
				name := fam.name + "/offload"
				if off {
					name = fam.name + "/no-offload"
				}
				t.Run(name, func(t *testing.T) {
					st, _ := tunStack(t, fam, off, nil)
					bulkBothWays(t, st, fam)
					s := st.Stats()
					t.Logf("offloads %v: %d packets in (%d super, %d segments), %d out (%d super, %d segments)",
						st.Offloads(), s.PacketsIn, s.GSOIn, s.GSOSegmentsIn, s.PacketsOut, s.GSOOut, s.GSOSegmentsOut)
					if off {
						if st.Offloads() != 0 || s.GSOIn != 0 || s.GSOOut != 0 {
							t.Errorf("without offloads: Offloads %v, GSOIn %d, GSOOut %d; want none", st.Offloads(), s.GSOIn, s.GSOOut)
						}
						return
					}
					if s.GSOIn == 0 || s.GSOOut == 0 || s.GSOSegmentsIn <= s.GSOIn || s.GSOSegmentsOut <= s.GSOOut {
						t.Errorf("no super-packets both ways: %+v", s)
					}
					if m := s.Malformed; m.TCPChecksum != 0 || m.TCPInvalid != 0 || m.L4 != 0 || m.IP != 0 {
						t.Errorf("gVisor counted malformed packets: %+v", m)
					}
				})
			}
		}
	})
}

// TestTUNOffloadUDPAndPing checks that with offloads on, UDP both ways
// (one kernel write cut into datagrams by USO included) and ICMP echo
// still work.
func TestTUNOffloadUDPAndPing(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		for _, fam := range tunFamilies {
			t.Run(fam.name, func(t *testing.T) {
				st, dev := tunStack(t, fam, false, nil)
				if dev.Offloads() == 0 {
					t.Fatal("no offloads")
				}
				la := tcpip.FullAddress{NIC: st.NICID(), Addr: tcpip.AddrFromSlice(fam.stack.Addr().AsSlice()), Port: 6000}
				uc, err := gonet.DialUDP(st.Stack(), &la, nil, fam.proto)
				if err != nil {
					t.Fatal(err)
				}
				defer uc.Close()
				kc, err := net.ListenUDP("udp", nil)
				if err != nil {
					t.Fatal(err)
				}
				defer kc.Close()
				dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(fam.stack.Addr(), 6000))
				// One send of 5 datagrams of 1000 bytes (USO).
				rc, _ := kc.SyscallConn()
				rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, 1000) })
				msg := payload(5000, 3)
				if _, err := kc.WriteTo(msg, dst); err != nil {
					t.Fatal(err)
				}
				rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT, 0) })
				uc.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 65536)
				var from net.Addr
				for i := range 5 {
					n, a, err := uc.ReadFrom(buf)
					if err != nil {
						t.Fatalf("datagram %d: %v", i, err)
					}
					if !bytes.Equal(buf[:n], msg[i*1000:(i+1)*1000]) {
						t.Fatalf("datagram %d: %d bytes, not the ones sent", i, n)
					}
					from = a
				}
				if _, err := uc.WriteTo([]byte("reply"), from); err != nil {
					t.Fatal(err)
				}
				kc.SetDeadline(time.Now().Add(5 * time.Second))
				n, _, err := kc.ReadFrom(buf)
				if err != nil || string(buf[:n]) != "reply" {
					t.Fatalf("kernel got %q, %v; want the stack's reply", buf[:n], err)
				}
				if s := st.Stats(); s.SplitIn == 0 && dev.Offloads()&tun.OffloadUSO4 != 0 {
					t.Errorf("USO on but no super-packet was split: %+v", s)
				}
				ping(t, fam.stack.Addr())
			})
		}
	})
}

// ping sends an ICMP echo request from the kernel to addr and waits for
// the reply.
func ping(t *testing.T, addr netip.Addr) {
	t.Helper()
	network, typ := "ip4:icmp", byte(8)
	if addr.Is6() {
		network, typ = "ip6:ipv6-icmp", 128
	}
	c, err := net.ListenPacket(network, "")
	if err != nil {
		t.Fatalf("raw ICMP socket: %v", err)
	}
	defer c.Close()
	req := []byte{typ, 0, 0, 0, 0x12, 0x34, 0, 1, 'g', 'l', 'a', 's', 's'}
	if addr.Is4() {
		binary.BigEndian.PutUint16(req[2:], ^checksumOf(req))
	} // the kernel fills in the ICMPv6 checksum
	if _, err := c.WriteTo(req, &net.IPAddr{IP: addr.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no echo reply from %v: %v", addr, err)
		}
		if n >= len(req) && (buf[0] == 0 || buf[0] == 129) && bytes.Equal(buf[4:n], req[4:]) {
			return
		}
	}
}

func checksumOf(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// TestTUNOffloadTraceAndHooks runs a bulk transfer with a tracer, a pcap
// and link hooks attached: the trace shows super-packets as such, the
// hooks see them whole by default, and with SetSplitGSO(true) they see
// MTU-sized packets only, so a loss hook drops single segments and the
// transfer still completes.
func TestTUNOffloadTraceAndHooks(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		fam := tunFamilies[0]
		var rec recorder
		var pcap bytes.Buffer
		var maxOut, maxIn atomic.Int64
		seen := func(m *atomic.Int64) hook.PacketFunc {
			return func(p *hook.Packet) hook.Verdict {
				for {
					old := m.Load()
					if int64(len(p.Data)) <= old || m.CompareAndSwap(old, int64(len(p.Data))) {
						break
					}
				}
				return hook.Verdict{}
			}
		}
		st, dev := tunStack(t, fam, false, func(o *Options) {
			o.Tracer = trace.New(&rec)
			o.PCAP = &lockedWriter{w: &pcap}
			o.Egress = hook.NewChain(seen(&maxOut))
			o.Ingress = hook.NewChain(seen(&maxIn))
		})
		bulkBothWays(t, st, fam)
		if maxOut.Load() <= int64(dev.MTU()) || maxIn.Load() <= int64(dev.MTU()) {
			t.Errorf("hooks saw at most %d out, %d in; want super-packets beyond the MTU %d", maxOut.Load(), maxIn.Load(), dev.MTU())
		}
		var gsoLine string
		for _, e := range rec.all() {
			if e.Name == "packet" && strings.Contains(e.Summary, ", gso tcp4 mss ") {
				gsoLine = e.Summary
				if !hook.ChecksumsValid(e.Data) {
					t.Errorf("traced super-packet has a bad checksum: %s", e.Summary)
				}
				break
			}
		}
		if gsoLine == "" {
			t.Error("no trace line shows a super-packet")
		}
		t.Logf("trace: %s", gsoLine)

		// Split: hooks see MTU-sized packets; a 1% loss hook drops
		// single segments.
		maxOut.Store(0)
		maxIn.Store(0)
		st.SetSplitGSO(true)
		var lost atomic.Int64
		var n atomic.Int64
		loss := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
			if p.Headers().Payload > 0 && n.Add(1)%100 == 0 {
				lost.Add(1)
				return hook.Verdict{Action: hook.Drop, Reason: "loss"}
			}
			return hook.Verdict{}
		})
		st.SetEgress(hook.NewChain(seen(&maxOut), loss))
		st.SetIngress(hook.NewChain(seen(&maxIn), loss))
		before := st.Stats()
		bulkBothWays(t, st, fam)
		after := st.Stats()
		if maxOut.Load() > int64(dev.MTU()) || maxIn.Load() > int64(dev.MTU()) {
			t.Errorf("with split, hooks saw %d out, %d in; want at most the MTU %d", maxOut.Load(), maxIn.Load(), dev.MTU())
		}
		if after.SplitOut == before.SplitOut || after.SplitIn == before.SplitIn || lost.Load() == 0 {
			t.Errorf("split %d out, %d in, %d segments lost; want all nonzero", after.SplitOut-before.SplitOut, after.SplitIn-before.SplitIn, lost.Load())
		}
		if after.Drops["loss"] != uint64(lost.Load()) {
			t.Errorf("%d drops counted as loss, the hook dropped %d", after.Drops["loss"], lost.Load())
		}
		st.SetEgress(nil)
		st.SetIngress(nil)
	})
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestOffloadRXChecksum holds gVisor to what the endpoint relies on: the
// NIC asks the endpoint's capabilities for every packet. A TCP SYN with a
// bad checksum from the device reaches gVisor unverified only when the
// device vouched for it; otherwise gVisor counts a checksum error.
func TestOffloadRXChecksum(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		g         tun.GSO
		wantError bool
	}{
		{tun.GSO{}, true},
		{tun.GSO{DataValid: true}, false},
	} {
		a, b := tun.Pipe(tun.PipeOptions{})
		dev := &fakeOffload{Device: a, g: tt.g}
		st := mustNew(t, Options{Device: dev, Addrs: []netip.Prefix{addrA4}})
		if st.Offloads() == 0 {
			t.Fatal("fake offload device not used")
		}
		syn := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize)
		ip := header.IPv4(syn)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(syn)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
			SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1})})
		ip.SetChecksum(^ip.CalculateChecksum())
		header.TCP(syn[header.IPv4MinimumSize:]).Encode(&header.TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 1,
			DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagSyn, WindowSize: 100, Checksum: 0xbad})
		if _, err := b.Write([][]byte{syn}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			s := st.Stack().Stats()
			m := st.Stats().Malformed
			gotErr := m.TCPChecksum > 0 || m.L4 > 0
			// A SYN to a closed port that passed the checksum is
			// answered with a RST.
			rst := s.TCP.ResetsSent.Value() > 0
			if gotErr || rst {
				if gotErr != tt.wantError {
					t.Errorf("GSO %+v: checksum error %v, want %v", tt.g, gotErr, tt.wantError)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GSO %+v: the SYN was neither rejected nor answered", tt.g)
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.Close()
	}
}

// fakeOffload is a Memory device that claims checksum offload and reads
// every packet with the metadata g. It embeds only the Device methods, so
// that none of Memory's own offload methods stand in for its ReadGSO.
type fakeOffload struct {
	tun.Device
	g tun.GSO
}

func (f *fakeOffload) Offloads() tun.Offload                         { return tun.OffloadCsum }
func (f *fakeOffload) OffloadStats() tun.OffloadStats                { return tun.OffloadStats{} }
func (f *fakeOffload) WriteGSO(p [][]byte, _ []tun.GSO) (int, error) { return f.Write(p) }
func (f *fakeOffload) ReadGSO(bufs [][]byte, sizes []int, gso []tun.GSO) (int, error) {
	n, err := f.Read(bufs, sizes)
	for i := range n {
		gso[i] = f.g
	}
	return n, err
}
