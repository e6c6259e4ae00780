package ui

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// The hold points: "hold the next matching unit" at one of them.
const (
	PointLinkEgress  = hook.LinkEgress  // packets a stack sends, before the device
	PointLinkIngress = hook.LinkIngress // packets read from the device, before the stack
	PointSocketSend  = "socket-send"    // send and sendto calls, before they copy
	PointWSOut       = "ws-out"         // frames a WebSocket connection writes
	PointWSIn        = "ws-in"          // frames it reads
)

// armed is a request to hold the next units that match at a point.
type armed struct {
	ID     uint64 `json:"id"`
	Point  string `json:"point"`
	Node   string `json:"node"`
	Filter string `json:"filter"`
	Left   int    `json:"left"` // how many more it holds
	packet *hook.Filter
	frame  hook.Expr[*ws.HookFrame]
}

// held is a unit waiting at a hold point for the page.
type held struct {
	pausedClock bool // take paused the stacks' clock for it; wait resumes it
	id          uint64
	point       string
	node        string
	event       uint64 // the last event before it was held
	summary     string
	since       time.Time
	data        []byte // the IP packet, or the payload of a frame or send
	opcode      ws.Opcode
	fin         bool
	fd          int
	resize      bool // the payload may change its length
	// compressed: a frame of a compressed message (permessage-deflate;
	// RSV1 on its first frame), whose payload is deflate data
	compressed bool
	// seqBase and ackBase: see Hold.
	seqBase, ackBase *uint32
	decided          chan decision
}

// decision is what the page decided for a held unit, its edits applied.
type decision struct {
	action string // release, drop, duplicate, delay
	data   []byte // the unit's new bytes, nil if unchanged
	opcode ws.Opcode
	fin    bool
	edited bool
	delay  time.Duration
	// result, if set, receives what sending the unit on came to.
	result chan error
}

// Hold is a held unit as GET /api/holds shows it.
type Hold struct {
	ID      uint64         `json:"id"`
	Point   string         `json:"point"`
	Node    string         `json:"node"`
	Event   uint64         `json:"event"`
	Summary string         `json:"summary"`
	SinceMS int64          `json:"since_ms"`
	Fields  map[string]any `json:"fields"`
	// SeqBase and AckBase, for a TCP segment held at the link, are what
	// its seq and ack count from (the initial sequence numbers of its
	// direction and of the other), so that the page can show them
	// relative, as the ladder does; absent when the history does not
	// tell.
	SeqBase *uint32 `json:"seq_base,omitempty"`
	AckBase *uint32 `json:"ack_base,omitempty"`
}

// Holds is GET /api/holds.
type Holds struct {
	Holds []Hold   `json:"holds"`
	Armed []*armed `json:"armed"`
}

// Holds returns the held units and the armed hold requests.
func (s *Server) Holds() Holds {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	out := Holds{Holds: []Hold{}, Armed: []*armed{}}
	for _, h := range s.held {
		out.Holds = append(out.Holds, h.view())
	}
	for _, a := range s.armed {
		c := *a
		out.Armed = append(out.Armed, &c)
	}
	return out
}

func (h *held) view() Hold {
	v := Hold{ID: h.id, Point: h.point, Node: h.node, Event: h.event, Summary: h.summary,
		SinceMS: time.Since(h.since).Milliseconds(), Fields: map[string]any{}, SeqBase: h.seqBase, AckBase: h.ackBase}
	switch h.point {
	case PointLinkEgress, PointLinkIngress:
		hd := hook.ParseHeaders(h.data)
		v.Fields["len"] = len(h.data)
		if hd.Proto == hook.ProtoTCP && hd.L4 > 0 && len(h.data) >= hd.L4+header.TCPMinimumSize {
			t := header.TCP(h.data[hd.L4:])
			v.Fields["flags"] = flagString(uint8(t.Flags()))
			v.Fields["seq"] = t.SequenceNumber()
			v.Fields["ack"] = t.AckNumber()
			v.Fields["window"] = t.WindowSize()
			if off := hd.L4 + int(t.DataOffset()); off <= len(h.data) {
				v.Fields["payload_hex"] = hex.EncodeToString(h.data[off:])
			}
		}
	case PointWSOut, PointWSIn:
		v.Fields["opcode"] = h.opcode.String()
		v.Fields["fin"] = h.fin
		v.Fields["payload_hex"] = hex.EncodeToString(h.data)
		if h.compressed {
			v.Fields["compressed"] = true
		}
	case PointSocketSend:
		v.Fields["fd"] = h.fd
		v.Fields["payload_hex"] = hex.EncodeToString(h.data)
	}
	return v
}

func (s *Server) getHolds(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Holds())
}

