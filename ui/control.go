package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// State is what GET /api/state answers and the live stream's "state"
// message carries.
type State struct {
	Live bool `json:"live"`
	// Paused is set when the stack stops at each step (mode "step"),
	// whether or not a step is held yet.
	Paused bool   `json:"paused"`
	Mode   string `json:"mode"`
	// Current is the event the stack is paused at, 0 if none.
	Current uint64 `json:"current"`
	// First and Last are the IDs the history holds; Count is how many
	// events were emitted, Skipped how many the live view thinned.
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	Count uint64 `json:"count"`
	// History is how many events the history keeps (Options.History):
	// once Last passes it, an event older than Last - History + 1 is gone.
	History     int      `json:"history"`
	Skipped     uint64   `json:"skipped"`
	Breakpoints []string `json:"breakpoints"`
	// Hit is the breakpoint that stopped the run, "" if none did.
	Hit         string `json:"hit"`
	Held        int    `json:"held"`
	ClockPaused bool   `json:"clock_paused"`
	// ClockNS is the stacks' clock (Unix nanoseconds; it stands still
	// while paused), for the countdown of a timer such as the RTO of a
	// TCP state event; 0 without a clock.
	ClockNS int64    `json:"clock_ns"`
	Nodes   []string `json:"nodes"`
	// Ended is set when the run is over: nothing steps again.
	Ended bool `json:"ended"`
	// Capture is set once a packet with its bytes is in the history: the
	// pcapng export has something to write (a trace read from JSON lines
	// keeps no bytes).
	Capture bool `json:"capture"`
	// Partial says, of a recorded run, what the view left out of the
	// file or could not read: a run longer than the history (and the
	// --skip that shows the next part), a file cut short; "" when it
	// shows the whole file, and for a live run.
	Partial string `json:"partial"`
}

// State returns the current state.
func (s *Server) State() State {
	first, last, total := s.hist.bounds()
	st := State{
		Live:        s.opts.Live,
		First:       first,
		Last:        last,
		Count:       total,
		History:     s.hist.size,
		Skipped:     s.skipped.Load(),
		Capture:     s.capture.Load(),
		Breakpoints: []string{},
		Nodes:       s.Nodes(),
	}
	if st.Nodes == nil {
		st.Nodes = []string{}
	}
	if p := s.partial.Load(); p != nil {
		st.Partial = *p
	}
	s.mu.Lock()
	if s.opts.Live {
		st.Mode = s.mode
		st.Paused = s.mode == "step"
		st.Current = s.current
		st.Hit = s.hit
		st.Ended = s.ended
	}
	for _, b := range s.bps {
		st.Breakpoints = append(st.Breakpoints, b.src)
	}
	s.mu.Unlock()
	s.hmu.Lock()
	st.Held = len(s.held)
	s.hmu.Unlock()
	if s.opts.Clock != nil {
		st.ClockPaused = s.opts.Clock.Paused()
		st.ClockNS = s.opts.Clock.Now().UnixNano()
	}
	return st
}

// changed tells the pages that the state changed.
func (s *Server) changed() {
	s.stateVer.Add(1)
	s.wakeClients()
}

// Sink returns the trace sink that feeds the Server: put it last among a
// Tracer's sinks, since a live Server holds the emitting goroutine in it
// while the stack is paused.
func (s *Server) Sink() trace.Sink { return s }

// Emit implements trace.Sink: it keeps a copy of e, tells the pages, and,
// when live, stops at breakpoints and hands e to the Stepper.
func (s *Server) Emit(e *trace.Event) {
	if s.heldPending.Load() > 0 && e.Layer == trace.LayerLink && e.Name == "held" {
		s.noteHeld(e)
	}
	if e.Layer == trace.LayerLink && len(e.Data) > 0 && e.Name == "packet" && !s.capture.Load() {
		s.capture.Store(true)
	}
	s.hist.add(e)
	s.wakeClients()
	if s.stepper == nil {
		return
	}
	if held := isHeld(e) && s.stillHeld(e); s.watch.Load() || held {
		s.check(e, held)
	} else if tracked(e) {
		// What each stack sent and the states it entered are followed
		// also while no breakpoint is set: "retransmit" set after the
		// first copy went must know it went.
		s.mu.Lock()
		s.track.Note(e)
		s.mu.Unlock()
	}
	if s.freeRun.Load() {
		return // the Stepper would only pass it on
	}
	s.waitForPages(e.ID)
	s.stepper.Emit(e)
}

