package netstack

import (
	"strconv"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
)

// The IP layer's steps are seen through gVisor's iptables, at the hooks
// where Linux runs netfilter: a rule whose matcher reports the packet and
// never matches sits first in each chain, so the packet goes on as if the
// rule were not there. They are installed only when tracing, since any
// table change turns on gVisor's connection tracking.
//
//	PREROUTING (raw)      ip  in  "receive"  the packet enters IP (ip_rcv)
//	INPUT (filter)        ip  in  "deliver"  it is for this stack (ip_local_deliver)
//	OUTPUT (raw)          tcp out "segment"  TCP hands a segment to IP (ip_queue_xmit)
//	POSTROUTING (mangle)  ip  out "output"   it leaves IP for the link (ip_output)
var ipHooks = []struct {
	table stack.TableID
	hook  stack.Hook
}{
	{stack.RawID, stack.Prerouting},
	{stack.FilterID, stack.Input},
	{stack.RawID, stack.Output},
	{stack.MangleID, stack.Postrouting},
}

// installIPHooks puts the tracing rules into s's IPv4 and IPv6 tables.
func installIPHooks(s *stack.Stack, t *observer) {
	ipt := s.IPTables()
	for _, ipv6 := range []bool{false, true} {
		tables := map[stack.TableID]stack.Table{}
		for _, h := range ipHooks {
			tbl, ok := tables[h.table]
			if !ok {
				tbl = ipt.GetTable(h.table, ipv6)
			}
			tables[h.table] = withFirstRule(tbl, h.hook, ipHookMatcher{t: t}, ipv6)
		}
		for id, tbl := range tables {
			ipt.ForceReplaceTable(id, tbl, ipv6)
		}
	}
}

// withFirstRule returns a copy of tbl with a rule that runs m first in the
// chain of hook, creating the chain (the rule, then ACCEPT) if the table has
// none for that hook. Rules after the insertion point move up by one.
func withFirstRule(tbl stack.Table, hook stack.Hook, m stack.Matcher, ipv6 bool) stack.Table {
	filter, proto := stack.EmptyFilter4(), header.IPv4ProtocolNumber
	if ipv6 {
		filter, proto = stack.EmptyFilter6(), header.IPv6ProtocolNumber
	}
	rule := stack.Rule{Filter: filter, Matchers: []stack.Matcher{m}, Target: &stack.AcceptTarget{NetworkProtocol: proto}}
	accept := stack.Rule{Filter: filter, Target: &stack.AcceptTarget{NetworkProtocol: proto}}

	at, insert := tbl.BuiltinChains[hook], []stack.Rule{rule}
	// gVisor's default tables mark a missing chain in Underflows only (the
	// BuiltinChains entry is then a zero that means nothing).
	if at == stack.HookUnset || tbl.Underflows[hook] == stack.HookUnset {
		// A new chain just before the table's final ERROR rule.
		at, insert = len(tbl.Rules)-1, []stack.Rule{rule, accept}
	}
	out := tbl
	out.Rules = make([]stack.Rule, 0, len(tbl.Rules)+len(insert))
	out.Rules = append(out.Rules, tbl.Rules[:at]...)
	out.Rules = append(out.Rules, insert...)
	out.Rules = append(out.Rules, tbl.Rules[at:]...)
	shift := func(idx *[stack.NumHooks]int) {
		for h := range idx {
			if idx[h] != stack.HookUnset && idx[h] >= at {
				idx[h] += len(insert)
			}
		}
	}
	shift(&out.BuiltinChains)
	shift(&out.Underflows)
	out.BuiltinChains[hook] = at
	if len(insert) == 2 {
		out.Underflows[hook] = at + 1
	}
	return out
}

// ipHookMatcher reports every packet it sees and matches none.
type ipHookMatcher struct{ t *observer }

func (m ipHookMatcher) Match(hook stack.Hook, pkt *stack.PacketBuffer, _, _ string) (bool, bool) {
	m.t.ipStep(hook, pkt)
	return false, false
}

