package ws

import (
	"bytes"
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
	long := bytes.Repeat([]byte("x"), 100)
	longEdited := bytes.Clone(long)
	longEdited[3], longEdited[50] = 'y', 'z'
	for _, tc := range []struct {
		v        hook.Verdict
		after    Header
		split    int
		was, now []byte
		want     string
	}{
		{hook.Verdict{Action: hook.Drop}, h, 0, nil, nil, "dropped"},
		{hook.Verdict{Action: hook.Delay, Delay: 20 * time.Millisecond}, h, 0, nil, nil, "delayed 20ms"},
		{hook.Verdict{Action: hook.Duplicate, Copies: 1}, h, 0, nil, nil, "1 more copy"},
		{hook.Verdict{Action: hook.Duplicate, Copies: 3}, h, 0, nil, nil, "3 more copies"},
		{hook.Verdict{Action: hook.Modify}, h, 0, nil, []byte("abc"), "payload edited"},
		{hook.Verdict{Action: hook.Modify}, h, 0, []byte("abc"), []byte("aBc"), `payload "abc" → "aBc"`},
		{hook.Verdict{Action: hook.Modify}, h, 0, []byte("abc"), []byte("abc"), "nothing changed"},
		{hook.Verdict{Action: hook.Modify}, h, 0, []byte{0xff, 1, 2}, []byte{0xff, 1, 3}, "payload 1 of 3 bytes changed"},
		{hook.Verdict{Action: hook.Modify}, h, 0, long, longEdited, "payload 2 of 100 bytes changed"},
		{hook.Verdict{Action: hook.Modify}, longer, 0, long, long[:5], "now " + longer.String() + ", payload 100 → 5 bytes"},
		{hook.Verdict{Action: hook.Modify}, longer, 2, nil, nil, "now " + longer.String() + ", split into 2"},
		// As splitFrame cuts: no more fragments than payload bytes, and
		// a control frame not at all.
		{hook.Verdict{Action: hook.Modify}, longer, 8, nil, nil, "now " + longer.String() + ", split into 5"},
		{hook.Verdict{Action: hook.Modify}, h, 2, []byte("abc"), []byte("abc"), "nothing changed, split into 2"},
		{hook.Verdict{Action: hook.Modify}, Header{Fin: true, Opcode: OpPing, Length: 4}, 2, nil, nil, "now " + Header{Fin: true, Opcode: OpPing, Length: 4}.String() + ", not split: a control frame is never fragmented"},
	} {
		v := FrameVerdict{Verdict: tc.v, Split: tc.split}
		if got := verdictEffect(&h, &tc.after, tc.was, tc.now, &v); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.v.Action, got, tc.want)
		}
	}
}
