package hook

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestParseRuleRefusalEdges: each refusal of the rule parser at the edge of
// what it takes, next to the nearest rule it takes, so that a bound moved
// by one or a check left out lets a rule through that must not pass.
func TestParseRuleRefusalEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		want string // the error; "" for a rule that parses
	}{
		// gemodel takes P and up to three values after it.
		{"loss gemodel 1% 10% 70% 0.1%", ""},
		{"loss gemodel 1% 10% 70% 0.1% 5%", `at column 30: unexpected "5%" after the action`},
		// A percentage is 0% to 100%, and negative ones are not -0%.
		{"loss 100%", ""},
		{"loss 100.5%", `at column 6: "100.5%" where a percentage`},
		{"loss -5%", `at column 6: "-5%" where a percentage`},
		{"duplicate -0.001", `at column 11: "-0.001" where a percentage`},
		// The limit is at most what the rate sends in a minute: 8kbit
		// is 1000 bytes a second.
		{"rate 8kbit limit 60000", ""},
		{"rate 8kbit limit 60001", `at column 18: limit 60001 at rate 8kbit queues 1m0.001s, longer than the most a rule may delay, 1m`},
		// A rate is at most 1e15 bits a second.
		{"rate 1000000gbit", ""},
		{"rate 2000000gbit", `at column 6: "2000000gbit": want a rate`},
		// A size is at most a terabyte.
		{"rate 1mbit burst 1048576mb", ""},
		{"rate 1mbit burst 1048577mb", `at column 18: "1048577mb": want a size`},
		{"rst after 1048577mb", `at column 11: "1048577mb" where a packet count or a size`},
		// rst takes "after", and counts bytes from 1 too.
		{"rst before 3", `at column 5: "before" where "after" belongs`},
		{"rst after 1 bytes", ""},
		{"rst after 0 bytes", `at column 11: "0" where a byte count such as 64kb belongs`},
		{"rst after 0kb", `at column 11: "0kb" where a packet count or a size`},
	} {
		r, err := ParseRule(tc.src)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParseRule(%q): %v", tc.src, err)
		case tc.want != "" && err == nil:
			t.Errorf("ParseRule(%q) = %q, want an error containing %q", tc.src, r, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("ParseRule(%q): %v, want an error containing %q", tc.src, err, tc.want)
		}
	}
}

// TestRuleHookRefusesBadValues: values that a hand-built rule may hold and
// ParseRule never makes are refused by Hook, not run.
func TestRuleHookRefusesBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		// NaN compares false both ways: a bound check alone lets it by.
		{Rule{Action: RuleLoss, Percent: math.NaN()}, "want 0% to 100%"},
		{Rule{Action: RuleCorrupt, Percent: math.NaN()}, "want 0% to 100%"},
		{Rule{Action: RuleDelay, Delay: time.Second, Jitter: -time.Millisecond}, "want 0 or more"},
		{Rule{Action: RuleRate, Rate: 1e6, Burst: -1}, "no negative sizes"},
		{Rule{Action: RuleRate, Rate: 1e6, Limit: -1}, "no negative sizes"},
	} {
		h, err := tc.r.Hook()
		if err == nil || h != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v.Hook() = %v, %v; want an error containing %q", tc.r, h, err, tc.want)
		}
	}
}

// TestRuleSeedZero: "seed 0" is the seed 0, not "no seed": the rule draws
// as the action does seeded with 0, and not as the seed derived from its
// text.
func TestRuleSeedZero(t *testing.T) {
	t.Parallel()
	r, err := ParseRule("loss 50% seed 0")
	if err != nil {
		t.Fatal(err)
	}
	got := decisions(t, r, 200)
	want := make([]byte, 200)
	l := NewLoss(0.5, 0)
	for i := range want {
		want[i] = '.'
		if l.Decide(&Packet{Data: segment(FlagACK, 10)}).Action == Drop {
			want[i] = 'x'
		}
	}
	if got != string(want) {
		t.Errorf("loss 50%% seed 0 drops\n%s\nwant, as seed 0 does,\n%s", got, want)
	}
	unseeded, err := ParseRule("loss 50%")
	if err != nil {
		t.Fatal(err)
	}
	if decisions(t, unseeded, 200) == got {
		t.Errorf("loss 50%% without a seed draws as seed 0; the test cannot tell them apart")
	}
}

// TestRuleRefusalSaysHowMuchLonger: a hold just past MaxDelay is written
// so that it reads longer than MaxDelay, not rounded down to it.
func TestRuleRefusalSaysHowMuchLonger(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"rate 199bit", "rate 199bit sends a 1500-byte packet in 1m0.302s, longer than the most a rule may delay, 1m"},
		{"rate 8kbit limit 60001", "queues 1m0.001s, longer than the most a rule may delay, 1m"},
		{"rate 56kbit limit 1mb", "queues 2m30s, longer"},
	} {
		_, err := ParseRule(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRule(%q): %v, want an error containing %q", tc.src, err, tc.want)
		}
	}
}
