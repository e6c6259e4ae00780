package trace

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
	// stepper pauses, as a debugger reads them: an empty line or "n" goes
	// to the next step; "p", "s", "f" and "m" to the next packet, TCP
	// segment, WebSocket frame or message (Unit); "c" continues to a
	// breakpoint or the end; "q" runs freely from then on. "b FILTER"
	// sets a breakpoint, "b" lists them, "d N" deletes one; "x" prints
	// the event paused at in full; "h" or "?" lists the commands. A line
	// that is no command is said to be none, and asked again. The end of
	// In runs freely. Without In, the stepper is driven by Wait, Next,
	// StepTo, ContinueToFrame and Run.
	In io.Reader
	// Out, if set, receives every event as a text line (as NewText
	// writes it), what is known about the TCP connection around a
	// packet, and the prompt.
	Out io.Writer
	// Clock, if set, is paused while the stepper holds a step.
	Clock Pauser
	// ParseBreakpoint, if set, reads the FILTER of "b FILTER" into a
	// test of each step; the stepper pauses at a step one of its
	// breakpoints matches, whatever unit it goes to. Without it, "b"
	// says there are no breakpoints to set.
	ParseBreakpoint func(filter string) (func(*Event) bool, error)
	// Observe, if set, sees every event before the stepper decides
	// whether to pause at it, in order and one at a time: what a
	// breakpoint needs to know of the events before the one it tests
	// (the TCP state a connection was in, what its TCP sent) is
	// followed there.
	Observe func(*Event)
	// BreakpointHelp says in a few words what a FILTER is, for the help
	// ("a packet filter, such as tcp and fin"); it may take more than one
	// line.
	BreakpointHelp string
}

type stepMode int

const (
	stepUnit  stepMode = iota // pause before the next step of the unit held in Stepper.unit
	stepBreak                 // pause only at a breakpoint
	stepFree                  // never pause again
)

// A breakpoint is one "b FILTER", numbered as set.
type breakpoint struct {
	n      int
	filter string
	match  func(*Event) bool
}

