package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// Flow control of the live stream.
const (
	// batchMax is the most events in one "events" message.
	batchMax = 2000
	// unackedMax is how many events a page may have been sent and not
	// acknowledged; beyond it nothing more is sent until it acknowledges.
	unackedMax = 20_000
	// behindMax is how far a page may fall behind the newest event in a
	// free run before its live view is thinned: the older events are
	// skipped (and stay fetchable) and it goes on from the newest
	// keepTail.
	behindMax = 50_000
	keepTail  = 2_000
	// stepWindow is how many events a page may be behind in step mode
	// before the stack waits for it.
	stepWindow = 1_000
)

// liveClient is one page's live stream.
type liveClient struct {
	s     *Server
	conn  *ws.Conn
	next  uint64        // the next event ID to send
	nums  []uint32      // the connection numbers of the batch being sent
	acked atomic.Uint64 // the last event ID the page has drawn
	wake  chan struct{}
}

func (s *Server) serveLive(w http.ResponseWriter, r *http.Request) {
	if !queryOnly(w, r, "from") {
		return
	}
	from := uint64(0)
	if v := r.URL.Query().Get("from"); v != "" {
		var err error
		if from, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "ui: from is an event ID: "+strconv.Quote(v))
			return
		}
	}
	c, err := ws.Accept(w, r, &ws.AcceptOptions{CheckOrigin: sameOrigin, ConnOptions: ws.ConnOptions{CloseTimeout: time.Second}})
	if err != nil {
		return // Accept answered (403 for a foreign Origin)
	}
	lc := &liveClient{s: s, conn: c, next: max(from, 1), wake: make(chan struct{}, 1)}
	if first, _, _ := s.hist.bounds(); lc.next < first {
		lc.next = first
	}
	lc.acked.Store(lc.next - 1)
	s.addClient(lc)
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lc.send(ctx)
	}()
	lc.read(ctx)
	cancel()
	<-done
	c.CloseNow()
	s.removeClient(lc)
}

// sameOrigin refuses a WebSocket upgrade whose Origin is not a web page
// (http or https: https when a proxy that ends TLS stands in front) on the
// host the request was sent to: another site's page, an extension's or a
// sandboxed one's ("null") must not drive the stack. A request without
// Origin is not from a browser page.
func sameOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	scheme, host, ok := strings.Cut(o, "://")
	web := strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")
	if !ok || !web || !strings.EqualFold(host, r.Host) {
		return fmt.Errorf("ui: origin %q is not this page's (http://%s)", o, r.Host)
	}
	return nil
}

func (s *Server) addClient(c *liveClient) {
	s.cmu.Lock()
	s.clients[c] = struct{}{}
	s.publishClients()
	if s.gone != nil {
		s.gone.Stop()
		s.gone = nil
	}
	s.cmu.Unlock()
}

// removeClient forgets a page; when the last one goes, what it held is
// released and nothing stays armed. A run that started freely
// (Options.Run: serve, lab) runs freely again, without breakpoints, if no
// page comes back within goneGrace (a reload does): a stack left paused
// with no page to play it would stop serving its peers until it is
// killed.
func (s *Server) removeClient(c *liveClient) {
	s.cmu.Lock()
	delete(s.clients, c)
	s.publishClients()
	last := len(s.clients) == 0
	if last && s.opts.Live && s.opts.Run && s.gone == nil {
		var t *time.Timer
		t = time.AfterFunc(s.goneGrace, func() {
			s.cmu.Lock()
			mine := s.gone == t // not stopped by a page that came, and not a later timer's turn
			if mine {
				s.gone = nil
			}
			none := len(s.clients) == 0
			s.cmu.Unlock()
			if mine && none && s.ctx.Err() == nil {
				s.runUnwatched()
			}
		})
		s.gone = t
	}
	s.acked.Broadcast()
	s.cmu.Unlock()
	if last {
		s.releaseAll("the last page went away")
	}
}

