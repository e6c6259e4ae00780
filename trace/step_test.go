package trace

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingClock is a Pauser that records its state.
type countingClock struct {
	mu      sync.Mutex
	paused  int
	pauses  int
	resumes int
}

func (c *countingClock) Pause()  { c.mu.Lock(); c.paused++; c.pauses++; c.mu.Unlock() }
func (c *countingClock) Resume() { c.mu.Lock(); c.paused--; c.resumes++; c.mu.Unlock() }
func (c *countingClock) state() (paused, pauses, resumes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused, c.pauses, c.resumes
}

func stepEvents() []Event {
	return []Event{
		{Node: "server", Layer: LayerLink, Dir: In, Name: "packet", Conn: "c->s", Summary: "first"}, // paused (Next)
		{Node: "server", Layer: LayerTCP, Dir: In, Name: "state", Conn: "c->s", Summary: "ESTABLISHED 1"},
		{Node: "demo", Layer: LayerApp, Name: "step", Summary: "narration"}, // never paused
		{Node: "server", Layer: LayerTCP, Dir: In, Name: "state", Conn: "c->s", Summary: "ESTABLISHED 2"},
		{Node: "server", Layer: LayerSocket, Dir: In, Name: "recv", Conn: "s->c"},
		{Node: "server", Layer: LayerWS, Dir: In, Name: "frame", Conn: "s->c", Summary: "FIN text len=5"},
		{Node: "server", Layer: LayerLink, Dir: In, Name: "carried", Conn: "c->s"}, // never paused
		{Node: "server", Layer: LayerWS, Dir: In, Name: "message", Conn: "s->c"},
		{Node: "server", Layer: LayerWS, Dir: Out, Name: "frame", Conn: "s->c"},
	}
}

