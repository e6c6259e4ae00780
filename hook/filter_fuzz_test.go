package hook

import (
	"errors"
	"testing"
)

// ParseFilter, the grammar of --egress and --ingress filters and of the
// browser view's breakpoints, given alone: it fails with a *SyntaxError
// that calls the source a filter and names a column in it, or its
// canonical form parses back to itself and matches a packet as the
// original does.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"tcp and port 8080 and syn", "host fd00::1", "src net ::ffff:1.2.3.4/120", "not (udp or icmp) && len > 1000",
		"tcp port 80 and dst host 10.0.0.2", "greater 100 and ! fin", "less 0", "len != 5", "len = 99999999999999999999",
		"port 65536", "port -1", "((((tcp))))", "!!!tcp", "tcp:", ":", "(", ")", "ws", "src", "dst port", "host ::1:",
		"net 10.0.0.0/33", "tcp udp", "and", "or or", "icmp6 or ip6 and not ip", "src 10.0.0.1 or dst 10.0.0.0/8",
	} {
		f.Add(s)
	}
	pkts := [][]byte{segment(FlagSYN, 0), segment(FlagACK|FlagFIN, 100), nil, {0x45}}
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := ParseFilter(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Kind != "filter" || se.Col < 1 || se.Col > len(src)+1 {
				t.Fatalf("ParseFilter(%q) = %v: want a filter *SyntaxError with a column in range", src, err)
			}
			return
		}
		canon := flt.String()
		f2, err := ParseFilter(canon)
		if err != nil {
			t.Fatalf("ParseFilter(%q) ok as %q, which fails: %v", src, canon, err)
		}
		if f2.String() != canon {
			t.Fatalf("round trip: %q -> %q -> %q", src, canon, f2.String())
		}
		for _, b := range append(pkts, []byte(src)) {
			if a, b2 := flt.Match(&Packet{Data: b}), f2.Match(&Packet{Data: b}); a != b2 {
				t.Fatalf("%q matches %x: %v, its canonical %q: %v", src, b, a, canon, b2)
			}
		}
	})
}
