package netstack

import (
	"net/netip"
	"reflect"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"

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
				{Key: "ttl", Value: 64}, {Key: "id", Value: 4660}, {Key: "len", Value: 1488}}},
		{"ipv6", v6, "receive IPv6 fd00::1 > fd00::2:0:0:3 icmp6, hlim 64, length 53 (PREROUTING)",
			[]trace.Field{{Key: "src", Value: "fd00::1"}, {Key: "dst", Value: "fd00::2:0:0:3"}, {Key: "proto", Value: "icmp6"},
				{Key: "hlim", Value: 64}, {Key: "len", Value: 53}}},
		{"truncated", v4[:12], "receive IP truncated, length 12 (PREROUTING)", nil},
	} {
		text, fields := ipText("receive ", c.b, " (PREROUTING)")
		if text != c.text || !reflect.DeepEqual(fields, c.fields) {
			t.Errorf("%s: %q %v; want %q %v", c.name, text, fields, c.text, c.fields)
		}
	}
	// The string, the fields, and the boxed values that need the heap:
	// src, dst, proto, id 4660 and len 1488 (ttl 64 is one of Go's
	// preallocated small integers).
	if n := testing.AllocsPerRun(100, func() { ipText("receive ", v4, " (PREROUTING)") }); n > 7 {
		t.Errorf("ipText allocates %v times per IPv4 packet; want at most 7", n)
	}
}
