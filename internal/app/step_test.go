package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
)

// fakeTime is a time source a test moves by hand.
type fakeTime struct{ ns atomic.Int64 }

func (f *fakeTime) now() time.Time          { return time.Unix(0, f.ns.Load()) }
func (f *fakeTime) advance(d time.Duration) { f.ns.Add(int64(d)) }

// stepThroughDemo runs the demo under a programmatic stepper and steps
// through every pause. The stacks' time moves 100 µs with every step and,
// should no step come for stepQuiet of real time because the stacks wait
// for a timer of their own (a delayed ACK), 50 ms then, as it would for a
// person at the terminal. At the pause before the server receives the client's
// first packet that carries a WebSocket frame, it lets longPause pass: on
// the time source
// (which a paused PausableClock ignores) or, with direct, on the stacks'
// clock itself, as a clock that does not stop would. It returns the IDs it
// paused at and the JSON trace.
func stepThroughDemo(t *testing.T, longPause time.Duration, direct bool) (paused []uint64, js *bytes.Buffer) {
	t.Helper()
	src := &fakeTime{}
	clock := netstack.NewPausableClock(netstack.PausableClockOptions{Source: src.now})
	defer clock.Stop()
	st := trace.NewStepper(trace.StepOptions{})
	js = &bytes.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	demoErr := make(chan error, 1)
	go func() {
		demoErr <- Demo(context.Background(), DemoOptions{Stepper: st, Clock: clock, Trace: js})
		cancel()
	}()
	var advancing sync.WaitGroup
	sent, long := false, false
	lastStep := time.Now()
	for {
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Millisecond)
		e, err := st.Wait(wctx)
		wcancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// A busy stack on a loaded machine can take tens of
			// milliseconds to its next step; time moved then would fire
			// the tail loss probe of segments whose ACK is on its way.
			if time.Since(lastStep) >= stepQuiet {
				t.Logf("no step for %v after %d steps: the stacks' time moves 50 ms", stepQuiet, len(paused))
				src.advance(50 * time.Millisecond)
				lastStep = time.Now()
			}
			continue
		}
		paused = append(paused, e.ID)
		if !clock.Paused() {
			t.Errorf("clock running while event %d is held", e.ID)
		}
		if e.Node == "client" && e.Layer == trace.LayerLink && e.Dir == trace.Out && e.Field("frames") != nil {
			sent = true
		}
		// Hold the server's arrival of the client's first frame: the
		// client's data is in flight, its retransmission timer armed.
		if sent && !long && e.Node == "server" && e.Layer == trace.LayerLink && e.Dir == trace.In {
			long = true
			if direct {
				// Timer callbacks may need the tracer, which this pause
				// holds: advance from another goroutine.
				advanced := make(chan struct{})
				advancing.Add(1)
				go func() {
					defer advancing.Done()
					clock.ManualClock.Advance(longPause)
					close(advanced)
				}()
				select {
				case <-advanced:
				case <-time.After(time.Second):
				}
			} else {
				src.advance(longPause)
				time.Sleep(5 * time.Millisecond) // a few ticks of the clock
			}
		}
		// Between steps the stacks' time moves on a little.
		st.Next()
		src.advance(100 * time.Microsecond)
		lastStep = time.Now()
	}
	advancing.Wait()
	if err := <-demoErr; err != nil {
		t.Fatalf("demo: %v", err)
	}
	if !long {
		t.Fatal("never paused at the server's arrival of a client frame")
	}
	return paused, js
}

// stepQuiet is how long stepThroughDemo waits for a step before it takes
// the stacks to wait for a timer and moves their time: far longer than a
// loaded machine keeps a stack from its next step (under 30 ms with the race
// detector and two busy loops on two cores), and far shorter than the
// test's timeout. The demo as it is never waits for such a timer.
const stepQuiet = 2 * time.Second

// retransmissions lists the data packets whose sequence range the same
// stack sent before.
func retransmissions(t *testing.T, js *bytes.Buffer) []string {
	t.Helper()
	seen := map[string]bool{}
	var dups []string
	for _, e := range jsonEvents(t, bytes.NewReader(js.Bytes())) {
		if e["layer"] != "link" || e["event"] != "packet" || e["dir"] != "out" || e["payload_len"] == nil || e["payload_len"].(float64) == 0 {
			continue
		}
		k := fmt.Sprintf("%v %v %v:%v", e["node"], e["conn"], e["rel_seq"], e["payload_len"])
		if seen[k] {
			dups = append(dups, k)
		}
		seen[k] = true
	}
	return dups
}

