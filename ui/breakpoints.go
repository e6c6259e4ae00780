package ui

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// A Breakpoint stops a free run at the first step it matches. ParseBreakpoint
// has the syntax.
type Breakpoint struct {
	src   string
	match func(t *Tracker, e *trace.Event) bool
}

// Match reports whether b stops at e, with t following the run's events
// up to e (Tracker.Note, e included): "retransmit" and "state NAME" need
// what came before.
func (b *Breakpoint) Match(t *Tracker, e *trace.Event) bool { return b.match(t, e) }

// Tracker follows what a run's events say beyond each one, for the
// breakpoints that need it: how far each stack's TCP sent on each
// connection ("retransmit"), and the state each connection was last in
// ("state NAME" stops where a state is entered). The view keeps one for
// its run; a program stepping through a run of its own feeds one every
// event in order. It is not safe for concurrent use.
type Tracker struct {
	retx   retransmits
	states stateChanges
	notes  tcpNotes
}

// NewTracker returns a Tracker that has seen no event.
func NewTracker() *Tracker {
	t := &Tracker{}
	t.init()
	return t
}

func (t *Tracker) init() {
	t.retx.init()
	t.states.init()
	t.notes.init()
}

// Note follows e, the event after those noted before; each event is
// noted once.
func (t *Tracker) Note(e *trace.Event) {
	t.retx.note(e)
	t.states.note(e)
	t.notes.note(e)
}

// String returns the breakpoint as written.
func (b *Breakpoint) String() string { return b.src }

// tcpStateKeys are the numeric fields of a TCP "state" event a condition
// can test, each with the largest value it takes (trace.TCPState): the
// sequence numbers and rcv_wnd are 32-bit, the rest has no bound here.
// None is ever negative.
var tcpStateKeys = map[string]float64{
	"cwnd": math.Inf(1), "ssthresh": math.Inf(1), "srtt": math.Inf(1), "rto": math.Inf(1),
	"snd_una": math.MaxUint32, "snd_nxt": math.MaxUint32, "rcv_nxt": math.MaxUint32,
	"snd_wnd": math.Inf(1), "rcv_wnd": math.MaxUint32,
	"rel_snd_una": math.MaxUint32, "rel_snd_nxt": math.MaxUint32, "rel_rcv_nxt": math.MaxUint32,
	"outstanding": math.Inf(1), "rcv_buf_used": math.Inf(1), "snd_buf_used": math.Inf(1),
}

// tcpStates are the TCP states as the "state" events of netstack's probe
// spell them (tcp.EndpointState.String).
var tcpStates = []string{"LISTEN", "SYN-SENT", "SYN-RCVD", "ESTABLISHED", "FIN-WAIT1", "FIN-WAIT2",
	"CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT", "CLOSED"}

