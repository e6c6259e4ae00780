package ws

import (
	"sync"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// FrameVerdictKey names a kind of frame-hook decision: which way, which
// frame, what and why.
type FrameVerdictKey struct {
	Dir    trace.Dir
	Opcode string // of the frame as it was before the hook
	Action string // "drop", "modify", "delay", ...
	Reason string // the verdict's Reason
}

func (k FrameVerdictKey) String() string {
	return string(k.Dir) + " " + k.Opcode + " " + k.Action + " " + k.Reason
}

// FrameCounter is a FrameHook that counts the verdicts of the hook it
// wraps that are not a plain pass. One counter may serve many
// connections, for a server's totals.
type FrameCounter struct {
	h  FrameHook
	mu sync.Mutex
	m  map[FrameVerdictKey]uint64
}

// CountFrames wraps h in a FrameCounter.
func CountFrames(h FrameHook) *FrameCounter { return &FrameCounter{h: h} }

// Frame implements FrameHook.
func (c *FrameCounter) Frame(f *HookFrame) FrameVerdict {
	op, dir := f.Header.Opcode, f.Dir
	v := c.h.Frame(f)
	if v.passes() {
		return v
	}
	a := v.Action
	if a == hook.Pass || a == hook.Hold {
		a = hook.Modify
	}
	k := FrameVerdictKey{Dir: dir, Opcode: op.String(), Action: a.String(), Reason: v.Reason}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[FrameVerdictKey]uint64)
	}
	c.m[k]++
	c.mu.Unlock()
	return v
}

// Counts returns the verdicts counted so far.
func (c *FrameCounter) Counts() map[FrameVerdictKey]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[FrameVerdictKey]uint64, len(c.m))
	for k, n := range c.m {
		out[k] = n
	}
	return out
}
