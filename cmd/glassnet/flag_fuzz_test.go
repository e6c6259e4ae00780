package main

import (
	"flag"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzFlagValues feeds one word to each flag value parser of the command
// line: --ui's ADDR, --addr's CIDR list and a whole-number flag. A value
// each takes must be one that means what it says: an ADDR is host:port
// with a port number, a prefix is a valid one in its own family, and a
// number is the one its decimal digits spell.
func FuzzFlagValues(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:8999", ":0", "[::1]:0", "8999", "localhost", "true", "false", "", "a:b:c", "127.0.0.1:99999",
		"10.200.0.2/24,fd00:200::2/64", "::ffff:10.200.0.2/120", "::ffff:10.0.0.1/64", " , ,", "10.0.0.2",
		"1500", "+1500", "-0", "010", "0x5dc", "0o7", "0b1", "1_500", "0_10", "9223372036854775808", "--1",
		"--n", "-n", "--n=1", "-h", "--help", "--", "-", "-x", "./--n", "https://a.example.com/", "localhost:*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var u uiFlag
		if err := u.Set(s); err == nil && u.set && u.addr != "" {
			_, port, err := net.SplitHostPort(u.addr)
			if err != nil {
				t.Fatalf("--ui %q taken as %q, not host:port: %v", s, u.addr, err)
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				t.Fatalf("--ui %q taken with port %q", s, port)
			}
		}
		uiArgs([]string{"--ui", s, s, "--", s})

		var l prefixList
		if err := l.Set(s); err == nil {
			for _, p := range l {
				if !p.IsValid() || p.Addr().Is4In6() || p.Bits() > p.Addr().BitLen() {
					t.Fatalf("--addr %q gave %v", s, p)
				}
			}
		}

		fs := newFlagSet("demo", io.Discard)
		n := fs.Int64("n", 7, "N")
		if _, err := parseFlags(fs, []string{"--n=" + s}, io.Discard, false); err == nil {
			want, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
			if err != nil || *n != want {
				t.Fatalf("--n %q taken as %d, which its decimal digits do not spell (%d, %v)", s, *n, want, err)
			}
		} else if err == flag.ErrHelp {
			t.Fatalf("--n %q asked for help", s)
		}

		// A word flag takes s, or the flag s is is not taken for it.
		fs = newFlagSet("demo", io.Discard)
		file := fs.String("file", "", "`FILE`")
		fs.Int64("n", 7, "N")
		if _, err := parseFlags(fs, []string{"--file", s}, io.Discard, false); err == nil {
			name, _ := strings.CutPrefix(s, "-")
			name, _ = strings.CutPrefix(name, "-") // flag's -n or --n
			name, _, _ = strings.Cut(name, "=")
			if *file != s || s == "--" || strings.HasPrefix(s, "-") && (name == "n" || name == "h" || name == "help") {
				t.Fatalf("--file %q taken as %q", s, *file)
			}
		}

		// An origin pattern taken is one a browser's Origin can match.
		var o originList
		if err := o.Set(s); err == nil {
			host := s
			if _, h, ok := strings.Cut(s, "://"); ok {
				host = h
			}
			if strings.ContainsAny(host, "/@#") || strings.HasPrefix(s, "https://") && strings.HasSuffix(s, ":443") {
				t.Fatalf("--allow-origin %q taken: no Origin matches it", s)
			}
		}
	})
}