// ParseBreakpoint parses a breakpoint. It is one of
//
//	FILTER              a packet filter as in --egress/--ingress rules
//	                    ("tcp and fin", "port 80 and syn"): stops at a link
//	                    packet it matches, on either stack and direction
//	ws [FILTER]         a frame filter as in frame rules ("ws close",
//	                    "ws text and fin"): stops at a WebSocket frame
//	KEY OP VALUE        a condition on a TCP "state" event ("rcv_wnd == 0",
//	                    "cwnd < 4", "rto > 1s"); KEY is cwnd, ssthresh,
//	                    srtt, rto, snd_una, snd_nxt, rcv_nxt, snd_wnd,
//	                    rcv_wnd, rel_snd_una, rel_snd_nxt, rel_rcv_nxt,
//	                    outstanding, rcv_buf_used or snd_buf_used; OP is
//	                    < <= > >= == != (= is taken as ==); VALUE a
//	                    number or a duration
//	state NAME          a TCP state event entering NAME ("state TIME-WAIT");
//	                    NAME is LISTEN, SYN-SENT, SYN-RCVD, ESTABLISHED,
//	                    FIN-WAIT1, FIN-WAIT2, CLOSE-WAIT, CLOSING, LAST-ACK,
//	                    TIME-WAIT or CLOSED, as the events spell them
//	retransmit          a packet a stack sends again (its data or SYN/FIN
//	                    lies below what its TCP sent before on that
//	                    connection, whether or not that copy left), or
//	                    the verdict of a rule that dropped such a copy
//	analysis NOTE       a TCP packet, sent or received, that Wireshark
//	                    marks with NOTE in that stack's capture: dup-ack,
//	                    retransmission, fast-retransmission,
//	                    spurious-retransmission, out-of-order,
//	                    lost-segment ("previous segment not captured"),
//	                    ack-lost-segment, window-update, window-full,
//	                    zero-window, zero-window-probe,
//	                    zero-window-probe-ack, keep-alive, keep-alive-ack,
//	                    or any; Wireshark's field names
//	                    (tcp.analysis.duplicate_ack, tcp.analysis.flags)
//	                    are taken too, also written alone
//
// A condition whose VALUE lies outside the values KEY takes (rcv_wnd ==
// -1) is refused.
//
// A bad filter gives the error the command line gives for it.
func ParseBreakpoint(src string) (*Breakpoint, error) {
	src = strings.TrimSpace(src)
	f := strings.Fields(src)
	if len(f) > 0 && len(f) < 3 {
		// "rcv_wnd==0", "cwnd <4": a condition written without spaces
		if k, op, v, ok := splitCondition(strings.Join(f, "")); ok && tcpStateKeys[k] > 0 {
			f = []string{k, op, v}
		}
	}
	switch {
	case len(f) == 0:
		return nil, errors.New("ui: an empty breakpoint")
	case f[0] == "retransmit":
		if len(f) != 1 {
			return nil, fmt.Errorf("ui: retransmit takes no arguments, not %q", strings.Join(f[1:], " "))
		}
		return &Breakpoint{src: src, match: func(t *Tracker, e *trace.Event) bool { return t.retx.is(e) }}, nil
	case f[0] == "analysis" || strings.HasPrefix(strings.ToLower(f[0]), "tcp.analysis."):
		name := f[0]
		if f[0] == "analysis" {
			if len(f) != 2 {
				return nil, fmt.Errorf("ui: analysis NOTE, where NOTE is one of %s, or any", noteList())
			}
			name = f[1]
		} else if len(f) != 1 {
			return nil, fmt.Errorf("ui: %s takes no arguments, not %q", f[0], strings.Join(f[1:], " "))
		}
		bits, ok := noteBits(name)
		if !ok {
			return nil, fmt.Errorf("ui: analysis %q: the notes are %s, or any", name, noteList())
		}
		return &Breakpoint{src: src, match: func(t *Tracker, e *trace.Event) bool { return t.notes.of(e)&bits != 0 }}, nil
	case f[0] == "state":
		if len(f) != 2 {
			return nil, errors.New("ui: state NAME, such as state TIME-WAIT")
		}
		name := strings.ToUpper(f[1])
		// RFC 9293 and ss spell these FIN-WAIT-1, SYN-RECEIVED, ...
		if alias, ok := tcpStateAliases[name]; ok {
			name = alias
		}
		if !slices.Contains(tcpStates, name) {
			return nil, fmt.Errorf("ui: state %q: the TCP states are %s", f[1], strings.Join(tcpStates, ", "))
		}
		return &Breakpoint{src: src, match: func(t *Tracker, e *trace.Event) bool {
			if !t.states.is(e) {
				return false // not a state event, or the same state again
			}
			st, _ := e.Field("state").(string)
			return strings.EqualFold(st, name)
		}}, nil
	case tcpStateKeys[f[0]] > 0:
		return parseCondition(src, f)
	}
	match, err := parseEventFilter(src)
	if err != nil {
		return nil, err
	}
	return &Breakpoint{src: src, match: func(_ *Tracker, e *trace.Event) bool { return match(e) }}, nil
}

// parseEventFilter reads a packet filter in the rules' syntax (tcp and
// fin) or a frame filter (ws close) into a test of a trace event: a link
// packet the packet filter matches, on either stack and direction, or a
// ws frame the frame filter matches.
func parseEventFilter(src string) (func(*trace.Event) bool, error) {
	if ws.IsFrameRule(src) {
		expr, err := ws.ParseFrameFilter(src)
		if err != nil {
			return nil, err
		}
		return func(e *trace.Event) bool {
			return e.Layer == trace.LayerWS && e.Name == "frame" && (expr == nil || expr.Match(frameOf(e)))
		}, nil
	}
	flt, err := hook.ParseFilter(src)
	if err != nil {
		return nil, err
	}
	return func(e *trace.Event) bool {
		if e.Layer != trace.LayerLink || e.Name != "packet" || len(e.Data) == 0 {
			return false
		}
		if e.Field("link_type") != nil {
			return false // a frame with no IP packet in it (ARP)
		}
		return flt.Match(&hook.Packet{Data: e.Data, Dir: e.Dir})
	}, nil
}

