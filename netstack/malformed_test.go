package netstack

import (
	"encoding/binary"
	"io"
	"maps"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// smallMTU reports a smaller MTU than the pipe carries, so the stack reads
// into buffers that a full-size packet overflows.
type smallMTU struct {
	*tun.PipeEnd
	mtu int
}

func (s smallMTU) MTU() int { return s.mtu }

// malformedCases are packets the link endpoint must drop, with the reason.
func malformedCases() []struct {
	name   string
	pkt    []byte
	reason DropReason
} {
	good := echoRequest4(peer4, addrA4.Addr(), 1, 1, []byte("x"))
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	good6 := echoRequest6(peer6, addrA6.Addr(), 1, 1, []byte("x"))
	return []struct {
		name   string
		pkt    []byte
		reason DropReason
	}{
		{"empty", []byte{}, DropEmpty},
		{"version7", mod(func(b []byte) { b[0] = 0x75 }), DropBadVersion},
		{"version0", []byte{0x00, 1, 2, 3}, DropBadVersion},
		{"ipv4-short", good[:12], DropIPv4Short},
		{"ipv4-ihl4", mod(func(b []byte) { b[0] = 0x44 }), DropIPv4HeaderLength},
		{"ipv4-ihl-beyond", mod(func(b []byte) { b[0] = 0x4f }), DropIPv4HeaderLength},
		{"ipv4-total-too-big", mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], uint16(len(b)+1)) }), DropIPv4TotalLength},
		{"ipv4-total-below-header", mod(func(b []byte) { binary.BigEndian.PutUint16(b[2:], 10) }), DropIPv4TotalLength},
		{"ipv4-cut", good[:len(good)-3], DropIPv4TotalLength},
		{"ipv6-short", good6[:30], DropIPv6Short},
		{"ipv6-payload-short", good6[:len(good6)-4], DropIPv6PayloadLength},
		{"ipv6-payload-one-short", good6[:len(good6)-1], DropIPv6PayloadLength},
	}
}

func TestMalformedDropped(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	cases := malformedCases()
	want := map[DropReason]uint64{}
	for _, c := range cases {
		if _, err := dev.Write([][]byte{c.pkt}); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		want[c.reason]++
	}
	// A valid ping afterwards proves the stack still works, and since the
	// pipe is ordered, that every malformed packet has been seen.
	ping4(t, dev, 99)
	got := st.Stats()
	for r, n := range want {
		if got.Drops[r] != n {
			t.Errorf("drops[%s] = %d, want %d", r, got.Drops[r], n)
		}
	}
	if got.Dropped() != uint64(len(cases)) {
		t.Errorf("total drops %d, want %d: %v", got.Dropped(), len(cases), got.Drops)
	}
	if got.PacketsIn != 1 {
		t.Errorf("PacketsIn = %d, want 1 (the ping)", got.PacketsIn)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range malformedCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, r := classify(c.pkt); r != c.reason {
				t.Errorf("classify = %q, want %q", r, c.reason)
			}
			// Read in two parts (splitread.go), the head
			// holding the longest IP header.
			head := c.pkt[:min(len(c.pkt), 60)]
			if _, r := classifySize(head, len(c.pkt)); r != c.reason {
				t.Errorf("classifySize(head %d bytes) = %q, want %q", len(head), r, c.reason)
			}
		})
	}
	for _, p := range [][]byte{
		echoRequest4(peer4, addrA4.Addr(), 1, 1, nil),
		echoRequest6(peer6, addrA6.Addr(), 1, 1, nil),
		append(echoRequest4(peer4, addrA4.Addr(), 1, 1, nil), 0, 0, 0), // trailing padding
	} {
		if proto, r := classify(p); r != "" || proto == 0 {
			t.Errorf("classify(valid % x) = %v, %q", p[:4], proto, r)
		}
	}
}

func TestTruncatedDropped(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{MTU: 1500})
	defer db.Close()
	rec := &recorder{}
	st := mustNew(t, Options{
		Device: smallMTU{da, 1000},
		Addrs:  []netip.Prefix{addrA4},
		Tracer: trace.New(rec),
		Node:   "solo",
	})
	big := echoRequest4(peer4, addrA4.Addr(), 1, 1, make([]byte, 1200))
	if _, err := db.Write([][]byte{big}); err != nil {
		t.Fatalf("write: %v", err)
	}
	ping4(t, db, 2)
	if n := st.Stats().Drops[DropTruncated]; n != 1 {
		t.Errorf("drops[truncated] = %d, want 1", n)
	}
	var seen bool
	for _, e := range rec.all() {
		if e.Name == "drop" {
			if r, _ := field(e, "reason"); r == string(DropTruncated) {
				seen = true
			}
		}
	}
	if !seen {
		t.Error("no drop event with reason truncated")
	}
}