// check stops a free run at e when it is the unit a step is going to, or
// a breakpoint matches it, or it is the step of a packet the page holds
// (held): the Stepper, which sees e next, holds it.
func (s *Server) check(e *trace.Event, held bool) {
	if e.Name == "carried" || e.Layer == trace.LayerApp {
		return // the Stepper never stops at these
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.track.Note(e)
	if s.mode != "free" || s.ctx.Err() != nil || s.ended {
		// Paused already, or the view is closing (Close), or the run
		// has ended (play is refused): nothing would play a run
		// stopped now.
		return
	}
	hit := ""
	if held || s.target != unitNone && s.target.Is(e) {
		// a step's end, not a breakpoint; a packet held stops the run
		// too, so that its clock does not send it again while the page
		// edits it
		hit = ""
	} else {
		b := s.matchBreakpoint(e)
		if b == nil {
			return
		}
		hit = b.src
	}
	s.target = unitNone
	s.hit = hit
	s.setMode("step")
	s.updateWatch()
	s.stepper.Next()
}

// tracked reports whether e is one the breakpoints' memory (retx, states)
// looks at: a TCP segment or state, or a packet (or a copy a rule
// dropped) going out.
func tracked(e *trace.Event) bool {
	switch e.Layer {
	case trace.LayerTCP:
		return e.Name == "segment" || e.Name == "state"
	case trace.LayerLink:
		// packets both ways for the TCP analysis notes
		return e.Name == "packet" || e.Dir == trace.Out && e.Name == "verdict"
	}
	return false
}

// isHeld reports whether e is a packet a hook held at the link.
func isHeld(e *trace.Event) bool { return e.Layer == trace.LayerLink && e.Name == "held" }

// setMode sets the mode; s.mu held (or s not yet shared).
func (s *Server) setMode(m string) {
	s.mode = m
	s.freeRun.Store(m == "free")
}

// updateWatch says whether the sink must look at events; s.mu held.
func (s *Server) updateWatch() {
	s.watch.Store(len(s.bps) > 0 || s.target != unitNone)
}

// followStepper records each step the Stepper stops at.
func (s *Server) followStepper() {
	defer s.wg.Done()
	for {
		e, err := s.stepper.Wait(s.ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.current = e.ID
		s.setMode("step")
		close(s.stopped)
		s.stopped = make(chan struct{})
		s.mu.Unlock()
		s.changed()
	}
}

// unitKind is what POST /api/step goes to: the stepper's units.
type unitKind = trace.Unit

const (
	unitNone  = trace.UnitNone
	unitEvent = trace.UnitEvent
)

// errEnded answers a request to control a run that is over: nothing
// steps again.
var errEnded = errors.New("ui: the run has ended")

func (s *Server) play(w http.ResponseWriter, r *http.Request) {
	if !readJSON(w, r, &struct{}{}) { // none, or {}
		return
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, errEnded.Error())
		return
	}
	s.playLocked()
	s.mu.Unlock()
	s.changed()
	writeJSON(w, http.StatusOK, s.State())
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	if !readJSON(w, r, &struct{}{}) { // none, or {}
		return
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, errEnded.Error())
		return
	}
	if s.mode == "free" {
		s.setMode("step")
		s.target = unitNone
		s.updateWatch()
		s.stepper.Next()
	}
	s.mu.Unlock()
	s.changed()
	writeJSON(w, http.StatusOK, s.State())
}

// stepWait bounds how long POST /api/step waits for the unit it goes to.
var stepWait = 10 * time.Second