// HoldRequest is the body of POST /api/hold.
type HoldRequest struct {
	Point  string `json:"point"`
	Node   string `json:"node"`
	Filter string `json:"filter"`
	Count  int    `json:"count"`
}

func (s *Server) arm(w http.ResponseWriter, r *http.Request) {
	var req HoldRequest
	if !readJSON(w, r, &req) {
		return
	}
	if s.hasEnded() {
		writeError(w, http.StatusConflict, errEnded.Error()+": nothing more will pass to hold")
		return
	}
	a, err := s.Arm(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// maxHoldCount bounds the units one hold request takes.
const maxHoldCount = 10000

// Arm asks to hold the next req.Count units (1 if 0) that match req.Filter
// at req.Point on req.Node, as POST /api/hold does.
func (s *Server) Arm(req HoldRequest) (*armed, error) {
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Count < 0 || req.Count > maxHoldCount {
		return nil, fmt.Errorf("ui: count is how many units to hold, 1 to %d", maxHoldCount)
	}
	s.nmu.Lock()
	nd := s.nodeLocked(req.Node)
	s.nmu.Unlock()
	if nd == nil {
		return nil, fmt.Errorf("ui: no node %q (the nodes are %v)", req.Node, s.Nodes())
	}
	a := &armed{Point: req.Point, Node: req.Node, Filter: strings.TrimSpace(req.Filter), Left: req.Count}
	switch req.Point {
	case PointLinkEgress, PointLinkIngress:
		if nd.Stack == nil {
			return nil, fmt.Errorf("ui: node %q has no link to hold packets at", req.Node)
		}
		if a.Filter != "" {
			f, err := hook.ParseFilter(a.Filter)
			if err != nil {
				return nil, err
			}
			a.packet = f
		}
	case PointWSOut, PointWSIn:
		src := a.Filter
		if !ws.IsFrameRule(src) {
			src = strings.TrimSpace("ws " + src)
		}
		e, err := ws.ParseFrameFilter(src)
		if err != nil {
			var se *hook.SyntaxError
			if a.Filter != "" && !ws.IsFrameRule(a.Filter) && errors.As(err, &se) {
				// the error quotes "ws " + the filter: say it of what was
				// written, columns counted there
				return nil, fmt.Errorf("ui: frame filter %q: at column %d: %s", a.Filter, max(se.Col-3, 1), se.Msg)
			}
			return nil, err
		}
		a.frame = e
	case PointSocketSend:
		if nd.Sockets == nil {
			return nil, fmt.Errorf("ui: node %q has no sockets to hold sends of", req.Node)
		}
		if a.Filter != "" {
			return nil, errors.New("ui: a socket-send hold takes no filter: it holds the next send")
		}
	default:
		return nil, fmt.Errorf("ui: point %q: a hold point is link-egress, link-ingress, socket-send, ws-out or ws-in", req.Point)
	}
	s.hmu.Lock()
	s.holdID++
	a.ID = s.holdID
	s.armed = append(s.armed, a)
	c := *a // under the lock: a hook may take from a at once
	s.hmu.Unlock()
	s.holdsChanged()
	s.installHoldHooks(nd)
	return &c, nil
}

func (s *Server) disarm(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: hold request %q: an ID is a number", r.PathValue("id")))
		return
	}
	if err := s.Disarm(id); err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"disarmed": id})
}

// Disarm takes back the armed hold request id (DELETE /api/hold/ID): it
// holds nothing more. What it held already stays held.
func (s *Server) Disarm(id uint64) error {
	s.hmu.Lock()
	var nodeName string
	for i, a := range s.armed {
		if a.ID == id {
			nodeName = a.Node
			s.armed = append(s.armed[:i], s.armed[i+1:]...)
			break
		}
	}
	s.hmu.Unlock()
	if nodeName == "" {
		return fmt.Errorf("ui: no armed hold request %d", id)
	}
	s.holdsChanged()
	s.nmu.Lock()
	nd := s.nodeLocked(nodeName)
	s.nmu.Unlock()
	if nd != nil {
		s.installHoldHooks(nd)
	}
	return nil
}

// installHoldHooks puts the hold points nd needs in place and takes away
// the ones it no longer needs.
func (s *Server) installHoldHooks(nd *node) {
	s.reinstall(nd.Name)
	if nd.Sockets == nil {
		return
	}
	need := s.holdsArmedAt(nd.Name, PointSocketSend)
	s.nmu.Lock()
	defer s.nmu.Unlock()
	switch {
	case need && !nd.callHook:
		nd.Sockets.SetCallHook(&callHold{s: s, nd: nd, prev: nd.Sockets.CallHook()})
		nd.callHook = true
	case !need && nd.callHook:
		if ch, ok := nd.Sockets.CallHook().(*callHold); ok && !s.holding(nd.Name, PointSocketSend) {
			nd.Sockets.SetCallHook(ch.prev)
			nd.callHook = false
		}
	}
}

