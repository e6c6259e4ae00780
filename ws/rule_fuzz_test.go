package ws

import (
	"errors"
	"testing"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// FuzzParseFrameFilter reads any frame filter, as a breakpoint or the
// selecting half of a frame rule gives it: it fails with a
// *hook.SyntaxError naming a column in the source, or its String, after
// "ws", parses back to the same String and picks the same frames; a rule
// with that filter parses too.
func FuzzParseFrameFilter(f *testing.F) {
	for _, s := range []string{"ws", "ws opcode ping", "ws (text or binary) and fin", "ws len >= 10", "ws len = -1", "ws len > 9223372036854775808",
		"ws opcode 3", "ws opcode 0xb", "ws opcode opcode(0x7)", "ws contains hello", "ws contains (", "ws contains :", "ws not not masked",
		"ws ((( ", "ws fin fin", "ws compressed && !masked || fin", "wss", "ws:", "ws text and binary or ping"} {
		f.Add(s)
	}
	frames := []*HookFrame{
		{Frame: Frame{Header: Header{Opcode: OpText, Fin: true}, Payload: []byte("hello")}, Dir: trace.In},
		{Frame: Frame{Header: Header{Opcode: OpPing, Fin: true, Masked: true}}, Dir: trace.Out},
		{Frame: Frame{Header: Header{Opcode: 3}, Payload: []byte("(:)")}, Compressed: true},
		{Frame: Frame{Header: Header{Opcode: OpContinuation, Fin: true}, Payload: make([]byte, 300)}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		expr, err := ParseFrameFilter(src)
		if err != nil {
			var se *hook.SyntaxError
			if !errors.As(err, &se) || se.Col < 1 || se.Col > len(src)+1 {
				t.Fatalf("ParseFrameFilter(%q) = %v: want a *hook.SyntaxError with a column in range", src, err)
			}
			return
		}
		if expr == nil {
			return // plain "ws": every frame
		}
		canon := "ws " + expr.String()
		again, err := ParseFrameFilter(canon)
		if err != nil {
			t.Fatalf("ParseFrameFilter(%q) ok as %q, which fails: %v", src, canon, err)
		}
		if "ws "+again.String() != canon {
			t.Fatalf("round trip: %q -> %q -> %q", src, canon, "ws "+again.String())
		}
		for _, fr := range frames {
			if a, b := expr.Match(fr), again.Match(fr); a != b {
				t.Fatalf("%q picks %v: %v, its canonical %q: %v", src, fr.Header, a, canon, b)
			}
		}
		if _, err := ParseFrameRule(canon+" : drop", trace.In); err != nil {
			t.Fatalf("the filter %q, as a rule: %v", canon, err)
		}
	})
}