// runUnwatched forgets the breakpoints and runs freely, unless the run
// has ended.
func (s *Server) runUnwatched() {
	s.mu.Lock()
	if s.ended || (s.mode == "free" && len(s.bps) == 0) {
		s.mu.Unlock()
		return
	}
	s.bps = nil
	s.playLocked()
	s.mu.Unlock()
	s.changed()
}

// playLocked runs freely until a breakpoint, from wherever the run is
// paused; s.mu held.
func (s *Server) playLocked() {
	s.setMode("free")
	s.current = 0
	s.target = unitNone
	s.hit = ""
	s.updateWatch()
	s.stepper.Run()
}

// publishClients makes the client list visible to Emit; s.cmu held.
func (s *Server) publishClients() {
	l := make([]*liveClient, 0, len(s.clients))
	for c := range s.clients {
		l = append(l, c)
	}
	s.list.Store(&l)
}

// wakeClients tells every page's sender that there is something new.
func (s *Server) wakeClients() {
	l := s.list.Load()
	if l == nil {
		return
	}
	for _, c := range *l {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// waitForPages holds the stack, in step mode, until every page has drawn
// the events up to stepWindow before id: the page decides the pace.
func (s *Server) waitForPages(id uint64) {
	l := s.list.Load()
	if l == nil || len(*l) == 0 || id <= stepWindow {
		return
	}
	behind := func() bool {
		for _, c := range *s.list.Load() {
			if c.acked.Load()+stepWindow < id {
				return true
			}
		}
		return false
	}
	if !behind() {
		return
	}
	s.mu.Lock()
	step := s.mode == "step"
	s.mu.Unlock()
	if !step {
		return
	}
	s.cmu.Lock()
	for behind() && s.ctx.Err() == nil {
		s.mu.Lock()
		step = s.mode == "step"
		s.mu.Unlock()
		if !step {
			break
		}
		s.acked.Wait()
	}
	s.cmu.Unlock()
}

// read takes the page's acknowledgements until it goes away. A message
// that is not one ends the stream with 1008 and a reason that says why: a
// script whose acks were passed over would be sent nothing more, and not
// know it.
func (c *liveClient) read(ctx context.Context) {
	for {
		_, msg, err := c.conn.ReadMessage(ctx)
		if err != nil {
			return
		}
		var m struct {
			Type string          `json:"type"`
			Last json.RawMessage `json:"last"`
		}
		var ack uint64
		why := ""
		switch {
		case json.Unmarshal(msg, &m) != nil:
			why = "not JSON"
		case m.Type != "ack":
			why = "type " + strconv.QuoteToASCII(m.Type) // ASCII: cut anywhere, still UTF-8
			if len(why) > 40 {
				why = why[:40] + "…"
			}
		case m.Last == nil || json.Unmarshal(m.Last, &ack) != nil:
			why = "no last event ID"
		}
		if why != "" {
			// (a reason fits 123 bytes)
			c.conn.Close(ws.StatusPolicyViolation, `ui: `+why+`: the view takes {"type":"ack","last":ID}`)
			return
		}
		// An ack of more than the history holds (a page's bug, or a
		// hostile one) would make the sums with it below wrap around.
		if _, last, _ := c.s.hist.bounds(); ack > last {
			ack = last
		}
		for {
			old := c.acked.Load()
			if ack <= old || c.acked.CompareAndSwap(old, ack) {
				break
			}
		}
		c.s.cmu.Lock()
		c.s.acked.Broadcast()
		c.s.cmu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// send writes events, state, holds and connections to the page as they
// change, until ctx ends or a write fails.
func (c *liveClient) send(ctx context.Context) {
	defer c.conn.CloseNow()
	s := c.s
	var stateVer, holdsVer, rulesVer, connsVer uint64 = 1<<64 - 1, 1<<64 - 1, 1<<64 - 1, 1<<64 - 1
	// The table kept since the last page went away is old: a new page
	// gets one begun now (or the old one, if a paused stack keeps the
	// new one from being made within connsWait).
	var fresh <-chan struct{}
	var freshBy time.Time
	if s.opts.Live {
		fresh, freshBy = s.refreshConns(), time.Now().Add(connsWait)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var buf []byte
	var evs []trace.Event
	for {
		if v := s.stateVer.Load(); v != stateVer {
			stateVer = v
			buf = appendJSON(buf[:0], stateMessage{Type: "state", State: s.State()})
			if !c.write(ctx, buf) {
				return
			}
		}
		if v := s.holdsVer.Load(); v != holdsVer {
			holdsVer = v
			buf = appendJSON(buf[:0], holdsMessage{Type: "holds", Holds: s.Holds()})
			if !c.write(ctx, buf) {
				return
			}
		}
		if v := s.rulesVer.Load(); v != rulesVer && s.opts.Live {
			rulesVer = v
			buf = appendJSON(buf[:0], rulesMessage{Type: "rules", Rules: s.Rules()})
			if !c.write(ctx, buf) {
				return
			}
		}
		if fresh != nil {
			select {
			case <-fresh:
				fresh = nil
			default:
				if time.Now().After(freshBy) {
					fresh = nil
				}
			}
		}
		if v, b := s.conns.message(); fresh == nil && v != connsVer && b != nil {
			connsVer = v
			if !c.write(ctx, b) {
				return
			}
		}
		for {
			var ok bool
			if buf, evs, ok = c.nextBatch(buf[:0], evs[:0]); !ok {
				break
			}
			if !c.write(ctx, buf) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			// Let a burst gather into one message.
			t := time.NewTimer(5 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		case <-tick.C:
		}
	}
}

type stateMessage struct {
	Type string `json:"type"`
	State
}

type holdsMessage struct {
	Type string `json:"type"`
	Holds
}

type rulesMessage struct {
	Type string `json:"type"`
	Rules
}

// nextBatch puts the next message for the page in buf: a "skipped" note
// when it fell too far behind in a free run, or the next events. It
// reports false when there is nothing to send now.
func (c *liveClient) nextBatch(buf []byte, evs []trace.Event) ([]byte, []trace.Event, bool) {
	s := c.s
	first, last, _ := s.hist.bounds()
	if last == 0 || c.next > last {
		return buf, evs, false
	}
	// an ack of more than the page was sent counts as what it was sent
	room := min(c.acked.Load(), c.next-1) + unackedMax - (c.next - 1)
	if int64(room) <= 0 || room > unackedMax {
		return buf, evs, false // wait for the page
	}
	// Only a live free run thins: stepping waits for the page, and a
	// recorded run has all the time in the world.
	free := s.opts.Live && s.freeRun.Load()
	gone := c.next < first // overwritten before it was sent
	if gone || (free && last-c.next+1 > behindMax) {
		to := first - 1 // gone: up to what the history still holds
		if free && last-c.next+1 > behindMax {
			to = max(to, last-keepTail)
		}
		m := skippedMessage{Type: "skipped", From: c.next, To: to, Count: to - c.next + 1}
		m.Fetchable = !gone
		s.skipped.Add(m.Count)
		s.stateVer.Add(1)
		c.next = to + 1
		// The page draws nothing of what it skipped: count it as seen.
		for {
			old := c.acked.Load()
			if old >= to || c.acked.CompareAndSwap(old, to) {
				break
			}
		}
		return appendJSON(buf, m), evs, true
	}
	evs = s.hist.rangeOf(evs, c.next, last, int(min(room, batchMax)))
	if len(evs) == 0 {
		return buf, evs, false
	}
	buf = append(buf, `{"type":"events","events":`...)
	c.nums = s.hist.numbers(c.nums[:0], evs)
	buf = eventsJSON(buf, evs, c.nums)
	buf = append(buf, '}')
	c.next = evs[len(evs)-1].ID + 1
	return buf, evs, true
}

type skippedMessage struct {
	Type  string `json:"type"`
	From  uint64 `json:"from"`
	To    uint64 `json:"to"`
	Count uint64 `json:"count"`
	// Fetchable is false when the history no longer holds them.
	Fetchable bool `json:"fetchable"`
}

// writeTimeout bounds one message to a page.
const writeTimeout = 10 * time.Second

func (c *liveClient) write(ctx context.Context, b []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	err := c.conn.WriteMessage(ctx, ws.MessageText, b)
	return err == nil
}