// holdsArmedAt reports whether a hold is armed at point on the node.
func (s *Server) holdsArmedAt(nodeName, point string) bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for _, a := range s.armed {
		if a.Node == nodeName && a.Point == point {
			return true
		}
	}
	return false
}

// holding reports whether a unit is held at point on the node.
func (s *Server) holding(nodeName, point string) bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for _, h := range s.held {
		if h.node == nodeName && h.point == point {
			return true
		}
	}
	return false
}

// take consumes one unit of the first armed hold at point on nd that
// match accepts, and holds u: it returns false when none matches.
func (s *Server) take(nd *node, point string, match func(a *armed) bool, u *held) bool {
	s.hmu.Lock()
	found, last := false, false
	for i, a := range s.armed {
		if a.Node != nd.Name || a.Point != point || !match(a) {
			continue
		}
		a.Left--
		if a.Left <= 0 {
			s.armed = append(s.armed[:i], s.armed[i+1:]...)
			last = true
			for _, b := range s.armed {
				if b.Node == nd.Name && b.Point == point {
					last = false
				}
			}
		}
		found = true
		break
	}
	if found {
		s.holdID++
		u.id = s.holdID
		u.point, u.node, u.since = point, nd.Name, time.Now()
		if point == PointLinkEgress || point == PointLinkIngress {
			// The stack traces the packet as a "held" step once the
			// hook has returned: that step is its event.
			s.heldPending.Add(1)
			u.seqBase, u.ackBase = s.tcpBases(nd.Name, u.data, ^uint64(0))
			if h := hook.ParseHeaders(u.data); u.seqBase != nil {
				u.summary += fmt.Sprintf(" (relative: seq %d", h.Seq-*u.seqBase)
				if u.ackBase != nil {
					u.summary += fmt.Sprintf(", ack %d", h.Ack-*u.ackBase)
				}
				u.summary += ")"
			}
		} else {
			_, u.event, _ = s.hist.bounds()
		}
		// The stacks' clock stands still until the unit is decided, as
		// it does for a step, so that no timeout runs out while the
		// page edits it: TCP's retransmission timer would send a held
		// segment again, a server's read deadline would end the
		// connection of a held frame. Stepping on past a held packet
		// does not start the clock again.
		if s.opts.Clock != nil {
			s.opts.Clock.Pause()
			u.pausedClock = true
		}
		u.decided = make(chan decision, 1)
		s.held = append(s.held, u)
	}
	s.hmu.Unlock()
	if !found {
		return false
	}
	s.holdsChanged()
	if last && point != PointSocketSend {
		// Off the packet path: the chain is rebuilt without the hold.
		go s.reinstall(nd.Name)
	}
	return true
}

// noteHeld makes a link "held" step the event of the held packet it
// reports: the oldest held at that point and node without one.
func (s *Server) noteHeld(e *trace.Event) {
	point := PointLinkIngress
	if e.Dir == trace.Out {
		point = PointLinkEgress
	}
	s.hmu.Lock()
	found := false
	for _, u := range s.held {
		if u.point == point && u.node == e.Node && u.event == 0 && bytes.Equal(u.data, e.Data) {
			u.event = e.ID
			found = true
			break
		}
	}
	s.hmu.Unlock()
	if found {
		s.heldPending.Add(-1)
		s.holdsChanged()
	}
}

// stillHeld reports whether the link "held" step e is that of a unit the
// page still holds (noteHeld has matched them). One the page decided
// before the stack traced its step, released while the stack stood paused
// with the step still to come, is not held any more, and its step does
// not stop the run.
func (s *Server) stillHeld(e *trace.Event) bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	for _, u := range s.held {
		if u.event == e.ID {
			return true
		}
	}
	return false
}

// wait waits for the page's decision on u and forgets u.
func (s *Server) wait(u *held) decision {
	d := <-u.decided
	s.hmu.Lock()
	for i, h := range s.held {
		if h == u {
			s.held = append(s.held[:i], s.held[i+1:]...)
			break
		}
	}
	if u.event == 0 && (u.point == PointLinkEgress || u.point == PointLinkIngress) {
		s.heldPending.Add(-1) // its step never came
	}
	s.hmu.Unlock()
	if u.pausedClock {
		s.opts.Clock.Resume()
	}
	s.holdsChanged()
	return d
}

func (s *Server) holdsChanged() {
	s.holdsVer.Add(1)
	s.changed()
}

