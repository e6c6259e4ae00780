package hook

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, want string
	}{
		{"loss 20%", "loss 20%"},
		{"loss 20", "loss 20%"},
		{"loss random 0.5%", "loss 0.5%"},
		{"loss -0%", "loss 0%"},
		{"duplicate -0", "duplicate 0%"},
		{"loss 20% seed 42", "loss 20% seed 42"},
		{"delay 1ms jitter 1ms seed 3", "delay 1ms jitter 1ms seed 3"},
		{"delay 1ms jitter 0s distribution normal seed 0", "delay 1ms jitter 0s distribution normal seed 0"},
		{"loss gemodel 1% 10%", "loss gemodel 1% 10%"},
		{"loss gemodel 1% 10% 70% 0.1%", "loss gemodel 1% 10% 70% 0.1%"},
		{"delay 100ms", "delay 100ms"},
		{"delay 50ms jitter 10ms", "delay 50ms jitter 10ms"},
		{"delay 50ms jitter 10ms distribution normal", "delay 50ms jitter 10ms distribution normal"},
		{"duplicate 5%", "duplicate 5%"},
		{"reorder 10%", "reorder 10%"},
		{"reorder 10% gap 5ms", "reorder 10% gap 5ms"},
		{"corrupt 1%", "corrupt 1%"},
		{"rate 1mbit", "rate 1mbit"},
		{"rate 1mbit burst 32kb", "rate 1mbit burst 32kb"},
		{"rate 100kbps burst 1500 limit 64k", "rate 800kbit burst 1500b limit 64kb"},
		{"rate 1mbit 14", "rate 1mbit 14"},
		{"rate 1mbit -20 burst 1kb", "rate 1mbit -20 burst 1kb"},
		{"rate 1mbit 0", "rate 1mbit"},
		{"rate 1mbit 0 48 5 limit 64kb", "rate 1mbit 0 48 5 limit 64kb"},
		{"rate 1mbit 4 53", "rate 1mbit 4 53 0"},
		{"tcp and port 8080 and syn : drop", "tcp and port 8080 and syn : drop"},
		{"tcp port 8080 and syn: drop", "tcp and port 8080 and syn : drop"},
		{"rst after 10 packets", "rst after 10 packets"},
		{"port 80 : rst after 3", "port 80 : rst after 3 packets"},
		{"host fd00::1: drop", "host fd00::1 : drop"},
		{"host ::1: drop", "host ::1 : drop"},
		{"dst net ::/0 : drop", "dst net ::/0 : drop"},
		{"src ::ffff:10.0.0.1 : drop", "src host 10.0.0.1 : drop"},
		{"tcp :drop", "tcp : drop"},
		{"src net fd00::/64 : delay 1s", "src net fd00::/64 : delay 1s"},
		{"not (udp or icmp) && len > 1000 : corrupt 1%", "not (udp or icmp) and len > 1000 : corrupt 1%"},
		{"src 10.0.0.1 or dst 10.0.0.0/8 : ttl 3", "src host 10.0.0.1 or dst net 10.0.0.0/8 : ttl 3"},
		{"greater 100 and ! fin : window 1000", "len >= 100 and not fin : window 1000"},
		// and and or mixed need parentheses (TestParseRuleErrors); a
		// primitive of two words is one operand, as in tcpdump.
		{"tcp or (udp and port 53) : drop", "tcp or (udp and port 53) : drop"},
		{"(tcp or udp) and port 53 : drop", "(tcp or udp) and port 53 : drop"},
		{"tcp port 80 or udp port 53 : drop", "(tcp and port 80) or (udp and port 53) : drop"},
	} {
		r, err := ParseRule(tc.src)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tc.src, err)
			continue
		}
		if got := r.String(); got != tc.want {
			t.Errorf("ParseRule(%q).String() = %q, want %q", tc.src, got, tc.want)
		}
		r2, err := ParseRule(r.String())
		if err != nil || r2.String() != r.String() {
			t.Errorf("round trip of %q: %v, %v", r.String(), r2, err)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, want string
	}{
		{"tcp and prot 80 : drop", `rule "tcp and prot 80 : drop": at column 9: unknown word "prot"`},
		{"", "at column 1: no action"},
		{"loss", `at column 5: end of rule where a percentage`},
		{"loss 120%", `at column 6: "120%" where a percentage`},
		{"delay fast", `at column 7: "fast" where a duration`},
		{"delay 1s jitter 1ms distribution pareto", `at column 34: "pareto" where uniform or normal`},
		{"rate 1 mbit", `at column 6: "1"`},
		{"frobnicate", `unknown action "frobnicate"`},
		{": drop", "at column 1: no filter before ':'"},
		{"tcp :", "at column 6: no action after ':'"},
		{"(tcp : drop", "at column 6: end of filter where ')' closing the '(' at column 1 belongs"},
		{"(tcp udp : drop", `at column 6: "udp" where ')' closing the '(' at column 1 belongs`},
		// tcpdump gives and and or one precedence, left to right: this is
		// (tcp or udp) and port 53 there, every TCP packet here.
		{"tcp or udp and port 53 : drop", "at column 5: and and or mixed without parentheses: tcpdump reads a or b and c as (a or b) and c"},
		{"tcp and syn || fin : drop", "at column 5: and and or mixed without parentheses"},
		// tcpdump reads a leading 0 as octal: port 010 is port 8 there.
		{"port 010 : drop", "at column 6: 010: tcpdump reads a leading 0 as octal, 8; write 8 or 10"},
		{"len > 080 : drop", "080: tcpdump reads a leading 0 as octal; write 80"},
		{strings.Repeat("not ", 101) + "tcp : drop", "at column 401: 101 negations and parentheses nested, at most 100"},
		{strings.Repeat("! ", 60) + strings.Repeat("( ", 41) + "tcp" + strings.Repeat(" )", 41) + " : drop", "at column 201: 101 negations and parentheses nested, at most 100"},
		{strings.Repeat("( ", 101) + "tcp" + strings.Repeat(" )", 101) + " : drop", "at column 201: 101 negations and parentheses nested, at most 100"},
		{"tcp and : drop", `at column 9: end of filter where a filter word belongs`},
		{"tcp udp : drop", `at column 5: unexpected "udp" in the filter`},
		{"ws opcode ping : drop", "at column 1: a rule starting with ws is a frame rule"},
		{"port 99999 : drop", `"99999" where a port number belongs`},
		{"host 10.0.0 : drop", `"10.0.0" where an IP address belongs`},
		{"len ~ 3 : drop", `"~" after len`},
		{"loss 1% seed x", `"x" where a seed`},
		{"loss 1% extra", `unexpected "extra" after the action`},
		{"tcp : drop : drop", "a second ':'"},
		{"rst after 0 packets", "count from 1"},
		{"reorder 10% gap fast", `at column 17: "fast" where a duration`},
		{"reorder 10% gap 0", "at column 17: gap 0: want a gap above 0"},
		{"ttl 0", "ttl 0: want 1 to 255"},
		{"ttl 256", "ttl 256: want 1 to 255"},
		{"window -1", "a window"},
		{"window 65536", "window 65536: want 0 to 65535"},
		{"rate 1mbit burst 0", "burst \"0\": want a size above 0"},
		{"rate 1mbit limit 0b", "limit \"0b\": want a size above 0"},
		// No rule holds a packet longer than MaxDelay: a slip of h for ms
		// would wedge the connection.
		{"delay 99999h", "at column 7: delay 99999h is longer than the most a rule may delay, 1m"},
		{"delay 61s", "delay 61s is longer than the most a rule may delay, 1m"},
		{"delay 2562047h47m16.854775807s", "longer than the most a rule may delay, 1m"},
		{"delay 1s jitter 99999h", "at column 17: jitter 99999h is longer than the most a rule may delay, 1m"},
		{"delay 50s jitter 20s", "at column 18: delay 50s jitter 20s holds a packet up to 1m10s, longer than the most a rule may delay, 1m"},
		{"delay 40s jitter 10s distribution normal", "delay 40s jitter 10s distribution normal holds a packet up to 1m10s"},
		{"reorder 10% gap 2m", "at column 17: gap 2m is longer than the most a rule may delay, 1m"},
		{"rate 1bit", "at column 6: rate 1bit sends a 1500-byte packet in 3h20m, longer than the most a rule may delay, 1m: want 200bit or more"},
		{"rate 199bit", "want 200bit or more"},
		{"rate nanmbit", `at column 6: "nanmbit": want a rate`},
		{"rate 56kbit limit 1mb", "at column 19: limit 1mb at rate 56kbit queues 2m30s, longer than the most a rule may delay, 1m: want a limit of at most 410kb at this rate"},
		{"delay 100", `"100" where a duration with its unit (e.g. 100ms) belongs`},
		// A seed that nothing draws from would be ignored.
		{"drop seed 5", "at column 6: seed: drop draws no random numbers"},
		{"tcp : ttl 3 seed 1", "at column 13: seed: ttl 3 draws no random numbers"},
		{"delay 10ms seed 1", "seed: delay 10ms draws no random numbers"},
		{"rate 1mbit seed 2", "seed: rate 1mbit draws no random numbers"},
		{"rst after 3 seed 2", "seed: rst after 3 packets draws no random numbers"},
	} {
		_, err := ParseRule(tc.src)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRule(%q) = %v, want a *SyntaxError containing %q", tc.src, err, tc.want)
		}
	}
}

