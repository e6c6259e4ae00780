package ui

import (
	"strings"
	"testing"
)

// FuzzParseFlags reads any flags a held packet's edit could be given:
// what parses writes back, as tcpdump writes flags, to a string that
// parses to the same flags; what does not is refused naming a letter
// that is no flag.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{"", "S", "SA", "S.", "[S.]", "FP.", "R", "PA", "EW", "CE", "a", "x", "S|A", "S, A", "\xff", "ſ", "FSRP.UEW"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := parseFlags(s)
		if err != nil {
			if fl != 0 || !strings.HasPrefix(err.Error(), "ui: flag '") {
				t.Fatalf("parseFlags(%q) = %#x, %v", s, fl, err)
			}
			return
		}
		back, err := parseFlags(flagString(fl))
		if err != nil || back != fl {
			t.Fatalf("parseFlags(%q) = %#x, written %q, read back as %#x, %v", s, fl, flagString(fl), back, err)
		}
		if strings.ContainsFunc(strings.ToUpper(s), func(r rune) bool { return !strings.ContainsRune("FSRPA.UECW ,|[]", r) }) {
			t.Fatalf("parseFlags(%q) took a letter that is no flag", s)
		}
	})
}
