package netstack

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/tun"
)

// udpToClosed builds a UDP datagram from src to port dst of the stack's address,
// IPv4 or IPv6 as src is, with a valid checksum.
func udpToClosed(src netip.Addr, dstPort uint16) []byte {
	payload := []byte("probe")
	dst := addrA4.Addr()
	if src.Is6() {
		dst = addrA6.Addr()
	}
	udpLen := header.UDPMinimumSize + len(payload)
	var b []byte
	var u header.UDP
	if src.Is4() {
		b = make([]byte, header.IPv4MinimumSize+udpLen)
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
			SrcAddr: tcpipAddr(src), DstAddr: tcpipAddr(dst)})
		ip.SetChecksum(^ip.CalculateChecksum())
		u = header.UDP(ip.Payload())
	} else {
		b = make([]byte, header.IPv6MinimumSize+udpLen)
		ip := header.IPv6(b)
		ip.Encode(&header.IPv6Fields{PayloadLength: uint16(udpLen), TransportProtocol: header.UDPProtocolNumber,
			HopLimit: 64, SrcAddr: tcpipAddr(src), DstAddr: tcpipAddr(dst)})
		u = header.UDP(ip.Payload())
	}
	u.Encode(&header.UDPFields{SrcPort: 40000, DstPort: dstPort, Length: uint16(udpLen)})
	copy(u.Payload(), payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, tcpipAddr(src), tcpipAddr(dst), uint16(udpLen))
	u.SetChecksum(^u.CalculateChecksum(checksum.Checksum(payload, xsum)))
	return b
}

// unreachablesTo writes n datagrams from src to a closed port, then an
// echo request from src, and returns how many port unreachables the stack
// sent before the echo reply (the pipe keeps the order).
func unreachablesTo(t *testing.T, dev *tun.PipeEnd, src netip.Addr, n int) int {
	t.Helper()
	pkts := make([][]byte, 0, n+1)
	for range n {
		pkts = append(pkts, udpToClosed(src, 9999))
	}
	if src.Is4() {
		pkts = append(pkts, echoRequest4(src, addrA4.Addr(), 7, 1, nil))
	} else {
		pkts = append(pkts, echoRequest6(src, addrA6.Addr(), 7, 1, nil))
	}
	if _, err := dev.Write(pkts); err != nil {
		t.Fatal(err)
	}
	unreachables := 0
	readUntil(t, dev, func(p []byte) bool {
		switch header.IPVersion(p) {
		case 4:
			ip := header.IPv4(p)
			if ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) || ip.DestinationAddress() != tcpipAddr(src) {
				return false
			}
			ic := header.ICMPv4(ip.Payload())
			if ic.Type() == header.ICMPv4DstUnreachable && ic.Code() == header.ICMPv4PortUnreachable {
				unreachables++
			}
			return ic.Type() == header.ICMPv4EchoReply
		case 6:
			ip := header.IPv6(p)
			if ip.NextHeader() != uint8(header.ICMPv6ProtocolNumber) || ip.DestinationAddress() != tcpipAddr(src) {
				return false
			}
			ic := header.ICMPv6(ip.Payload())
			if ic.Type() == header.ICMPv6DstUnreachable && ic.Code() == header.ICMPv6PortUnreachable {
				unreachables++
			}
			return ic.Type() == header.ICMPv6EchoReply
		}
		return false
	})
	return unreachables
}

// TestICMPErrorsLimitedPerDestination: as Linux (icmp_ratelimit 1000 ms,
// a burst of 6), the stack sends one source at most six port
// unreachables at once and one more a second after, while another source
// still gets its own six; echo replies are not limited. gVisor limited
// only the stack's total (1000 a second, a burst of 50), so one prober
// had 50 at once.
func TestICMPErrorsLimitedPerDestination(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		name string
		a, b netip.Addr
	}{
		{"ipv4", peer4, netip.MustParseAddr("10.0.0.10")},
		{"ipv6", peer6, netip.MustParseAddr("fd00::10")},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			clock := faketime.NewManualClock()
			_, dev := newSolo(t, func(o *Options) { o.Clock = clock })
			if got := unreachablesTo(t, dev, v.a, 20); got != 6 {
				t.Errorf("%v sent 20 datagrams to a closed port at once: %d port unreachables, want 6", v.a, got)
			}
			if got := unreachablesTo(t, dev, v.b, 20); got != 6 {
				t.Errorf("%v, after %v: %d port unreachables, want its own 6", v.b, v.a, got)
			}
			clock.Advance(time.Second)
			if got := unreachablesTo(t, dev, v.a, 20); got != 1 {
				t.Errorf("%v a second later: %d port unreachables, want 1", v.a, got)
			}
			clock.Advance(10 * time.Second)
			if got := unreachablesTo(t, dev, v.a, 20); got != 6 {
				t.Errorf("%v ten seconds later: %d port unreachables, want 6 again", v.a, got)
			}
		})
	}
}

// TestICMPErrorsPerDestinationBounded: the stack remembers the buckets of
// at most 4096 destinations. After a source has spent its burst, datagrams
// from 5000 others (as a scan with spoofed sources sends them) push it out:
// it is forgotten, and two milliseconds later (the global bucket has a
// message again; its own would need a second) it is answered as a
// destination never seen.
func TestICMPErrorsPerDestinationBounded(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	_, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	if got := unreachablesTo(t, dev, peer6, 10); got != 6 {
		t.Fatalf("%v: %d port unreachables, want 6", peer6, got)
	}
	var flood [][]byte
	for i := range 5000 {
		b := peer6.As16()
		b[13], b[14], b[15] = 1, byte(i>>8), byte(i)
		flood = append(flood, udpToClosed(netip.AddrFrom16(b), 9999))
	}
	if _, err := dev.Write(flood); err != nil {
		t.Fatal(err)
	}
	unreachablesTo(t, dev, peer6, 0) // an echo: the flood has been read
	clock.Advance(2 * time.Millisecond)
	if got := unreachablesTo(t, dev, peer6, 1); got != 1 {
		t.Errorf("%v after 5000 other sources: %d port unreachables, want 1 (forgotten, a full bucket)", peer6, got)
	}
}