// A frame rule given where a packet rule belongs is ErrFrameFilter, as an
// action and inside a filter, so a caller can route it to ws.
func TestParseRuleFrameFilter(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"ws opcode ping : drop", "ws", "tcp and ws : drop"} {
		_, err := ParseRule(src)
		if !errors.Is(err, ErrFrameFilter) {
			t.Errorf("ParseRule(%q) = %v, want ErrFrameFilter", src, err)
		}
	}
	if _, err := ParseRule("tcp : drop"); errors.Is(err, ErrFrameFilter) {
		t.Errorf("a packet rule is ErrFrameFilter")
	}
}

func TestRuleValues(t *testing.T) {
	t.Parallel()
	r, err := ParseRule("udp : delay 50ms jitter 10ms distribution normal seed 7")
	if err != nil {
		t.Fatal(err)
	}
	if r.Delay != 50*time.Millisecond || r.Jitter != 10*time.Millisecond || r.Dist != Normal || r.Seed != 7 {
		t.Errorf("rule = %+v", r)
	}
	r, err = ParseRule("rate 1mbit burst 32kb")
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate != 1e6 || r.Burst != 32<<10 {
		t.Errorf("rate = %d, burst %d", r.Rate, r.Burst)
	}
	// Rates in bytes per second are eight times the bits.
	for src, want := range map[string]uint64{"rate 100bps": 800, "rate 3kbps": 24000, "rate 2mbps": 16e6, "rate 1gbps": 8e9, "rate 200bit": 200} {
		r, err := ParseRule(src)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rate != want {
			t.Errorf("ParseRule(%q).Rate = %d bit/s, want %d", src, r.Rate, want)
		}
	}
}