// Stepper is a sink that pauses before each step: the goroutine emitting
// the event blocks inside Emit, and since a Tracer delivers events one at a
// time under its lock, every other layer that emits is held back too until
// the stepper lets go. Events that are not steps of a unit ("carried"
// annotations, app narration) are shown but not paused at. It pauses at
// the next step of the unit it goes to (Unit), or at a step one of its
// breakpoints matches, whichever comes first.
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
	unit    Unit // the unit stepUnit goes to
	waiting bool
	clock   Pauser
	states  map[string]string // node+conn -> last TCP state summary

	// The breakpoints: set and read under mu, changed only by the
	// commands read from In.
	parseBreak func(string) (func(*Event) bool, error)
	observe    func(*Event)
	breakHelp  string
	bps        []breakpoint
	nextBP     int
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
		unit:    UnitEvent,

		parseBreak: opts.ParseBreakpoint,
		observe:    opts.Observe,
		breakHelp:  opts.BreakpointHelp,
		nextBP:     1,
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
	if s.observe != nil {
		s.observe(e)
	}
	pause, hit := s.pausesAt(e)
	clock := s.clock
	before := s.note(e)
	s.mu.Unlock()

	if s.out != nil {
		io.WriteString(s.out, textLine(e))
	}
	if !pause {
		return
	}
	if s.out != nil && before != "" {
		io.WriteString(s.out, indent+before+"\n")
	}
	if s.out != nil && hit != "" {
		io.WriteString(s.out, indent+hit+"\n")
	}
	if clock != nil {
		clock.Pause()
		defer clock.Resume()
	}
	if s.in != nil {
		s.prompt(e)
		return
	}
	ev := *e
	ev.Fields = append([]Field(nil), e.Fields...)
	ev.Data = append([]byte(nil), e.Data...)
	s.mu.Lock()
	if pause, _ := s.pausesAt(e); !pause {
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

// indent puts the stepper's own lines under an event line's summary.
const indent = "           "

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

// pausesAt reports whether the stepper pauses at e, and, when a
// breakpoint is the reason, says which; s.mu held. Breakpoints stop a step
// to a unit too, as gdb's next stops at one on its way.
func (s *Stepper) pausesAt(e *Event) (bool, string) {
	if s.mode == stepFree || e.Name == "carried" || e.Layer == LayerApp {
		return false, ""
	}
	for _, b := range s.bps {
		if b.match(e) {
			return true, fmt.Sprintf("stopped at breakpoint %d: %s", b.n, b.filter)
		}
	}
	return s.mode == stepUnit && s.unit.Is(e), ""
}

// promptText is what the stepper asks at each pause.
const promptText = indent + "[enter] next step, c: continue, q: run freely, h: help > "

// prompt reads commands from In until one lets the step held at e go on,
// or gives up when Run is called. A line that is no command is said to be
// none, and the prompt comes again: a typo does not take a step.
func (s *Stepper) prompt(e *Event) {
	s.reading.Do(func() {
		s.lines = make(chan string)
		go s.readLines()
	})
	mode, unit := stepFree, UnitNone
read:
	for {
		if s.out != nil {
			io.WriteString(s.out, promptText)
		}
		select {
		case line, ok := <-s.lines:
			if !ok {
				break read
			}
			var done bool
			if mode, unit, done = s.command1(strings.TrimSpace(line), e); done {
				break read
			}
		case <-s.stop:
			break read
		}
	}
	s.mu.Lock()
	if s.mode != stepFree { // Run may have come first
		s.mode, s.unit = mode, unit
	}
	s.mu.Unlock()
}

// unitKeys are the commands that step to a unit.
var unitKeys = map[string]Unit{"": UnitEvent, "n": UnitEvent, "next": UnitEvent,
	"p": UnitPacket, "s": UnitSegment, "f": UnitFrame, "m": UnitMessage}

// command1 carries out one command read at the step held at e; done says
// the step goes on, in mode (to unit).
func (s *Stepper) command1(line string, e *Event) (mode stepMode, unit Unit, done bool) {
	cmd, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	if u, ok := unitKeys[cmd]; ok && arg == "" {
		return stepUnit, u, true
	}
	switch {
	case (cmd == "c" || cmd == "continue") && arg == "":
		s.mu.Lock()
		none := len(s.bps) == 0
		s.mu.Unlock()
		if none {
			s.say("no breakpoints: on to the end\n")
		}
		return stepBreak, UnitNone, true
	case cmd == "q" && arg == "":
		return stepFree, UnitNone, true
	case (cmd == "h" || cmd == "?" || cmd == "help") && arg == "":
		s.say(s.help())
	case (cmd == "x" || cmd == "print") && arg == "":
		s.say(fieldLines(e))
	case cmd == "b" || cmd == "break":
		s.say(s.addBreakpoint(arg))
	case cmd == "d" || cmd == "delete":
		s.say(s.deleteBreakpoint(arg))
	default:
		s.say(strconv.Quote(line) + " is no command (h: help)\n")
	}
	return 0, UnitNone, false
}

// say writes the stepper's own lines, each indented.
func (s *Stepper) say(text string) {
	if s.out == nil || text == "" {
		return
	}
	var b strings.Builder
	for line := range strings.Lines(text) {
		b.WriteString(indent + line)
	}
	io.WriteString(s.out, b.String())
}

// help lists the commands.
func (s *Stepper) help() string {
	var b strings.Builder
	b.WriteString(`enter, n  next step (any event)
p         next packet
s         next TCP segment
f         next WebSocket frame
m         next WebSocket message
c         continue to a breakpoint, or the end
q         run freely to the end, no more pauses
`)
	if s.parseBreak != nil {
		b.WriteString("b FILTER  stop at the steps FILTER matches")
		if s.breakHelp != "" {
			b.WriteString(":\n          " + strings.ReplaceAll(s.breakHelp, "\n", "\n          "))
		}
		b.WriteString("\nb         list the breakpoints\nd N       delete breakpoint N\n")
	}
	b.WriteString(`x, print  the fields of this step in full, as --trace writes them
h, ?      this help
`)
	return b.String()
}

// addBreakpoint sets a breakpoint on filter, or lists them for "".
func (s *Stepper) addBreakpoint(filter string) string {
	if s.parseBreak == nil {
		return "this stepper has no breakpoints\n"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if filter == "" {
		if len(s.bps) == 0 {
			return "no breakpoints (b FILTER sets one)\n"
		}
		var b strings.Builder
		for _, bp := range s.bps {
			fmt.Fprintf(&b, "%d  %s\n", bp.n, bp.filter)
		}
		return b.String()
	}
	match, err := s.parseBreak(filter)
	if err != nil {
		return fmt.Sprintf("b %s: %v\n", filter, err)
	}
	s.bps = append(s.bps, breakpoint{n: s.nextBP, filter: filter, match: match})
	s.nextBP++
	return fmt.Sprintf("breakpoint %d: %s\n", s.nextBP-1, filter)
}

// deleteBreakpoint deletes breakpoint number arg.
func (s *Stepper) deleteBreakpoint(arg string) string {
	n, err := strconv.Atoi(arg)
	if err != nil {
		if arg == "" {
			return "d takes the number of a breakpoint (b lists them)\n"
		}
		return fmt.Sprintf("d %s: d takes the number of a breakpoint (b lists them)\n", arg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.bps {
		if b.n == n {
			s.bps = slices.Delete(s.bps, i, i+1)
			return fmt.Sprintf("deleted breakpoint %d: %s\n", n, b.filter)
		}
	}
	return fmt.Sprintf("no breakpoint %d (b lists them)\n", n)
}

// fieldLines is every key of e as NewJSON writes it, with its value in
// JSON, one a line: the header keys first, then the fields in order.
func fieldLines(e *Event) string {
	var js bytes.Buffer
	NewJSON(&js).Emit(e)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js.Bytes(), &m); err != nil {
		return fmt.Sprintf("the event does not encode: %v\n", err)
	}
	keys := []string{"v", "id", "t", "node", "layer", "dir", "event", "conn", "summary"}
	for _, f := range e.Fields {
		if !slices.Contains(keys, f.Key) {
			keys = append(keys, f.Key)
		}
	}
	var b strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
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
func (s *Stepper) Next() { s.command(stepUnit, UnitEvent) }

// StepTo lets the held step go on and pauses before the next step of
// unit u (or at a breakpoint).
func (s *Stepper) StepTo(u Unit) { s.command(stepUnit, u) }

// ContinueToFrame lets the held step go on and pauses before the next
// WebSocket frame event: StepTo(UnitFrame).
func (s *Stepper) ContinueToFrame() { s.StepTo(UnitFrame) }

// Run lets the held step go on and never pauses again; a prompt waiting
// for In gives up. It is safe to call more than once and from any
// goroutine, for example when the program is interrupted.
func (s *Stepper) Run() {
	s.command(stepFree, UnitNone)
	s.stopped.Do(func() { close(s.stop) })
}

func (s *Stepper) command(m stepMode, u Unit) {
	s.mu.Lock()
	s.mode, s.unit = m, u
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
