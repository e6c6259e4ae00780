// Package ui is glassnet's browser view: a live, steppable picture of a
// run from packet to frame, served by glassnet itself, with control (play,
// pause, step to the next unit, breakpoints), hold-edit-release at the
// hook points, live rules and exports; or a recorded run, offline.
//
// A Server is a trace.Sink. Put it last among a Tracer's sinks, give it the
// stacks it may steer, and start it:
//
//	clock := netstack.NewPausableClock(netstack.PausableClockOptions{})
//	view, _ := ui.New(ui.Options{Live: true, Clock: clock})
//	tr := trace.New(trace.NewJSON(f), view.Sink())
//	tr.Correlate()
//	st, _ := netstack.New(netstack.Options{Tracer: tr, Node: "server", Clock: clock, ...})
//	socks := sockets.New(st.Stack(), sockets.Options{Tracer: tr, Node: "server"})
//	view.AddNode(ui.Node{Name: "server", Stack: st, Sockets: socks, Egress: rules})
//	url, _ := view.Start("127.0.0.1:8999") // the host's kernel stack
//	fmt.Println("glassnet: ui at", url)
//	defer view.Close()                     // before the stacks close
//
// The commands wire it: glassnet demo --ui [ADDR] (waits at the first step
// until the page says play; --ui-run runs at once), glassnet serve --ui
// [ADDR] and glassnet lab --ui [ADDR] (run freely until the page pauses),
// and glassnet view FILE (a recorded .jsonl or .pcapng, offline). Each
// prints one line: glassnet: ui at http://127.0.0.1:8999/?token=TOKEN.
//
// WebSocket connections get view.FrameHook(node) as their frame hook, so
// that frame rules and frame holds apply to them. A live Server stops
// before the first step until the page says play (Options.Run: it runs at
// once); it drives a trace.Stepper and the PausableClock the stacks run
// on, so a paused stack's timers stand still. An offline Server
// (glassnet view) is filled with Load.
//
// # Access
//
// The Server listens on the host's kernel stack, never on the stack it
// observes. Every request carries the per-run token (128 random bits,
// hex): ?token=, the X-Glassnet-Token header, or the glassnet_token cookie
// (HttpOnly, SameSite=Strict) that GET /?token= sets; otherwise 401. A
// request head over 64 KiB is answered 431 before the token is read. A
// Server started on a loopback address answers 403 to a request with the
// token whose Host is not localhost, a name under it or a loopback
// address (a page on a name pointed at 127.0.0.1: DNS rebinding). The
// WebSocket upgrade refuses an Origin that is not an http or https page
// on the request's Host (403), and so does a request that changes
// something (not GET or HEAD), or one whose Sec-Fetch-Site says it comes
// from another page. The page is embedded (static/, served under
// /static/, / is static/index.html).
//
// # Events
//
// An event is the JSON object `glassnet demo --trace -` writes per line:
// id, t, node, layer, dir, event, conn, summary and the layer's fields.
// The Server keeps the last Options.History (DefaultHistory) of them, with
// the bytes of packets.
//
//	GET  /api/events?from=ID&to=ID  {"events":[...],"first":ID,"last":ID}, at most 10000
//	GET  /api/events/ID             one event, plus "bytes" (hex) when the unit had bytes
//
// # Connections
//
// The page names a connection by its two endpoints, sorted ("10.0.0.1:40000
// ⇄ 10.0.0.2:80", as the data-conn attribute of its table row). A SYN
// without ACK that carries another initial sequence number than the one
// before it the same way (the ports used again, after TIME-WAIT or by a
// tool sending from a fixed port) starts another connection on the same
// endpoints, as Wireshark starts another TCP stream: "10.0.0.1:40000 ⇄
// 10.0.0.2:80 #2", with its own row, ladder, byte stream and Seq/time; its
// events are those from its SYN on. The Server numbers them as the events
// come, for as long as it runs, so that a connection keeps its number when
// the events before it leave the history: an event of the second
// connection on its endpoints or a later one has "conn_n" (2, 3, ...) in
// GET /api/events, /api/events/ID and the live stream, and one of the
// first none. conn_n is the Server's, not the trace's: the JSON lines
// export leaves it out, as --trace does, and glassnet view numbers a file
// from its own beginning. Of the endpoints none of whose events the history
// holds any more, the Server forgets the numbers once it knows of more
// pairs than the history keeps events (at least 65536); a connection on
// them then counts from the first again. The events' conn and GET
// /api/conns name endpoints only; a socket in the server's table is the
// latest connection on its endpoints.
//
// # Scripts
//
// The page sets window.glassnet for scripts and tests. glassnet.state is
// the state (as GET /api/state) the page has drawn: its current changes
// only in the draw that shows that event everywhere (the status, the
// selected rows, #events [data-current="true"], the inspector), not when
// the state message comes, which can be before the event it names.
// glassnet.selected is the selected event's id, glassnet.store the events.
// The page writes TCP states as glassnet ss does (ESTAB, SYN-RECV,
// FIN-WAIT-1, UNCONN for a socket with no connection), in the connections
// table, the state change and the layers, from sockets.SSState (the
// module static/states.js is made from it); the events, their inspector
// and the data-* attributes (the state change's data-new) keep the
// trace's names, which breakpoints take too.
//
// # Live stream
//
// GET /api/live?token=T&from=ID upgrades to a WebSocket. The server sends
// text messages: {"type":"events","events":[...]} in batches;
// {"type":"state",...} (as GET /api/state) on every change;
// {"type":"skipped","from":ID,"to":ID,"count":N,"fetchable":bool} when a
// page that fell more than 50000 events behind in a free run had its live
// view thinned to the newest 2000 (the skipped events are fetchable with
// /api/events while the history holds them; a page that does not ack is
// sent nothing more, this included, until it does); {"type":"holds",...} (as GET /api/holds) when holds change;
// {"type":"rules",...} (as GET /api/rules) first and whenever a rule is
// added or removed, by any page or script;
// {"type":"conns","conns":[...]} about once a second. The page sends
// {"type":"ack","last":ID} for what it has drawn (any other message ends
// the stream with close code 1008 and a reason that says what was wrong): at most 20000 events go
// unacknowledged, and in step mode the stack waits for a page more than
// 1000 events behind. When the last page goes away, every held unit is
// released and armed holds are forgotten; a run that started freely
// (Options.Run) forgets its breakpoints and runs freely again when no page
// has come back within 5 seconds. A script counts as a page while it keeps
// /api/live open: one that holds units through the API alone, with no live
// connection, leaves them held until it decides them, however long that is.
//
// # Control (live only; 409 offline)
//
// Once the run has ended (state.ended), play, pause, step, clock/advance,
// hold and rules answer 409 "ui: the run has ended"; a request that is wrong
// in itself (a bad body, node, point, filter or rule) answers 400 first.
//
//	GET  /api/state        {"live","paused","mode":"step|free","current","first","last",
//	                        "count","history","skipped","breakpoints","hit","held",
//	                        "clock_paused","clock_ns","nodes","ended","capture","partial"};
//	                        "history" is how many events the history keeps (a page
//	                        forgets those before last-history+1 too); "ended" is a live
//	                        run's (a recorded trace never ran here: false), "capture"
//	                        that some packet has its bytes (the pcapng export has
//	                        something to write), "partial" what a recorded run's
//	                        view left out of its file or could not read ("" if
//	                        nothing: a run longer than the history, with the
//	                        --skip that shows the next part, a file cut short);
//	                        "mode" is "" offline, "hit" the
//	                        breakpoint that stopped the run ("" if none), "clock_ns"
//	                        the stacks' clock in Unix ns (0 without one; while the
//	                        clock is paused it moves by 1 ns a read, as every read
//	                        of it is later than the one before, and no timer fires)
//	POST /api/play         run freely (until a breakpoint); answers the state
//	POST /api/pause        stop at the next step; answers the state
//	POST /api/step         {"to":"event|packet|segment|frame|message"}: the state once
//	                       the stack stopped at the next such unit; 409 when not
//	                       paused at a step, when the run ended, or when none came
//	                       within 10 s (the stack then runs on until one does; a
//	                       held unit keeps the stacks' clock still until decided,
//	                       so no timer brings one meanwhile: the error says so)
//	GET  /api/breakpoints  {"breakpoints":[...]}
//	POST /api/breakpoints  {"breakpoints":["tcp and fin","ws close","rcv_wnd == 0",
//	                       "retransmit","state TIME-WAIT"]} replaces them and answers
//	                       {"breakpoints":[...]}; a bad one is a 400 with the parser's
//	                       message (see ParseBreakpoint), and so are more than 256
//	POST /api/clock/advance {"ms":N} moves the paused clock: the stack's timers due
//	                       within N ms fire ("fire now"); answers the state as it
//	                       was (the clock moves and the timers fire just after, so
//	                       the answer's clock_ns is the one before; GET /api/state
//	                       then has the new one); 409 unless paused
//
// # Holds
//
//	GET  /api/holds        {"holds":[{"id","point","node","event","summary","since_ms",
//	                       "fields":{...}}],"armed":[{"id","point","node","filter","left"}]}
//	POST /api/hold         {"point":"link-egress|link-ingress|socket-send|ws-out|ws-in",
//	                       "node":"client","filter":"tcp and ack","count":1} holds the
//	                       next matching units (a packet filter at the link, a frame
//	                       filter for frames, none for socket-send; count 1 when 0 or
//	                       absent); answers the request as "armed" lists it
//	DELETE /api/hold/ID    takes back an armed request (its id in "armed"); what it
//	                       held stays held; answers {"disarmed":ID}
//	POST /api/holds/ID     {"action":"release|drop|duplicate|delay","edit":{"flags":"A",
//	                       "seq":N,"ack":N,"window":N,"payload_hex":"..","opcode":"text",
//	                       "fin":true},"fix_checksums":true,"delay_ms":N} ->
//	                       {"id","action","edited","outcome","pending","failed"}
//	                       (delay_ms, 1 to 3600000, with delay only; an edit with
//	                       drop is checked but not made; a 400 leaves the unit held;
//	                       a unit decided already is a 404 that says how, "released
//	                       when the last page went away", as is one never held)
//	                       (an edit that makes a packet one the stack would not
//	                       send on, as netstack's Stack.CheckContinue finds it
//	                       (longer than the link's MTU without TCP segmentation
//	                       offload; with it, a super-packet the stack cannot cut,
//	                       such as one behind IPv6 extension headers), is a 400
//	                       that says why; pending: the stack, paused at a step,
//	                       takes the packet back when it runs; failed: it could
//	                       not take it back (it closed meanwhile), as outcome
//	                       says, and the packet is traced as the hold's drop)
//
// A TCP segment held at the link also has "seq_base" and "ack_base", the
// initial sequence numbers its seq and ack count from (the relative numbers
// the ladder shows); they are absent when the history does not tell them.
//
// A held unit's event is, for a packet, the link "held" step the stack
// traces for it (0 until it comes); for a frame or a send, the last event
// before it was held. A packet held at the link stops the run at that
// step: GET /api/holds lists it as soon as the hook has it, a moment
// before the step is traced, so a script that wants the run stopped
// waits for state.paused, not for the hold. A held packet's fields are flags (letters F S R P A U E C), seq, ack,
// window, payload_hex and len (the whole IP packet's; the summary's len= is the
// TCP payload's); a frame's opcode, fin and payload_hex
// (unmasked; with "compressed": true for a frame with RSV1, whose
// payload is deflate data and cannot be edited); a send's fd and payload_hex. All but len and fd can be
// edited; a number outside its field's range (window 0 to 65535, seq and
// ack 0 to 4294967295) is a 400 that names the range. Checksums are fixed
// after an edit unless fix_checksums is false. A held packet leaves the stack's
// path (hook.Hold) and goes on with netstack's Stack.Continue; its payload
// may change its length. A held send keeps its length. A held frame or
// send keeps its goroutine waiting (a frame hook, a socket call hook).
//
// # Rules
//
//	GET    /api/rules      {"rules":[{"id","node","point","rule"}]}
//	POST   /api/rules      {"node":"client","point":"egress|ingress","rule":"loss 10%"}
//	                       -> {"id":N}, or 400 with the command line's message
//	DELETE /api/rules/ID   -> {"deleted":ID}
//
// Packet rules (hook.ParseRule) go into the node's link chain before the
// hold point; frame rules (ws.ParseFrameRule), those whose first word is
// ws ("ws text and len > 1000 : split 4", "ws ping : drop"), into its
// frame hook.
//
// # Other
//
//	GET /api/conns                            {"conns":[{"node","proto","state","ss_state",
//	                                          "local","peer","recv_q","send_q","cwnd","ssthresh",
//	                                          "srtt_ms","rto_ms","snd_wnd","rcv_wnd","fd"}],
//	                                          "at":ID,"stale":bool} (at: the last event traced
//	                                          when the table was begun, so a TCP state traced
//	                                          after it may be newer; stale: a paused stack holds
//	                                          a lock the table needs; the last table is shown;
//	                                          state is the socket table's, as the trace's TCP
//	                                          states and glassnet ss's JSON name them: INITIAL,
//	                                          BOUND, ESTABLISHED, SYN-RCVD, FIN-WAIT1, CLOSED...;
//	                                          ss_state is glassnet ss's, as the page writes it:
//	                                          UNCONN, ESTAB, SYN-RECV, FIN-WAIT-1 ...)
//	GET /api/export?format=jsonl|pcapng|perfetto  the history as JSON lines (also
//	                                          without format), pcapng, or
//	                                          Chrome/Perfetto trace-event JSON; each packet
//	                                          of the pcapng at its event's time; 409 for
//	                                          pcapng when no packet kept its bytes (a trace
//	                                          read from JSON lines)
//
// Errors are {"error":"ui: message"} with a 4xx status, for every path
// under /api/ (a message quoting a long input is cut at 1 KiB): an unknown path is a 404 (so is
// one with an empty, "." or ".." element, /api//state, not redirected), a method the path does not take a 405
// with Allow, GET /api/live without the WebSocket upgrade a 426. A body
// is one JSON object with only the fields the path takes; a field whose
// value is null is a 400, not a field left out, and so is a field given
// twice in one object, and a count, id or number of milliseconds not written
// in digits (1.5, 1e3, 1000.0); past 1 MiB it is a 413, and one that has not
// arrived 10 s after its head a 408. A query (/api/events,
// /api/export, /api/live) takes only the parameters shown above, and token, each
// once: another, or one given twice, is a 400 that names it, and so is a
// query that does not parse (a bad %-escape, a ';' between parameters).
package ui
