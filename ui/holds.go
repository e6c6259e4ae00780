package ui

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
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
	taken            bool // a decision was given (give); under Server.hmu
}

// give hands d to u's waiter and remembers how u ended, unless u was
// decided already; s.hmu is held. Only the first decision counts: the
// channel alone would take a second once the waiter had read the first,
// and a second request would be told it decided a unit that had gone on
// as the first said.
func (s *Server) give(u *held, d decision) bool {
	if u.taken {
		return false
	}
	u.taken = true
	u.decided <- d // never full: give is the only sender
	s.decidedHow.note(u.id, d)
	return true
}

// decision is what the page decided for a held unit, its edits applied.
type decision struct {
	action string // release, drop, duplicate, delay
	by     string // who decided, when not a request: "the last page went away"
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
	Count  int    `json:"count" range:"1 to 10000"`
}

func (s *Server) arm(w http.ResponseWriter, r *http.Request) {
	var req HoldRequest
	if !readJSON(w, r, &req) {
		return
	}
	// what was asked is judged first: a client that sent a bad request
	// learns that before it learns the run has ended
	a, nd, err := s.parseHold(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.hasEnded() {
		writeError(w, http.StatusConflict, errEnded.Error()+": nothing more will pass to hold")
		return
	}
	writeJSON(w, http.StatusOK, s.armParsed(a, nd))
}

// maxHoldCount bounds the units one hold request takes.
const maxHoldCount = 10000

// Arm asks to hold the next req.Count units (1 if 0) that match req.Filter
// at req.Point on req.Node, as POST /api/hold does.
func (s *Server) Arm(req HoldRequest) (*armed, error) {
	a, nd, err := s.parseHold(req)
	if err != nil {
		return nil, err
	}
	return s.armParsed(a, nd), nil
}

// parseHold checks req and turns it into an armed request, not yet armed,
// for the node it names.
func (s *Server) parseHold(req HoldRequest) (*armed, *node, error) {
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Count < 0 || req.Count > maxHoldCount {
		return nil, nil, fmt.Errorf("ui: count is how many units to hold, 1 to %d", maxHoldCount)
	}
	s.nmu.Lock()
	nd := s.nodeLocked(req.Node)
	s.nmu.Unlock()
	if nd == nil {
		return nil, nil, fmt.Errorf("ui: no node %q (the nodes are %v)", req.Node, s.Nodes())
	}
	a := &armed{Point: req.Point, Node: req.Node, Filter: strings.TrimSpace(req.Filter), Left: req.Count}
	switch req.Point {
	case PointLinkEgress, PointLinkIngress:
		if nd.Stack == nil {
			return nil, nil, fmt.Errorf("ui: node %q has no link to hold packets at", req.Node)
		}
		if a.Filter != "" {
			f, err := hook.ParseFilter(a.Filter)
			if err != nil {
				return nil, nil, err
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
				return nil, nil, fmt.Errorf("ui: frame filter %q: at column %d: %s", a.Filter, max(se.Col-3, 1), se.Msg)
			}
			return nil, nil, err
		}
		a.frame = e
	case PointSocketSend:
		if nd.Sockets == nil {
			return nil, nil, fmt.Errorf("ui: node %q has no sockets to hold sends of", req.Node)
		}
		if a.Filter != "" {
			return nil, nil, errors.New("ui: a socket-send hold takes no filter: it holds the next send")
		}
	default:
		return nil, nil, fmt.Errorf("ui: point %q: a hold point is link-egress, link-ingress, socket-send, ws-out or ws-in", req.Point)
	}
	return a, nd, nil
}

// armParsed arms a, which parseHold made, on nd.
func (s *Server) armParsed(a *armed, nd *node) *armed {
	s.hmu.Lock()
	s.holdID++
	a.ID = s.holdID
	s.armed = append(s.armed, a)
	c := *a // under the lock: a hook may take from a at once
	s.hmu.Unlock()
	s.holdsChanged()
	s.installHoldHooks(nd)
	return &c
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
		s.give(h, decision{action: "release", by: why}) // unless decided already
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
}

// decidedUnits remembers how the last maxDecided held units were decided.
type decidedUnits struct {
	how   map[uint64]string
	order []uint64
}

// maxDecided bounds the decided units remembered.
const maxDecided = 1024

// note remembers that unit id was decided as d.
func (g *decidedUnits) note(id uint64, d decision) {
	if g.how == nil {
		g.how = make(map[uint64]string)
	}
	if len(g.order) >= maxDecided {
		delete(g.how, g.order[0])
		g.order = g.order[1:]
	}
	how := map[string]string{"release": "released", "drop": "dropped", "duplicate": "duplicated", "delay": "delayed"}[d.action]
	if d.by != "" {
		how += " when " + d.by
	}
	g.how[id] = how
	g.order = append(g.order, id)
}