// releaseAll lets every held unit go on unchanged and disarms every hold.
func (s *Server) releaseAll(why string) {
	s.hmu.Lock()
	armedNodes := map[string]bool{}
	for _, a := range s.armed {
		armedNodes[a.Node] = true
	}
	s.armed = nil
	for _, h := range s.held {
		select {
		case h.decided <- decision{action: "release"}:
		default: // already decided
		}
	}
	s.hmu.Unlock()
	s.holdsChanged()
	for name := range armedNodes {
		s.nmu.Lock()
		nd := s.nodeLocked(name)
		s.nmu.Unlock()
		if nd != nil {
			s.installHoldHooks(nd)
		}
	}
	_ = why
}

// linkHold is the hold point at the end of a link chain.
type linkHold struct {
	s     *Server
	nd    *node
	point string
}

func (l *linkHold) String() string { return "ui hold" }

// Decide implements hook.PacketHook: a packet it holds leaves the path
// (hook.Hold) and goes on with Stack.Continue from the same hook point
// when the page decides.
func (l *linkHold) Decide(p *hook.Packet) hook.Verdict {
	s := l.s
	u := &held{data: append([]byte(nil), p.Data...), summary: packetSummary(p.Data), resize: true}
	if !s.take(l.nd, l.point, func(a *armed) bool { return a.packet.Match(p) }, u) {
		return hook.Verdict{}
	}
	dir := trace.Out
	if l.point == PointLinkIngress {
		dir = trace.In
	}
	st := l.nd.Stack
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d := s.wait(u)
		pkt := u.data
		if d.data != nil {
			pkt = d.data
		}
		if d.action != "drop" && d.data != nil && !bytes.Equal(d.data, u.data) {
			// traced before the packet goes on, so that the trace says
			// what was changed between the held step and the packet
			st.Edited(dir, pkt, "ui-edit: "+describeEdit(u.data, pkt, u.seqBase, u.ackBase), "ui hold")
		}
		var err error
		switch d.action {
		case "drop":
			// counted and traced as the hook's drop, so that the trace
			// (and the ladder's ✗) says what became of the packet
			st.Discard(dir, pkt, "ui-drop", "ui hold")
		case "duplicate":
			st.Duplicated(dir, pkt, "ui-duplicate", "ui hold")
			if err = st.Continue(dir, pkt); err == nil {
				err = st.Continue(dir, pkt)
			}
		case "delay":
			select {
			case <-st.Done():
				// nothing will take it later either
				err = fmt.Errorf("netstack: continue: %w", net.ErrClosed)
			default:
				// on the stack's clock: a stepped run's pause does not
				// count, as for the stack's own timers
				st.Stack().Clock().AfterFunc(d.delay, func() { st.Continue(dir, pkt) })
			}
		default:
			err = st.Continue(dir, pkt)
		}
		if d.result != nil {
			d.result <- err
		}
	}()
	return hook.Verdict{Action: hook.Hold, Reason: "ui-hold", Rule: "ui hold"}
}

// callHold is the socket-send hold point.
type callHold struct {
	s    *Server
	nd   *node
	prev sockets.CallHook
}

// Decide implements sockets.CallHook.
func (c *callHold) Decide(call *sockets.Call) sockets.CallVerdict {
	if call.Name == "send" || call.Name == "sendto" {
		u := &held{data: append([]byte(nil), call.Buf...), fd: call.FD,
			summary: fmt.Sprintf("%s fd %d, %d bytes", call.Name, call.FD, len(call.Buf))}
		if c.s.take(c.nd, PointSocketSend, func(*armed) bool { return true }, u) {
			d := c.s.wait(u)
			go c.s.installHoldHooks(c.nd)
			var v sockets.CallVerdict
			if d.data != nil && len(d.data) == len(call.Buf) {
				if n := bytesDiffer(call.Buf, d.data); n > 0 {
					// traced as a verdict, as every other outcome of a hold
					v.Action, v.Reason = hook.Modify, fmt.Sprintf("%d of %d bytes edited", n, len(call.Buf))
				}
				copy(call.Buf, d.data)
			}
			switch d.action {
			case "drop":
				v.Action, v.Reason = hook.Drop, "ui-drop"
			case "delay":
				v.Action, v.Delay = hook.Delay, d.delay
			}
			v.Rule = "ui hold"
			return v
		}
	}
	if c.prev != nil {
		return c.prev.Decide(call)
	}
	return sockets.CallVerdict{}
}