// FuzzIngress feeds arbitrary bytes through the ingress check and, when
// they pass, into gVisor, with tracing and capture on so the packet
// printer runs too. Nothing may panic, and every packet is either counted
// in or dropped with a reason.
func FuzzIngress(f *testing.F) {
	for _, c := range malformedCases() {
		f.Add(c.pkt)
	}
	f.Add(echoRequest4(peer4, addrA4.Addr(), 1, 1, []byte("hi")))
	f.Add(echoRequest6(peer6, addrA6.Addr(), 1, 1, []byte("hi")))
	f.Add(synPacket4())
	f.Add([]byte{0x45})
	f.Add([]byte{0x60})

	da, db := tun.Pipe(tun.PipeOptions{})
	st, err := New(Options{
		Device: da,
		Addrs:  []netip.Prefix{addrA4, addrA6},
		Tracer: trace.New(trace.SinkFunc(func(*trace.Event) {})),
		PCAP:   io.Discard,
	})
	if err != nil {
		f.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		bufs, sizes := [][]byte{make([]byte, 1500)}, []int{0}
		for {
			if _, err := db.Read(bufs, sizes); err != nil {
				return
			}
		}
	}()
	f.Cleanup(func() {
		st.Close()
		db.Close()
		<-drained
	})

	f.Fuzz(func(t *testing.T, b []byte) {
		before := st.Stats()
		st.dev.up.receive(b, pktMeta{})
		after := st.Stats()
		moved := (after.PacketsIn - before.PacketsIn) + (after.Dropped() - before.Dropped())
		if moved < 1 {
			t.Fatalf("packet neither delivered nor dropped: % x", b)
		}
		_ = trace.DescribePacket(b, newFlowTable())
	})
}

// synPacket4 is a TCP SYN from the peer to port 80 of the stack.
func synPacket4() []byte {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.TCPProtocolNumber),
		SrcAddr:     tcpipAddr(peer4),
		DstAddr:     tcpipAddr(addrA4.Addr()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(ip.Payload())
	tcp.Encode(&header.TCPFields{
		SrcPort:    40000,
		DstPort:    80,
		SeqNum:     1000,
		DataOffset: header.TCPMinimumSize,
		Flags:      header.TCPFlagSyn,
		WindowSize: 65535,
	})
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, tcpipAddr(peer4), tcpipAddr(addrA4.Addr()), uint16(len(tcp)))
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return b
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGVisorMalformed sends packets that pass the link checks but carry
// bad checksums: gVisor must reject and count them.
func TestGVisorMalformed(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	badIP := echoRequest4(peer4, addrA4.Addr(), 1, 1, []byte("x"))
	badIP[10] ^= 0xff // IPv4 header checksum
	badICMP := echoRequest4(peer4, addrA4.Addr(), 1, 1, []byte("x"))
	badICMP[len(badICMP)-1] ^= 0xff // ICMP payload, so its checksum fails
	badTCP := synPacket4()
	badTCP[len(badTCP)-1] ^= 0xff // TCP urgent pointer, so its checksum fails
	// (with no listener on port 80, gVisor counts it as a malformed L4
	// packet rather than a TCP checksum error)
	badICMP6 := echoRequest6(peer6, addrA6.Addr(), 1, 1, []byte("x"))
	badICMP6[len(badICMP6)-1] ^= 0xff
	if _, err := dev.Write([][]byte{badIP, badICMP, badTCP, badICMP6}); err != nil {
		t.Fatal(err)
	}
	ping4(t, dev, 5)
	waitFor(t, "gVisor counters", func() bool {
		m := st.Stats().Malformed
		return m.IP == 1 && m.IPChecksum == 1 && m.ICMPv4Invalid == 1 && m.L4 == 1 && m.ICMPv6Invalid == 1
	})
	if d := st.Stats().Dropped(); d != 0 {
		t.Errorf("link dropped %d packets that it should have passed on", d)
	}
	if got, want := st.Stats().Malformed.Reasons(), map[string]uint64{"ip-checksum": 1, "icmpv4-invalid": 1, "l4-malformed": 1, "icmpv6-invalid": 1}; !maps.Equal(got, want) {
		t.Errorf("Malformed.Reasons() = %v, want %v", got, want)
	}
}