// ipStep emits the event for one packet at one netfilter hook.
func (t *observer) ipStep(hook stack.Hook, pkt *stack.PacketBuffer) {
	if !t.tracer.Enabled() {
		return
	}
	v := stack.PayloadSince(pkt.NetworkHeader())
	defer v.Release()
	b := v.AsSlice()
	info := trace.DescribePacket(b, t.flows)
	e := trace.Event{Node: t.node, Layer: trace.LayerIP, Conn: info.Conn}
	switch hook {
	case stack.Prerouting:
		e.Dir, e.Name = trace.In, "receive"
		e.Summary = "receive " + ipLine(b) + " (PREROUTING)"
	case stack.Input:
		e.Dir, e.Name = trace.In, "deliver"
		e.Summary = "local delivery to " + trace.ProtoName(uint8(pkt.TransportProtocolNumber)) + " (INPUT)"
	case stack.Output:
		if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
			return
		}
		e.Layer, e.Dir, e.Name = trace.LayerTCP, trace.Out, "segment"
		// The tcpdump line without its "IP a.p > b.q: " head.
		s := info.Summary
		if i := strings.Index(s, ": "); i >= 0 {
			s = s[i+2:]
		}
		e.Summary = "segment to IP: " + s
		e.Fields = tcpSegment(&info.LinkPacket)
	case stack.Postrouting:
		e.Dir, e.Name = trace.Out, "output"
		e.Summary = "output " + ipLine(b) + " (POSTROUTING)"
	default:
		return
	}
	if e.Layer == trace.LayerIP {
		e.Fields = ipFields(b)
	}
	// gVisor runs the hooks with its iptables read lock held, and OUTPUT
	// and POSTROUTING under the lock of the TCP endpoint that sends.
	t.tracer.EmitDeferred(e)
}

// ipLine renders an IP header: "IPv4 10.0.0.1 > 10.0.0.2 tcp, ttl 64, id
// 4660, length 73".
func ipLine(b []byte) string {
	switch header.IPVersion(b) {
	case header.IPv4Version:
		if len(b) < header.IPv4MinimumSize {
			break
		}
		ip := header.IPv4(b)
		return "IPv4 " + ip.SourceAddress().String() + " > " + ip.DestinationAddress().String() + " " +
			trace.ProtoName(uint8(ip.TransportProtocol())) + ", ttl " + strconv.Itoa(int(ip.TTL())) +
			", id " + strconv.Itoa(int(ip.ID())) + ", length " + strconv.Itoa(int(ip.TotalLength()))
	case header.IPv6Version:
		if len(b) < header.IPv6MinimumSize {
			break
		}
		ip := header.IPv6(b)
		return "IPv6 " + ip.SourceAddress().String() + " > " + ip.DestinationAddress().String() + " " +
			trace.ProtoName(ip.NextHeader()) + ", hlim " + strconv.Itoa(int(ip.HopLimit())) +
			", length " + strconv.Itoa(len(b))
	}
	return "IP truncated, length " + strconv.Itoa(len(b))
}

func ipFields(b []byte) []trace.Field {
	switch header.IPVersion(b) {
	case header.IPv4Version:
		if len(b) < header.IPv4MinimumSize {
			return nil
		}
		ip := header.IPv4(b)
		return (&trace.IPStep{
			Src: ip.SourceAddress().String(), Dst: ip.DestinationAddress().String(),
			Proto: trace.ProtoName(uint8(ip.TransportProtocol())),
			TTL:   trace.Some(int(ip.TTL())), ID: trace.Some(int(ip.ID())), Len: int(ip.TotalLength()),
		}).Fields()
	case header.IPv6Version:
		if len(b) < header.IPv6MinimumSize {
			return nil
		}
		ip := header.IPv6(b)
		return (&trace.IPStep{
			Src: ip.SourceAddress().String(), Dst: ip.DestinationAddress().String(),
			Proto: trace.ProtoName(ip.NextHeader()), HLim: trace.Some(int(ip.HopLimit())), Len: len(b),
		}).Fields()
	}
	return nil
}

// tcpSegment is the fields of a TCP segment event from what DescribePacket read
// of its packet; a packet too short to carry a TCP header (which TCP does
// not send) keeps the packet's own fields.
func tcpSegment(p *trace.LinkPacket) []trace.Field {
	if p.Proto != "tcp" || !p.Seq.Set {
		return p.Fields()
	}
	return (&trace.TCPSegment{
		Src: p.Src, Dst: p.Dst, Len: p.Len, Proto: p.Proto,
		Sport: p.Sport.V, Dport: p.Dport.V, Flags: p.Flags, Seq: p.Seq.V, Ack: p.Ack.V,
		RelSeq: p.RelSeq, RelAck: p.RelAck, Win: p.Win.V, PayloadLen: p.PayloadLen.V, Options: p.Options,
	}).Fields()
}