// bytesDiffer counts the positions where a and b, of one length, differ.
func bytesDiffer(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// holdFrame holds f if a hold is armed for it.
func (s *Server) holdFrame(nd *node, f *ws.HookFrame) ws.FrameVerdict {
	point := PointWSIn
	if f.Dir == trace.Out {
		point = PointWSOut
	}
	if !s.holdsArmedAt(nd.Name, point) {
		return ws.FrameVerdict{}
	}
	u := &held{data: append([]byte(nil), f.Payload...), opcode: f.Header.Opcode, fin: f.Header.Fin, resize: true,
		compressed: f.Compressed,
		summary:    fmt.Sprintf("%s %s %s fin=%v len=%d", f.Conn, f.Dir, f.Header.Opcode, f.Header.Fin, len(f.Payload))}
	if !s.take(nd, point, func(a *armed) bool { return a.frame == nil || a.frame.Match(f) }, u) {
		return ws.FrameVerdict{}
	}
	d := s.wait(u)
	var v ws.FrameVerdict
	v.Rule = "ui hold"
	if d.edited {
		f.Header.Opcode, f.Header.Fin = d.opcode, d.fin
		if d.data != nil {
			f.Payload = d.data
		}
		v.Action = hook.Modify
	}
	switch d.action {
	case "drop":
		v.Action, v.Reason = hook.Drop, "ui-drop"
	case "duplicate":
		v.Action, v.Copies = hook.Duplicate, 1
	case "delay":
		v.Action, v.Delay = hook.Delay, d.delay
	}
	return v
}

// Edit is the "edit" of POST /api/holds/ID: the fields to change.
type Edit struct {
	Flags      *string `json:"flags,omitempty"`
	Seq        *uint32 `json:"seq,omitempty"`
	Ack        *uint32 `json:"ack,omitempty"`
	Window     *uint16 `json:"window,omitempty"`
	PayloadHex *string `json:"payload_hex,omitempty"`
	Opcode     *Opcode `json:"opcode,omitempty"`
	Fin        *bool   `json:"fin,omitempty"`
	// Len (a packet's) and FD (a send's) are shown with a held unit but
	// follow from it: an edit that sets them is refused, saying why.
	Len *int `json:"len,omitempty"`
	FD  *int `json:"fd,omitempty"`
}

// Opcode is a frame opcode in an Edit: its name ("text") or its number, in
// a JSON string ("1", "0x1") or as a JSON number (1).
type Opcode string

// UnmarshalJSON takes a string or a whole number.
func (o *Opcode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*o = Opcode(s)
		return nil
	}
	var n uint8
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("ui: edit.opcode %s: an opcode is continuation, text, binary, close, ping, pong or a number from 0 to 15", b)
	}
	*o = Opcode(strconv.Itoa(int(n)))
	return nil
}

// Decision is the body of POST /api/holds/ID.
type Decision struct {
	Action string `json:"action"`
	Edit   *Edit  `json:"edit,omitempty"`
	// FixChecksums, nil meaning true, recomputes the IP and transport
	// checksums of an edited packet.
	FixChecksums *bool `json:"fix_checksums,omitempty"`
	DelayMS      int64 `json:"delay_ms,omitempty"`
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "ui: a hold ID is a number: "+strconv.Quote(r.PathValue("id")))
		return
	}
	var req Decision
	if !readJSON(w, r, &req) {
		return
	}
	out, err := s.Decide(id, req)
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errNoHold) {
			code = http.StatusNotFound
		}
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

var errNoHold = errors.New("ui: no such held unit")

// Outcome is what POST /api/holds/ID answers.
type Outcome struct {
	ID      uint64 `json:"id"`
	Action  string `json:"action"`
	Edited  bool   `json:"edited"`
	Outcome string `json:"outcome"`
	// Pending is set when the stack, paused at a step, has not taken the
	// packet back yet: it does when it runs.
	Pending bool `json:"pending"`
	// Failed is set when the stack could not take the packet back (it has
	// closed, or the edit made it unsendable): Outcome says why.
	Failed bool `json:"failed"`
}

// continueWait is how long POST /api/holds/ID waits for the stack to take
// a held packet back before it answers that it is pending.
var continueWait = 500 * time.Millisecond

