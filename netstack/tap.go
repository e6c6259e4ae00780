package netstack

import (
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/trace"
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
}

func (t *tap) packet(dir trace.Dir, b []byte) {
	if t.pcap != nil {
		t.pcap.write(t.clock.Now(), b)
	}
	if t.tracer == nil {
		return
	}
	info := describe(b, t.flows)
	t.tracer.Emit(trace.Event{
		Node:    t.node,
		Layer:   trace.LayerLink,
		Dir:     dir,
		Name:    "packet",
		Conn:    info.conn,
		Summary: info.summary,
		Fields:  info.fields,
	})
}

func (t *tap) drop(dir trace.Dir, reason DropReason, size int) {
	if t.tracer == nil {
		return
	}
	t.tracer.Emit(trace.Event{
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
