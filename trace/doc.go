// Package trace records what happens to a byte on its way between a packet on
// a device and a WebSocket frame in an application, in both directions.
//
// Every layer (link, ip, tcp, socket, ws) emits Events into a *Tracer. A nil
// *Tracer is valid and records nothing (its methods do nothing, AddSink
// aside); callers check Enabled before building an event so that tracing
// switched off costs one nil comparison.
//
// Sinks decide where events go: NewText writes the readable account, NewJSON
// one JSON object per line, NewPCAPNG a capture file that Wireshark and
// tshark open, NewRing keeps the last n events in memory, and a Stepper
// pauses before each step until a person (or a test) lets it go on.
// NewAsync runs another sink on a goroutine of its own, off every lock.
//
// The JSON lines NewJSON writes follow a versioned schema (SchemaVersion,
// key "v"): Kinds lists one Go struct per kind of event (LinkPacket,
// TCPState, WSFrame, ...) whose JSON tags are the keys, schema.json is the
// JSON Schema generated from them (go generate), and ValidateJSON checks
// an event object against it. Every layer builds an event's Fields with
// its kind's generated Fields method:
//
//	Fields: (&trace.SocketIO{FD: fd, N: trace.Some(n), Offset: trace.Some(off)}).Fields()
//
// DescribePacket and DescribeFrame describe a packet as the stack traces
// it (a tcpdump-like summary and LinkPacket's fields, sequence numbers
// relative to the connection's first when told them); the stack and the
// capture readers use them alike. DescribeHeaders does the same from a
// packet's first bytes and its length, and PacketConn names a packet's
// connection alone, for events that need no more. ReadJSONL, ReadPCAPNG and ReadPCAP read
// recorded traces and captures back into Events, for a viewer of a run
// that has ended; WritePerfetto exports events as Chrome
// trace-event JSON for ui.perfetto.dev, a track per node and layer, with
// flow arrows between packets and the frames they carried.
//
// Layers that emit while holding a lock of the stack (gVisor's TCP
// endpoint lock, a wait queue's) use Tracer.EmitDeferred, which never
// waits for a sink: sinks, and a Stepper's pauses, always run with no lock
// of the stack held.
//
// With Correlate, a Tracer joins WebSocket frames and the packets that
// carried their bytes, by TCP stream offset:
//
//	ring := trace.NewRing(1 << 16)
//	tr := trace.New(trace.NewText(os.Stdout), ring)
//	tr.Correlate()
//	st, _ := netstack.New(netstack.Options{Device: dev, Tracer: tr, Node: "server"})
//	// ws frame events now carry "packets", link packet events "frames",
//	// and "carried" events complete the joins that only later events
//	// could make.
//
// What trace is not: it changes nothing. Dropping, delaying or rewriting a
// unit is a hook's job (package hook, and the hook points in netstack,
// sockets and ws); trace only records the verdicts those hooks return. It
// does not capture packets itself: netstack's link endpoint hands it each
// packet. The browser view that draws a trace is its own package above
// this one.
package trace
