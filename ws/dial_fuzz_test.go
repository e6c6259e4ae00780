package ws

import (
	"strings"
	"testing"
)

// FuzzParseURL reads any URL a client is given to dial: what parses is a
// ws or wss URL with a host, and an http or https one becomes ws or wss;
// what does not is an error that starts "ws: ".
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"ws://server.example/chat", "wss://[::1]:443/x?y=1#f", "http://a", "HTTPS://a/", "ws:///nohost",
		"ws://", "ftp://a", "ws://%zz", "ws://a b", "//a/b", "ws:a", "ws://user:pw@host:99999/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseURL(s)
		if err != nil {
			if u != nil || !strings.HasPrefix(err.Error(), "ws: ") {
				t.Fatalf("parseURL(%q) = %v, %v", s, u, err)
			}
			return
		}
		if u.Scheme != "ws" && u.Scheme != "wss" || u.Host == "" {
			t.Fatalf("parseURL(%q) took scheme %q host %q", s, u.Scheme, u.Host)
		}
		if lower := strings.ToLower(s); strings.HasPrefix(lower, "https:") || strings.HasPrefix(lower, "wss:") {
			if u.Scheme != "wss" {
				t.Fatalf("parseURL(%q) dials %s", s, u.Scheme)
			}
		} else if u.Scheme != "ws" {
			t.Fatalf("parseURL(%q) dials %s", s, u.Scheme)
		}
		if again, err := parseURL(u.String()); err != nil || again.String() != u.String() {
			t.Fatalf("parseURL(%q) = %q, which reads back as %v, %v", s, u, again, err)
		}
	})
}
