package app

import (
	"net/netip"
	"strings"
	"testing"
)

// The flag checks at their edges: what they accept must be accepted as
// well as what they refuse refused (cmd/glassnet's tests give the
// refusals by the command line).
func TestCheckEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		want string // "" for accepted
	}{
		{"10.200.0.0/31", ""}, // RFC 3021: both addresses of a /31 are hosts
		{"10.200.0.1/31", ""},
		{"10.200.0.0/32", ""},
		{"10.200.0.0/30", "the network address of 10.200.0.0/30"},
		{"10.200.0.3/30", "the broadcast address of 10.200.0.0/30"},
		{"10.0.0.2/8", ""},
		{"10.0.0.2/7", "a prefix shorter than /8"},
		{"fd00::2/16", ""},
		{"fd00::2/15", "a prefix shorter than /16"},
		{"fd00::/64", ""}, // IPv6 has no broadcast and no network address
	} {
		err := checkStackAddrs("serve", []netip.Prefix{netip.MustParsePrefix(tc.addr)})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("--addr %s: %v, want %q (accepted if empty)", tc.addr, err, tc.want)
		}
	}
	for port, want := range map[int]string{1: "", 65535: "", 8080: "", EchoPort: "the stack's echo service", DiscardPort: "the stack's discard service", 65536: "want a port from 1 to 65535"} {
		err := checkLimits("serve", port, 0, nil)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("--port %d: %v, want %q (accepted if empty)", port, err, want)
		}
	}
}
