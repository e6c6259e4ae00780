package ws

import (
	"github.com/glassnet/glassnet/hook"
)

// FrameCounter is a FrameHook that counts the verdicts of the hook it
// wraps that are not a plain pass, under hook.VerdictKey{Point: the
// direction ("in", "out"), Unit: the opcode before the hook, Action,
// Reason}; a verdict that only split or injected counts as Modify. One
// counter may serve many connections, for a server's totals: Counts
// returns them.
type FrameCounter struct {
	h FrameHook
	hook.Counter
}

// CountFrames wraps h in a FrameCounter.
func CountFrames(h FrameHook) *FrameCounter { return &FrameCounter{h: h} }

// Decide implements FrameHook.
func (c *FrameCounter) Decide(f *HookFrame) FrameVerdict {
	op, dir := f.Header.Opcode, f.Dir
	v := c.h.Decide(f)
	if v.passes() {
		return v
	}
	a := v.Action
	if a == hook.Pass || a == hook.Hold {
		a = hook.Modify
	}
	c.Add(hook.VerdictKey{Point: string(dir), Unit: op.String(), Action: a, Reason: v.Reason})
	return v
}
