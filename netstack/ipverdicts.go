package netstack

import (
	"fmt"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// The IP hook points are gVisor's netfilter hooks, the places where Linux
// runs iptables. A chain installed there sees each packet as IP has it:
//
//	hook.IPPrerouting   every packet that enters IP, before routing
//	hook.IPInput        packets for this stack, before TCP/UDP/ICMP
//	hook.IPOutput       packets this stack sends, as the transport made them
//	hook.IPPostrouting  every packet that leaves IP for the link
//
// As with iptables, a hook here can only let a packet go (Pass), drop it
// (Drop) or change its headers (Modify: the IP and transport headers are
// written back with their checksums fixed unless KeepChecksums; changes to
// the payload are not kept). Delay, Duplicate, Inject and Reply need a
// queue and belong to the link hook points; here they are traced and
// counted under "unsupported" and the packet passes.

// ipPoint is one IP hook point of a stack.
type ipPoint struct {
	name string
	hook stack.Hook
	dir  trace.Dir
}

var ipPoints = [...]ipPoint{
	{hook.IPPrerouting, stack.Prerouting, trace.In},
	{hook.IPInput, stack.Input, trace.In},
	{hook.IPOutput, stack.Output, trace.Out},
	{hook.IPPostrouting, stack.Postrouting, trace.Out},
}

// ipTables holds, for each hook point, the table whose chain of that hook
// runs for every packet (not only the first of a connection, as NAT does).
var ipTables = map[stack.Hook]stack.TableID{
	stack.Prerouting:  stack.RawID,
	stack.Input:       stack.FilterID,
	stack.Output:      stack.RawID,
	stack.Postrouting: stack.MangleID,
}

// SetIPHook installs c at the IP hook point named point (hook.IPPrerouting,
// hook.IPInput, hook.IPOutput or hook.IPPostrouting), replacing what was
// there; nil removes it. The first call turns on gVisor's iptables (and
// with it connection tracking) for the life of the stack.
func (st *Stack) SetIPHook(point string, c *hook.Chain) error {
	for i, p := range ipPoints {
		if p.name == point {
			st.ipOnce.Do(func() { st.installIPVerdicts() })
			st.ipHooks[i].Set(c)
			return nil
		}
	}
	return fmt.Errorf("netstack: no IP hook point %q (want %s, %s, %s or %s)", point,
		hook.IPPrerouting, hook.IPInput, hook.IPOutput, hook.IPPostrouting)
}

// installIPVerdicts puts a rule first in the chain of every IP hook point,
// in the IPv4 and IPv6 tables, that runs the chain installed there.
func (st *Stack) installIPVerdicts() {
	ipt := st.s.IPTables()
	for _, ipv6 := range []bool{false, true} {
		tables := map[stack.TableID]stack.Table{}
		for i, p := range ipPoints {
			id := ipTables[p.hook]
			tbl, ok := tables[id]
			if !ok {
				tbl = ipt.GetTable(id, ipv6)
			}
			tables[id] = withFirstRule(tbl, p.hook, ipVerdictMatcher{st: st, point: i}, ipv6)
		}
		for id, tbl := range tables {
			ipt.ForceReplaceTable(id, tbl, ipv6)
		}
	}
}

// ipVerdictMatcher runs the chain of one IP hook point; it never matches,
// and asks gVisor to drop the packet (hotdrop) when the chain drops it.
type ipVerdictMatcher struct {
	st    *Stack
	point int
}

func (m ipVerdictMatcher) Match(_ stack.Hook, pkt *stack.PacketBuffer, _, _ string) (bool, bool) {
	c := m.st.ipHooks[m.point].Load()
	if c == nil {
		return false, false
	}
	p := ipPoints[m.point]
	view := stack.PayloadSince(pkt.NetworkHeader())
	defer view.Release()
	data := view.AsSlice() // a copy of the packet, for the hook to change
	hp := hook.Packet{Dir: p.dir, Hook: p.name, Data: data, Time: time.Now()}
	acct := &m.st.acct
	v := c.Run(&hp, func(v hook.Verdict) {
		switch v.Action {
		case hook.Pass, hook.Drop, hook.Modify:
		default:
			v.Reason = "unsupported " + v.Action.String() + " at " + p.name
		}
		acct.verdict(trace.LayerIP, p.dir, p.name, v, data)
	})
	switch v.Action {
	case hook.Drop:
		acct.c.drop(DropReason(v.Reason))
		return false, true
	case hook.Modify:
		if !v.KeepChecksums {
			_ = hook.FixChecksums(data)
		}
		// Write the headers back; the payload stays as it was.
		nh := pkt.NetworkHeader().Slice()
		n := copy(nh, data)
		if th := pkt.TransportHeader().Slice(); len(th) > 0 && n < len(data) {
			copy(th, data[n:])
		}
	}
	return false, false
}
