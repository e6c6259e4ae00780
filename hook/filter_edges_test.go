package hook

import (
	"strings"
	"testing"
)

// TestParseFilterRefusalEdges: filters the parser refuses, each beside the
// nearest one it takes.
func TestParseFilterRefusalEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		want string // the error; "" for a filter that parses, then its String
	}{
		{"tcp udp", `at column 5: unexpected "udp"`},
		{"tcp and or udp", `at column 9: "or" where a filter word belongs`},
		{"port 7", ""},
		{"port 07", "at column 6: 07: tcpdump reads a leading 0 as octal, 7"},
		{"port 65535", ""},
		{"port 65536", `at column 6: "65536" where a port number belongs`},
		{"host fe80::1", ""},
		{"host fe80::1%eth0", `at column 6: "fe80::1%eth0" where an IP address belongs`},
	} {
		_, err := ParseFilter(tc.src)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParseFilter(%q): %v", tc.src, err)
		case tc.want != "" && err == nil:
			t.Errorf("ParseFilter(%q) took it, want an error containing %q", tc.src, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("ParseFilter(%q): %v, want an error containing %q", tc.src, err, tc.want)
		}
	}
}

// TestFilterForms: the qualifier form with net, and len with a single =,
// parse to what they mean and match by it.
func TestFilterForms(t *testing.T) {
	t.Parallel()
	syn := segment(FlagSYN, 0) // 10.0.0.1 -> 10.0.0.2, 40 bytes
	udp := ip4("10.0.0.1", "10.0.0.3", ProtoUDP, []byte{0x14, 0xe9, 0, 53, 0, 8, 0, 0})
	for _, tc := range []struct {
		src, str string
		syn, udp bool
	}{
		{"tcp net 10.0.0.0/8", "tcp and net 10.0.0.0/8", true, false},
		{"udp dst net 10.0.0.0/30", "udp and dst net 10.0.0.0/30", false, true},
		{"len = 40", "len == 40", true, false},
		{"len = 28", "len == 28", false, true},
	} {
		f, err := ParseFilter(tc.src)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tc.src, err)
			continue
		}
		if got := f.String(); got != tc.str {
			t.Errorf("ParseFilter(%q).String() = %q, want %q", tc.src, got, tc.str)
		}
		if got := f.Match(&Packet{Data: syn}); got != tc.syn {
			t.Errorf("%q on a 40-byte TCP SYN = %v, want %v", tc.src, got, tc.syn)
		}
		if got := f.Match(&Packet{Data: udp}); got != tc.udp {
			t.Errorf("%q on a 28-byte UDP datagram = %v, want %v", tc.src, got, tc.udp)
		}
	}
}

// TestFilterProtocolOfItsVersion: icmp is ICMP in IPv4 and icmp6 ICMPv6 in
// IPv6, as in tcpdump; the other version's protocol number in a packet
// (ICMP in IPv6, 58 in IPv4) matches neither. And a TCP packet too short
// for its ports has none: port 0 does not match it.
func TestFilterProtocolOfItsVersion(t *testing.T) {
	t.Parallel()
	echo := []byte{8, 0, 0, 0, 0, 1, 0, 1}
	pkts := map[string][]byte{
		"icmp in ip6": ip6("fd00::1", "fd00::2", ProtoICMP, echo),
		"58 in ip":    ip4("10.0.0.1", "10.0.0.2", ProtoICMPv6, echo),
		"short tcp":   ip4("10.0.0.1", "10.0.0.2", ProtoTCP, make([]byte, 8)),
		"short tcp6":  ip6("fd00::1", "fd00::2", ProtoTCP, make([]byte, 8)),
	}
	for _, src := range []string{"icmp", "icmp6", "port 0", "src port 0", "dst port 0"} {
		f, err := ParseFilter(src)
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range pkts {
			if f.Match(&Packet{Data: b}) {
				t.Errorf("%q matches %s", src, name)
			}
		}
	}
}
