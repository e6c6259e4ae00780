package netstack

import (
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// tap sees every packet the link endpoint moves or drops, and reports it
// to the tracer and the capture file. A Stack without either has no tap,
// so the endpoint pays one nil check per packet.
type tap struct {
	tracer *trace.Tracer // may be nil
	node   string
	flows  *flowTable
	pcap   *pcapWriter // may be nil
	clock  tcpip.Clock
	// ethernet: packets are Ethernet frames (a tun.LinkLayer device).
	ethernet bool
}

// emit hands e to the tracer. Egress runs on whatever goroutine gVisor
// writes from, often TCP's with the endpoint locked, so egress events are
// deferred (trace.Tracer.EmitDeferred): a sink or a paused Stepper never
// holds the stack inside its locks. Ingress runs on the device's reader
// (or a delay queue), which holds no lock of the stack.
func (t *tap) emit(dir trace.Dir, e trace.Event) {
	if dir == trace.Out {
		t.tracer.EmitDeferred(e)
		return
	}
	t.tracer.Emit(e)
}

// packet reports one packet, or super-packet when g says so, that the
// endpoint moves.
func (t *tap) packet(dir trace.Dir, b []byte, g tun.GSO) {
	if t.pcap != nil {
		t.pcap.write(t.clock.Now(), b)
	}
	if !t.tracer.Enabled() {
		return
	}
	var info packetInfo
	data := b
	if t.ethernet {
		info = describeFrame(b, t.flows)
		// Data holds the IP packet (nothing for ARP), whatever the link.
		data = frameIP(b)
	} else {
		info = describe(b, t.flows)
	}
	if g.Type != tun.GSONone {
		segs, _ := g.Segments(b)
		mss := strconv.Itoa(int(g.Size))
		info.summary += ", gso " + g.Type.String() + " mss " + mss + " (" + strconv.Itoa(segs) + " segs)"
		info.fields = append(info.fields,
			trace.Field{Key: "gso", Value: g.Type.String()},
			trace.Field{Key: "gso_size", Value: int(g.Size)},
			trace.Field{Key: "gso_segs", Value: segs},
		)
	}
	t.emit(dir, trace.Event{
		Node:    t.node,
		Layer:   trace.LayerLink,
		Dir:     dir,
		Name:    "packet",
		Conn:    info.conn,
		Summary: info.summary,
		Fields:  info.fields,
		// The packet's bytes, for sinks that capture (trace.PCAPNG); only
		// borrowed for the duration of Emit.
		Data: data,
	})
}

func (t *tap) drop(dir trace.Dir, reason DropReason, size int) {
	if !t.tracer.Enabled() {
		return
	}
	t.emit(dir, trace.Event{
		Node:    t.node,
		Layer:   trace.LayerLink,
		Dir:     dir,
		Name:    "drop",
		Summary: "drop " + string(reason) + ", length " + strconv.Itoa(size),
		Fields: []trace.Field{
			{Key: "reason", Value: string(reason)},
			{Key: "len", Value: size},
		},
	})
}

// verdict reports a hook's non-pass verdict on the IP packet ip (as the
// hook left it), as an event of the layer the hook point belongs to.
func (t *tap) verdict(layer trace.Layer, dir trace.Dir, hookName string, v hook.Verdict, ip []byte) {
	if !t.tracer.Enabled() {
		return
	}
	size := len(ip)
	info := describe(ip, t.flows)
	summary := v.Action.String()
	if v.Reason != "" && v.Reason != summary {
		summary += " " + v.Reason
	}
	fields := []trace.Field{
		{Key: "hook", Value: hookName},
		{Key: "action", Value: v.Action.String()},
		{Key: "reason", Value: v.Reason},
		{Key: "rule", Value: v.Rule},
		{Key: "len", Value: size},
	}
	switch {
	case v.Delay > 0:
		summary += " " + v.Delay.String()
		fields = append(fields, trace.Field{Key: "delay", Value: v.Delay.String()})
	case v.Copies > 0:
		fields = append(fields, trace.Field{Key: "copies", Value: v.Copies})
	}
	if v.Rule != "" {
		summary += " by rule " + strconv.Quote(v.Rule)
	}
	t.emit(dir, trace.Event{
		Node:    t.node,
		Layer:   layer,
		Dir:     dir,
		Name:    "verdict",
		Conn:    info.conn,
		Summary: hookName + ": " + summary + ": " + info.summary,
		Fields:  fields,
	})
}
