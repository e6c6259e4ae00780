package app

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// TestCountersShowStackDrops: a packet that passes the link's checks and
// that the stack rejects (here an IPv4 header with a bad checksum) is in
// glassnet ss's counters and serve's closing summary, with its reason.
func TestCountersShowStackDrops(t *testing.T) {
	peer, st := counterStack(t, "drops0", demoServerAddr, nil)
	pkt := make([]byte, header.IPv4MinimumSize+header.ICMPv4MinimumSize)
	ip := header.IPv4(pkt)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFromSlice(demoClientAddr.Addr().AsSlice()), DstAddr: tcpip.AddrFromSlice(demoServerAddr.Addr().AsSlice())})
	ip.SetChecksum(^ip.CalculateChecksum() + 1) // wrong by one
	if _, err := peer.Write([][]byte{pkt}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); stackCounters(st, sockets.New(st.Stack(), sockets.Options{}), nil)["drop ip-checksum"] != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("glassnet ss counters %v: no drop ip-checksum", stackCounters(st, sockets.New(st.Stack(), sockets.Options{}), nil))
		}
	}
	if line := linkSummary(st.Stats()); !strings.Contains(line, "1 dropped by the stack above the link (ip-checksum 1)") {
		t.Errorf("summary %q does not name the drop", line)
	}
}

// TestCountersTimedOut: the connections TCP gave up on, among them those
// an application closed on a peer that keeps its window shut (gVisor
// patch 63), are in glassnet ss's counters.
func TestCountersTimedOut(t *testing.T) {
	_, st := counterStack(t, "tmo0", demoServerAddr, nil)
	socks := sockets.New(st.Stack(), sockets.Options{})
	if n, ok := stackCounters(st, socks, nil)["tcp timed out"]; !ok || n != 0 {
		t.Fatalf("tcp timed out = %d (listed %v) on a new stack, want 0 listed", n, ok)
	}
	st.Stack().Stats().TCP.EstablishedTimedout.Increment()
	if n := stackCounters(st, socks, nil)["tcp timed out"]; n != 1 {
		t.Errorf("tcp timed out = %d after a timeout, want 1", n)
	}
}

// TestCountersNotForThisStack: the router solicitation the kernel sends
// to ff02::2 (all routers) when a TUN comes up reaches a stack that is a
// host, not a router, and is dropped as not addressed to it: the counters
// and the summary say so in those words, not as a bad packet.
func TestCountersNotForThisStack(t *testing.T) {
	peer, st := counterStack(t, "rs0", netip.MustParsePrefix("fd00:245::2/64"), nil)
	icmp := header.ICMPv6(make([]byte, header.ICMPv6MinimumSize+4))
	icmp.SetType(header.ICMPv6RouterSolicit)
	src := tcpip.AddrFromSlice(netip.MustParseAddr("fe80::1").AsSlice())
	dst := tcpip.AddrFromSlice(netip.MustParseAddr("ff02::2").AsSlice())
	icmp.SetChecksum(header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: icmp, Src: src, Dst: dst}))
	pkt := make([]byte, header.IPv6MinimumSize+len(icmp))
	header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(len(icmp)), TransportProtocol: header.ICMPv6ProtocolNumber,
		HopLimit: 255, SrcAddr: src, DstAddr: dst})
	copy(pkt[header.IPv6MinimumSize:], icmp)
	if _, err := peer.Write([][]byte{pkt}); err != nil {
		t.Fatal(err)
	}
	counters := func() map[string]uint64 { return stackCounters(st, sockets.New(st.Stack(), sockets.Options{}), nil) }
	for deadline := time.Now().Add(10 * time.Second); counters()["drop ip-not-for-this-stack"] != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("glassnet ss counters %v: no drop ip-not-for-this-stack", counters())
		}
	}
	if line := linkSummary(st.Stats()); !strings.Contains(line, "1 dropped by the stack above the link (ip-not-for-this-stack 1)") {
		t.Errorf("summary %q does not name the drop", line)
	}
}

