package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// Node is a stack the Server shows and steers.
type Node struct {
	// Name is the node name its events carry ("client", "server").
	Name string
	// Stack, if set, gets the link hold points and the live link rules:
	// the Server installs its chains (SetEgress, SetIngress) from now on.
	Stack *netstack.Stack
	// Sockets, if set, is listed by GET /api/conns and gets the
	// socket-send hold point.
	Sockets *sockets.Sockets
	// Egress and Ingress are the rules the node starts with, as the
	// command line's --egress and --ingress take them: packet rules
	// (hook.ParseRule) and frame rules (ws.ParseFrameRule). They can be
	// removed from the page like the ones added there.
	Egress, Ingress []string
}

type node struct {
	Node
	frames   atomic.Pointer[ws.FrameRules] // the frame rules, both directions
	callHook bool                          // the socket hold hook is installed
}

// liveRule is a rule installed on a node, from the command line or the page.
type liveRule struct {
	ID     uint64 `json:"id"`
	Node   string `json:"node"`
	Point  string `json:"point"` // "egress" or "ingress"
	Rule   string `json:"rule"`
	packet hook.PacketHook
	frame  ws.FrameHook
}

// AddNode makes the Server show and steer n. The rules are parsed as the
// command line parses them; an error names the flag they belong to.
func (s *Server) AddNode(n Node) error {
	if n.Name == "" {
		return errors.New("ui: a node needs a name")
	}
	s.nmu.Lock()
	defer s.nmu.Unlock()
	for _, nd := range s.nodes {
		if nd.Name == n.Name {
			return fmt.Errorf("ui: node %q added twice", n.Name)
		}
	}
	nd := &node{Node: n}
	var rules []*liveRule
	for _, p := range []struct {
		point string
		srcs  []string
	}{{"egress", n.Egress}, {"ingress", n.Ingress}} {
		for _, src := range p.srcs {
			r, err := s.parseRule(n.Name, p.point, src)
			if err != nil {
				return err
			}
			rules = append(rules, r)
		}
	}
	s.nodes = append(s.nodes, nd)
	if !contains(s.nodeList, n.Name) {
		s.nodeList = append(s.nodeList, n.Name)
	}
	s.rules = append(s.rules, rules...)
	s.installLocked(nd)
	s.rulesChanged()
	return nil
}

// rulesChanged tells the pages that the rules changed.
func (s *Server) rulesChanged() {
	s.rulesVer.Add(1)
	s.wakeClients()
}

// Rules lists the rules installed, as GET /api/rules answers.
func (s *Server) Rules() Rules {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	return Rules{Rules: append([]*liveRule{}, s.rules...)}
}

func contains(l []string, x string) bool {
	for _, y := range l {
		if y == x {
			return true
		}
	}
	return false
}

// parseRule parses one rule for node at point; s.nmu held.
func (s *Server) parseRule(nodeName, point, src string) (*liveRule, error) {
	r, err := newLiveRule(nodeName, point, src, &s.seeds)
	if err != nil {
		return nil, err
	}
	s.ruleID++
	r.ID = s.ruleID
	return r, nil
}

// newLiveRule parses src, a rule at point on node nodeName, and gives it
// no ID yet. A packet rule is counted in seeds, if not nil, so that rules
// alike draw apart.
func newLiveRule(nodeName, point, src string, seeds *hook.RuleSeeds) (*liveRule, error) {
	dir := trace.Out
	switch point {
	case "egress":
	case "ingress":
		dir = trace.In
	default:
		return nil, fmt.Errorf("ui: point %q: a rule's point is egress or ingress", point)
	}
	r := &liveRule{Node: nodeName, Point: point, Rule: src}
	if ws.IsFrameRule(src) {
		fr, err := ws.ParseFrameRule(src, dir)
		if err != nil {
			return nil, fmt.Errorf("ui: %s rule: %w", point, err)
		}
		r.frame = fr
	} else {
		parse := hook.ParseRule
		if seeds != nil {
			parse = seeds.Parse
		}
		pr, err := parse(src)
		if err != nil {
			return nil, fmt.Errorf("ui: %s rule: %w", point, err)
		}
		if r.packet, err = pr.Hook(); err != nil {
			return nil, fmt.Errorf("ui: %s rule: %w", point, err)
		}
	}
	return r, nil
}

// node returns the node named name; s.nmu held.
func (s *Server) nodeLocked(name string) *node {
	for _, nd := range s.nodes {
		if nd.Name == name {
			return nd
		}
	}
	return nil
}

