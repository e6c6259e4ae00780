package trace

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Pauser is a clock that can stand still, such as netstack.PausableClock:
// a Stepper pauses it while it holds a step, so that no TCP timer fires
// while a person reads.
type Pauser interface {
	Pause()
	Resume()
}

// StepOptions configures a Stepper. The zero value is a programmatic
// stepper that shows nothing.
type StepOptions struct {
	// In, if set, is read for commands, one per line, each time the
	// stepper pauses: an empty line or "n" goes to the next step, "c"
	// continues to the next WebSocket frame, "q" runs freely from then
	// on; any other line is said to be no command, and asked again. The
	// end of In also runs freely. Without In, the stepper is driven by Wait,
	// Next, ContinueToFrame and Run.
	In io.Reader
	// Out, if set, receives every event as a text line (as NewText
	// writes it), what is known about the TCP connection around a
	// packet, and the prompt.
	Out io.Writer
	// Clock, if set, is paused while the stepper holds a step.
	Clock Pauser
}

type stepMode int

const (
	stepEach  stepMode = iota // pause before every step
	stepFrame                 // pause before the next ws frame
	stepFree                  // never pause again
)

// Stepper is a sink that pauses before each step: the goroutine emitting
// the event blocks inside Emit, and since a Tracer delivers events one at a
// time under its lock, every other layer that emits is held back too until
// the stepper lets go. Events that are not steps of a unit ("carried"
// annotations, app narration) are shown but not paused at.
//
// Steps the stack takes inside its own locks (TCP state after a segment,
// segments TCP sends and the packets they become, wake-ups) come through
// Tracer.EmitDeferred: the stepper pauses at them too, but on a goroutine
// that holds none of those locks, so a paused stack can still be looked at
// (sockets.Snapshot) while the step is held. What the stack had already
// set in motion when the step was held, such as the rest of a segment
// burst, finishes meanwhile and waits, in order, to be shown.
type Stepper struct {
	in      *bufio.Reader
	lines   chan string // from in, read by a goroutine started at the first prompt
	reading sync.Once
	stop    chan struct{} // closed by Run
	stopped sync.Once
	out     io.Writer
	paused  chan Event // the event being held, for Wait
	release chan struct{}

	mu      sync.Mutex
	mode    stepMode
	waiting bool
	clock   Pauser
	states  map[string]string // node+conn -> last TCP state summary
}

// NewStepper returns a Stepper that pauses before the first step.
func NewStepper(opts StepOptions) *Stepper {
	s := &Stepper{
		out:     opts.Out,
		clock:   opts.Clock,
		paused:  make(chan Event, 1),
		release: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		states:  make(map[string]string),
	}
	if opts.In != nil {
		s.in = bufio.NewReader(opts.In)
	}
	return s
}

// SetClock sets the clock paused while a step is held.
func (s *Stepper) SetClock(c Pauser) {
	s.mu.Lock()
	s.clock = c
	s.mu.Unlock()
}

// maxStates bounds the TCP states remembered for "before" views.
const maxStates = 1024

// Emit implements Sink.
func (s *Stepper) Emit(e *Event) {
	s.mu.Lock()
	mode, clock := s.mode, s.clock
	before := s.note(e)
	s.mu.Unlock()

	if s.out != nil {
		io.WriteString(s.out, textLine(e))
	}
	if !pausesAt(mode, e) {
		return
	}
	if s.out != nil && before != "" {
		io.WriteString(s.out, "           "+before+"\n")
	}
	if clock != nil {
		clock.Pause()
		defer clock.Resume()
	}
	if s.in != nil {
		s.prompt()
		return
	}
	ev := *e
	ev.Fields = append([]Field(nil), e.Fields...)
	ev.Data = append([]byte(nil), e.Data...)
	s.mu.Lock()
	if !pausesAt(s.mode, e) {
		// A command came since the mode was read above (Run, say, from
		// a page's play): it found no step held, so nothing would
		// release this one.
		s.mu.Unlock()
		return
	}
	s.waiting = true
	s.paused <- ev // never blocks: command empties it before releasing
	s.mu.Unlock()
	<-s.release
}

// note remembers TCP states and returns what to show before pausing at e:
// for a packet, the state of its connection before it; for a TCP state,
// the state before this one.
func (s *Stepper) note(e *Event) string {
	key := e.Node + " " + e.Conn
	switch {
	case e.Layer == LayerTCP && e.Name == "state":
		prev := s.states[key]
		if len(s.states) >= maxStates {
			clear(s.states)
		}
		s.states[key] = e.Summary
		if prev != "" {
			return "tcp before: " + prev
		}
	case e.Layer == LayerLink && e.Name == "packet":
		if e.Dir == Out {
			// The state probe names a connection remote->local.
			if l, r, ok := strings.Cut(e.Conn, "->"); ok {
				key = e.Node + " " + r + "->" + l
			}
		}
		if st := s.states[key]; st != "" {
			return "tcp now: " + st
		}
	}
	return ""
}

func pausesAt(mode stepMode, e *Event) bool {
	switch mode {
	case stepFree:
		return false
	case stepFrame:
		return e.Layer == LayerWS && e.Name == "frame"
	}
	return e.Name != "carried" && e.Layer != LayerApp
}

// promptText is what the stepper asks at each pause.
const promptText = "           [enter] next step, c: continue to the next frame, q: run freely > "

// prompt reads one command from In, or gives up when Run is called. A line
// that is no command is said to be none, and the prompt comes again: a
// typo does not take a step.
func (s *Stepper) prompt() {
	if s.out != nil {
		io.WriteString(s.out, promptText)
	}
	s.reading.Do(func() {
		s.lines = make(chan string)
		go s.readLines()
	})
	mode := stepFree
read:
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				break read
			}
			switch cmd := strings.TrimSpace(line); cmd {
			case "", "n":
				mode = stepEach
			case "c":
				mode = stepFrame
			case "q":
				mode = stepFree
			default:
				if s.out != nil {
					io.WriteString(s.out, "           "+strconv.Quote(cmd)+" is no command\n"+promptText)
				}
				continue
			}
			break read
		case <-s.stop:
			break read
		}
	}
	s.mu.Lock()
	if s.mode != stepFree { // Run may have come first
		s.mode = mode
	}
	s.mu.Unlock()
}

// readLines hands the lines of In to prompt until In ends or Run is called.
func (s *Stepper) readLines() {
	defer close(s.lines)
	for {
		line, err := s.in.ReadString('\n')
		if line != "" || err == nil {
			select {
			case s.lines <- line:
			case <-s.stop:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Wait returns the event the stepper is paused at, waiting for it if
// needed. The event is a copy.
func (s *Stepper) Wait(ctx context.Context) (Event, error) {
	select {
	case e := <-s.paused:
		return e, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Next lets the held step go on and pauses before the next one.
func (s *Stepper) Next() { s.command(stepEach) }

// ContinueToFrame lets the held step go on and pauses before the next
// WebSocket frame event.
func (s *Stepper) ContinueToFrame() { s.command(stepFrame) }

// Run lets the held step go on and never pauses again; a prompt waiting
// for In gives up. It is safe to call more than once and from any
// goroutine, for example when the program is interrupted.
func (s *Stepper) Run() {
	s.command(stepFree)
	s.stopped.Do(func() { close(s.stop) })
}

func (s *Stepper) command(m stepMode) {
	s.mu.Lock()
	s.mode = m
	w := s.waiting
	s.waiting = false
	if w {
		// Drop the held event if nobody took it with Wait.
		select {
		case <-s.paused:
		default:
		}
		s.release <- struct{}{}
	}
	s.mu.Unlock()
}