// TestCountersSynFlood: SYNs that never complete fill a listener's queue
// of half-open connections; past its backlog the stack answers with SYN
// cookies, and a bare ACK that carries no cookie is refused. glassnet ss
// counts both, so that a SYN flood is seen for what it is.
func TestCountersSynFlood(t *testing.T) {
	peer, st := counterStack(t, "synflood0", demoServerAddr, nil)
	socks := sockets.New(st.Stack(), sockets.Options{})
	const backlog = 4
	fd, err := socks.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	if err := socks.Bind(fd, netip.AddrPortFrom(demoServerAddr.Addr(), 80)); err != nil {
		t.Fatal(err)
	}
	if err := socks.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socks.Close(fd) })
	segment := func(port uint16, flags header.TCPFlags) []byte {
		pkt := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize)
		src := tcpip.AddrFromSlice(demoClientAddr.Addr().AsSlice())
		dst := tcpip.AddrFromSlice(demoServerAddr.Addr().AsSlice())
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
		ip.SetChecksum(^ip.CalculateChecksum())
		tcp := header.TCP(ip.Payload())
		tcp.Encode(&header.TCPFields{SrcPort: port, DstPort: 80, SeqNum: 1000, AckNum: 12345, DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 65535})
		sum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
		tcp.SetChecksum(^tcp.CalculateChecksum(sum))
		return pkt
	}
	var flood [][]byte
	for i := range 2 * backlog {
		flood = append(flood, segment(uint16(40000+i), header.TCPFlagSyn))
	}
	flood = append(flood, segment(50000, header.TCPFlagAck))
	if _, err := peer.Write(flood); err != nil {
		t.Fatal(err)
	}
	counters := func() map[string]uint64 { return withPathCounters(map[string]uint64{}, st) }
	for deadline := time.Now().Add(10 * time.Second); counters()["tcp syn cookies sent"] == 0 || counters()["tcp syn cookies invalid"] == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("glassnet ss counters %v: no tcp syn cookies sent and invalid", counters())
		}
	}
}

// eioOnce is a device whose first Read fails with EIO.
type eioOnce struct {
	*tun.PipeEnd
	failed atomic.Bool
}

func (d *eioOnce) Read(bufs [][]byte, sizes []int) (int, error) {
	if d.failed.CompareAndSwap(false, true) {
		return 0, syscall.EIO
	}
	return d.PipeEnd.Read(bufs, sizes)
}

// TestCountersDeviceAndSocket: glassnet ss's counters name the device's
// errors and the socket hooks' verdicts as well as the drops.
func TestCountersDeviceAndSocket(t *testing.T) {
	_, st := counterStack(t, "eio0", demoServerAddr, func(d tun.Device) tun.Device { return &eioOnce{PipeEnd: d.(*tun.PipeEnd)} })
	socks := sockets.New(st.Stack(), sockets.Options{})
	socks.SetCallHook(sockets.CallHookFunc(func(c *sockets.Call) sockets.CallVerdict {
		return sockets.CallVerdict{Err: syscall.EAGAIN, Verdict: hook.Verdict{Reason: "test"}}
	}))
	fd, err := socks.Socket(sockets.AF_INET, sockets.SOCK_DGRAM)
	if err != nil {
		t.Fatal(err)
	}
	defer socks.Close(fd)
	if _, err := socks.Recv(context.Background(), fd, make([]byte, 8), 0); !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("Recv with the hook: %v, want EAGAIN", err)
	}
	counters := func() map[string]uint64 { return stackCounters(st, socks, nil) }
	for deadline := time.Now().Add(10 * time.Second); counters()["device error read: EIO"] != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("glassnet ss counters %v: no device error read: EIO", counters())
		}
	}
	if n := counters()["verdict socket recv modify test"]; n != 1 {
		t.Errorf("glassnet ss counters %v: verdict socket recv modify test %d, want 1", counters(), n)
	}
}

// counterStack is a stack named name on one end of an in-memory link,
// with addr, and the link's other end (peer); wrap, if not nil, wraps the
// stack's end of the link. Both are closed when the test ends.
func counterStack(t *testing.T, name string, addr netip.Prefix, wrap func(tun.Device) tun.Device) (peer *tun.PipeEnd, st *netstack.Stack) {
	t.Helper()
	peer, end := tun.Pipe(tun.PipeOptions{NameA: "peer0", NameB: name})
	t.Cleanup(func() { peer.Close() })
	var dev tun.Device = end
	if wrap != nil {
		dev = wrap(end)
	}
	st, err := netstack.New(netstack.Options{Device: dev, Addrs: []netip.Prefix{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return peer, st
}