// A rule's hook names the rule in every verdict that does something, so
// that traces and counters say which rule dropped a packet.
func TestRuleHookNamesRule(t *testing.T) {
	t.Parallel()
	r, err := ParseRule("tcp port 8080: drop")
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Hook()
	if err != nil {
		t.Fatal(err)
	}
	v := h.Decide(&Packet{Data: segment(FlagACK, 10)})
	if v.Action != Drop || v.Rule != "tcp and port 8080 : drop" {
		t.Errorf("verdict %+v, want a drop by rule %q", v, "tcp and port 8080 : drop")
	}
}

// loss gemodel's values after P and R are netem's: 1-H is the loss in the
// bad state, 1-K the loss in the good one.
func TestRuleGemodelStates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, want string
	}{
		// Into the bad state at once and never out: 1-H decides.
		{"loss gemodel 100% 0% 0% 0%", strings.Repeat(".", 50)},
		{"loss gemodel 100% 0% 100% 0%", strings.Repeat("x", 50)},
		// Never into the bad state: 1-K decides.
		{"loss gemodel 0% 0% 0% 100%", strings.Repeat("x", 50)},
		{"loss gemodel 0% 0% 100% 0%", strings.Repeat(".", 50)},
		// Without 1-H the bad state loses everything.
		{"loss gemodel 100% 0%", strings.Repeat("x", 50)},
	} {
		r, err := ParseRule(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		if got := decisions(t, r, 50); got != tc.want {
			t.Errorf("%q drops %s, want %s", tc.src, got, tc.want)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"loss 20%", "delay 50ms jitter 10ms distribution normal", "tcp and port 8080 and syn : drop",
		"rst after 10 packets", "host fd00::1: drop", "not (udp or icmp) and len > 1000 : corrupt 1%",
		"((((", "::::", "!!!tcp:drop", "rate 1e308gbit", "len != 5:ttl 1", "src net ::ffff:1.2.3.4/120 : drop",
		"loss gemodel 1% 2% 3% 4% seed 18446744073709551615", "ws : drop", "delay -1s", "tcp:", ":", "(",
		"delay 99999h", "delay 1m jitter 1ns", "delay 1s jitter 2562047h distribution normal", "reorder 1% gap 1m",
		"rate 200bit", "rate 199bit", "rate 200bit burst 1048576mb limit 1500", "rate 1pbit", "rate 1e-9gbit", "rst after 1099511627776 bytes",
		"delay 100ms 10ms 25%", "loss 10% 25%", "reorder 25% gap 5", "rate 5kbit 20 100 5", "loss state 1% 2%", "loss 1% ecn",
		"rate 1mbit burst 1kb burst 2kb", "loss 1_0%", "rate 0x1p20bit", "loss gemodel 0%", "loss gemodel 100% seed 1", "delay 0",
		"rate 1mbit limit 1", "delay 1.5s jitter 1e3ms", "loss 10.5%", "loss +0%", "duplicate 1e2", "corrupt .5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := ParseRule(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Col < 1 || se.Col > len(src)+1 {
				t.Fatalf("ParseRule(%q) = %v: want a *SyntaxError with a column in range", src, err)
			}
			return
		}
		canon := r.String()
		r2, err := ParseRule(canon)
		if err != nil {
			t.Fatalf("ParseRule(%q) ok as %q, which fails: %v", src, canon, err)
		}
		if r2.String() != canon {
			t.Fatalf("round trip: %q -> %q -> %q", src, canon, r2.String())
		}
		h, err := r.Hook()
		if err != nil {
			t.Fatalf("ParseRule(%q) ok, its Hook fails: %v", src, err)
		}
		if v := h.Decide(&Packet{Data: []byte(src)}); v.Delay > MaxDelay {
			t.Fatalf("ParseRule(%q) delays a packet by %v, longer than MaxDelay", src, v.Delay)
		}
		if v := h.Decide(&Packet{Data: segment(FlagACK, 1460)}); v.Delay > MaxDelay {
			t.Fatalf("ParseRule(%q) delays a segment by %v, longer than MaxDelay", src, v.Delay)
		}
	})
}