// installLocked builds nd's link chains and frame rules from the rules and
// the armed holds: rules first, in order, then the hold point, so that a
// hold sees the packet as the rules left it. s.nmu held.
func (s *Server) installLocked(nd *node) {
	var frames ws.FrameRules
	for _, r := range s.rules {
		if r.Node == nd.Name && r.frame != nil {
			frames = append(frames, r.frame)
		}
	}
	nd.frames.Store(&frames)
	if nd.Stack == nil {
		return
	}
	for _, point := range []string{"egress", "ingress"} {
		c := hook.NewChain()
		for _, r := range s.rules {
			if r.Node == nd.Name && r.Point == point && r.packet != nil {
				c.Add(r.packet)
			}
		}
		hp := hook.LinkEgress
		if point == "ingress" {
			hp = hook.LinkIngress
		}
		if s.holdsArmedAt(nd.Name, hp) {
			c.Add(&linkHold{s: s, nd: nd, point: hp})
		}
		if point == "egress" {
			nd.Stack.SetEgress(c)
		} else {
			nd.Stack.SetIngress(c)
		}
	}
}

// reinstall rebuilds the hooks of the node named name.
func (s *Server) reinstall(name string) {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	if nd := s.nodeLocked(name); nd != nil {
		s.installLocked(nd)
	}
}

// Rules lists the rules installed, as GET /api/rules answers.
type Rules struct {
	Rules []*liveRule `json:"rules"`
}

func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Rules())
}