// TestGVisorInvalidSource sends packets gVisor drops without counting them
// as malformed: from a source no host may have (broadcast, multicast), from
// the stack's own address (a "martian" that Linux drops on any interface
// but loopback), and a fragment that would end past 64 KiB. Each must be
// counted with a reason.
func TestGVisorInvalidSource(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	fromBroadcast := echoRequest4(netip.MustParseAddr("255.255.255.255"), addrA4.Addr(), 1, 1, []byte("x"))
	fromMulticast := echoRequest4(netip.MustParseAddr("224.0.0.1"), addrA4.Addr(), 1, 2, []byte("x"))
	fromSelf := echoRequest4(addrA4.Addr(), addrA4.Addr(), 1, 4, []byte("x"))
	fromSelf6 := echoRequest6(addrA6.Addr(), addrA6.Addr(), 1, 5, []byte("x"))
	fragment := echoRequest4(peer4, addrA4.Addr(), 1, 3, []byte("12345678"))
	ip := header.IPv4(fragment)
	ip.SetFlagsFragmentOffset(0, 0xfff8) // the last fragment, at offset 65528: it ends past 65535
	ip.SetChecksum(0)
	ip.SetChecksum(^ip.CalculateChecksum())
	if _, err := dev.Write([][]byte{fromBroadcast, fromMulticast, fromSelf, fromSelf6, fragment}); err != nil {
		t.Fatal(err)
	}
	ping4(t, dev, 5)
	waitFor(t, "gVisor counters", func() bool {
		m := st.Stats().Malformed
		return m.IPInvalidSource == 4 && m.IPFragment == 1
	})
	if got, want := st.Stats().Malformed.Reasons(), map[string]uint64{"ip-invalid-source": 4, "ip-fragment-malformed": 1}; !maps.Equal(got, want) {
		t.Errorf("Malformed.Reasons() = %v, want %v", got, want)
	}
}

// TestDetachedDropped: a packet that arrives while the endpoint has no
// dispatcher (its NIC is being removed) is counted as detached.
func TestDetachedDropped(t *testing.T) {
	t.Parallel()
	st, _ := newSolo(t, nil)
	st.ep.Attach(nil)
	st.ep.receive(echoRequest4(peer4, addrA4.Addr(), 1, 1, nil), pktMeta{})
	got := st.Stats()
	if got.Drops[DropDetached] != 1 || got.Dropped() != 1 || got.PacketsIn != 0 {
		t.Errorf("drops %v, %d packets in; want one detached drop and nothing in", got.Drops, got.PacketsIn)
	}
}

// TestGVisorNotForThisStack: a packet to an address the stack does not
// have is counted under its own reason, not as malformed.
func TestGVisorNotForThisStack(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	other := echoRequest4(peer4, netip.MustParseAddr("192.0.2.99"), 1, 1, []byte("x"))
	if _, err := dev.Write([][]byte{other}); err != nil {
		t.Fatal(err)
	}
	ping4(t, dev, 5)
	waitFor(t, "gVisor counters", func() bool { return st.Stats().Malformed.IPInvalidAddress == 1 })
	if got, want := st.Stats().Malformed.Reasons(), map[string]uint64{"ip-not-for-this-stack": 1}; !maps.Equal(got, want) {
		t.Errorf("Malformed.Reasons() = %v, want %v", got, want)
	}
}

// TestGVisorUDPMalformed: a UDP header announcing more bytes than the
// packet holds is counted as a malformed UDP packet, and a wrong UDP
// checksum as a UDP checksum error.
func TestGVisorUDPMalformed(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	udp4 := func(length, xsum uint16) []byte {
		b := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+4)
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
			SrcAddr: tcpipAddr(peer4), DstAddr: tcpipAddr(addrA4.Addr())})
		ip.SetChecksum(^ip.CalculateChecksum())
		header.UDP(ip.Payload()).Encode(&header.UDPFields{SrcPort: 40000, DstPort: 9, Length: length, Checksum: xsum})
		return b
	}
	long := udp4(header.UDPMinimumSize+40, 0)       // no checksum: only the length is wrong
	badSum := udp4(header.UDPMinimumSize+4, 0x1234) // a checksum that cannot be right
	// Two of one and one of the other, so that neither count can pass
	// for the other.
	if _, err := dev.Write([][]byte{long, badSum, badSum}); err != nil {
		t.Fatal(err)
	}
	ping4(t, dev, 5)
	waitFor(t, "gVisor counters", func() bool {
		m := st.Stats().Malformed
		return m.UDPMalformed == 1 && m.UDPChecksum == 2
	})
	if got, want := st.Stats().Malformed.Reasons(), map[string]uint64{"udp-malformed": 1, "udp-checksum": 2, "l4-malformed": 3}; !maps.Equal(got, want) {
		t.Errorf("Malformed.Reasons() = %v, want %v", got, want)
	}
}