// Decide ends the hold of unit id as POST /api/holds/ID does.
func (s *Server) Decide(id uint64, req Decision) (Outcome, error) {
	s.hmu.Lock()
	var u *held
	for _, h := range s.held {
		if h.id == id {
			u = h
		}
	}
	s.hmu.Unlock()
	if u == nil {
		return Outcome{}, fmt.Errorf("%w %d (it may have been decided already)", errNoHold, id)
	}
	d := decision{action: req.Action, opcode: u.opcode, fin: u.fin}
	switch req.Action {
	case "release", "drop":
	case "duplicate":
		if u.point == PointSocketSend {
			return Outcome{}, errors.New("ui: a socket send cannot be duplicated: release, drop or delay it")
		}
	case "delay":
		if req.DelayMS <= 0 || req.DelayMS > 3600_000 {
			return Outcome{}, errors.New("ui: delay_ms is from 1 to 3600000")
		}
		d.delay = time.Duration(req.DelayMS) * time.Millisecond
	default:
		return Outcome{}, fmt.Errorf("ui: action %q: release, drop, duplicate or delay", req.Action)
	}
	if req.Edit != nil && req.Action != "drop" {
		fix := req.FixChecksums == nil || *req.FixChecksums
		if err := u.apply(*req.Edit, fix, &d); err != nil {
			return Outcome{}, err
		}
	}
	link := u.point == PointLinkEgress || u.point == PointLinkIngress
	if link {
		d.result = make(chan error, 1)
	}
	select {
	case u.decided <- d:
	default:
		return Outcome{}, fmt.Errorf("%w %d (it was decided already)", errNoHold, id)
	}
	out := Outcome{ID: id, Action: req.Action, Edited: d.edited}
	if link {
		// The stack checks the packet again as it takes it back; a stack
		// paused at a step takes it when it runs again.
		select {
		case err := <-d.result:
			if err != nil {
				out.Outcome, out.Failed = "not sent on: "+err.Error(), true
				return out, nil
			}
		case <-time.After(continueWait):
			out.Pending = true
		}
	}
	switch req.Action {
	case "release":
		out.Outcome = "released"
	case "drop":
		out.Outcome = "dropped"
	case "duplicate":
		out.Outcome = "sent twice"
	case "delay":
		out.Outcome = "goes on after " + d.delay.String()
	}
	if d.edited {
		out.Outcome += ", edited"
	}
	if out.Pending {
		out.Outcome += "; goes on when the stack runs"
	}
	return out, nil
}

// apply checks and makes the edit e on a copy of u's bytes, into d.
func (u *held) apply(e Edit, fix bool, d *decision) error {
	switch {
	case u.compressed && e.PayloadHex != nil:
		return errors.New("ui: this frame is part of a compressed message (permessage-deflate, RSV1 on its first frame): its payload is deflate data, and bytes edited into it would not inflate; change the opcode or FIN, drop or delay it, or run with compression off (serve --no-compress)")
	case e.Len != nil:
		return errors.New("ui: len cannot be edited: it follows payload_hex")
	case e.FD != nil:
		return errors.New("ui: fd cannot be edited: a held send goes out on its own socket")
	}
	var payload []byte
	if e.PayloadHex != nil {
		var err error
		if payload, err = hex.DecodeString(*e.PayloadHex); err != nil {
			return fmt.Errorf("ui: payload_hex: %v", err)
		}
	}
	switch u.point {
	case PointLinkEgress, PointLinkIngress:
		if e.Opcode != nil || e.Fin != nil {
			return errors.New("ui: opcode and fin are a frame's: a packet has flags, seq, ack, window and payload_hex")
		}
		out, err := editPacket(u.data, e, payload, u.resize, fix)
		if err != nil {
			return err
		}
		d.data, d.edited = out, true
	case PointWSOut, PointWSIn:
		if e.Flags != nil || e.Seq != nil || e.Ack != nil || e.Window != nil {
			return errors.New("ui: flags, seq, ack and window are a packet's: a frame has opcode, fin and payload_hex")
		}
		if e.Opcode != nil {
			op, err := ws.ParseOpcode(string(*e.Opcode))
			if err != nil {
				return fmt.Errorf("ui: opcode %q: an opcode is continuation, text, binary, close, ping, pong or a number from 0 to 15", *e.Opcode)
			}
			d.opcode = op
		}
		if e.Fin != nil {
			d.fin = *e.Fin
		}
		if payload != nil {
			d.data = payload
		}
		d.edited = true
	case PointSocketSend:
		if e.Flags != nil || e.Seq != nil || e.Ack != nil || e.Window != nil || e.Opcode != nil || e.Fin != nil {
			return errors.New("ui: a socket send has only payload_hex to edit")
		}
		if payload != nil {
			if len(payload) != len(u.data) {
				return fmt.Errorf("ui: a held send keeps its length: %d bytes, not %d", len(u.data), len(payload))
			}
			d.data, d.edited = payload, true
		}
	}
	return nil
}