// A rule built by hand behaves as the same rule parsed: its Seed seeds it,
// and its String says so.
func TestHandBuiltRule(t *testing.T) {
	t.Parallel()
	parsed, err := ParseRule("loss 30% seed 7")
	if err != nil {
		t.Fatal(err)
	}
	byHand := &Rule{Action: RuleLoss, Percent: 30, Seed: 7}
	if got := byHand.String(); got != parsed.String() {
		t.Errorf("String %q, want %q", got, parsed.String())
	}
	derived := &Rule{Action: RuleLoss, Percent: 30}
	a, b, c := decisions(t, parsed, 500), decisions(t, byHand, 500), decisions(t, derived, 500)
	if a != b {
		t.Errorf("Rule{Seed: 7} drops %s,\nparsed seed 7 drops %s", b, a)
	}
	if b == c {
		t.Errorf("Rule{Seed: 7} drops what the derived seed drops: its seed is ignored")
	}
	ge := &Rule{Action: RuleLossGE, Percent: 1, GE: []float64{10, 70}}
	if got, want := ge.String(), "loss gemodel 1% 10% 70%"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
	// A seed nothing draws from is not written, so the text parses.
	if got, want := (&Rule{Action: RuleDrop, Seed: 5}).String(), "drop"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
	d := &Rule{Action: RuleDelay, Delay: time.Millisecond, Jitter: time.Millisecond, Dist: Normal}
	if got, want := d.String(), "delay 1ms jitter 1ms distribution normal"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
}

