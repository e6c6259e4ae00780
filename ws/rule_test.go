package ws

import (
	"strings"
	"testing"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

func TestParseFrameRule(t *testing.T) {
	t.Parallel()
	frame := func(op Opcode, fin, masked bool, payload string) *HookFrame {
		return &HookFrame{Frame: Frame{Header: Header{Opcode: op, Fin: fin, Masked: masked, Length: int64(len(payload))}, Payload: []byte(payload)}, Dir: trace.Out}
	}
	ping := frame(OpPing, true, false, "are you there?")
	text := frame(OpText, true, true, "hello, glassnet")
	frag := frame(OpText, false, true, strings.Repeat("x", 2000))
	deflated := frame(OpText, true, true, "\xf3\x48\xcd\xc9\xc9\x07\x00")
	deflated.Compressed = true
	for _, tc := range []struct {
		rule    string
		action  hook.Action
		matches []*HookFrame
		misses  []*HookFrame
	}{
		{"ws opcode ping : drop", hook.Drop, []*HookFrame{ping}, []*HookFrame{text, frag}},
		{"ws ping or pong : drop", hook.Drop, []*HookFrame{ping}, []*HookFrame{text}},
		{"ws text and not fin : delay 10ms", hook.Delay, []*HookFrame{frag}, []*HookFrame{text, ping}},
		{"ws text and len > 1000 : split 4", hook.Modify, []*HookFrame{frag}, []*HookFrame{text}},
		{"ws masked and contains glassnet : duplicate 2", hook.Duplicate, []*HookFrame{text}, []*HookFrame{ping, frag}},
		{"ws : drop", hook.Drop, []*HookFrame{ping, text, frag}, nil},
		{"ws (text or binary) and fin : loss 100%", hook.Drop, []*HookFrame{text}, []*HookFrame{frag, ping}},
		{"ws text and fin : loss 100", hook.Drop, []*HookFrame{text}, []*HookFrame{frag, ping}},
		{"ws ping : delay 1m", hook.Delay, []*HookFrame{ping}, []*HookFrame{text}},
		{"ws compressed : drop", hook.Drop, []*HookFrame{deflated}, []*HookFrame{text, frag, ping}},
		{"ws not compressed and text : drop", hook.Drop, []*HookFrame{text, frag}, []*HookFrame{deflated, ping}},
	} {
		r, err := ParseFrameRule(tc.rule, trace.Out)
		if err != nil {
			t.Errorf("ParseFrameRule(%q): %v", tc.rule, err)
			continue
		}
		for _, f := range tc.matches {
			if v := r.Decide(f); v.Action != tc.action || v.Rule != tc.rule {
				t.Errorf("%q on %v = %+v, want %v", tc.rule, f.Header, v, tc.action)
			}
		}
		for _, f := range tc.misses {
			if v := r.Decide(f); !v.passes() {
				t.Errorf("%q on %v = %+v, want pass", tc.rule, f.Header, v)
			}
		}
		// A rule for the other direction passes everything.
		in := *ping
		in.Dir = trace.In
		if v := r.Decide(&in); !v.passes() && tc.action != hook.Pass {
			t.Errorf("%q, an egress rule, acted on an ingress frame: %+v", tc.rule, v)
		}
	}
	if r, _ := ParseFrameRule("ws text : split 3", trace.Out); r.Decide(text).Split != 3 {
		t.Error("split 3 did not ask for 3 fragments")
	}
}

func TestParseFrameRuleErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rule, want string }{
		{"ws opcode pingg : drop", "at column 11: an opcode is"},
		{"ws text", "no action"},
		{"ws text : explode", `at column 11: unknown frame action "explode"`},
		{"ws txt : drop", `at column 4: unknown frame word "txt"`},
		{"ws len ~ 3 : drop", `at column 8: "~" after len`},
		{"ws text : split 1", "at column 17: split takes"},
		{"ws text : loss 200%", `"200%" where a percentage`},
		{"ws text : loss NaN%", `"NaN%" where a percentage`},
		{"ws text : delay 99999h", "at column 17: delay 99999h is longer than the most a rule may delay, 1m"},
		{"ws text : delay 10", "at column 17: \"10\" where a duration with its unit"},
		{"ws text : drop now", `unexpected "now" after the action`},
		{"tcp : drop", "a frame rule starts with ws"},
	} {
		_, err := ParseFrameRule(tc.rule, trace.Out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFrameRule(%q) = %v, want an error containing %q", tc.rule, err, tc.want)
		}
	}
}

func TestIsFrameRule(t *testing.T) {
	t.Parallel()
	for rule, want := range map[string]bool{"ws ping : drop": true, "  ws : drop": true, "tcp : drop": false, "loss 20%": false, "wss": false} {
		if IsFrameRule(rule) != want {
			t.Errorf("IsFrameRule(%q) = %v", rule, !want)
		}
	}
}

func FuzzParseFrameRule(f *testing.F) {
	for _, s := range []string{"ws opcode ping : drop", "ws (text or binary) and fin : loss 100% seed 3", "ws len >= 10 : split 4", "ws : delay 1s", "ws ((( : drop", "ws not not : drop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := ParseFrameRule(src, trace.In)
		if err == nil {
			r.Decide(&HookFrame{Frame: Frame{Header: Header{Opcode: OpText, Fin: true}, Payload: []byte("x")}, Dir: trace.In})
		}
	})
}
