package app

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ui"
	"github.com/glassnet/glassnet/ws"
)

// DemoOptions is what `glassnet demo` takes. The zero value prints nothing.
type DemoOptions struct {
	// Out receives the readable step-by-step account.
	Out io.Writer
	// Trace, if set, receives every event as a JSON line.
	Trace io.Writer
	// PCAP, if set, receives a classic pcap capture of the server stack's
	// packets.
	PCAP io.Writer
	// PCAPNG, if set, receives a pcapng capture of both stacks' packets,
	// one interface per stack ("client", "server"), with direction flags,
	// the event ID of each packet and a comment naming the WebSocket
	// frames it carried.
	PCAPNG io.Writer
	// CallLog, if set, receives a strace-like line for every socket call of
	// both stacks, each line starting with "client: " or "server: ".
	CallLog io.Writer
	// MTU of the in-memory link; 0 means 1500.
	MTU int
	// NoDelayedACK makes both stacks acknowledge every batch of data at
	// once instead of letting the reply carry the ACK (--no-delayed-ack;
	// netstack.Options.DisableDelayedACK).
	NoDelayedACK bool

	// StepIn, if set, makes the demo pause before each step and read
	// commands from it, as trace.StepOptions.In says (enter: next step;
	// p, s, f, m: next packet, segment, frame, message; c: continue to a
	// breakpoint; b FILTER: a breakpoint in the rules' filter syntax; x:
	// the step's fields; q: run freely; h: help); the steps and the
	// prompt go to Out. Stepper is the
	// same for a program: the demo pauses in it and the caller drives it.
	// Either way both stacks run on a clock that stands still while a step
	// is held (Clock, or a PausableClock of the demo's own), and the
	// demo's own time limits are lifted.
	StepIn  io.Reader
	Stepper *trace.Stepper
	Clock   *netstack.PausableClock

	// Rules are hook rules for the client stack's link (--egress,
	// --ingress): its egress is the way to the server.
	Rules

	// UI, if set, serves the browser view of the run (--ui): the demo
	// stops before its first step until the page says play (unless
	// UI.Run), and after its conversation it keeps the view open until ctx
	// ends.
	UI *UIOptions
}

// UIOptions is what --ui takes.
type UIOptions struct {
	// Addr is where the view listens on the host's kernel stack; empty
	// means ui.DefaultAddr.
	Addr string
	// Run starts the stack running at once (--ui-run) instead of waiting
	// for the page.
	Run bool
	// Out receives the one line with the URL to open.
	Out io.Writer
	// Token, if set, replaces the random per-run token (for tests, and
	// for glassnet lab, whose parent prints the URL).
	Token string
	// Listener, if set, is where the view is served instead of Addr (a
	// listener glassnet lab opened on the host before it entered its
	// namespace); the URL is then not printed.
	Listener net.Listener `json:"-"`
	// Ready, if set, is called with the running view before the demo's
	// first step (for tests and programs that drive it).
	Ready func(*ui.Server)
}

// The demo's two stacks, one on each end of an in-memory link.
var (
	demoClientAddr = netip.MustParsePrefix("10.0.0.1/24")
	demoServerAddr = netip.MustParsePrefix("10.0.0.2/24")
)