// decisions runs n packets through r's hook and returns which it dropped.
func decisions(t *testing.T, r *Rule, n int) string {
	t.Helper()
	h, err := r.Hook()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for range n {
		if h.Decide(&Packet{Data: segment(FlagACK, 10)}).Action == Drop {
			b.WriteByte('x')
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// A rule whose action is missing, unknown or out of range is an error, not
// a hook that passes everything.
func TestRuleHookErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{}, "no action"},
		{Rule{Action: RuleWindow + 1}, "unknown action"},
		{Rule{Action: RuleLoss, Percent: 120}, "want 0% to 100%"},
		{Rule{Action: RuleLossGE, Percent: 1, GE: []float64{1, 2, 3, 4}}, "up to 3 values"},
		{Rule{Action: RuleLossGE, Percent: 1, GE: []float64{10, 150}}, "want 0% to 100%"},
		{Rule{Action: RuleReorder, Percent: 1, Delay: -time.Second}, "gap"},
		{Rule{Action: RuleDelay, Delay: -time.Second}, "want 0 or more"},
		{Rule{Action: RuleDelay, Dist: Normal + 1}, "distribution"},
		{Rule{Action: RuleDelay, Delay: 99999 * time.Hour}, "longer than the most a rule may delay, 1m"},
		{Rule{Action: RuleDelay, Delay: time.Second, Jitter: time.Duration(1<<63 - 1)}, "longer than the most"},
		{Rule{Action: RuleDelay, Delay: 30 * time.Second, Jitter: 11 * time.Second, Dist: Normal}, "longer than the most"},
		{Rule{Action: RuleReorder, Percent: 1, Delay: time.Hour}, "gap"},
		{Rule{Action: RuleRate, Rate: 1}, "want 200bit or more"},
		{Rule{Action: RuleRate, Rate: 1e6, Limit: 1 << 30}, "want at most 7500000"},
		{Rule{Action: RuleRate}, "rate above 0"},
		{Rule{Action: RuleRate, Rate: 1e6, CellSize: -1}, "a cell size of 0 or more"},
		{Rule{Action: RuleRate, Rate: 1e6, Overhead: 1 << 20}, "want -65535 to 65535 bytes"},
		{Rule{Action: RuleRST}, "count from 1"},
		{Rule{Action: RuleTTL}, "ttl 0"},
	} {
		h, err := tc.r.Hook()
		if err == nil || h != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v.Hook() = %v, %v; want an error containing %q", tc.r, h, err, tc.want)
		}
	}
	for a := RuleDrop; a <= RuleWindow; a++ {
		if s := a.String(); strings.HasPrefix(s, "rule-action(") {
			t.Errorf("RuleAction %d has no keyword", a)
		}
	}
}

// TestParseRuleNestingBound: a filter may nest 100 negations and
// parentheses, and not one more.
func TestParseRuleNestingBound(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		strings.Repeat("not ", 100) + "tcp : drop",
		strings.Repeat("! ", 50) + strings.Repeat("( ", 50) + "tcp" + strings.Repeat(" )", 50) + " : drop",
	} {
		if _, err := ParseRule(src); err != nil {
			t.Errorf("100 levels: %v", err)
		}
		if _, err := ParseRule("not " + src); err == nil || !strings.Contains(err.Error(), "101 negations and parentheses nested, at most 100") {
			t.Errorf("101 levels: %v, want the bound", err)
		}
	}
}

