package netstack

import (
	"net/netip"
	"strconv"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
)

// The IP layer's steps are seen through gVisor's iptables, at the hooks
// where Linux runs netfilter: a rule whose matcher reports the packet and
// never matches sits first in each chain, so the packet goes on as if the
// rule were not there. They are installed only when tracing: a stack
// without tables passes each hook with one check (third_party/gvisor
// patches 32 and 42). Connection tracking, which upstream started with any
// table, waits for a NAT table (patch 49), which glassnet never sets.
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
	var buf [ipHeaderRoom]byte
	b, wire := ipHeaders(buf[:0], pkt)
	if b == nil {
		v := stack.PayloadSince(pkt.NetworkHeader())
		defer v.Release()
		b = v.AsSlice()
	}
	e := trace.Event{Node: t.node, Layer: trace.LayerIP}
	switch hook {
	case stack.Prerouting:
		e.Dir, e.Name = trace.In, "receive"
		e.Summary, e.Fields = ipText("receive ", b, wire, " (PREROUTING)")
	case stack.Input:
		e.Dir, e.Name = trace.In, "deliver"
		e.Summary = deliverySummary(pkt.TransportProtocolNumber)
		_, e.Fields = ipText("", b, wire, "")
	case stack.Output:
		if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
			return
		}
		// The segment's own description: DescribePacket also teaches
		// the flow table the ISN of a SYN, which goes by here first.
		info := trace.DescribeHeaders(b, wire, t.flows)
		e.Conn = info.Conn
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
		e.Summary, e.Fields = ipText("output ", b, wire, " (POSTROUTING)")
	default:
		return
	}
	if e.Layer == trace.LayerIP {
		e.Conn = trace.PacketConn(b)
	}
	// gVisor runs the hooks with its iptables read lock held, and OUTPUT
	// and POSTROUTING under the lock of the TCP endpoint that sends.
	t.tracer.EmitDeferred(e)
}

// deliverySummaries are the INPUT step's summaries for the transport
// protocols a stack delivers most, made once.
var deliverySummaries = map[tcpip.TransportProtocolNumber]string{}

func init() {
	for _, p := range []tcpip.TransportProtocolNumber{header.TCPProtocolNumber, header.UDPProtocolNumber, header.ICMPv4ProtocolNumber, header.ICMPv6ProtocolNumber} {
		deliverySummaries[p] = deliverySummaryOf(p)
	}
}

// deliverySummary is the INPUT step's summary for a packet of protocol p.
func deliverySummary(p tcpip.TransportProtocolNumber) string {
	if s, ok := deliverySummaries[p]; ok {
		return s
	}
	return deliverySummaryOf(p)
}

func deliverySummaryOf(p tcpip.TransportProtocolNumber) string {
	return "local delivery to " + trace.ProtoName(uint8(p)) + " (INPUT)"
}

// ipHeaderRoom is how many bytes of a packet the IP layer's events copy
// to describe it: room for its IP and transport headers, with options.
const ipHeaderRoom = 256

// ipHeaders appends to buf the bytes of pkt from its network header on (as
// stack.PayloadSince copies them), as many as buf has room for, and
// returns them with how many pkt has. Those are enough to describe the
// packet, except for an IPv6 packet longer than that with extension
// headers, which may need more: then it returns nil.
func ipHeaders(buf []byte, pkt *stack.PacketBuffer) (b []byte, wire int) {
	views, off := pkt.AsViewList()
	link := len(pkt.LinkHeader().Slice())
	off += link
	wire = pkt.Size() - link
	if nh := pkt.NetworkHeader().Slice(); wire > cap(buf) && len(nh) >= header.IPv6MinimumSize &&
		header.IPVersion(nh) == header.IPv6Version && header.IPv6(nh).NextHeader() != uint8(header.TCPProtocolNumber) &&
		header.IPv6(nh).NextHeader() != uint8(header.UDPProtocolNumber) && header.IPv6(nh).NextHeader() != uint8(header.ICMPv6ProtocolNumber) {
		return nil, wire
	}
	b = buf[:0]
	for v := views.Front(); v != nil && len(b) < cap(b); v = v.Next() {
		s := v.AsSlice()
		if off >= len(s) {
			off -= len(s)
			continue
		}
		s, off = s[off:], 0
		b = append(b, s[:min(len(s), cap(b)-len(b))]...)
	}
	return b, wire
}

// ipText renders an IP header between prefix and suffix, "IPv4 10.0.0.1 >
// 10.0.0.2 tcp, ttl 64, id 4660, length 73", and returns it with the
// header's fields (nil when b is too short for one), whose addresses are
// words of it: one string for both. b holds the packet's first bytes,
// wire is its length.
func ipText(prefix string, b []byte, wire int, suffix string) (string, []trace.Field) {
	var buf [128]byte
	s := append(buf[:0], prefix...)
	var step trace.IPStep
	var src, dst [2]int // where the addresses are in s
	addrs := func(from, to tcpip.Address) {
		src[0] = len(s)
		s = appendAddr(s, from)
		src[1] = len(s)
		s = append(s, " > "...)
		dst[0] = len(s)
		s = appendAddr(s, to)
		dst[1] = len(s)
		s = append(s, ' ')
	}
	ok := false
	switch header.IPVersion(b) {
	case header.IPv4Version:
		if len(b) < header.IPv4MinimumSize {
			break
		}
		ip := header.IPv4(b)
		step = trace.IPStep{Proto: trace.ProtoName(uint8(ip.TransportProtocol())),
			TTL: trace.Some(int(ip.TTL())), ID: trace.Some(int(ip.ID())), Len: int(ip.TotalLength())}
		s = append(s, "IPv4 "...)
		addrs(ip.SourceAddress(), ip.DestinationAddress())
		s = append(s, step.Proto...)
		s = append(s, ", ttl "...)
		s = strconv.AppendInt(s, int64(step.TTL.V), 10)
		s = append(s, ", id "...)
		s = strconv.AppendInt(s, int64(step.ID.V), 10)
		s = append(s, ", length "...)
		s = strconv.AppendInt(s, int64(step.Len), 10)
		ok = true
	case header.IPv6Version:
		if len(b) < header.IPv6MinimumSize {
			break
		}
		ip := header.IPv6(b)
		step = trace.IPStep{Proto: trace.ProtoName(ip.NextHeader()), HLim: trace.Some(int(ip.HopLimit())), Len: wire}
		s = append(s, "IPv6 "...)
		addrs(ip.SourceAddress(), ip.DestinationAddress())
		s = append(s, step.Proto...)
		s = append(s, ", hlim "...)
		s = strconv.AppendInt(s, int64(step.HLim.V), 10)
		s = append(s, ", length "...)
		s = strconv.AppendInt(s, int64(step.Len), 10)
		ok = true
	}
	if !ok {
		s = append(s, "IP truncated, length "...)
		s = strconv.AppendInt(s, int64(wire), 10)
	}
	s = append(s, suffix...)
	text := string(s)
	if !ok {
		return text, nil
	}
	step.Src, step.Dst = text[src[0]:src[1]], text[dst[0]:dst[1]]
	return text, step.Fields()
}

// appendAddr appends a as tcpip.Address.String writes it, an IPv4 address
// without its fmt.Sprintf.
func appendAddr(b []byte, a tcpip.Address) []byte {
	if a.Len() == 4 {
		return netip.AddrFrom4(a.As4()).AppendTo(b)
	}
	return append(b, a.String()...)
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
