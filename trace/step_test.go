package trace

import (
	"bytes"
	"context"
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
	// Enter, enter, then continue to the next frame, then run freely.
	st := NewStepper(StepOptions{In: strings.NewReader("\n\nc\nq\n"), Out: &out})
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
	// "c" ran on to the frame: the last prompt follows the frame's line.
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
	st := NewStepper(StepOptions{In: strings.NewReader("x\nhelp\nn\nq\n"), Out: &out})
	tr := New(st)
	evs := stepEvents()
	tr.Emit(evs[0])
	tr.Emit(evs[1])
	text := out.String()
	for _, want := range []string{`"x" is no command`, `"help" is no command`} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// x and help asked again at the first event; n went on to the
	// second, where q let it run: four prompts, the second event's line
	// after the fourth.
	if n := strings.Count(text, "[enter] next step"); n != 4 {
		t.Errorf("%d prompts, want 4 (three at the first step, one at the second):\n%s", n, text)
	}
	if i, j := strings.Index(text, "help"), strings.Index(text, "ESTABLISHED 1"); j < i {
		t.Errorf("the second step was shown before the commands at the first were read:\n%s", text)
	}
}