// TestStepDemo steps through the whole demo, holding one step for ten
// seconds of the time source, far beyond TCP's retransmission timeout. The
// stepper must pause before every step, and the stacks, on a clock that
// stands still while a step is held, must not retransmit.
func TestStepDemo(t *testing.T) {
	paused, js := stepThroughDemo(t, 10*time.Second, false)
	var want []uint64
	for _, e := range jsonEvents(t, bytes.NewReader(js.Bytes())) {
		if e["event"] != "carried" && e["layer"] != "app" {
			want = append(want, uint64(e["id"].(float64)))
		}
	}
	if fmt.Sprint(paused) != fmt.Sprint(want) {
		t.Errorf("paused at %d events, want each of the %d steps:\npaused %v\nsteps  %v", len(paused), len(want), paused, want)
	}
	if dups := retransmissions(t, js); len(dups) > 0 {
		t.Errorf("retransmitted despite the paused clock: %v", dups)
	}
}

// TestStepDemoUnpausedClockRetransmits is the control: the same ten
// seconds passing on the stacks' clock during the held step do make TCP
// retransmit, so TestStepDemo would see it if the clock did not stop.
func TestStepDemoUnpausedClockRetransmits(t *testing.T) {
	_, js := stepThroughDemo(t, 10*time.Second, true)
	if dups := retransmissions(t, js); len(dups) == 0 {
		t.Error("no retransmission after the clock jumped past the RTO")
	}
}

// TestDemoStepTerminal drives --step as a person at a terminal would: three
// steps, on to the next frame, then run freely.
func TestDemoStepTerminal(t *testing.T) {
	var out bytes.Buffer
	in := strings.NewReader("\n\n\nf\nq\n")
	if err := Demo(context.Background(), DemoOptions{Out: &out, StepIn: in}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	if n := strings.Count(text, "[enter] next step"); n != 5 {
		t.Errorf("%d prompts, want 5:\n%s", n, text)
	}
	// The fifth pause, after "f", is at a frame event.
	before := strings.TrimRight(text[:strings.LastIndex(text, "[enter] next step")], " \n")
	if last := before[strings.LastIndex(before, "\n")+1:]; !strings.Contains(last, " ws ") || !strings.Contains(last, " frame ") {
		t.Errorf("after f, paused at %q, want a ws frame", last)
	}
	if !strings.Contains(text, "0 dropped") {
		t.Errorf("the demo did not run to the end:\n%s", text)
	}
}

// TestDemoStepBreakpoints uses --step as a debugger: on to the first
// frame, a breakpoint on a close frame, continue to it and print it, then
// one on a FIN packet in place of it, continue to that and print it, and
// run freely.
func TestDemoStepBreakpoints(t *testing.T) {
	var out bytes.Buffer
	in := strings.NewReader("f\nb ws close\nc\nx\nd 1\nb tcp and fin\nb\nc\nx\nq\n")
	if err := Demo(context.Background(), DemoOptions{Out: &out, StepIn: in}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	// one prompt at the first step, then 2, 5 and 2 at the frame, the
	// close frame and the FIN
	if n := strings.Count(text, stepPrompt); n != 10 {
		t.Errorf("%d prompts, want 10:\n%s", n, text)
	}
	second := strings.Index(text, stepPrompt) + 1
	second += strings.Index(text[second:], stepPrompt)
	if last := lineBefore(text, second); !strings.Contains(last, " ws ") || !strings.Contains(last, " frame ") {
		t.Errorf("after f, paused at %q, want a ws frame", last)
	}
	for _, hit := range []struct{ bp, event, print string }{
		{"stopped at breakpoint 1: ws close", " frame ", `opcode: "close"`},
		{"stopped at breakpoint 2: tcp and fin", " packet ", `flags: "F`},
	} {
		i := strings.Index(text, hit.bp)
		if i < 0 {
			t.Errorf("never %s:\n%s", hit.bp, text)
			continue
		}
		if ev := lineBefore(text, i); !strings.Contains(ev, hit.event) {
			t.Errorf("%s at %q, want a%s event", hit.bp, ev, hit.event)
		}
		// x printed the fields before the stepper went on.
		shown := text[i:]
		if next := strings.Index(shown, "#"); next >= 0 {
			shown = shown[:next]
		}
		for _, want := range []string{hit.print, "\n           id: "} {
			if !strings.Contains(shown, want) {
				t.Errorf("x at the step %s printed no %q:\n%s", hit.bp, want, shown)
			}
		}
	}
	// "b" listed the one breakpoint left after "d 1".
	if !strings.Contains(text, "deleted breakpoint 1: ws close") || !strings.Contains(text, "> "+"           2  tcp and fin\n"+"           "+stepPrompt) {
		t.Errorf("d 1 and b did not leave and list breakpoint 2 alone:\n%s", text)
	}
	if !strings.Contains(text, "0 dropped") {
		t.Errorf("the demo did not run to the end:\n%s", text)
	}
}

// TestDemoStepStateBreakpoint: the terminal's breakpoints take what the
// view's do beyond filters: "state NAME" stops where a connection enters
// that state (not at every report of it), which needs the events before
// it (StepOptions.Observe feeds them to a ui.Tracker).
func TestDemoStepStateBreakpoint(t *testing.T) {
	var out bytes.Buffer
	in := strings.NewReader("b state TIME-WAIT\nc\nx\nq\n")
	if err := Demo(context.Background(), DemoOptions{Out: &out, StepIn: in}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	i := strings.Index(text, "stopped at breakpoint 1: state TIME-WAIT")
	if i < 0 {
		t.Fatalf("never stopped at state TIME-WAIT:\n%s", text)
	}
	// the event line, above the stepper's own ("tcp before: ...")
	lines := strings.Split(strings.TrimRight(text[:i], " \n"), "\n")
	ev := ""
	for k := len(lines) - 1; k >= 0 && ev == ""; k-- {
		if !strings.HasPrefix(lines[k], "           ") {
			ev = lines[k]
		}
	}
	if !strings.Contains(ev, " tcp ") || !strings.Contains(ev, " state ") || !strings.Contains(ev, "TIME-WAIT") {
		t.Errorf("state TIME-WAIT stopped at %q, want the TCP state event entering it", ev)
	}
	if n := strings.Count(text, "stopped at breakpoint"); n != 1 {
		t.Errorf("stopped %d times, want once, where TIME-WAIT is entered:\n%s", n, text)
	}
	if !strings.Contains(text[i:], `state: "TIME-WAIT"`) {
		t.Errorf("x at the breakpoint printed no TIME-WAIT state:\n%s", text[i:])
	}
}

// lineBefore returns the whole line before the one text[i] is on.
func lineBefore(text string, i int) string {
	before := strings.TrimRight(text[:strings.LastIndex(text[:i], "\n")], "\n")
	return before[strings.LastIndex(before, "\n")+1:]
}

// TestDemoStepInterrupted cancels the demo while it waits at a step for a
// person who never answers: it must end rather than wait forever.
func TestDemoStepInterrupted(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &terminal{prompted: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- Demo(ctx, DemoOptions{Out: out, StepIn: pr}) }()
	select {
	case <-out.prompted:
	case err := <-done:
		t.Fatalf("the demo ended (%v) before its first step:\n%s", err, out)
	case <-time.After(20 * time.Second):
		t.Fatalf("no step prompt:\n%s", out)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("demo after the interrupt: %v, want nil or context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo went on waiting for input after it was interrupted")
	}
	if n := strings.Count(out.String(), stepPrompt); n != 1 {
		t.Errorf("%d step prompts, want the one the interrupt came at:\n%s", n, out)
	}
}

// stepPrompt is what the terminal stepper prints at each step.
const stepPrompt = "[enter] next step"

// terminal is the Out of a stepped demo: it keeps what the demo writes and
// closes prompted at the first step prompt.
type terminal struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	prompted chan struct{}
	once     sync.Once
}

func (w *terminal) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), stepPrompt) {
		w.once.Do(func() { close(w.prompted) })
	}
	return len(p), nil
}