// editPacket returns a copy of the IP packet pkt with e applied, the
// checksums fixed when fix is set.
func editPacket(pkt []byte, e Edit, payload []byte, resize, fix bool) ([]byte, error) {
	h := hook.ParseHeaders(pkt)
	out := append([]byte(nil), pkt...)
	tcpEdit := e.Flags != nil || e.Seq != nil || e.Ack != nil || e.Window != nil || payload != nil
	if tcpEdit {
		if h.Proto != hook.ProtoTCP || h.L4 == 0 || len(out) < h.L4+header.TCPMinimumSize {
			return nil, errors.New("ui: not a TCP segment: flags, seq, ack, window and payload_hex apply to TCP")
		}
		t := header.TCP(out[h.L4:])
		if e.Flags != nil {
			f, err := parseFlags(*e.Flags)
			if err != nil {
				return nil, err
			}
			t.SetFlags(f)
		}
		if e.Seq != nil {
			t.SetSequenceNumber(*e.Seq)
		}
		if e.Ack != nil {
			t.SetAckNumber(*e.Ack)
		}
		if e.Window != nil {
			t.SetWindowSize(*e.Window)
		}
		if payload != nil {
			if n := int(t.DataOffset()); n < header.TCPMinimumSize {
				return nil, fmt.Errorf("ui: the TCP header says it is %d bytes long, less than 20: there is no payload to replace", n)
			}
			off := h.L4 + int(t.DataOffset())
			if off > len(out) {
				return nil, errors.New("ui: the TCP header is longer than the packet")
			}
			if !resize && len(payload) != len(out)-off {
				return nil, fmt.Errorf("ui: the payload keeps its length at this hold point: %d bytes, not %d", len(out)-off, len(payload))
			}
			if off+len(payload) > 65535 {
				return nil, errors.New("ui: the packet would be longer than 65535 bytes")
			}
			out = append(out[:off], payload...)
			switch h.Version {
			case 4:
				header.IPv4(out).SetTotalLength(uint16(len(out)))
			case 6:
				header.IPv6(out).SetPayloadLength(uint16(len(out) - header.IPv6MinimumSize))
			}
		}
	}
	if fix {
		if err := hook.FixChecksums(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseFlags reads TCP flags as letters: F S R P A (or .) U E C, e.g.
// "SA", "A", "FA", "PA", or "" for none.
func parseFlags(s string) (uint8, error) {
	var f uint8
	for _, c := range strings.ToUpper(s) {
		switch c {
		case 'F':
			f |= hook.FlagFIN
		case 'S':
			f |= hook.FlagSYN
		case 'R':
			f |= hook.FlagRST
		case 'P':
			f |= hook.FlagPSH
		case 'A', '.':
			f |= hook.FlagACK
		case 'U':
			f |= hook.FlagURG
		case 'E':
			f |= 0x40
		case 'C', 'W':
			f |= 0x80
		case ' ', ',', '|', '[', ']':
		default:
			return 0, fmt.Errorf("ui: flag %q: flags are written as tcpdump does, F S R P . (ACK, or A) U E W (CWR, or C), e.g. P. or [S.]", c)
		}
	}
	return f, nil
}

// flagString writes TCP flags as tcpdump does (F S R P . U E W, in that
// order, "." for ACK: "S.", "P.", "FP."), the way the ladder and the trace
// write them; parseFlags reads it back.
func flagString(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{hook.FlagFIN, 'F'}, {hook.FlagSYN, 'S'}, {hook.FlagRST, 'R'}, {hook.FlagPSH, 'P'}, {hook.FlagACK, '.'}, {hook.FlagURG, 'U'}, {0x40, 'E'}, {0x80, 'W'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	return b.String()
}

// packetSummary is a one-line account of an IP packet.
func packetSummary(b []byte) string {
	h := hook.ParseHeaders(b)
	if h.Version == 0 {
		return fmt.Sprintf("%d bytes, not IP", len(b))
	}
	switch h.Proto {
	case hook.ProtoTCP:
		var f uint8
		var win uint16
		if h.L4 > 0 && len(b) >= h.L4+header.TCPMinimumSize {
			t := header.TCP(b[h.L4:])
			f, win = uint8(t.Flags()), t.WindowSize()
		}
		return fmt.Sprintf("%v:%d->%v:%d [%s] seq=%d ack=%d win=%d len=%d", h.Src, h.SrcPort, h.Dst, h.DstPort, flagString(f), h.Seq, h.Ack, win, h.Payload)
	case hook.ProtoUDP:
		return fmt.Sprintf("%v:%d->%v:%d udp len=%d", h.Src, h.SrcPort, h.Dst, h.DstPort, h.Payload)
	}
	return fmt.Sprintf("%v->%v proto %d len=%d", h.Src, h.Dst, h.Proto, h.Len)
}

// baseScan bounds how far back the history is searched for a packet of a
// held segment's connection.
const baseScan = 50000

// tcpBases returns what a TCP segment's seq and ack count from, as the
// stack's packet events before event id on node tell (their rel_seq and
// rel_ack; a SYN is its own base): nil for one it cannot tell.
func (s *Server) tcpBases(node string, data []byte, id uint64) (seqBase, ackBase *uint32) {
	hd := hook.ParseHeaders(data)
	if hd.Proto != hook.ProtoTCP || hd.L4 == 0 || len(data) < hd.L4+header.TCPMinimumSize {
		return nil, nil
	}
	t := header.TCP(data[hd.L4:])
	u32 := func(v uint32) *uint32 { return &v }
	if t.Flags().Contains(header.TCPFlagSyn) {
		seqBase = u32(t.SequenceNumber())
		if t.Flags().Contains(header.TCPFlagAck) {
			ackBase = u32(t.AckNumber() - 1)
		}
		return seqBase, ackBase
	}
	src, dst := netip.AddrPortFrom(hd.Src, hd.SrcPort), netip.AddrPortFrom(hd.Dst, hd.DstPort)
	fwd, back := src.String()+"->"+dst.String(), dst.String()+"->"+src.String()
	s.hist.scanBack(id, baseScan, func(e *trace.Event) bool {
		if e.Node != node || e.Layer != trace.LayerLink || e.Name != "packet" || e.Conn != fwd && e.Conn != back {
			return true
		}
		seq, rseq := e.Field("seq"), e.Field("rel_seq")
		ack, rack := e.Field("ack"), e.Field("rel_ack")
		sb, sok := base(seq, rseq)
		ab, aok := base(ack, rack)
		if e.Conn == back {
			// The other direction: its seq counts what this one acks.
			sb, sok, ab, aok = ab, aok, sb, sok
		}
		if sok && seqBase == nil {
			seqBase = u32(sb)
		}
		if aok && ackBase == nil {
			ackBase = u32(ab)
		}
		return seqBase == nil || ackBase == nil
	})
	return seqBase, ackBase
}

// base is abs - rel when both are a field's uint32.
func base(abs, rel any) (uint32, bool) {
	a, ok1 := abs.(uint32)
	r, ok2 := rel.(uint32)
	return a - r, ok1 && ok2
}

// describeEdit says what an edit changed in a held packet, as tcpdump
// names the fields: "flags [P.] → [F.], win 4096 → 0, payload 3 of 15
// bytes changed"; or how many bytes changed when the packet is not TCP.
//
// seqBase and ackBase, when known, are the initial sequence numbers the
// ladder and the hold queue count from: a changed seq or ack is said as on
// the wire and relative ("seq 926484244 → 926484248 (relative 1 → 5)").
func describeEdit(before, after []byte, seqBase, ackBase *uint32) string {
	a, b := hook.ParseHeaders(before), hook.ParseHeaders(after)
	var parts []string
	add := func(name string, x, y any) {
		if x != y {
			parts = append(parts, fmt.Sprintf("%s %v → %v", name, x, y))
		}
	}
	if a.Version == 0 || b.Version == 0 || a.Proto != hook.ProtoTCP || b.Proto != hook.ProtoTCP {
		return fmt.Sprintf("%d of %d bytes changed", diffBytes(before, after), len(after))
	}
	add("src", a.Src, b.Src)
	add("dst", a.Dst, b.Dst)
	add("ttl", a.TTL, b.TTL)
	add("sport", a.SrcPort, b.SrcPort)
	add("dport", a.DstPort, b.DstPort)
	add("flags", "["+flagString(a.Flags)+"]", "["+flagString(b.Flags)+"]")
	addRel := func(name string, x, y uint32, base *uint32) {
		switch {
		case x == y:
		case base == nil:
			add(name, x, y)
		default:
			parts = append(parts, fmt.Sprintf("%s %d → %d (relative %d → %d)", name, x, y, x-*base, y-*base))
		}
	}
	addRel("seq", a.Seq, b.Seq, seqBase)
	addRel("ack", a.Ack, b.Ack, ackBase)
	if a.L4 > 0 && b.L4 > 0 && len(before) >= a.L4+header.TCPMinimumSize && len(after) >= b.L4+header.TCPMinimumSize {
		ta, tb := header.TCP(before[a.L4:]), header.TCP(after[b.L4:])
		add("win", ta.WindowSize(), tb.WindowSize())
		pa, pb := tcpPayloadOf(before, a), tcpPayloadOf(after, b)
		switch {
		case len(pa) != len(pb):
			parts = append(parts, fmt.Sprintf("payload %d → %d bytes", len(pa), len(pb)))
		case !bytes.Equal(pa, pb):
			parts = append(parts, fmt.Sprintf("payload %d of %d bytes changed", diffBytes(pa, pb), len(pb)))
		}
	}
	if len(parts) == 0 {
		// only what the summary does not name: checksums, options
		return fmt.Sprintf("%d of %d bytes changed", diffBytes(before, after), len(after))
	}
	return strings.Join(parts, ", ")
}

// tcpPayloadOf is the TCP payload of the packet b whose headers are h.
func tcpPayloadOf(b []byte, h hook.Headers) []byte {
	off := h.L4 + int(header.TCP(b[h.L4:]).DataOffset())
	if off > len(b) || h.Payload < 0 || off+h.Payload > len(b) {
		return nil
	}
	return b[off : off+h.Payload]
}

// diffBytes counts the bytes that differ between a and b, each byte that
// only one of them has included.
func diffBytes(a, b []byte) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