// tcpStateAliases are other spellings of tcpStates: RFC 9293's and ss's.
var tcpStateAliases = map[string]string{
	"FIN-WAIT-1": "FIN-WAIT1", "FIN-WAIT-2": "FIN-WAIT2", "SYN-RECEIVED": "SYN-RCVD", "SYN-RECV": "SYN-RCVD",
	"FIN_WAIT1": "FIN-WAIT1", "FIN_WAIT2": "FIN-WAIT2", "SYN_SENT": "SYN-SENT", "SYN_RECV": "SYN-RCVD",
	"CLOSE_WAIT": "CLOSE-WAIT", "LAST_ACK": "LAST-ACK", "TIME_WAIT": "TIME-WAIT", "CLOSE": "CLOSED",
	"ESTAB": "ESTABLISHED",
}

// splitCondition cuts "KEY OP VALUE" written without spaces.
func splitCondition(s string) (key, op, value string, ok bool) {
	i := strings.IndexAny(s, "<>=!")
	if i <= 0 {
		return "", "", "", false
	}
	j := i + 1
	if j < len(s) && s[j] == '=' {
		j++
	}
	if j >= len(s) {
		return "", "", "", false
	}
	return s[:i], s[i:j], s[j:], true
}

func parseCondition(src string, f []string) (*Breakpoint, error) {
	if len(f) != 3 {
		return nil, fmt.Errorf("ui: %s OP VALUE, such as %s == 0", f[0], f[0])
	}
	key, op := f[0], f[1]
	switch op {
	case "<", "<=", ">", ">=", "==", "!=":
	case "=":
		op = "=="
	default:
		return nil, fmt.Errorf("ui: %q after %s, want one of < <= > >= == !=", op, key)
	}
	v, err := strconv.ParseFloat(f[2], 64)
	if err != nil {
		d, derr := time.ParseDuration(f[2])
		if derr != nil {
			return nil, fmt.Errorf("ui: %q where a number or a duration belongs", f[2])
		}
		v = float64(d)
	}
	switch hi := tcpStateKeys[key]; {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return nil, fmt.Errorf("ui: %q where a number or a duration belongs", f[2])
	case v < 0 || v > hi:
		if math.IsInf(hi, 1) {
			return nil, fmt.Errorf("ui: %s %s is out of range: %s is never negative", key, f[2], key)
		}
		return nil, fmt.Errorf("ui: %s %s is out of range (0 to %.0f)", key, f[2], hi)
	}
	return &Breakpoint{src: src, match: func(_ *Tracker, e *trace.Event) bool {
		if e.Layer != trace.LayerTCP || e.Name != "state" {
			return false
		}
		x, ok := number(e.Field(key))
		return ok && compare(x, op, v)
	}}, nil
}

func compare(x float64, op string, v float64) bool {
	switch op {
	case "<":
		return x < v
	case "<=":
		return x <= v
	case ">":
		return x > v
	case ">=":
		return x >= v
	case "==":
		return x == v
	}
	return x != v
}

// number returns a numeric field value as a float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case time.Duration:
		return float64(x), true
	}
	return 0, false
}

// frameOf rebuilds what a frame filter reads from a ws "frame" event.
func frameOf(e *trace.Event) *ws.HookFrame {
	f := &ws.HookFrame{Dir: e.Dir, Node: e.Node, Conn: e.Conn}
	if s, ok := e.Field("opcode").(string); ok {
		if op, err := ws.ParseOpcode(s); err == nil {
			f.Header.Opcode = op
		}
	}
	f.Header.Fin, _ = e.Field("fin").(bool)
	f.Header.Masked, _ = e.Field("masked").(bool)
	f.Client = f.Header.Masked == (e.Dir == trace.Out)
	if n, ok := number(e.Field("len")); ok && n >= 0 {
		// The event has no payload: a length filter reads the header's
		// (HookFrame.PayloadLen), and contains finds nothing.
		f.Header.Length = int64(n)
	}
	return f
}