func (s *Server) addRule(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Node  string `json:"node"`
		Point string `json:"point"`
		Rule  string `json:"rule"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	// what was asked is judged first: a client that sent a bad rule
	// learns that before it learns the run has ended
	if err := s.checkRule(req.Node, req.Point, req.Rule); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.hasEnded() {
		writeError(w, http.StatusConflict, errEnded.Error()+": nothing more will pass a rule")
		return
	}
	id, err := s.AddRule(req.Node, req.Point, req.Rule)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"id": id})
}

// checkRule reports what AddRule would refuse in a rule, installing
// nothing.
func (s *Server) checkRule(nodeName, point, src string) error {
	s.nmu.Lock()
	nd := s.nodeLocked(nodeName)
	names := append([]string(nil), s.nodeList...)
	s.nmu.Unlock()
	if nd == nil {
		return fmt.Errorf("ui: no node %q (the nodes are %v)", nodeName, names)
	}
	_, err := newLiveRule(nodeName, point, src, nil)
	return err
}

// AddRule installs a rule on a node's egress or ingress, as POST
// /api/rules does, and returns its ID.
func (s *Server) AddRule(nodeName, point, src string) (uint64, error) {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	nd := s.nodeLocked(nodeName)
	if nd == nil {
		return 0, fmt.Errorf("ui: no node %q (the nodes are %v)", nodeName, s.nodeList)
	}
	lr, err := s.parseRule(nodeName, point, src)
	if err != nil {
		return 0, err
	}
	s.rules = append(s.rules, lr)
	s.installLocked(nd)
	s.rulesChanged()
	return lr.ID, nil
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "ui: a rule ID is a number: "+strconv.Quote(r.PathValue("id")))
		return
	}
	s.nmu.Lock()
	defer s.nmu.Unlock()
	for i, lr := range s.rules {
		if lr.ID == id {
			s.rules = append(s.rules[:i], s.rules[i+1:]...)
			if nd := s.nodeLocked(lr.Node); nd != nil {
				s.installLocked(nd)
			}
			s.rulesChanged()
			writeJSON(w, http.StatusOK, map[string]uint64{"deleted": id})
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("ui: no rule %d", id))
}

// FrameHook returns the hook to give the WebSocket connections of the node
// named name (ws.DialOptions.FrameHook, ws.AcceptOptions.FrameHook): it
// applies the node's frame rules, those given to AddNode and those added
// from the page, and holds the frames the page asks for.
func (s *Server) FrameHook(name string) ws.FrameHook {
	return &frameHook{s: s, name: name}
}

type frameHook struct {
	s    *Server
	name string
	nd   atomic.Pointer[node]
}

// Decide implements ws.FrameHook.
func (h *frameHook) Decide(f *ws.HookFrame) ws.FrameVerdict {
	nd := h.nd.Load()
	if nd == nil {
		h.s.nmu.Lock()
		nd = h.s.nodeLocked(h.name)
		h.s.nmu.Unlock()
		if nd == nil {
			return ws.FrameVerdict{}
		}
		h.nd.Store(nd)
	}
	if rs := nd.frames.Load(); rs != nil && len(*rs) > 0 {
		if v := rs.Decide(f); v.Action != hook.Pass || v.Split > 1 || len(v.Frames) > 0 {
			return v
		}
	}
	return h.s.holdFrame(nd, f)
}

// Conn is one row of GET /api/conns.
type Conn struct {
	Node     string  `json:"node"`
	Proto    string  `json:"proto"`
	State    string  `json:"state"`    // as the trace's TCP states and glassnet ss's JSON name it
	SSState  string  `json:"ss_state"` // as glassnet ss and the page write it (sockets.SSState)
	Local    string  `json:"local"`
	Peer     string  `json:"peer"`
	RecvQ    int     `json:"recv_q"`
	SendQ    int     `json:"send_q"`
	Cwnd     uint32  `json:"cwnd"`
	Ssthresh uint32  `json:"ssthresh"`
	SRTTms   float64 `json:"srtt_ms"`
	RTOms    float64 `json:"rto_ms"`
	SndWnd   uint32  `json:"snd_wnd"`
	RcvWnd   uint32  `json:"rcv_wnd"`
	FD       int     `json:"fd"`
}

// connCache keeps the last socket table. Snapshot takes endpoint locks a
// paused stack may hold, so it runs on a goroutine of its own, one at a
// time, and a caller waits for it only so long.
type connCache struct {
	mu      sync.Mutex
	ver     uint64
	rows    []Conn
	at      uint64 // the last event traced when the table was begun
	msg     []byte
	running chan struct{} // closed when the running snapshot is done
}

func (c *connCache) message() (uint64, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ver, c.msg
}

// refresh starts a snapshot unless one runs, and returns a channel closed
// when the running one is done.
func (s *Server) refreshConns() <-chan struct{} {
	c := &s.conns
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != nil {
		return c.running
	}
	done := make(chan struct{})
	c.running = done
	s.nmu.Lock()
	nodes := append([]*node(nil), s.nodes...)
	s.nmu.Unlock()
	go func() {
		// Every TCP state the trace reports after this event may be
		// newer than the table.
		_, at, _ := s.hist.bounds()
		rows := []Conn{}
		for _, nd := range nodes {
			if nd.Sockets == nil {
				continue
			}
			for _, si := range nd.Sockets.Snapshot() {
				rows = append(rows, connRow(nd.Name, si))
			}
		}
		c.mu.Lock()
		c.rows = rows
		c.at = at
		c.ver++
		c.msg = appendJSON(nil, map[string]any{"type": "conns", "conns": rows, "at": at})
		c.running = nil
		c.mu.Unlock()
		close(done)
		s.wakeClients()
	}()
	return done
}

func connRow(nodeName string, si sockets.SocketInfo) Conn {
	c := Conn{Node: nodeName, Proto: si.Network(), State: si.State, SSState: si.SSState(), RecvQ: si.RecvQ, SendQ: si.SendQ, FD: si.FD}
	if si.Local.IsValid() {
		c.Local = si.Local.String()
	}
	if si.Peer.IsValid() {
		c.Peer = si.Peer.String()
	}
	if t := si.TCP; t != nil {
		c.Cwnd, c.Ssthresh = t.Cwnd, t.Ssthresh
		c.SRTTms = float64(t.RTT) / float64(time.Millisecond)
		c.RTOms = float64(t.RTO) / float64(time.Millisecond)
		c.SndWnd, c.RcvWnd = t.SndWnd, t.RcvWnd
	}
	return c
}

// connsWait is how long GET /api/conns waits for a fresh table.
const connsWait = time.Second

func (s *Server) getConns(w http.ResponseWriter, r *http.Request) {
	stale := false
	select {
	case <-s.refreshConns():
	case <-time.After(connsWait):
		stale = true // a paused stack holds a lock the table needs
	case <-r.Context().Done():
		return
	}
	s.conns.mu.Lock()
	rows, at := s.conns.rows, s.conns.at
	s.conns.mu.Unlock()
	if rows == nil {
		rows = []Conn{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"conns": rows, "at": at, "stale": stale})
}

// pollConns refreshes the socket table about once a second while a page
// is connected.
func (s *Server) pollConns() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if l := s.list.Load(); l != nil && len(*l) > 0 {
				s.refreshConns()
			}
		}
	}
}
