package netstack

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
)

// TestIPText checks the summary and fields of the IP layer's events, and
// that writing them costs one string and the fields: no allocation per
// address (tcpip.Address.String formats an IPv4 address with fmt).
func TestIPText(t *testing.T) {
	v4 := segment4(netip.MustParseAddr("10.0.0.9"), addrA4.Addr(), 1, 2, header.TCPFlagAck, nil, make([]byte, 1448))
	header.IPv4(v4).Encode(&header.IPv4Fields{TotalLength: uint16(len(v4)), TTL: 64, ID: 4660,
		Protocol: uint8(header.TCPProtocolNumber), SrcAddr: tcpipAddr(netip.MustParseAddr("10.0.0.9")), DstAddr: tcpipAddr(addrA4.Addr())})
	v6 := echoRequest6(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2:0:0:3"), 7, 3, []byte("hello"))
	for _, c := range []struct {
		name   string
		b      []byte
		text   string
		fields []trace.Field
	}{
		{"ipv4", v4, "receive IPv4 10.0.0.9 > 10.0.0.1 tcp, ttl 64, id 4660, length 1488 (PREROUTING)",
			[]trace.Field{{Key: "src", Value: "10.0.0.9"}, {Key: "dst", Value: "10.0.0.1"}, {Key: "proto", Value: "tcp"},
				{Key: "ttl", Value: 64}, {Key: "ip_id", Value: 4660}, {Key: "len", Value: 1488}}},
		{"ipv6", v6, "receive IPv6 fd00::1 > fd00::2:0:0:3 icmp6, hlim 64, length 53 (PREROUTING)",
			[]trace.Field{{Key: "src", Value: "fd00::1"}, {Key: "dst", Value: "fd00::2:0:0:3"}, {Key: "proto", Value: "icmp6"},
				{Key: "hlim", Value: 64}, {Key: "len", Value: 53}}},
		{"truncated", v4[:12], "receive IP truncated, length 12 (PREROUTING)", nil},
	} {
		text, fields := ipText("receive ", c.b, len(c.b), " (PREROUTING)")
		if text != c.text || !reflect.DeepEqual(fields, c.fields) {
			t.Errorf("%s: %q %v; want %q %v", c.name, text, fields, c.text, c.fields)
		}
	}
	// The string, the fields, and the boxed values that need the heap:
	// src, dst, proto, id 4660 and len 1488 (ttl 64 is one of Go's
	// preallocated small integers).
	if n := testing.AllocsPerRun(100, func() { ipText("receive ", v4, len(v4), " (PREROUTING)") }); n > 7 {
		t.Errorf("ipText allocates %v times per IPv4 packet; want at most 7", n)
	}
}

// TestIPHeaders checks the bytes the IP layer's events describe a packet
// from: the first of what stack.PayloadSince copies, whether the headers
// were pushed (going out) or consumed (coming in, after a link header),
// with the packet's whole length; and all of an IPv6 packet with extension
// headers, which ipHeaders leaves to PayloadSince.
func TestIPHeaders(t *testing.T) {
	v4 := segment4(netip.MustParseAddr("10.0.0.9"), addrA4.Addr(), 1, 2, header.TCPFlagAck, nil, bytes.Repeat([]byte{7}, 1448))
	hbh := append([]byte{uint8(header.TCPProtocolNumber), 0, 1, 4, 0, 0, 0, 0}, v4[header.IPv4MinimumSize:]...)
	v6 := make([]byte, header.IPv6MinimumSize+len(hbh))
	header.IPv6(v6).Encode(&header.IPv6Fields{PayloadLength: uint16(len(hbh)), TransportProtocol: 0, HopLimit: 64,
		SrcAddr: tcpipAddr(netip.MustParseAddr("fd00::1")), DstAddr: tcpipAddr(netip.MustParseAddr("fd00::2"))})
	copy(v6[header.IPv6MinimumSize:], hbh)

	in := func(b []byte, nh int) *stack.PacketBuffer {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(append(make([]byte, 14), b...))})
		pkt.LinkHeader().Consume(14)
		pkt.NetworkHeader().Consume(nh)
		return pkt
	}
	out := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 64, Payload: buffer.MakeWithData(v4[40:])})
	copy(out.TransportHeader().Push(20), v4[20:40])
	copy(out.NetworkHeader().Push(20), v4[:20])
	for _, c := range []struct {
		name  string
		pkt   *stack.PacketBuffer
		whole bool // left to PayloadSince
	}{
		{"in", in(v4, header.IPv4MinimumSize), false},
		{"out", out, false},
		{"ipv6 extension headers", in(v6, header.IPv6MinimumSize), true},
	} {
		want := stack.PayloadSince(c.pkt.NetworkHeader())
		var buf [ipHeaderRoom]byte
		b, wire := ipHeaders(buf[:0], c.pkt)
		if wire != want.Size() {
			t.Errorf("%s: wire %d; want %d", c.name, wire, want.Size())
		}
		switch {
		case c.whole && b != nil:
			t.Errorf("%s: %d bytes; want none (the whole packet is copied)", c.name, len(b))
		case !c.whole && !bytes.Equal(b, want.AsSlice()[:ipHeaderRoom]):
			t.Errorf("%s: % x\nwant % x", c.name, b, want.AsSlice()[:ipHeaderRoom])
		}
		want.Release()
		c.pkt.DecRef()
	}
}