func (s *Server) step(w http.ResponseWriter, r *http.Request) {
	var req struct {
		To string `json:"to"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	kind, ok := trace.ParseUnit(req.To)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: cannot step to %q: to is event, packet, segment, frame or message", req.To))
		return
	}
	s.mu.Lock()
	switch {
	case s.ended:
		s.mu.Unlock()
		writeError(w, http.StatusConflict, errEnded.Error())
		return
	case s.current == 0:
		paused := s.mode == "step"
		s.mu.Unlock()
		if paused {
			// Paused, but no event has come since: nothing waits at a
			// step to go on from. Say what the stack most likely waits
			// for, as the step that timed out does.
			msg := "ui: paused while the stack is idle: no step waits to go on from; the stack stops at its next event, and a step goes on from there"
			s.hmu.Lock()
			held := len(s.held)
			s.hmu.Unlock()
			if held == 1 {
				msg += "; 1 held unit keeps its clock still until decided, so no timer brings one"
			} else if held > 1 {
				msg += fmt.Sprintf("; %d held units keep its clock still until decided, so no timer brings one", held)
			}
			writeError(w, http.StatusConflict, msg)
		} else {
			writeError(w, http.StatusConflict, errNotPaused.Error()+": POST /api/pause first")
		}
		return
	}
	stopped := s.stopped
	s.current = 0
	s.hit = ""
	if kind == unitEvent {
		s.stepper.Next()
	} else {
		// Run freely until the sink sees the unit and stops there.
		s.setMode("free")
		s.target = kind
		s.updateWatch()
		s.stepper.Run()
	}
	s.mu.Unlock()
	s.changed()
	ctx, cancel := context.WithTimeout(r.Context(), stepWait)
	defer cancel()
	select {
	case <-stopped:
		st := s.State()
		if st.Ended && st.Current == 0 {
			writeError(w, http.StatusConflict, "ui: the run ended before the next "+req.To)
			return
		}
		writeJSON(w, http.StatusOK, st)
	case <-ctx.Done():
		msg := fmt.Sprintf("ui: no %s came within %v; the stack runs on until one does (POST /api/pause stops it)", orEvent(req.To), stepWait)
		s.hmu.Lock()
		held := len(s.held)
		s.hmu.Unlock()
		if held > 0 {
			// What the stacks most likely wait for: a held unit keeps
			// their clock still, so no timer fires until it is decided.
			unit := "unit keeps"
			if held > 1 {
				unit = "units keep"
			}
			msg += fmt.Sprintf("; %d held %s the stacks' clock still until decided (GET /api/holds)", held, unit)
		}
		writeError(w, http.StatusConflict, msg)
	}
}

func orEvent(to string) string {
	if to == "" {
		return "event"
	}
	return to
}

func (s *Server) getBreakpoints(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]string{"breakpoints": s.State().Breakpoints})
}

func (s *Server) setBreakpoints(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Breakpoints []string `json:"breakpoints"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Breakpoints == nil {
		// An empty body would otherwise clear every breakpoint.
		writeError(w, http.StatusBadRequest, `ui: want {"breakpoints": [...]}, the full list ([] clears them)`)
		return
	}
	if len(req.Breakpoints) > maxBreakpoints {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: %d breakpoints, at most %d (none set)", len(req.Breakpoints), maxBreakpoints))
		return
	}
	bps := make([]*Breakpoint, 0, len(req.Breakpoints))
	for i, src := range req.Breakpoints {
		b, err := ParseBreakpoint(src)
		if err != nil {
			// none is set: say which one is wrong
			msg := err.Error()
			if len(req.Breakpoints) > 1 {
				msg = fmt.Sprintf("ui: breakpoint %d of %d, %q: %s (none set)", i+1, len(req.Breakpoints), src, strings.TrimPrefix(msg, "ui: "))
			}
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		bps = append(bps, b)
	}
	s.mu.Lock()
	s.bps = bps
	s.updateWatch()
	s.mu.Unlock()
	s.changed()
	writeJSON(w, http.StatusOK, map[string][]string{"breakpoints": s.State().Breakpoints})
}

// maxBreakpoints bounds the breakpoints set at once: every event the
// stacks emit is matched against each of them, on the stacks' own path.
const maxBreakpoints = 256

// SetBreakpoints replaces the breakpoints, as POST /api/breakpoints does.
func (s *Server) SetBreakpoints(srcs ...string) error {
	if len(srcs) > maxBreakpoints {
		return fmt.Errorf("ui: %d breakpoints, at most %d", len(srcs), maxBreakpoints)
	}
	var bps []*Breakpoint
	for _, src := range srcs {
		b, err := ParseBreakpoint(src)
		if err != nil {
			return err
		}
		bps = append(bps, b)
	}
	s.mu.Lock()
	s.bps = bps
	s.updateWatch()
	s.mu.Unlock()
	s.changed()
	return nil
}

// hasEnded reports whether the run is over.
func (s *Server) hasEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

func (s *Server) advance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MS int64 `json:"ms" range:"1 to 3600000"` // checked below, so that the error names the real range
	}
	if !readJSON(w, r, &req) {
		return
	}
	c := s.opts.Clock
	switch {
	case c == nil:
		writeError(w, http.StatusConflict, "ui: the stacks do not run on a clock the view owns")
		return
	case req.MS < 1 || req.MS > 3600_000:
		writeError(w, http.StatusBadRequest, "ui: ms is a number of milliseconds from 1 to 3600000")
		return
	case s.hasEnded():
		writeError(w, http.StatusConflict, errEnded.Error())
		return
	case !c.Paused():
		writeError(w, http.StatusConflict, "ui: the clock runs: pause first")
		return
	}
	// Timers fire in Advance, and what they emit waits for the held step:
	// never on the request's goroutine.
	d := time.Duration(req.MS) * time.Millisecond
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.ManualClock.Advance(d)
	}()
	writeJSON(w, http.StatusOK, s.State())
}