// matchBreakpoint returns the first breakpoint that matches e; s.mu held.
func (s *Server) matchBreakpoint(e *trace.Event) *Breakpoint {
	for _, b := range s.bps {
		if b.match(&s.track, e) {
			return b
		}
	}
	return nil
}

// retransmits tells a retransmitted packet from a new one, as the page
// does (model.js): per stack and connection it remembers how far TCP sent
// the stream. When TCP's own steps are traced they decide: a segment that
// sends a range again is a retransmission, and so is the packet that then
// carries that range, so that a copy a rule dropped or a packet held and
// released later does not make the next one look repeated (or not). A
// trace without them is judged by its packets alone.
type retransmits struct {
	tcpSent map[string]float64      // node+conn -> end of the highest sequence TCP sent
	sent    map[string]float64      // node+conn -> end of the highest sequence in a packet out
	resent  map[string][][2]float64 // node+conn -> ranges TCP sent again, waiting for their packets
	last    uint64                  // the ID of the last packet that was a retransmission
}

func (r *retransmits) init() {
	r.tcpSent = make(map[string]float64)
	r.sent = make(map[string]float64)
	r.resent = make(map[string][][2]float64)
}

// note looks at an outgoing TCP segment or link packet, or a copy a
// rule dropped on its way out (a link verdict: it was sent all the same);
// s.mu held.
func (r *retransmits) note(e *trace.Event) {
	segment := e.Layer == trace.LayerTCP && e.Name == "segment"
	dropped := e.Layer == trace.LayerLink && e.Name == "verdict" && e.Field("action") == "drop"
	if e.Dir != trace.Out || !segment && !dropped && (e.Layer != trace.LayerLink || e.Name != "packet") {
		return
	}
	seq, ok := number(e.Field("rel_seq"))
	if !ok {
		return
	}
	n, _ := number(e.Field("payload_len"))
	flags, _ := e.Field("flags").(string)
	if strings.ContainsAny(flags, "SF") {
		n++
	}
	if n == 0 {
		return
	}
	if len(r.sent)+len(r.tcpSent) >= 4096 {
		r.init()
	}
	key := e.Node + " " + e.Conn
	end := seq + n
	if segment {
		if prev, ok := r.tcpSent[key]; ok && end <= prev {
			rs := r.resent[key]
			if len(rs) >= 64 { // copies a rule dropped leave ranges no packet takes
				rs = rs[1:]
			}
			r.resent[key] = append(rs, [2]float64{seq, end})
			return
		}
		r.tcpSent[key] = end
		return
	}
	if _, ok := r.tcpSent[key]; ok {
		if r.take(key, seq, end) {
			r.last = e.ID
		}
		return
	}
	if prev, ok := r.sent[key]; ok && end <= prev {
		r.last = e.ID
		return
	}
	r.sent[key] = end
}

// take reports whether [a, b) lies in a range TCP sent again on key and
// not yet matched by a packet, and takes it from that range (a segment
// sent again may leave as several packets).
func (r *retransmits) take(key string, a, b float64) bool {
	rs := r.resent[key]
	for i, rg := range rs {
		if a < rg[0] || b > rg[1] {
			continue
		}
		if a == rg[0] {
			rs[i][0] = b
		}
		if rs[i][0] >= rs[i][1] {
			r.resent[key] = append(rs[:i], rs[i+1:]...)
		}
		return true
	}
	return false
}

func (r *retransmits) is(e *trace.Event) bool { return r.last == e.ID && e.ID != 0 }

// stateChanges tells a TCP state event that enters a state from one that
// reports the same state again (the probe reports after every segment):
// per stack and connection it remembers the last state.
type stateChanges struct {
	last    map[string]string // node+conn -> state
	entered uint64            // the ID of the last state event that entered a state
}

func (c *stateChanges) init() { c.last = make(map[string]string) }

// note looks at a TCP state event; s.mu held.
func (c *stateChanges) note(e *trace.Event) {
	if e.Layer != trace.LayerTCP || e.Name != "state" {
		return
	}
	st, _ := e.Field("state").(string)
	key := e.Node + " " + e.Conn
	if prev, ok := c.last[key]; ok && prev == st {
		return
	}
	if len(c.last) >= 4096 {
		clear(c.last)
	}
	c.last[key] = st
	c.entered = e.ID
}

func (c *stateChanges) is(e *trace.Event) bool { return c.entered == e.ID && e.ID != 0 }
