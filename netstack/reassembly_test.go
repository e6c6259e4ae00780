package netstack

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// firstFragment4 is the first 1480 bytes of a 3000-byte UDP datagram from
// peer4 with IP identification id: a fragment whose datagram never
// completes. (A time exceeded quotes it; gVisor sends none for an ICMP
// datagram's first fragment, whose ICMP header it has not parsed.)
func firstFragment4(id uint16) []byte {
	b := make([]byte, header.IPv4MinimumSize+1480)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), ID: id, Flags: header.IPv4FlagMoreFragments, TTL: 64,
		Protocol: uint8(header.UDPProtocolNumber), SrcAddr: tcpipAddr(peer4), DstAddr: tcpipAddr(addrA4.Addr())})
	ip.SetChecksum(^ip.CalculateChecksum())
	header.UDP(ip.Payload()).Encode(&header.UDPFields{SrcPort: 40000, DstPort: 9999, Length: 3000})
	return b
}

// TestReassemblyGivenUpCounted: a datagram whose fragments do not all come
// within 30 s is given up with a time exceeded (fragment reassembly) to
// its sender, as Linux does, and counted (ip-reassembly-timeout), for
// IPv4 and IPv6; a flood of first fragments is held within the memory
// limit by giving up the oldest, counted too (ip-reassembly-memory), and
// a fragmented ping still gets through after it. gVisor counted neither:
// the fragments vanished without a trace in glassnet ss.
func TestReassemblyGivenUpCounted(t *testing.T) {
	t.Parallel()
	clock := faketime.NewManualClock()
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	e6 := echoRequest6(peer6, addrA6.Addr(), 9, 1, make([]byte, 64))[header.IPv6MinimumSize:]
	if _, err := dev.Write([][]byte{
		firstFragment4(1),
		fragment6(7, 0, true, uint8(header.ICMPv6ProtocolNumber), e6[:32]),
	}); err != nil {
		t.Fatal(err)
	}
	ping4(t, dev, 1) // both fragments are in
	if got := st.Stats().Malformed.IPReassemblyTimeout; got != 0 {
		t.Fatalf("ip-reassembly-timeout = %d before the timeout", got)
	}
	// IPv4 gives up after 30 s, IPv6 after 60 s, as Linux (ipfrag_time,
	// ip6frag_time).
	clock.Advance(30 * time.Second)
	waitFor(t, "the IPv4 reassembly to time out", func() bool { return st.Stats().Malformed.IPReassemblyTimeout == 1 })
	clock.Advance(30 * time.Second)
	var seen4, seen6 bool
	readUntil(t, dev, func(p []byte) bool {
		switch header.IPVersion(p) {
		case 4:
			ic := header.ICMPv4(header.IPv4(p).Payload())
			seen4 = seen4 || header.IPv4(p).Protocol() == uint8(header.ICMPv4ProtocolNumber) &&
				ic.Type() == header.ICMPv4TimeExceeded && ic.Code() == header.ICMPv4ReassemblyTimeout
		case 6:
			ic := header.ICMPv6(header.IPv6(p).Payload())
			seen6 = seen6 || header.IPv6(p).NextHeader() == uint8(header.ICMPv6ProtocolNumber) &&
				ic.Type() == header.ICMPv6TimeExceeded && ic.Code() == header.ICMPv6ReassemblyTimeout
		}
		return seen4 && seen6
	})
	if got := st.Stats().Malformed.Reasons()["ip-reassembly-timeout"]; got != 2 {
		t.Errorf("ip-reassembly-timeout = %d after 30 s, want 2 (%v)", got, st.Stats().Malformed.Reasons())
	}

	// 4000 first fragments of 1480 bytes: about 6 MB, past the 4 MiB the
	// stack holds.
	for id := range uint16(4000) {
		if _, err := dev.Write([][]byte{firstFragment4(100 + id)}); err != nil {
			t.Fatal(err)
		}
	}
	ping4(t, dev, 2)
	if got := st.Stats().Malformed.IPReassemblyMemory; got == 0 || got >= 4000 {
		t.Errorf("ip-reassembly-memory = %d after 4000 first fragments, want some but not all", got)
	}
	// A fragmented echo request is still reassembled and answered.
	req := echoRequest4(peer4, addrA4.Addr(), 9, 3, make([]byte, 2000))
	first := append([]byte(nil), req[:header.IPv4MinimumSize+1480]...)
	second := append(append([]byte(nil), req[:header.IPv4MinimumSize]...), req[header.IPv4MinimumSize+1480:]...)
	for i, b := range [][]byte{first, second} {
		ip := header.IPv4(b)
		ip.SetTotalLength(uint16(len(b)))
		ip.SetID(9000)
		if i == 0 {
			ip.SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0)
		} else {
			ip.SetFlagsFragmentOffset(0, 1480)
		}
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	if _, err := dev.Write([][]byte{first, second}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, dev, func(p []byte) bool {
		if header.IPVersion(p) != 4 || header.IPv4(p).Protocol() != uint8(header.ICMPv4ProtocolNumber) {
			return false
		}
		ip := header.IPv4(p)
		return ip.FragmentOffset() == 0 && header.ICMPv4(ip.Payload()).Type() == header.ICMPv4EchoReply && header.ICMPv4(ip.Payload()).Sequence() == 3
	})
}
