package netstack

import (
	"bytes"
	"fmt"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
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
// (Drop) or change it in place (Modify: the IP and transport headers, and
// the payload if the hook changed it, are written back, with their
// checksums fixed unless KeepChecksums). Delay, Duplicate, Inject and
// Reply need a queue and belong to the link hook points; here they are
// traced and counted under "unsupported" and the packet passes.
//
// A hook sees whole checksums here too. On a device with segmentation
// offload TCP leaves its checksum partial (the pseudo-header's sum, for
// the device to complete): the copy a hook sees has it completed, and a
// packet a hook changed goes on with the checksum it left, complete, as
// it does past the link hooks (offload.go), so that a bit corrupt flipped
// is not summed in by the device. On the way in, a packet a hook changed
// has its transport checksum checked by gVisor even where the device
// vouched for it.

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
	if o := pkt.GSOOptions; o.NeedsCsum {
		// TCP left it partial, for the device to complete.
		start := uint16(len(pkt.NetworkHeader().Slice()))
		tun.CompleteChecksum(data, tun.GSO{NeedsCsum: true, CsumStart: start, CsumOffset: o.CsumOffset})
	}
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
		writeBack(pkt, data)
		// The checksum is complete now, and what the device vouched
		// for on the way in is no longer what arrived.
		pkt.GSOOptions.NeedsCsum = false
		pkt.RXChecksumValidated = false
	}
	return false, false
}

// writeBack puts data, a copy of pkt from its network header on that a
// hook changed, back into pkt: the headers in place, and the payload, if
// it changed, as a view of its own (the payload's buffers may be shared
// with the bytes TCP keeps to send again, which must stay as they are).
func writeBack(pkt *stack.PacketBuffer, data []byte) {
	payload := data[max(len(data)-pkt.Data().Size(), 0):]
	head := data[:len(data)-len(payload)]
	copy(pkt.NetworkHeader().Slice(), head)
	if th := pkt.TransportHeader().Slice(); len(th) <= len(head) {
		// Right before the payload, after any extension headers.
		copy(th, head[len(head)-len(th):])
	}
	old := stack.PayloadSince(pkt.NetworkHeader())
	same := bytes.Equal(old.AsSlice()[len(head):], payload)
	old.Release()
	if same {
		return
	}
	pkt.Data().CapLength(0)
	pkt.Data().AppendView(buffer.NewViewWithData(payload))
}
