package ws

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseOpcode reads any opcode as a rule or a held frame's edit
// names it: what parses is a 4-bit opcode whose String parses back to
// it; what does not is an error that quotes it.
func FuzzParseOpcode(f *testing.F) {
	for _, s := range []string{"text", "TEXT", "Ping", "continuation", "0", "0x9", "0xA", "15", "16", "0b11", "0o7", "0x_f", "-1",
		"opcode(0x3)", "opcode(0xb)", "opcode(3)", "", " text", "pingg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		op, err := ParseOpcode(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ws: ") || !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParseOpcode(%q): error %q does not quote it", s, err)
			}
			return
		}
		if op > 0xf {
			t.Fatalf("ParseOpcode(%q) = %d, more than 4 bits", s, op)
		}
		if back, err := ParseOpcode(op.String()); err != nil || back != op {
			t.Fatalf("ParseOpcode(%q) = %v, whose String reads back as %v, %v", s, op, back, err)
		}
	})
}
