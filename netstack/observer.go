package netstack

import (
	"strconv"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// observer is the link endpoint next to the device (or to the Ethernet
// filter of an Ethernet device): it sees every packet as the device reads
// and writes it, as tcpdump sees the packets of a Linux interface, and
// reports each to the tracer and the capture file. The link endpoints
// report their drops and verdicts through it too. A Stack with neither a
// tracer nor a capture has no observer: nothing is nested there, and the
// endpoints pay one nil check per drop.
type observer struct {
	tracer *trace.Tracer // may be nil
	node   string
	flows  *flowTable
	pcap   *pcapWriter // may be nil
	clock  tcpip.Clock
	// ethernet: packets are Ethernet frames (a tun.LinkLayer device).
	ethernet bool

	up   packetReceiver // toward the stack
	down packetSender   // toward the device
}

// receive implements packetReceiver: it reports the packet and passes it up.
func (t *observer) receive(b []byte, m pktMeta) {
	t.packet(trace.In, b, m.gso)
	t.up.receive(b, m)
}

// readsIn implements packetReceiver.
func (*observer) readsIn() bool { return true }

// send implements packetSender: it reports the packets and passes them down.
func (t *observer) send(bufs [][]byte, gso []tun.GSO) (int, bool) {
	for i, b := range bufs {
		t.packet(trace.Out, b, gso[i])
	}
	return t.down.send(bufs, gso)
}

// readsOut implements packetSender.
func (*observer) readsOut() bool { return true }

// emit hands e to the tracer. Egress runs on whatever goroutine gVisor
// writes from, often TCP's with the endpoint locked, so egress events are
// deferred (trace.Tracer.EmitDeferred): a sink or a paused Stepper never
// holds the stack inside its locks. Ingress runs on the device's reader
// (or a delay queue), which holds no lock of the stack.
func (t *observer) emit(dir trace.Dir, e trace.Event) {
	if dir == trace.Out {
		t.tracer.EmitDeferred(e)
		return
	}
	t.tracer.Emit(e)
}

// packet reports one packet, or super-packet when g says so, that the
// device moves.
func (t *observer) packet(dir trace.Dir, b []byte, g tun.GSO) {
	var at time.Time
	if t.pcap != nil {
		at = t.pcap.write(t.clock, b)
	}
	if !t.tracer.Enabled() {
		return
	}
	if t.pcap == nil {
		at = t.clock.Now()
	}
	var info trace.Packet
	data := b
	if t.ethernet {
		info = trace.DescribeFrame(b, t.flows)
		// Data holds the IP packet, whatever the link; a frame that
		// holds none (ARP) is in it whole, with its link type, as a
		// capture read back has it, so that a pcapng written from the
		// trace (the view's export) has it too.
		if data = frameIP(b); data == nil {
			data, info.LinkType = b, trace.Some(pcapLinkTypeEthernet)
		}
	} else {
		info = trace.DescribePacket(b, t.flows)
	}
	if g.Type != tun.GSONone {
		segs, _ := g.Segments(b)
		mss := strconv.Itoa(int(g.Size))
		info.Summary += ", gso " + g.Type.String() + " mss " + mss + " (" + strconv.Itoa(segs) + " segs)"
		info.GSO, info.GSOSize, info.GSOSegs = g.Type.String(), trace.Some(int(g.Size)), trace.Some(segs)
	}
	t.emit(dir, trace.Event{
		Node:    t.node,
		Layer:   trace.LayerLink,
		Dir:     dir,
		Name:    "packet",
		Conn:    info.Conn,
		Summary: info.Summary,
		Fields:  info.Fields(),
		// The packet's bytes, for sinks that capture (trace.PCAPNG); only
		// borrowed for the duration of Emit.
		Data: data,
		// The stamp of its pcap record: a capture written from the trace
		// (the view's export) has the times the pcap has.
		Captured: at,
	})
}

func (t *observer) drop(dir trace.Dir, reason DropReason, size int) {
	if !t.tracer.Enabled() {
		return
	}
	t.emit(dir, trace.Event{
		Node:    t.node,
		Layer:   trace.LayerLink,
		Dir:     dir,
		Name:    "drop",
		Summary: "drop " + string(reason) + ", length " + strconv.Itoa(size),
		Fields:  (&trace.LinkDrop{Reason: string(reason), Len: size}).Fields(),
	})
}

// verdict reports a hook's non-pass verdict on the IP packet ip (as the
// hook left it), as an event of the layer the hook point belongs to.
func (t *observer) verdict(layer trace.Layer, dir trace.Dir, hookName string, v hook.Verdict, ip []byte) {
	if !t.tracer.Enabled() {
		return
	}
	size := len(ip)
	info := trace.DescribePacket(ip, t.flows)
	summary := v.Action.String()
	if v.Reason != "" && v.Reason != summary {
		summary += " " + v.Reason
	}
	fields := trace.Verdict{Hook: hookName, Action: v.Action.String(), Reason: v.Reason, Rule: v.Rule, Len: size,
		Flags: info.Flags, RelSeq: info.RelSeq, PayloadLen: info.PayloadLen}
	switch {
	case v.Delay > 0:
		summary += " " + v.Delay.String()
		fields.Delay = v.Delay.String()
	case v.Copies > 0:
		fields.Copies = trace.Some(v.Copies)
	}
	if v.Rule != "" {
		summary += " by rule " + strconv.Quote(v.Rule)
	}
	t.emit(dir, trace.Event{
		Node:    t.node,
		Layer:   layer,
		Dir:     dir,
		Name:    "verdict",
		Conn:    info.Conn,
		Summary: hookName + ": " + summary + ": " + info.Summary,
		Fields:  fields.Fields(),
	})
}

// continued reports a held packet that Continue sends on into the stack
// (at trace.In: going out, the device write reports it as sent): a link
// step named "continued", with the packet's fields and bytes as it went.
func (t *observer) continued(hookName string, ip []byte) {
	if !t.tracer.Enabled() {
		return
	}
	info := trace.DescribePacket(ip, t.flows)
	t.emit(trace.In, trace.Event{
		Node:     t.node,
		Layer:    trace.LayerLink,
		Dir:      trace.In,
		Name:     "continued",
		Conn:     info.Conn,
		Summary:  hookName + ": sent on into the stack: " + info.Summary,
		Fields:   info.Fields(),
		Data:     ip,
		Captured: t.clock.Now(),
	})
}

// held reports a packet that a hook took out of the path (hook.Hold): a
// link step named "held", with the verdict's fields, for a view that shows
// what waits to be continued (Stack.Continue).
func (t *observer) held(dir trace.Dir, hookName string, v hook.Verdict, ip []byte) {
	if !t.tracer.Enabled() {
		return
	}
	info := trace.DescribePacket(ip, t.flows)
	summary := hookName + ": held"
	if v.Rule != "" {
		summary += " by rule " + strconv.Quote(v.Rule)
	}
	t.emit(dir, trace.Event{
		Node:    t.node,
		Layer:   trace.LayerLink,
		Dir:     dir,
		Name:    "held",
		Conn:    info.Conn,
		Summary: summary + ": " + info.Summary,
		Fields:  (&trace.LinkHeld{Hook: hookName, Reason: v.Reason, Rule: v.Rule, Len: len(ip)}).Fields(),
		Data:    ip,
	})
}
