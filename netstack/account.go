package netstack

import (
	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// linkAccount is where every link endpoint reports what it does not pass
// on: drops and hook verdicts are counted, and reported to the observer
// when the stack has one (obs is set before the read loop starts).
type linkAccount struct {
	c   *counters
	obs *observer
}

// drop counts a packet of size bytes that goes no further.
func (a *linkAccount) drop(dir trace.Dir, reason DropReason, size int) {
	a.c.drop(reason)
	if a.obs != nil {
		a.obs.drop(dir, reason, size)
	}
}

// verdict counts a hook's non-pass verdict on the IP packet ip and reports
// it at layer (a held packet at the link layer as a "held" step).
func (a *linkAccount) verdict(layer trace.Layer, dir trace.Dir, hookName string, v hook.Verdict, ip []byte) {
	a.c.verdict(hookName, v)
	if a.obs == nil {
		return
	}
	if v.Action == hook.Hold && layer == trace.LayerLink {
		a.obs.held(dir, hookName, v, ip)
		return
	}
	a.obs.verdict(layer, dir, hookName, v, ip)
}