// Demo runs two userspace stacks in one process, wired back to back, with a
// WebSocket echo server on one and a client on the other; it narrates every
// packet, socket step and frame of a short conversation and checks that each
// message came back intact. It needs no privileges.
func Demo(ctx context.Context, opts DemoOptions) (err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	egress, ingress, err := opts.Rules.chains()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	stepper := opts.Stepper
	var sinks []trace.Sink
	clock := opts.Clock
	var view *ui.Server
	if opts.UI != nil {
		if clock == nil {
			clock = netstack.NewPausableClock(netstack.PausableClockOptions{})
			defer clock.Stop()
		}
		if view, err = ui.New(ui.Options{Live: true, Run: opts.UI.Run, Clock: clock, Token: opts.UI.Token}); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		stepper = view.Stepper()
		sinks = append(sinks, trace.NewText(opts.Out))
	} else if stepper == nil && opts.StepIn != nil {
		// A terminal stepper shows the steps itself.
		track := ui.NewTracker()
		stepper = trace.NewStepper(trace.StepOptions{In: opts.StepIn, Out: opts.Out,
			Observe: track.Note, ParseBreakpoint: stepBreakpoint(track), BreakpointHelp: stepBreakHelp})
	} else {
		sinks = append(sinks, trace.NewText(opts.Out))
	}
	if opts.Trace != nil {
		sinks = append(sinks, trace.NewJSON(opts.Trace))
	}
	var png *trace.PCAPNG
	if opts.PCAPNG != nil {
		png = trace.NewPCAPNG(opts.PCAPNG)
		sinks = append(sinks, png)
		defer func() {
			if perr := png.Close(); perr != nil && err == nil {
				err = fmt.Errorf("demo: pcapng: %w", perr)
			}
		}()
	}
	if view != nil {
		// Last, so that the other sinks have the step before it is held.
		sinks = append(sinks, view.Sink())
		// Interrupted: the view closes, which runs the stepper on and
		// lets every held unit go, and stops no step after that (a
		// held packet's step or a breakpoint still to come would stop
		// the run again for a page that cannot come, and the
		// conversation would wait for it for ever).
		stop := context.AfterFunc(ctx, func() { view.Close() })
		defer stop()
	} else if stepper != nil {
		// Last, so that the other sinks have the step before it is held.
		sinks = append(sinks, stepper)
		if clock == nil {
			clock = netstack.NewPausableClock(netstack.PausableClockOptions{})
			defer clock.Stop()
		}
		stepper.SetClock(clock)
		// Interrupted while a person reads a step: run to the end.
		stop := context.AfterFunc(ctx, stepper.Run)
		defer stop()
	}
	tr := trace.New(sinks...)
	if png != nil {
		// Each packet is stamped with its event's time, on the stacks'
		// clock, which stands still while a stepped run is paused: the
		// capture's times then agree with the trace's and the view's,
		// instead of counting the minutes spent reading a step.
		png.Start = time.Now()
	}
	if clock != nil {
		// Events are timed on the stacks' clock: paused time, while a
		// person reads a step, does not count.
		t0 := clock.NowMonotonic()
		tr.SetClock(func() time.Duration { return clock.NowMonotonic().Sub(t0) })
	}
	tr.Correlate()
	// Before the pcapng sink is closed: the events the stacks deferred
	// reach the sinks.
	defer tr.Flush()
	say := func(format string, args ...any) {
		tr.Emit(trace.Event{Node: "demo", Layer: trace.LayerApp, Name: "step", Summary: "── " + fmt.Sprintf(format, args...)})
	}

	var tcpClock tcpip.Clock
	if clock != nil {
		tcpClock = clock
	}
	cdev, sdev := tun.Pipe(tun.PipeOptions{MTU: opts.MTU, NameA: "client0", NameB: "server0"})
	if view != nil {
		// The view installs the rules, next to its hold points.
		egress, ingress = nil, nil
	}
	server, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{demoServerAddr}, Tracer: tr, Node: "server", PCAP: opts.PCAP, Clock: tcpClock, DisableDelayedACK: opts.NoDelayedACK})
	if err != nil {
		cdev.Close()
		return err
	}
	defer server.Close()
	client, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{demoClientAddr}, Tracer: tr, Node: "client", Clock: tcpClock, Egress: egress, Ingress: ingress, DisableDelayedACK: opts.NoDelayedACK})
	if err != nil {
		return err
	}
	defer client.Close()
	// The two stacks' calls are logged from their own goroutines: one
	// writer at a time, whatever CallLog is (a bytes.Buffer is not safe).
	var calls io.Writer
	if opts.CallLog != nil {
		calls = &syncWriter{w: opts.CallLog}
	}
	ssocks := sockets.New(server.Stack(), sockets.Options{Tracer: tr, Node: "server", CallLog: prefixLines(calls, "server: ")})
	csocks := sockets.New(client.Stack(), sockets.Options{Tracer: tr, Node: "client", CallLog: prefixLines(calls, "client: ")})
	if view != nil {
		if err := startView(view, opts.UI, []ui.Node{
			{Name: "client", Stack: client, Sockets: csocks, Egress: opts.Rules.Egress, Ingress: opts.Rules.Ingress},
			{Name: "server", Stack: server, Sockets: ssocks},
		}); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		// Before the stacks close: nothing may stay held while they do.
		defer view.Close()
	}

	say("server %v listens on port 80 (HTTP and WebSocket /echo)", demoServerAddr.Addr())
	l, err := ssocks.Listener("tcp", net.JoinHostPort(demoServerAddr.Addr().String(), "80"))
	if err != nil {
		return err
	}
	// A data frame a hold or a rule drops takes its message's echo with
	// it: the conversation is told, and does not wait for it.
	dropped := make(chan string, 64)
	watchDrops := func(h ws.FrameHook, side string) ws.FrameHook {
		if h == nil {
			return nil
		}
		return ws.FrameHookFunc(func(f *ws.HookFrame) ws.FrameVerdict {
			v := h.Decide(f)
			if v.Action == hook.Drop && !f.Header.Opcode.IsControl() {
				way := "sending"
				if f.Dir == trace.In {
					way = "receiving"
				}
				select {
				case dropped <- fmt.Sprintf("the %s dropped a %v frame it was %s (%s)", side, f.Header.Opcode, way, cmp.Or(v.Rule, "a rule")):
				default:
				}
			}
			return v
		})
	}
	h := &Handlers{Tracer: tr, Node: "server"}
	if view != nil {
		h.FrameHook = watchDrops(view.FrameHook("server"), "server")
	}
	srv := newHTTPServer(h.Mux())
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	defer func() {
		h.CloseAll()
		srv.Close()
		<-served
	}()

	dopts := &ws.DialOptions{NetDial: csocks.DialContext, ConnOptions: ws.ConnOptions{Tracer: tr, Node: "client"}}
	// The rules act on the client's side: its link and its frames.
	var frames *ws.FrameCounter // counts the frame rules' verdicts
	if view != nil {
		dopts.FrameHook = watchDrops(view.FrameHook("client"), "client")
	} else if frames, err = opts.Rules.frameHook(); err != nil {
		return fmt.Errorf("demo: %w", err)
	} else if frames != nil {
		dopts.FrameHook = watchDrops(frames, "client")
	}
	if stepper == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	} else {
		// A person may take a while over the opening handshake and the
		// close handshake: the stacks' clock stops while they read, but
		// a handshake timeout's does not.
		dopts.HandshakeTimeout = -1
		dopts.CloseTimeout = 24 * time.Hour
	}
	// With the view open, a conversation that goes wrong (a packet, send
	// or frame edited, held or dropped on the way) is shown, not ended:
	// the view stays open on what happened until interrupted.
	stopped := func(err error) error {
		if view == nil {
			return err
		}
		say("the conversation stopped: %v; the browser view stays open; interrupt to end", err)
		view.End()
		<-ctx.Done()
		return nil
	}
	url := "ws://" + demoServerAddr.Addr().String() + "/echo"
	say("client %v dials %s: TCP handshake, then the HTTP upgrade", demoClientAddr.Addr(), url)
	c, _, err := ws.Dial(ctx, url, dopts)
	if err != nil {
		return stopped(fmt.Errorf("demo: dial: %w", err))
	}
	defer c.CloseNow()

	large := strings.Repeat("glassnet ", 400)[:3000]
	messages := []struct {
		what  string
		typ   ws.MessageType
		parts [][]byte
	}{
		{"a text message", ws.MessageText, [][]byte{[]byte("hello, glassnet")}},
		{"a binary message", ws.MessageBinary, [][]byte{{0xde, 0xad, 0xbe, 0xef}}},
		{"a text message in three fragments", ws.MessageText, [][]byte{[]byte("frag"), []byte("ment"), []byte("ed")}},
		{"a 3000-byte message, larger than one segment", ws.MessageText, [][]byte{[]byte(large)}},
	}
	for _, m := range messages {
		// reports of an earlier message's frames
		drainDrops(dropped)
		say("client sends %s; the server echoes it", m.what)
		if len(m.parts) == 1 {
			err = c.WriteMessage(ctx, m.typ, m.parts[0])
		} else {
			err = c.WriteFragmented(ctx, m.typ, m.parts...)
		}
		if err != nil {
			return stopped(fmt.Errorf("demo: send %s: %w", m.what, err))
		}
		typ, got, drop, err := readEcho(ctx, c, dropped)
		if drop != "" {
			say("%s: the echo of %s will not come; the client goes on", drop, m.what)
			continue
		}
		if err != nil {
			return stopped(fmt.Errorf("demo: read the echo of %s: %w", m.what, err))
		}
		if want := bytes.Join(m.parts, nil); typ != m.typ || !bytes.Equal(got, want) {
			err := fmt.Errorf("demo: echo of %s came back as %v %q", m.what, typ, got)
			if view == nil {
				return err
			}
			say("the echo of %s came back changed, as %v %q: something on the way (a hold, a rule) changed it", m.what, typ, got)
		}
	}

	say("client pings; the server's ws layer answers with a pong")
	// Drops from here on are of the close, which the run reports.
	drainDrops(dropped)
	pingDone := make(chan error, 1)
	go func() { pingDone <- c.Ping(ctx, []byte("are you there?")) }()
	// Ping's pong is read by a reader; keep one running until the close.
	readDone := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage(ctx)
		readDone <- err
	}()
	if err := <-pingDone; err != nil {
		// The reader knows how the connection ended (a close frame's code).
		select {
		case rerr := <-readDone:
			if rerr != nil {
				err = fmt.Errorf("%w; the connection ended: %w", err, rerr)
			}
		case <-time.After(time.Second):
		}
		return stopped(fmt.Errorf("demo: ping: %w", err))
	}

	say("client starts the close handshake (1000, \"demo done\"); the server echoes the close, then TCP closes")
	if err := c.Close(ws.StatusNormalClosure, "demo done"); err != nil {
		return stopped(fmt.Errorf("demo: close: %w", err))
	}
	if err := <-readDone; ws.CloseStatus(err) != ws.StatusNormalClosure && !errors.Is(err, net.ErrClosed) {
		return stopped(fmt.Errorf("demo: reader ended with %v, want a normal closure", err))
	}
	// Let the last FIN/ACK exchange reach the trace before the stacks go.
	time.Sleep(50 * time.Millisecond)
	say("the server closes its listener and both stacks shut down")
	srv.Close()
	<-served
	client.Close()
	server.Close()

	cs, ss := client.Stats(), server.Stats()
	say("done: client sent %d packets and received %d; server sent %d and received %d; %d dropped",
		cs.PacketsOut, cs.PacketsIn, ss.PacketsOut, ss.PacketsIn, cs.Dropped()+ss.Dropped())
	if v := verdictSummary(cs, frames); v != "" {
		say("the client's hooks decided: %s", v)
	}
	if view != nil {
		// The page stays usable on the recorded run until interrupted.
		// The last event comes before End: a page (or a test) that sees
		// the run ended has every event of it.
		say("the browser view stays open; interrupt to end")
		view.End()
		<-ctx.Done()
	}
	return nil
}