func (w *terminal) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestStepBreakpointFrames: a terminal breakpoint's frame filter reads a
// ws frame event's header and length; a packet filter stops at no frame,
// and a bad filter is refused with the rules' error.
func TestStepBreakpointFrames(t *testing.T) {
	t.Parallel()
	frame := func(opcode string, fin, masked bool, n int) *trace.Event {
		return &trace.Event{Layer: trace.LayerWS, Dir: trace.Out, Name: "frame",
			Fields: []trace.Field{{Key: "fin", Value: fin}, {Key: "opcode", Value: opcode}, {Key: "masked", Value: masked}, {Key: "len", Value: n}}}
	}
	close11 := frame("close", true, true, 11)
	text3000 := frame("text", true, true, 3000)
	first := frame("text", false, true, 4)
	msg := &trace.Event{Layer: trace.LayerWS, Dir: trace.Out, Name: "message"}
	for _, tc := range []struct {
		filter string
		match  []*trace.Event
		not    []*trace.Event
	}{
		{"ws", []*trace.Event{close11, text3000, first}, []*trace.Event{msg}},
		{"ws close", []*trace.Event{close11}, []*trace.Event{text3000, first, msg}},
		{"ws text and fin", []*trace.Event{text3000}, []*trace.Event{close11, first}},
		{"ws text and not fin", []*trace.Event{first}, []*trace.Event{close11, text3000}},
		{"ws len > 1000", []*trace.Event{text3000}, []*trace.Event{close11, first}},
		{"ws masked and len == 11", []*trace.Event{close11}, []*trace.Event{text3000}},
		{"tcp", nil, []*trace.Event{close11, text3000, first, msg}},
	} {
		match, err := stepBreakpoint(ui.NewTracker())(tc.filter)
		if err != nil {
			t.Errorf("b %s: %v", tc.filter, err)
			continue
		}
		for _, e := range tc.match {
			if !match(e) {
				t.Errorf("b %s does not stop at %v", tc.filter, e.Fields)
			}
		}
		for _, e := range tc.not {
			if match(e) {
				t.Errorf("b %s stops at %s %v", tc.filter, e.Name, e.Fields)
			}
		}
	}
	for _, bad := range []string{"ws bogus", "tcp and", "port x"} {
		if _, err := stepBreakpoint(ui.NewTracker())(bad); err == nil {
			t.Errorf("b %s was taken", bad)
		}
	}
}