// netem's syntax where it differs from a rule's is refused with what to
// write instead, or what is not offered, never read as something else.
func TestParseRuleNetemSyntax(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, want string
	}{
		{"delay 100ms 10ms", `at column 13: unexpected "10ms" after the action: jitter is written "jitter 10ms"`},
		{"delay 100ms 10ms 25%", `at column 13: unexpected "10ms" after the action: jitter is written "jitter 10ms"`},
		{"delay 100ms jitter 10ms 25%", `at column 25: unexpected "25%" after the action: netem's correlation is not offered`},
		{"loss 10% 25%", `at column 10: unexpected "25%" after the action: netem's correlation is not offered`},
		{"duplicate 1% 5%", `netem's correlation is not offered`},
		{"corrupt 1% 5%", `netem's correlation is not offered`},
		{"reorder 25% 50%", `netem's correlation is not offered`},
		{"delay 100ms distribution normal", `at column 13: unexpected "distribution" after the action: a distribution shapes a jitter (delay D jitter J distribution normal)`},
		{"reorder 25% gap 5", `at column 17: "5" where a duration with its unit (e.g. 100ms) belongs: the gap is a time here, netem's counts packets`},
		{"rate 100kbit burst 2kb 20", `at column 24: unexpected "20" after the action: netem's overhead and cells come right after the rate, three numbers at most`},
		{"rate 5kbit 20 100 5 1", `at column 21: unexpected "1" after the action: netem's overhead and cells come right after the rate`},
		{"rate 1mbit 014", `at column 12: overhead: 014: tc reads a leading 0 as octal; write it without`},
		{"rate 1mbit 0 -48", `at column 14: cell size: -48: want 0 to 65535 bytes`},
		{"rate 1mbit 14 48 -48", `cells of 48 bytes with an overhead of -48 count no bytes`},
		{"rate 1mbit 70000", `overhead: 70000: want -65535 to 65535 bytes`},
		{"loss state 1%", `at column 6: "state" where a percentage (e.g. 20%) belongs: netem's 4-state loss model is not offered (loss gemodel is)`},
		{"loss 1% ecn", `at column 9: unexpected "ecn" after the action: netem's ecn is not offered`},
		// netem's limit counts the packets its queue holds; here the
		// delay queue is one for all rules, set on the stack.
		{"delay 1s limit 1000", `at column 10: unexpected "limit" after the action: netem's limit is the delay queue's length here, which every rule shares (netstack.Options.DelayQueue)`},
		{"duplicate 5% limit 10", `netem's limit is the delay queue's length here`},
		{"limit 1000", `at column 1: unknown action "limit": netem's limit is the delay queue's length here`},
		// netem's options of one qdisc are rules in a row.
		{"delay 50ms jitter 10ms rate 1mbit", `at column 24: unexpected "rate" after the action: a rule has one action; netem's options of one qdisc are rules in a row here`},
		{"delay 10ms reorder 25%", `at column 12: unexpected "reorder" after the action: a rule has one action`},
		{"loss 1% duplicate 1%", `unexpected "duplicate" after the action: a rule has one action`},
		// Repeated options would silently take the last, where tc's tbf
		// refuses them.
		{"rate 1mbit burst 32kb burst 1kb", `at column 23: burst given twice`},
		{"rate 1mbit limit 64kb burst 1kb limit 5000", `at column 33: limit given twice`},
		// Go's number syntax is not a rule's.
		{"loss 1_0%", `"1_0%" where a percentage`},
		{"loss 0x1p3%", `"0x1p3%" where a percentage`},
		{"rate 1_000kbit", `"1_000kbit": want a rate`},
		{"rate 0x1p20bit", `"0x1p20bit": want a rate`},
		{"loss Infinity", `"Infinity" where a percentage`},
	} {
		_, err := ParseRule(tc.src)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRule(%q) = %v, want a *SyntaxError containing %q", tc.src, err, tc.want)
		}
	}
}

// loss gemodel P alone is netem's Bernoulli case: R is 1-P, so that a
// packet is lost with probability P, independently.
func TestRuleGemodelBernoulli(t *testing.T) {
	t.Parallel()
	r, err := ParseRule("loss gemodel 20%")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.String(); got != "loss gemodel 20%" {
		t.Errorf("String %q, want %q", got, "loss gemodel 20%")
	}
	const n = 100_000
	vs := run(t, "loss gemodel 20%", n)
	k := count(vs, Drop)
	if sd := math.Sqrt(n * 0.2 * 0.8); math.Abs(float64(k)-0.2*n) > 5*sd {
		t.Errorf("loss gemodel 20%%: %d of %d lost, want %.0f ± %.0f", k, n, 0.2*n, 5*sd)
	}
	// Independent: a loss is followed by a loss as often as anything is.
	pairs := 0
	for i := 1; i < n; i++ {
		if vs[i-1].Action == Drop && vs[i].Action == Drop {
			pairs++
		}
	}
	if want, sd := 0.2*float64(k), math.Sqrt(float64(k)*0.2*0.8); math.Abs(float64(pairs)-want) > 5*sd {
		t.Errorf("loss gemodel 20%%: %d losses after a loss, want %.0f ± %.0f (independent)", pairs, want, 5*sd)
	}
	if _, err := (&Rule{Action: RuleLossGE, Percent: 20}).Hook(); err != nil {
		t.Errorf("a hand-built gemodel with P alone: %v", err)
	}
}
