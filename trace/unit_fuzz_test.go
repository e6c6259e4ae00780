package trace

import "testing"

// FuzzParseUnit reads any unit a step command names: what parses is a
// unit other than UnitNone whose String parses back to it (or, for "",
// the event).
func FuzzParseUnit(f *testing.F) {
	for _, s := range []string{"", "event", "packet", "segment", "frame", "message", "none", "Frame", " frame", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := ParseUnit(s)
		if !ok {
			if u != UnitNone {
				t.Fatalf("ParseUnit(%q) = %v, false", s, u)
			}
			return
		}
		if u == UnitNone || s != "" && u.String() != s {
			t.Fatalf("ParseUnit(%q) = %v", s, u)
		}
		if back, ok := ParseUnit(u.String()); !ok || back != u {
			t.Fatalf("ParseUnit(%q) = %v, whose String reads back as %v, %v", s, u, back, ok)
		}
	})
}