func TestStepperProgrammatic(t *testing.T) {
	t.Parallel()
	clock := &countingClock{}
	st := NewStepper(StepOptions{Clock: clock})
	tr := New(st)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, e := range stepEvents() {
			tr.Emit(e)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wait := func(want string) Event {
		t.Helper()
		e, err := st.Wait(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if got := string(e.Layer) + " " + e.Name + " " + e.Summary; !strings.HasPrefix(got, want) {
			t.Fatalf("paused at %q, want %q", got, want)
		}
		if p, _, _ := clock.state(); p != 1 {
			t.Fatalf("clock paused %d times over while holding %q", p, want)
		}
		return e
	}

	wait("link packet first")
	// While the step is held, every other emitter waits: the tracer's
	// delivery lock is held by the paused Emit.
	if tr.mu.TryLock() {
		tr.mu.Unlock()
		t.Fatal("the delivery lock is free while a step is held")
	}
	other := make(chan struct{})
	go func() {
		tr.Emit(Event{Layer: LayerApp, Name: "from another goroutine"}) // shown, never held
		close(other)
	}()
	st.Next()
	wait("tcp state ESTABLISHED 1")
	st.Next()
	// The app narration passes.
	wait("tcp state ESTABLISHED 2")
	st.ContinueToFrame()
	wait("ws frame FIN text len=5") // the socket recv was not held
	st.ContinueToFrame()
	wait("ws frame") // the out frame: carried and message passed
	st.Run()
	<-done
	<-other
	if p, pauses, resumes := clock.state(); p != 0 || pauses != 5 || resumes != 5 {
		t.Fatalf("clock: %d paused, %d pauses, %d resumes; want 0, 5, 5", p, pauses, resumes)
	}
}

func TestStepperTerminal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	// Enter, enter, then on to the next frame, then run freely.
	st := NewStepper(StepOptions{In: strings.NewReader("\n\nf\nq\n"), Out: &out})
	tr := New(st)
	for _, e := range stepEvents() {
		tr.Emit(e)
	}
	text := out.String()
	if n := strings.Count(text, "[enter] next step"); n != 4 {
		t.Errorf("%d prompts, want 4 (packet, state, state, frame):\n%s", n, text)
	}
	for _, want := range []string{"first", "tcp before: ESTABLISHED 1", "narration", "FIN text len=5", "carried"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// "f" ran on to the frame: the last prompt follows the frame's line.
	if last, frame := strings.LastIndex(text, "[enter] next step"), strings.Index(text, "FIN text len=5"); frame < 0 || last < frame {
		t.Errorf("the last prompt is not at the frame:\n%s", text)
	}
	// The end of input runs freely rather than blocking.
	st2 := NewStepper(StepOptions{In: strings.NewReader(""), Out: &out})
	New(st2).Emit(stepEvents()[0])
}

// Before a packet the stepper shows its connection's TCP state, named by
// the state probe remote->local: an incoming packet's own direction, and
// an outgoing one's reversed.
func TestStepperTCPNow(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	st := NewStepper(StepOptions{In: strings.NewReader("\n\n\n\n"), Out: &out})
	tr := New(st)
	for _, e := range []Event{
		{Node: "server", Layer: LayerTCP, Dir: In, Name: "state", Conn: "c->s", Summary: "ESTABLISHED"},
		{Node: "server", Layer: LayerLink, Dir: In, Name: "packet", Conn: "c->s", Summary: "in"},
		{Node: "server", Layer: LayerLink, Dir: Out, Name: "packet", Conn: "s->c", Summary: "out"},
		{Node: "client", Layer: LayerLink, Dir: In, Name: "packet", Conn: "s->c", Summary: "other node"},
	} {
		tr.Emit(e)
	}
	if n := strings.Count(out.String(), "tcp now: ESTABLISHED"); n != 2 {
		t.Errorf("%d lines say the state, want 2 (the server's packets in and out):\n%s", n, out.String())
	}
}

// pauserFunc is a Pauser that calls pause when the stepper pauses it.
type pauserFunc func()

func (f pauserFunc) Pause()  { f() }
func (f pauserFunc) Resume() {}

// TestStepperRunWhileStepping: Run that comes after an Emit decided to
// pause but before it holds the step (here, while it pauses the clock)
// finds no step to release; the Emit must see the new mode and go on,
// not wait for a release that never comes.
func TestStepperRunWhileStepping(t *testing.T) {
	t.Parallel()
	var st *Stepper
	st = NewStepper(StepOptions{Clock: pauserFunc(func() { st.Run() })})
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(st).Emit(Event{Node: "server", Layer: LayerLink, Dir: In, Name: "packet"})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the step stayed held after Run")
	}
}

// TestStepperNoCommand: a line that is no command takes no step: the
// stepper says so and asks again, and "n" is a step as an empty line is.
func TestStepperNoCommand(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	st := NewStepper(StepOptions{In: strings.NewReader("xyz\nhelp me\nn\nq\n"), Out: &out})
	tr := New(st)
	evs := stepEvents()
	tr.Emit(evs[0])
	tr.Emit(evs[1])
	text := out.String()
	for _, want := range []string{`"xyz" is no command (h: help)`, `"help me" is no command (h: help)`} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// xyz and "help me" asked again at the first event; n went on to the
	// second, where q let it run: four prompts, the second event's line
	// after the fourth.
	if n := strings.Count(text, "[enter] next step"); n != 4 {
		t.Errorf("%d prompts, want 4 (three at the first step, one at the second):\n%s", n, text)
	}
	if i, j := strings.Index(text, "help me"), strings.Index(text, "ESTABLISHED 1"); j < i {
		t.Errorf("the second step was shown before the commands at the first were read:\n%s", text)
	}
}

// unitEvents has a step of every unit, twice, with app narration and a
// "carried" annotation, which are never paused at, between them.
func unitEvents() []Event {
	return []Event{
		{Node: "client", Layer: LayerLink, Dir: Out, Name: "packet", Conn: "c->s", Summary: "first packet",
			Fields: []Field{{"len", 60}, {"flags", "S"}, {"note", "a->b <x>"}}}, // 1
		{Node: "server", Layer: LayerTCP, Dir: In, Name: "segment", Conn: "c->s", Summary: "first segment"},   // 2
		{Node: "server", Layer: LayerTCP, Dir: In, Name: "state", Conn: "c->s", Summary: "ESTABLISHED"},       // 3
		{Node: "demo", Layer: LayerApp, Name: "step", Summary: "narration"},                                   // 4
		{Node: "server", Layer: LayerWS, Dir: In, Name: "frame", Conn: "s->c", Summary: "first frame"},        // 5
		{Node: "server", Layer: LayerLink, Dir: In, Name: "carried", Conn: "c->s"},                            // 6
		{Node: "server", Layer: LayerWS, Dir: In, Name: "message", Conn: "s->c", Summary: "message"},          // 7
		{Node: "server", Layer: LayerLink, Dir: Out, Name: "packet", Conn: "s->c", Summary: "second packet"},  // 8
		{Node: "server", Layer: LayerTCP, Dir: Out, Name: "segment", Conn: "s->c", Summary: "second segment"}, // 9
		{Node: "server", Layer: LayerWS, Dir: Out, Name: "frame", Conn: "s->c", Summary: "second frame"},      // 10
	}
}

// nameBreakpoint reads the test's breakpoints: "event=NAME" matches the
// events so named.
func nameBreakpoint(filter string) (func(*Event) bool, error) {
	name, ok := strings.CutPrefix(filter, "event=")
	if !ok {
		return nil, errors.New("want event=NAME")
	}
	return func(e *Event) bool { return e.Name == name }, nil
}

var eventID = regexp.MustCompile(`#(\d+) `)

// pausedAt returns the IDs of the events in a stepper's output that a
// prompt followed.
func pausedAt(out string) []int {
	var ids []int
	last, prompted := 0, false
	for len(out) > 0 {
		loc := eventID.FindStringSubmatchIndex(out)
		p := strings.Index(out, promptText)
		if p >= 0 && (loc == nil || p < loc[0]) {
			if last > 0 && !prompted {
				ids = append(ids, last)
			}
			prompted = true
			out = out[p+len(promptText):]
			continue
		}
		if loc == nil {
			break
		}
		last, _ = strconv.Atoi(out[loc[2]:loc[3]])
		prompted = false
		out = out[loc[1]:]
	}
	return ids
}

// TestStepperCommands runs the terminal stepper through unitEvents with
// each command: where it pauses, and what it says.
func TestStepperCommands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      string
		noBreak bool // no ParseBreakpoint
		paused  []int
		want    []string
		not     []string
	}{
		{name: "enter", in: "\n\nq\n", paused: []int{1, 2, 3}},
		{name: "n", in: "n\nnext\nq\n", paused: []int{1, 2, 3}},
		{name: "p", in: "p\nq\n", paused: []int{1, 8}},
		{name: "s", in: "s\ns\nq\n", paused: []int{1, 2, 9}},
		{name: "f", in: "f\nf\nq\n", paused: []int{1, 5, 10}},
		{name: "m then the end of input", in: "m\n", paused: []int{1, 7}},
		{name: "q", in: "q\n", paused: []int{1}},
		{name: "the end of input runs freely", in: "", paused: []int{1}, want: []string{"second frame"}},
		{name: "c without breakpoints runs to the end", in: "c\nn\n", paused: []int{1}, want: []string{indent + "no breakpoints: on to the end\n", "second frame"}},
		{name: "b and c", in: "b event=message\nc\nc\n", paused: []int{1, 7},
			want: []string{indent + "breakpoint 1: event=message\n", indent + "stopped at breakpoint 1: event=message\n"}},
		{name: "a breakpoint stops a step to a unit", in: "b event=state\nf\nq\n", paused: []int{1, 3}},
		{name: "b lists", in: "b event=frame\nbreak event=state\nb\nq\n", paused: []int{1},
			want: []string{indent + "1  event=frame\n" + indent + "2  event=state\n"}},
		{name: "b with none set", in: "b\nq\n", paused: []int{1}, want: []string{"no breakpoints (b FILTER sets one)"}},
		{name: "b refuses a bad filter", in: "b port 80\nc\n", paused: []int{1}, want: []string{"b port 80: want event=NAME"}},
		{name: "d", in: "b event=frame\nb event=message\nd 1\nb\nc\nc\n", paused: []int{1, 7},
			want: []string{"deleted breakpoint 1: event=frame", indent + "2  event=message\n" + indent + "[enter]"},
			not:  []string{"1  event=frame"}},
		{name: "d refuses", in: "d\nd one\nd 9\nq\n", paused: []int{1},
			want: []string{indent + "d takes the number of a breakpoint", "d one: d takes the number", "no breakpoint 9 (b lists them)"}},
		{name: "x", in: "x\nprint\nq\n", paused: []int{1},
			want: []string{indent + "id: 1\n" + indent + "t: ", indent + "node: \"client\"\n" + indent + "layer: \"link\"\n" + indent + "dir: \"out\"\n" +
				indent + "event: \"packet\"\n" + indent + "conn: \"c->s\"\n" + indent + "summary: \"first packet\"\n" +
				indent + "len: 60\n" + indent + "flags: \"S\"\n" + indent + "note: \"a->b <x>\"\n"}},
		{name: "h", in: "h\n?\nhelp\nq\n", paused: []int{1},
			want: []string{indent + "p         next packet\n", indent + "c         continue to a breakpoint", indent + "b FILTER  stop at the steps FILTER matches:\n" + indent + "          NAME, as in event=NAME\n", indent + "d N       delete breakpoint N\n", indent + "x, print"}},
		{name: "h without breakpoints", in: "h\nb event=frame\nq\n", noBreak: true, paused: []int{1},
			want: []string{indent + "x, print", "this stepper has no breakpoints"}, not: []string{"b FILTER", "d N"}},
		{name: "no command", in: "xyz\nn 2\nb\tx\nq\n", paused: []int{1},
			want: []string{`"xyz" is no command (h: help)`, `"n 2" is no command (h: help)`, `"b\tx" is no command (h: help)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			opts := StepOptions{In: strings.NewReader(tc.in), Out: &out, ParseBreakpoint: nameBreakpoint, BreakpointHelp: "NAME, as in event=NAME"}
			if tc.noBreak {
				opts.ParseBreakpoint = nil
			}
			tr := New(NewStepper(opts))
			for _, e := range unitEvents() {
				tr.Emit(e)
			}
			text := out.String()
			if got := pausedAt(text); !slices.Equal(got, tc.paused) {
				t.Errorf("paused at %v, want %v:\n%s", got, tc.paused, text)
			}
			if !strings.Contains(text, "second frame") {
				t.Errorf("the last event was not shown:\n%s", text)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(text, w) {
					t.Errorf("output has %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestStepperStepTo: the programmatic stepper goes to a unit, and stops at
// a breakpoint on the way.
func TestStepperStepTo(t *testing.T) {
	t.Parallel()
	st := NewStepper(StepOptions{})
	tr := New(st)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, e := range unitEvents() {
			tr.Emit(e)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, step := range []struct {
		to   Unit
		want uint64
	}{{UnitNone, 1}, {UnitMessage, 7}, {UnitSegment, 9}} {
		if step.to != UnitNone {
			st.StepTo(step.to)
		}
		e, err := st.Wait(ctx)
		if err != nil {
			t.Fatalf("waiting for event %d: %v", step.want, err)
		}
		if e.ID != step.want {
			t.Fatalf("StepTo(%v) paused at %d, want %d", step.to, e.ID, step.want)
		}
	}
	st.Run()
	<-done
}

func TestParseUnit(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "event", "packet", "segment", "frame", "message", "none", "Packet"} {
		u, ok := ParseUnit(name)
		if want := name != "none" && name != "Packet"; ok != want {
			t.Errorf("ParseUnit(%q) ok = %v, want %v", name, ok, want)
			continue
		}
		if ok && name != "" && u.String() != name {
			t.Errorf("ParseUnit(%q).String() = %q", name, u)
		}
	}
}
