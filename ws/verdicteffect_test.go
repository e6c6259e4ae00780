package ws

import (
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
)

// TestVerdictEffect: the effect a frame verdict's trace event names reads
// as English, one copy or several.
func TestVerdictEffect(t *testing.T) {
	h := Header{Fin: true, Opcode: OpText, Length: 3}
	longer := h
	longer.Length = 5
	for _, tc := range []struct {
		v     hook.Verdict
		after Header
		split int
		want  string
	}{
		{hook.Verdict{Action: hook.Drop}, h, 0, "dropped"},
		{hook.Verdict{Action: hook.Delay, Delay: 20 * time.Millisecond}, h, 0, "delayed 20ms"},
		{hook.Verdict{Action: hook.Duplicate, Copies: 1}, h, 0, "1 more copy"},
		{hook.Verdict{Action: hook.Duplicate, Copies: 3}, h, 0, "3 more copies"},
		{hook.Verdict{Action: hook.Modify}, h, 0, "payload edited"},
		{hook.Verdict{Action: hook.Modify}, longer, 2, "now " + longer.String() + ", split into 2"},
	} {
		v := FrameVerdict{Verdict: tc.v, Split: tc.split}
		if got := verdictEffect(&h, &tc.after, &v); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.v.Action, got, tc.want)
		}
	}
}