// startView gives the view its stacks and starts serving it.
func startView(view *ui.Server, o *UIOptions, nodes []ui.Node) error {
	for _, n := range nodes {
		if err := view.AddNode(n); err != nil {
			return err
		}
	}
	url, err := view.Start(o.Addr)
	if err != nil {
		return UIListenError(err)
	}
	if o.Out != nil {
		fmt.Fprintln(o.Out, ui.Announce(url))
	}
	if o.Ready != nil {
		o.Ready(view)
	}
	return nil
}

// prefixLines returns a writer that puts prefix before every line written
// to w in one Write (the call log writes whole lines), or nil for a nil w.
func prefixLines(w io.Writer, prefix string) io.Writer {
	if w == nil {
		return nil
	}
	return prefixWriter{w: w, prefix: []byte(prefix)}
}

type prefixWriter struct {
	w      io.Writer
	prefix []byte
}

func (p prefixWriter) Write(b []byte) (int, error) {
	n := len(b)
	var out []byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		out = append(append(out, p.prefix...), b[:i]...)
		b = b[i:]
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}

// readEcho reads the next message from c. When a data frame is dropped
// (a report comes on dropped, perhaps already while the message was sent)
// before the echo's first frame arrives, it gives up and returns the
// report: the echo will not come.
func readEcho(ctx context.Context, c *ws.Conn, dropped <-chan string) (ws.MessageType, []byte, string, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var drop string
	gave := make(chan struct{})
	go func() {
		defer close(gave)
		select {
		case drop = <-dropped:
			cancel()
		case <-rctx.Done():
		}
	}()
	typ, p, err := c.ReadMessage(rctx)
	cancel()
	<-gave
	if err != nil && drop != "" && errors.Is(err, context.Canceled) {
		return 0, nil, drop, nil
	}
	if err == nil && drop != "" {
		// The message came all the same (a dropped copy of a duplicate,
		// say): the report was of something else.
		drop = ""
	}
	return typ, p, drop, err
}

// drainDrops lets go of the drop reports waiting on dropped.
func drainDrops(dropped <-chan string) {
	for {
		select {
		case <-dropped:
		default:
			return
		}
	}
}

// stepBreakHelp is what a terminal breakpoint is, for the stepper's help.
const stepBreakHelp = "a packet filter as in --egress rules (tcp and fin, port 80 and syn),\n" +
	"ws FILTER for a frame (ws close, ws text and fin), state NAME where a\n" +
	"connection enters it (state TIME-WAIT), a TCP condition (rcv_wnd == 0,\n" +
	"srtt > 1ms), or retransmit, as the browser view's breakpoints"

// stepBreakpoint reads the FILTER of the terminal stepper's "b FILTER" as
// the browser view reads a breakpoint (ui.ParseBreakpoint), the stepper
// feeding track every event (StepOptions.Observe).
func stepBreakpoint(track *ui.Tracker) func(string) (func(*trace.Event) bool, error) {
	return func(src string) (func(*trace.Event) bool, error) {
		b, err := ui.ParseBreakpoint(src)
		if err != nil {
			return nil, errors.New(strings.TrimPrefix(err.Error(), "ui: "))
		}
		return func(e *trace.Event) bool { return b.Match(track, e) }, nil
	}
}
