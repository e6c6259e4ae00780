package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/internal/leaktest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

// startServer starts s on a loopback port and closes it when the test ends.
func startServer(t testing.TB, s *Server) (base string) {
	t.Helper()
	u, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return strings.SplitN(u, "/?", 2)[0]
}

// api makes a request with the token header and decodes the JSON answer
// into out (if not nil); it returns the status.
func api(t testing.TB, s *Server, method, u, body string, out any) int {
	t.Helper()
	resp, b := request(t, s, method, u, body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, u, err, b)
		}
	}
	return resp.StatusCode
}

// emitN feeds n synthetic events, every third a link packet with bytes.
func emitN(s *Server, first, n int) {
	for i := first; i < first+n; i++ {
		e := trace.Event{ID: uint64(i), T: time.Duration(i), Node: "client", Layer: trace.LayerTCP, Dir: trace.In, Name: "segment",
			Summary: fmt.Sprintf("event %d", i), Fields: []trace.Field{{Key: "seq", Value: uint32(i)}}}
		if i%3 == 0 {
			e.Layer, e.Name, e.Data = trace.LayerLink, "packet", []byte{0x45, byte(i)}
		}
		s.Emit(&e)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Token()) != 32 {
		t.Fatalf("token %q: want 128 bits in hex", s.Token())
	}
	base := startServer(t, s)
	for _, path := range []string{"/", "/static/index.html", "/api/state", "/api/events", "/api/export?format=jsonl", "/api/live"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, resp.StatusCode)
		}
		resp, err = http.Get(base + path + "?token=" + strings.Repeat("0", 32))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, resp.StatusCode)
		}
	}
	var st State
	if code := api(t, s, "GET", base+"/api/state", "", &st); code != 200 || st.Live {
		t.Fatalf("state with the header: %d %+v", code, st)
	}
	// The page's URL sets the cookie; later requests carry only it.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/?token=" + s.Token())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /?token=: %d", resp.StatusCode)
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"glassnet_token=" + s.Token(), "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	resp, err = c.Get(base + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/state with the cookie: %d", resp.StatusCode)
	}
}

func TestOriginCheck(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{})
	base := startServer(t, s)
	host := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"http://evil.example", http.StatusForbidden},
		{"http://127.0.0.1:1", http.StatusForbidden},
		{"http://" + host, http.StatusSwitchingProtocols},
		{"HTTP://" + host, http.StatusSwitchingProtocols},
		{"https://" + host, http.StatusSwitchingProtocols},
		{"chrome-extension://" + host, http.StatusForbidden},
		{"ws://" + host, http.StatusForbidden},
		{"null", http.StatusForbidden},
		{host, http.StatusForbidden},
		{"", http.StatusSwitchingProtocols},
	} {
		req, _ := http.NewRequest("GET", base+"/api/live?token="+s.Token(), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Origin %q: %d, want %d", tc.origin, resp.StatusCode, tc.want)
		}
	}
}

// TestLiveQuery: the live stream takes from (and the token) once each, as
// /api/events does: a misspelt parameter (form=) or one given twice is a
// 400 that names it, and a query that does not parse a 400 that says so,
// not a stream from the first event.
func TestLiveQuery(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{})
	base := startServer(t, s)
	for _, tc := range []struct {
		query string
		want  int
		says  string
	}{
		{"from=1", http.StatusSwitchingProtocols, ""},
		{"form=1", http.StatusBadRequest, `unknown query parameter "form"`},
		{"from=1&from=2", http.StatusBadRequest, `"from" is given 2 times`},
		{"from=x", http.StatusBadRequest, "from is an event ID"},
		// url.Query leaves out a pair it cannot parse: a stream from
		// the first event, had the query not been read strictly.
		{"from=1;x=2", http.StatusBadRequest, "does not parse"},
		{"from=%zz", http.StatusBadRequest, "does not parse"},
	} {
		req, _ := http.NewRequest("GET", base+"/api/live?token="+s.Token()+"&"+tc.query, nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		if tc.want != http.StatusSwitchingProtocols {
			json.NewDecoder(resp.Body).Decode(&e)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(e.Error, tc.says) {
			t.Errorf("/api/live?%s: %d %q, want %d with %q", tc.query, resp.StatusCode, e.Error, tc.want, tc.says)
		}
	}
}

func TestEventRanges(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{History: 20000})
	emitN(s, 1, 25000)
	base := startServer(t, s)
	var page struct {
		Events      []map[string]any `json:"events"`
		First, Last uint64
	}
	if code := api(t, s, "GET", base+"/api/events?from=5001&to=5010", "", &page); code != 200 {
		t.Fatalf("range: %d", code)
	}
	if len(page.Events) != 10 || page.Events[0]["id"].(float64) != 5001 || page.Events[9]["id"].(float64) != 5010 {
		t.Fatalf("from=5001&to=5010 gave %d events: %v", len(page.Events), page.Events)
	}
	if page.First != 5001 || page.Last != 25000 {
		t.Fatalf("first %d last %d, want 5001 25000 (the oldest were overwritten)", page.First, page.Last)
	}
	for _, k := range []string{"id", "t", "node", "layer", "dir", "event", "summary", "seq"} {
		if _, ok := page.Events[1][k]; !ok {
			t.Errorf("event lacks %q: %v", k, page.Events[1])
		}
	}
	// At most 10000 per call; from omitted starts at the oldest held.
	api(t, s, "GET", base+"/api/events", "", &page)
	if len(page.Events) != maxRange || page.Events[0]["id"].(float64) != 5001 {
		t.Fatalf("no range: %d events from %v", len(page.Events), page.Events[0]["id"])
	}
	var one map[string]any
	if code := api(t, s, "GET", base+"/api/events/24999", "", &one); code != 200 || one["bytes"] != "45a7" || one["event"] != "packet" {
		t.Fatalf("event 24999: %d %v", code, one)
	}
	one = nil
	api(t, s, "GET", base+"/api/events/25000", "", &one)
	if _, ok := one["bytes"]; ok {
		t.Fatalf("event 25000 has no bytes, got %v", one)
	}
	for _, tc := range []struct {
		path string
		code int
		says string
	}{
		{"/api/events/17", 404, ""},
		{"/api/events/x", 400, "is a number"},
		{"/api/events/18446744073709551616", 400, "at most 18446744073709551615"},
		{"/api/events?from=x", 400, ""},
		{"/api/events?from=9&to=3", 400, ""},
		{"/api/play", 409, ""},
	} {
		var e struct{ Error string }
		method := "GET"
		if strings.HasPrefix(tc.path, "/api/play") {
			method = "POST"
		}
		if code := api(t, s, method, base+tc.path, "", &e); code != tc.code || e.Error == "" || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%s: %d %q, want %d with an error that says %q", tc.path, code, e.Error, tc.code, tc.says)
		}
	}
}

// livePage is a test page on /api/live.
type livePage struct {
	c *ws.Conn
}

func dialLive(t testing.TB, s *Server, base string, from uint64) *livePage {
	t.Helper()
	u := strings.Replace(base, "http://", "ws://", 1) + "/api/live?token=" + url.QueryEscape(s.Token())
	if from > 0 {
		u += fmt.Sprintf("&from=%d", from)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := ws.Dial(ctx, u, &ws.DialOptions{Header: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &livePage{c: c}
}

// liveMsg is any message of the live stream.
type liveMsg struct {
	Type      string           `json:"type"`
	Events    []map[string]any `json:"events"`
	From, To  uint64
	Count     uint64
	Fetchable bool
	Current   uint64
	Holds     []Hold
	Rules     []*liveRule
	At        uint64
}

func (p *livePage) next(t testing.TB) liveMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, b, err := p.c.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m liveMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (p *livePage) ack(t testing.TB, last uint64) {
	t.Helper()
	if err := p.c.WriteMessage(context.Background(), ws.MessageText, fmt.Appendf(nil, `{"type":"ack","last":%d}`, last)); err != nil {
		t.Fatal(err)
	}
}

// TestLiveConnsFresh: a page that comes after the last one went away
// gets a socket table begun when it came, not the one kept from before,
// which the page would show as older than the events beside it.
func TestLiveConnsFresh(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	base := startServer(t, s)
	conns := func(p *livePage) uint64 {
		t.Helper()
		for {
			if m := p.next(t); m.Type == "conns" {
				return m.At
			}
		}
	}
	emitN(s, 1, 10)
	p := dialLive(t, s, base, 0)
	if at := conns(p); at != 10 {
		t.Fatalf("the first page's table is from #%d, want #10", at)
	}
	p.c.CloseNow()
	for {
		if l := s.list.Load(); l != nil && len(*l) == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	emitN(s, 11, 90)
	p = dialLive(t, s, base, 0)
	if at := conns(p); at != 100 {
		t.Fatalf("a new page's first table is from #%d, want #100 (the last event when it came)", at)
	}
}

// pageGone starts a run that goes on freely with grace for a page to come
// back, has a page set a breakpoint and pause it, and closes the page.
func pageGone(t *testing.T, grace time.Duration) (*Server, string) {
	t.Helper()
	s, _ := New(Options{Live: true, Run: true})
	s.goneGrace = grace
	base := startServer(t, s)
	p := dialLive(t, s, base, 0)
	p.next(t) // the page is there
	if code := api(t, s, "POST", base+"/api/breakpoints", `{"breakpoints":["tcp and fin"]}`, nil); code != 200 {
		t.Fatalf("breakpoints: %d", code)
	}
	var st State
	if code := api(t, s, "POST", base+"/api/pause", "", &st); code != 200 || !st.Paused {
		t.Fatalf("pause: %d %+v", code, st)
	}
	p.c.CloseNow()
	return s, base
}

// TestPausedThroughReload: a page that comes back within the grace (a
// reload) finds the run as it left it, paused with its breakpoints.
func TestPausedThroughReload(t *testing.T) {
	t.Parallel()
	s, base := pageGone(t, time.Hour)
	var st State
	for {
		s.cmu.Lock()
		armed := s.gone != nil
		s.cmu.Unlock()
		if armed {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p2 := dialLive(t, s, base, 0)
	p2.next(t)
	s.cmu.Lock()
	armed := s.gone != nil
	s.cmu.Unlock()
	api(t, s, "GET", base+"/api/state", "", &st)
	if armed || !st.Paused || len(st.Breakpoints) != 1 {
		t.Errorf("after a reload: the timer to run freely still set: %v; state %+v; want it paused with its breakpoint", armed, st)
	}
}

// TestRunsOnWhenPageGoes: a run that started freely (serve, lab) and that
// a page paused and gave a breakpoint runs freely again, without the
// breakpoint, once the last page has gone: nothing else would play it,
// and its peers would wait on a stopped stack.
func TestRunsOnWhenPageGoes(t *testing.T) {
	t.Parallel()
	s, base := pageGone(t, 0)
	var st State
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		api(t, s, "GET", base+"/api/state", "", &st)
		if !st.Paused && st.Mode == "free" && len(st.Breakpoints) == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the last page went away 20 s ago and the run is still paused or has breakpoints: %+v", st)
		}
	}
}

// TestLiveThinned: a page that stops acknowledging in a free run gets at
// most unackedMax events, then, once it acknowledges, a skipped message
// for what it fell behind by, and those events stay fetchable.
func TestLiveThinned(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	base := startServer(t, s)
	p := dialLive(t, s, base, 0)
	emitN(s, 1, unackedMax+100)
	var got, last uint64
	for got < unackedMax {
		m := p.next(t)
		if m.Type == "skipped" {
			t.Fatalf("skipped before the page fell behind: %+v", m)
		}
		for _, e := range m.Events {
			id := uint64(e["id"].(float64))
			if id != last+1 {
				t.Fatalf("event %d after %d", id, last)
			}
			last = id
			got++
		}
	}
	if got != unackedMax {
		t.Fatalf("sent %d events unacknowledged, want %d", got, unackedMax)
	}
	// Meanwhile the stack runs on far ahead of the page.
	total := unackedMax + 100 + behindMax + 10_000
	emitN(s, unackedMax+101, total-unackedMax-100)
	p.ack(t, last)
	var sk liveMsg
	for {
		m := p.next(t)
		if m.Type == "events" {
			t.Fatalf("events %v before the skipped message", m.Events[0]["id"])
		}
		if m.Type == "skipped" {
			sk = m
			break
		}
	}
	if sk.From != last+1 || sk.To != uint64(total-keepTail) || sk.Count != sk.To-sk.From+1 || !sk.Fetchable {
		t.Fatalf("skipped %+v, want from %d to %d", sk, last+1, total-keepTail)
	}
	for {
		m := p.next(t)
		if m.Type != "events" {
			continue
		}
		if id := uint64(m.Events[0]["id"].(float64)); id != sk.To+1 {
			t.Fatalf("after the skip the events go on at %d, want %d", id, sk.To+1)
		}
		break
	}
	var page struct{ Events []map[string]any }
	api(t, s, "GET", fmt.Sprintf("%s/api/events?from=%d&to=%d", base, sk.From, sk.From+99), "", &page)
	if len(page.Events) != 100 {
		t.Fatalf("the skipped events are not fetchable: %d", len(page.Events))
	}
	var st State
	api(t, s, "GET", base+"/api/state", "", &st)
	if st.Skipped != sk.Count {
		t.Fatalf("state.skipped %d, want %d", st.Skipped, sk.Count)
	}
}

// TestStepWaitsForPage: in step mode the stack waits for a page that is
// more than stepWindow events behind, until it acknowledges.
func TestStepWaitsForPage(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true})
	base := startServer(t, s)
	p := dialLive(t, s, base, 0)
	// Its first message comes once the server counts the page: an event
	// emitted before that would not wait for it.
	p.next(t)
	const n = stepWindow + 500
	done := emitCarried(s, n)
	last := p.readTo(t, stepWindow+1)
	if st := s.State(); st.Last != stepWindow+1 || st.Mode != "step" {
		t.Fatalf("the stack went on to %d without the page (mode %s)", st.Last, st.Mode)
	}
	select {
	case <-done:
		t.Fatal("the emitter finished without the page")
	default:
	}
	p.ack(t, last)
	<-done
	if st := s.State(); st.Last != n {
		t.Fatalf("last %d, want %d", st.Last, n)
	}
}

// TestAPIErrors: every error under /api/ is a JSON {"error"}, also those
// net/http and the WebSocket handshake write (404, 405 with its Allow,
// 426); the page and /static/ keep net/http's answers.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	base := startServer(t, s)
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string // the Allow header of a 405
		msg          string // in the error
	}{
		{"GET", "/api/step", 405, "POST", "GET /api/step is not allowed: it takes POST"},
		{"POST", "/api/state", 405, "GET, HEAD", "POST /api/state is not allowed: it takes GET, HEAD"},
		{"DELETE", "/api/breakpoints", 405, "GET, HEAD, POST", "DELETE /api/breakpoints"},
		{"GET", "/api/holds/1", 405, "POST", "GET /api/holds/1"},
		{"DELETE", "/api/holds/1", 405, "POST", "DELETE /api/holds/1"},
		{"PUT", "/api/rules", 405, "GET, HEAD, POST", "PUT /api/rules"},
		{"GET", "/api/nosuch", 404, "", "ui: no such API path: /api/nosuch"},
		{"GET", "/api/events/1/extra", 404, "", "ui: no such API path: /api/events/1/extra"},
		{"GET", "/api", 404, "", "ui: no such API path: /api"},
		// not redirected, as the ServeMux does, to the path cleaned
		{"GET", "/api//state", 404, "", "ui: no such API path: /api//state"},
		{"POST", "/api//pause", 404, "", "ui: no such API path: /api//pause"},
		{"GET", "/api/events/../state", 404, "", "ui: no such API path: /api/events/../state"},
		{"GET", "/api/./state", 404, "", "ui: no such API path: /api/./state"},
		{"GET", "/api/live", 426, "", "Upgrade header"},
		// an empty body used to clear every breakpoint
		{"POST", "/api/breakpoints", 400, "", `want {"breakpoints": [...]}`},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			resp, body := request(t, s, tc.method, base+tc.path, "")
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s %q: want a JSON error (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
			}
			if resp.StatusCode != tc.code || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%d %q, want %d with %q", resp.StatusCode, e.Error, tc.code, tc.msg)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
	t.Run("outside /api/", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/nosuch", "/static/nosuch.js"} {
			resp, body := request(t, s, "GET", base+path, "")
			if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("GET %s: %d %s %q, want net/http's 404 page", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
	})
}

// request makes a request with the token header and returns the answer
// and its body.
func request(t testing.TB, s *Server, method, u, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Glassnet-Token", s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestControlAfterEnd: once the run has ended, play, pause, step, hold, rules and
// clock/advance all answer 409 "the run has ended", and none of them
// makes the state paused.
func TestControlAfterEnd(t *testing.T) {
	t.Parallel()
	clock := netstack.NewPausableClock(netstack.PausableClockOptions{})
	t.Cleanup(clock.Stop)
	s, _ := New(Options{Live: true, Run: true, Clock: clock})
	s.AddNode(Node{Name: "client"})
	base := startServer(t, s)
	s.End()
	for _, tc := range []struct{ path, body string }{
		{"/api/pause", ""},
		{"/api/play", ""},
		{"/api/step", ""},
		{"/api/clock/advance", `{"ms":10}`},
		// nothing more passes, so nothing can be held or dropped
		{"/api/hold", `{"point":"ws-out","node":"client"}`},
		{"/api/rules", `{"node":"client","point":"egress","rule":"loss 10%"}`},
	} {
		var e struct{ Error string }
		if code := api(t, s, "POST", base+tc.path, tc.body, &e); code != http.StatusConflict || !strings.HasPrefix(e.Error, "ui: the run has ended") {
			t.Errorf("POST %s after the end: %d %q, want 409 %q", tc.path, code, e.Error, "ui: the run has ended")
		}
		var st State
		api(t, s, "GET", base+"/api/state", "", &st)
		if !st.Ended || st.Paused || st.Mode != "free" {
			t.Errorf("state after POST %s: ended %v paused %v mode %s, want ended, not paused, free", tc.path, st.Ended, st.Paused, st.Mode)
		}
	}
}

// TestHoldAfterEndBadInput: after the end, a hold request (or a rule) that
// is wrong in itself answers 400 with what is wrong, not 409: a client that sent
// garbage learns that first.
func TestHoldAfterEndBadInput(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	s.AddNode(Node{Name: "client"})
	base := startServer(t, s)
	s.End()
	for _, tc := range []struct{ body, msg string }{
		{`{"point":"nowhere","node":"client"}`, `ui: point "nowhere"`},
		{`{"point":"ws-out","node":"server"}`, `ui: no node "server"`},
		{`{"point":"ws-out","node":"client","filter":"opcode ==="}`, "ui: frame filter"},
		{`{"point":"ws-out","node":"client","count":-1}`, "ui: count is how many units"},
		{`{"point":"link-egress","node":"client"}`, `ui: node "client" has no link`},
		{`garbage`, "ui: bad JSON"},
	} {
		var e struct{ Error string }
		if code := api(t, s, "POST", base+"/api/hold", tc.body, &e); code != http.StatusBadRequest || !strings.HasPrefix(e.Error, tc.msg) {
			t.Errorf("POST /api/hold %s after the end: %d %q, want 400 %q", tc.body, code, e.Error, tc.msg)
		}
	}
	// and so does a rule
	for _, tc := range []struct{ body, msg string }{
		{`{"node":"client","point":"sideways","rule":"loss 10%"}`, `ui: point "sideways"`},
		{`{"node":"server","point":"egress","rule":"loss 10%"}`, `ui: no node "server"`},
		{`{"node":"client","point":"egress","rule":"loss lots"}`, "ui: egress rule: "},
	} {
		var e struct{ Error string }
		if code := api(t, s, "POST", base+"/api/rules", tc.body, &e); code != http.StatusBadRequest || !strings.HasPrefix(e.Error, tc.msg) {
			t.Errorf("POST /api/rules %s after the end: %d %q, want 400 %q", tc.body, code, e.Error, tc.msg)
		}
	}
}

// TestControlBodies: play and pause take no body or {}, and refuse
// anything else as step does; the clock's step names its real range.
func TestControlBodies(t *testing.T) {
	t.Parallel()
	clock := netstack.NewPausableClock(netstack.PausableClockOptions{})
	t.Cleanup(clock.Stop)
	s, _ := New(Options{Live: true, Run: true, Clock: clock})
	base := startServer(t, s)
	for _, tc := range []struct {
		path, body string
		code       int
		msg        string
	}{
		{"/api/play", "", 200, ""},
		{"/api/play", "{}", 200, ""},
		{"/api/play", `{"x":1}`, 400, `unknown field "x"`},
		{"/api/pause", "garbage", 400, "ui: bad JSON"},
		{"/api/play", "{} garbage", 400, "more after"},
		{"/api/play", "{}{}", 400, "more after"},
		{"/api/play", " null\n", 400, "ui: the body is an object, not null"},
		{"/api/breakpoints", "null", 400, "ui: the body is an object, not null"},
		// a field of null is not a field left out
		{"/api/hold", `{"point":"link-egress","node":"client","filter":null}`, 400, "ui: filter is null: leave the field out instead"},
		{"/api/step", `{"to":null}`, 400, "ui: to is null"},
		{"/api/breakpoints", `{"breakpoints":["tcp",null]}`, 400, "ui: breakpoints is null"},
		{"/api/play", `{"x":"` + strings.Repeat("y", 1<<20) + `"}`, 413, "at most 1048576 bytes"},
		{"/api/clock/advance", `{"ms":1e30}`, 400, "ui: ms 1e30 is out of range (1 to 3600000)"},
		{"/api/clock/advance", `{"ms":1.5}`, 400, "ui: ms is a whole number, not 1.5"},
		// a whole number is written in digits, in every field
		{"/api/clock/advance", `{"ms":5e0}`, 400, "ui: ms 5e0: write the number in digits"},
		{"/api/hold", `{"point":"link-egress","node":"client","count":1e3}`, 400, "ui: count 1e3: write the number in digits"},
		{"/api/hold", `{"point":"link-egress","node":"client","count":1000000000000}`, 400, "1 to 10000"},
		// too large for the field's type: the range is still the
		// handler's, not the type's
		{"/api/clock/advance", `{"ms":1e400}`, 400, "ui: ms 1e400 is out of range (1 to 3600000)"},
		{"/api/hold", `{"point":"link-egress","node":"client","count":1e30}`, 400, "ui: count 1e30 is out of range (1 to 10000)"},
		// a field given twice: encoding/json takes the last, and which
		// one was meant is not known
		{"/api/hold", `{"point":"link-egress","node":"client","point":"ws-in"}`, 400, "ui: point is given twice"},
		{"/api/breakpoints", `{"breakpoints":["tcp"],"breakpoints":[]}`, 400, "ui: breakpoints is given twice"},
	} {
		var e struct{ Error string }
		code := api(t, s, "POST", base+tc.path, tc.body, &e)
		if code != tc.code || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("POST %s %s: %d %q, want %d with %q", tc.path, tc.body, code, e.Error, tc.code, tc.msg)
		}
	}
}

// TestDecideBadNumbers: a hold decision with a number its field cannot
// hold, or a value of the wrong kind, is a 400 that says which field and
// what it takes.
func TestDecideBadNumbers(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	base := startServer(t, s)
	for _, tc := range []struct{ body, want string }{
		{`{"action":"release","edit":{"window":99999}}`, "ui: edit.window 99999 is out of range (0 to 65535)"},
		{`{"action":"release","edit":{"seq":-1}}`, "ui: edit.seq -1 is out of range (0 to 4294967295)"},
		{`{"action":"release","edit":{"ack":4294967296}}`, "ui: edit.ack 4294967296 is out of range (0 to 4294967295)"},
		{`{"action":"release","edit":{"window":1.5}}`, "ui: edit.window is a whole number, not 1.5"},
		{`{"action":"release","edit":{"seq":1e3}}`, "ui: edit.seq 1e3: write the number in digits"},
		{`{"action":"release","edit":{"seq":"7"}}`, "ui: edit.seq is a whole number, not a string"},
		{`{"action":"release","edit":{"flags":18}}`, "ui: edit.flags is a string, not a number"},
		{`{"action":"release","edit":{"opcode":300}}`, "ui: edit.opcode 300: an opcode is continuation, text, binary, close, ping, pong or a number from 0 to 15"},
		{`{"action":"release","edit":{"opcode":true}}`, "ui: edit.opcode true: an opcode is"},
		{`{"action":"release","edit":{"fin":1}}`, "ui: edit.fin is true or false, not a number"},
		{`{"action":"delay","delay_ms":"soon"}`, "ui: delay_ms is a whole number, not a string"},
		{`{"action":"delay","delay_ms":1e30}`, "ui: delay_ms 1e30 is out of range (1 to 3600000)"},
		{`{"action":"release","edit":[]}`, "ui: edit is an object, not an array"},
		{`{"action":"release","extra":1}`, `ui: unknown field "extra"`},
		{`{"action":"release","edit":{"seq":1,"window":null}}`, "ui: edit.window is null: leave the field out instead"},
		{`{"action":"release","edit":{"seq":[1,{"a":null}]}}`, "ui: edit.seq is a whole number, not an array"},
		{`{"action":"release","edit":{"window":1,"window":2}}`, "ui: edit.window is given twice"},
	} {
		var e struct{ Error string }
		code := api(t, s, "POST", base+"/api/holds/1", tc.body, &e)
		if code != http.StatusBadRequest || !strings.HasPrefix(e.Error, tc.want) {
			t.Errorf("%s: %d %q, want 400 %q", tc.body, code, e.Error, tc.want)
		}
	}
}

// TestExportPCAPNGNeedsBytes: a history whose packets carry no bytes (a
// trace read from JSON lines) gets a 409 that says so, not an empty
// capture; one whose packets do gets its capture.
func TestExportPCAPNGNeedsBytes(t *testing.T) {
	t.Parallel()
	for _, withBytes := range []bool{false, true} {
		s, _ := New(Options{})
		base := startServer(t, s)
		e := trace.Event{ID: 1, Node: "client", Layer: trace.LayerLink, Dir: trace.Out, Name: "packet", Summary: "a packet"}
		if withBytes {
			e.Data = []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
		}
		s.Emit(&e)
		var out struct{ Error string }
		code := api(t, s, "GET", base+"/api/export?format=pcapng", "", nil)
		if !withBytes {
			api(t, s, "GET", base+"/api/export?format=pcapng", "", &out)
		}
		if want := map[bool]int{false: 409, true: 200}[withBytes]; code != want || (!withBytes && !strings.Contains(out.Error, "no packet bytes")) {
			t.Errorf("packets with bytes %v: %d %q, want %d", withBytes, code, out.Error, want)
		}
	}
}

// TestConnsOfRecordedTrace: the connections table is a read, so a recorded
// trace answers it (with no rows: no stack runs), not 409 as a control.
func TestConnsOfRecordedTrace(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{})
	base := startServer(t, s)
	var out struct{ Conns []any }
	if code := api(t, s, "GET", base+"/api/conns", "", &out); code != 200 || out.Conns == nil || len(out.Conns) != 0 {
		t.Errorf("GET /api/conns of a recorded trace: %d %+v, want 200 and no rows", code, out)
	}
}

// TestWritesFromOtherPages: the token cookie goes with requests from any
// page of the same site (another port of localhost), so a request that
// changes something is refused when a browser says another page sent it;
// this page's own, and a program's (no Origin), pass. Reads are not
// refused: another page cannot read the answers (no CORS).
func TestWritesFromOtherPages(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	base := startServer(t, s)
	host := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		code         int
	}{
		{"POST", "/api/rules", map[string]string{"Origin": "http://127.0.0.1:3000", "Content-Type": "text/plain"}, 403},
		{"POST", "/api/pause", map[string]string{"Origin": "http://evil.example"}, 403},
		{"POST", "/api/pause", map[string]string{"Origin": "null"}, 403},
		{"POST", "/api/pause", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"DELETE", "/api/rules/1", map[string]string{"Origin": "http://localhost:3000"}, 403},
		{"POST", "/api/pause", map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, 200},
		{"POST", "/api/pause", nil, 200},
		{"GET", "/api/state", map[string]string{"Origin": "http://127.0.0.1:3000"}, 200},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(""))
		req.Header.Set("X-Glassnet-Token", s.Token())
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s with %v: %d, want %d", tc.method, tc.path, tc.header, resp.StatusCode, tc.code)
		}
	}
}

// TestAnnounce: a view on more than loopback is announced with a warning,
// and one on every address at a URL a browser opens (http://[::]:PORT/ is
// not one).
func TestAnnounce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, at string
		warn    bool
	}{
		{"http://127.0.0.1:8999/?token=x", "http://127.0.0.1:8999/?token=x", false},
		{"http://[::1]:8999/?token=x", "http://[::1]:8999/?token=x", false},
		{"http://localhost:8999/?token=x", "http://localhost:8999/?token=x", false},
		{"http://[::]:18114/?token=x", "http://127.0.0.1:18114/?token=x", true},
		{"http://0.0.0.0:18114/?token=x", "http://127.0.0.1:18114/?token=x", true},
		{"http://192.0.2.7:8999/?token=x", "http://192.0.2.7:8999/?token=x", true},
	} {
		got := Announce(tc.url)
		first, _, _ := strings.Cut(got, "\n")
		if first != "glassnet: ui at "+tc.at || strings.Contains(got, "not loopback only") != tc.warn {
			t.Errorf("Announce(%s) = %q, want it at %s, a warning: %v", tc.url, got, tc.at, tc.warn)
		}
	}
}

// TestExportNamesItsRange: the history keeps the newest events, and an
// export says which it holds (an export of a long run started at event
// 20899 with nothing to say so).
func TestExportNamesItsRange(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{History: 100})
	base := startServer(t, s)
	emitN(s, 1, 250)
	resp, b := request(t, s, "GET", base+"/api/export?format=jsonl", "")
	if got := resp.Header.Get("X-Glassnet-Events"); got != "151-250" {
		t.Errorf("X-Glassnet-Events %q, want 151-250", got)
	}
	if n := bytes.Count(b, []byte("\n")); n != 100 {
		t.Errorf("%d events exported, want the 100 kept", n)
	}
}

// TestLiveRules: the live stream sends the rules on connecting and again
// whenever a rule is added or removed, so that every page open lists what
// another page or a script changed.
func TestLiveRules(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	if err := s.AddNode(Node{Name: "client", Egress: []string{"loss 1%"}}); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	p := dialLive(t, s, base, 0)
	rules := func() []*liveRule {
		t.Helper()
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
			if m := p.next(t); m.Type == "rules" {
				return m.Rules
			}
		}
		t.Fatal("no live message about the rules in 20 s")
		return nil
	}
	if got := rules(); len(got) != 1 || got[0].Rule != "loss 1%" {
		t.Fatalf("the first rules message: %+v, want the command line's loss 1%%", got)
	}
	var added struct{ ID uint64 }
	if code := api(t, s, "POST", base+"/api/rules", `{"node":"client","point":"ingress","rule":"udp : drop"}`, &added); code != 200 {
		t.Fatalf("POST /api/rules: %d", code)
	}
	if got := rules(); len(got) != 2 || got[1].ID != added.ID || got[1].Rule != "udp : drop" || got[1].Point != "ingress" {
		t.Fatalf("after a rule was added: %+v, want it as rule %d", got, added.ID)
	}
	if code := api(t, s, "DELETE", fmt.Sprintf("%s/api/rules/%d", base, added.ID), "", nil); code != 200 {
		t.Fatalf("DELETE /api/rules/%d: %d", added.ID, code)
	}
	if got := rules(); len(got) != 1 || got[0].Rule != "loss 1%" {
		t.Fatalf("after the rule was removed: %+v", got)
	}
}

// drainCheck is a request body that records whether it was read to its end.
type drainCheck struct {
	r   *strings.Reader
	eof bool
}

func (d *drainCheck) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == io.EOF {
		d.eof = true
	}
	return n, err
}

func (d *drainCheck) Close() error { return nil }

// TestUnreadBodyRead: a request body no handler reads (a GET's, a refused
// request's) is read to its end before the answer is done, so that the
// server does not close the connection on unread bytes, which resets it
// and can lose the answer.
func TestUnreadBodyRead(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	t.Cleanup(func() { s.Close() })
	h := s.Handler()
	for _, tc := range []struct {
		method, path string
		token        bool
		code         int
	}{
		{"GET", "/api/export?format=jsonl", true, 200},
		{"GET", "/api/state", true, 200},
		{"GET", "/api/events/1", true, 404},
		{"PUT", "/api/state", true, 405},
		{"GET", "/api/nothing", true, 404},
		{"GET", "/api/state", false, 401},
	} {
		body := &drainCheck{r: strings.NewReader(`{"a":"` + strings.Repeat("x", 5000) + `"}`)}
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Body = body
		req.ContentLength = int64(body.r.Len())
		if tc.token {
			req.Header.Set("X-Glassnet-Token", s.Token())
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
		if !body.eof {
			t.Errorf("%s %s: the request body was left unread", tc.method, tc.path)
		}
	}
}

// TestStateHasEveryField: GET /api/state carries every key go doc ./ui
// lists, also those whose value is empty: no breakpoint hit ("hit": ""),
// no clock ("clock_ns": 0).
func TestStateHasEveryField(t *testing.T) {
	t.Parallel()
	for _, live := range []bool{true, false} {
		s, _ := New(Options{Live: live, Run: true})
		base := startServer(t, s)
		var st map[string]any
		api(t, s, "GET", base+"/api/state", "", &st)
		for _, k := range []string{"live", "paused", "mode", "current", "first", "last", "count", "history",
			"skipped", "breakpoints", "hit", "held", "clock_paused", "clock_ns", "nodes", "ended", "capture", "partial"} {
			if _, ok := st[k]; !ok {
				t.Errorf("live %v: the state %v has no %q", live, st, k)
			}
		}
	}
}

// TestAPIErrorsSayUI: every error answer starts "ui: ", also the ones
// whose words come from a parser (a breakpoint, a hold's filter) or from
// the WebSocket handshake, and one that quotes a huge input stays short.
func TestAPIErrorsSayUI(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	s.AddNode(Node{Name: "client"})
	base := startServer(t, s)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/live", ""},
		{"POST", "/api/breakpoints", `{"breakpoints":["tcp and and"]}`},
		{"POST", "/api/breakpoints", `{"breakpoints":["state NOPE"]}`},
		{"POST", "/api/breakpoints", `{"breakpoints":["` + strings.Repeat("x", 100000) + `"]}`},
		{"POST", "/api/hold", `{"point":"ws-in","node":"client","filter":"ws close and and"}`},
	} {
		resp, body := request(t, s, tc.method, base+tc.path, tc.body)
		var e struct{ Error string }
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode < 400 || resp.StatusCode > 499 {
			t.Errorf("%s %s: %d %.200q, want a 4xx JSON error", tc.method, tc.path, resp.StatusCode, body)
			continue
		}
		if !strings.HasPrefix(e.Error, "ui: ") || len(e.Error) > maxErrorText || !utf8.ValidString(e.Error) {
			t.Errorf("%s %.60s: error of %d bytes %.200q, want one that starts \"ui: \", at most %d bytes", tc.method, tc.body, len(e.Error), e.Error, maxErrorText)
		}
	}
}

// TestAckBeyondSent: a page that acknowledges an ID it was never sent
// (the largest there is) still gets the events, and its later acks still
// let the stepping stack go on: the sums with the ack no longer wrap.
func TestAckBeyondSent(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true})
	base := startServer(t, s)
	p := dialLive(t, s, base, 0)
	p.next(t)
	p.ack(t, 1<<64-1)
	const n = stepWindow + 500
	done := emitCarried(s, n)
	last := p.readTo(t, stepWindow+1)
	p.ack(t, last)
	for deadline := time.Now().Add(20 * time.Second); last < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the page got events up to %d of %d (the stack is at %d)", last, n, s.State().Last)
		}
		m := p.next(t)
		for _, e := range m.Events {
			last = uint64(e["id"].(float64))
		}
		p.ack(t, last)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the stack is held at %d by a page that acknowledged %d", s.State().Last, last)
	}
	if st := s.State(); st.Last != n {
		t.Fatalf("last %d, want %d", st.Last, n)
	}
}

// emitCarried emits n events that are not steps (the Stepper lets them
// by, only a page holds them) into s on a goroutine of its own; done is
// closed once every one is delivered.
func emitCarried(s *Server, n int) (done <-chan struct{}) {
	tr := trace.New(s.Sink())
	c := make(chan struct{})
	go func() {
		defer close(c)
		for range n {
			tr.Emit(trace.Event{Node: "client", Layer: trace.LayerLink, Name: "carried"})
		}
	}()
	return c
}

// readTo reads the page's messages until it has been sent event id or a
// later one, and returns the last id it was sent.
func (p *livePage) readTo(t testing.TB, id uint64) uint64 {
	t.Helper()
	var last uint64
	for last < id {
		m := p.next(t)
		for _, e := range m.Events {
			last = uint64(e["id"].(float64))
		}
	}
	return last
}

// TestBodyFault names the field of a body that is null, or given twice in
// its object, nested ones too, as a decoding error names a field.
func TestBodyFault(t *testing.T) {
	t.Parallel()
	const null = " is null: leave the field out instead"
	for _, tc := range []struct{ body, want string }{
		{`{"a":1,"b":null}`, "b" + null},
		{`{"a":{"b":[1,{"c":null}]}}`, "a.b.c" + null},
		{`{"a":[1,null]}`, "a" + null},
		{`{"a":"null","b":[],"c":{}}`, ""},
		{`{"a":{"x":1},"b":{"y":null}}`, "b.y" + null},
		{`[null]`, ""},
		{`{"a":`, ""},
		{`{"a":1,"a":2}`, "a is given twice"},
		{`{"e":{"w":1,"s":2,"w":3}}`, "e.w is given twice"},
		{`{"e":[{"w":1},{"w":2}],"f":{"w":3}}`, ""},
	} {
		if got := bodyFault([]byte(tc.body)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestClosedViewStopsNoStep: once the view is closed (a demo or serve
// interrupted), an event a breakpoint matches, or a held packet's step
// still to come, does not stop the run: nothing would play it again, and
// the goroutine that traced the event would wait for ever.
func TestClosedViewStopsNoStep(t *testing.T) {
	t.Parallel()
	s, _ := New(Options{Live: true, Run: true})
	if err := s.SetBreakpoints("tcp"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pkt := hook.BuildTCP(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 40000, 80, 1, 1, 0x18, 512, 64)
		s.Emit(&trace.Event{ID: 1, Node: "client", Layer: trace.LayerLink, Dir: trace.Out, Name: "packet", Data: pkt})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("an event a breakpoint matches, traced after the view closed, waited 10 s for a step")
	}
}

// TestLiveBadMessage: a message on /api/live that is not an ack as the
// doc writes it ({"type":"ack","last":ID}) closes the stream with 1008 and
// a reason that says what was wrong, rather than being passed over: a
// script whose acks are never taken would be sent nothing more, silently.
func TestLiveBadMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ msg, says string }{
		{`not json`, "not JSON"},
		{`{"type":"ack","last":"7"}`, "last"},
		{`{"type":"ack"}`, "last"},
		{`{"type":"hello"}`, `"hello"`},
		// cut to fit a close reason, and still UTF-8: ws refused to send
		// a reason cut inside a character, and the stream just ended
		{`{"type":"` + strings.Repeat("é", 40) + `"}`, `type "\u00e9`},
		{`[1,2]`, "not JSON"},
	} {
		s, _ := New(Options{Live: true, Run: true})
		base := startServer(t, s)
		emitN(s, 1, 10)
		p := dialLive(t, s, base, 0)
		if err := p.c.WriteMessage(context.Background(), ws.MessageText, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		for err == nil {
			_, _, err = p.c.ReadMessage(ctx)
		}
		cancel()
		var ce *ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.StatusPolicyViolation || !strings.Contains(ce.Reason, tc.says) {
			t.Errorf("%s sent on /api/live: the stream ended with %v, want a close 1008 that says %s", tc.msg, err, tc.says)
		}
	}
}

// TestRequestHeadBounded: a request head longer than maxRequestHead is
// answered 431 before the token is looked at, without being read whole;
// one with a browser's worth of cookies is served.
func TestRequestHeadBounded(t *testing.T) {
	t.Parallel()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	for _, tc := range []struct {
		head   int // bytes, the request line and the blank line included
		status string
	}{
		{16 << 10, "200"},
		{maxRequestHead, "200"},
		// net/http reads 4 KiB past its MaxHeaderBytes before it
		// answers 431.
		{maxRequestHead + 1, "431"},
		{maxRequestHead + 4<<10, "431"},
		{900 << 10, "431"},
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		start, end := "GET /api/state HTTP/1.1\r\nHost: localhost\r\nX-Glassnet-Token: "+s.Token()+"\r\nConnection: close\r\nCookie: ", "\r\n\r\n"
		req := start + strings.Repeat("a", tc.head-len(start)-len(end)) + end
		go c.Write([]byte(req))
		got, _ := io.ReadAll(c)
		c.Close()
		line, _, _ := strings.Cut(string(got), "\r\n")
		if !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("a head of %d bytes: %q, want %s", len(req), line, tc.status)
		}
	}
}

// TestBodyTimeout: a request whose body is announced and not sent is
// answered 408 once bodyTimeout has passed, instead of holding its
// connection and its handler for good.
func TestBodyTimeout(t *testing.T) {
	defer func(d time.Duration) { bodyTimeout = d }(bodyTimeout)
	bodyTimeout = 200 * time.Millisecond
	s, err := New(Options{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "POST /api/breakpoints HTTP/1.1\r\nHost: localhost\r\nX-Glassnet-Token: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"filters\":", s.Token())
	got, err := io.ReadAll(c)
	if line, _, _ := strings.Cut(string(got), "\r\n"); !strings.HasPrefix(line, "HTTP/1.1 408 ") || !strings.Contains(string(got), "did not arrive within") {
		t.Errorf("a body that never arrives: %q (%v), want 408 saying so", got, err)
	}
}

// TestLoopbackHostOnly: a view listening on loopback answers only
// requests whose Host names loopback: a page on a name pointed at
// 127.0.0.1 afterwards (DNS rebinding) gets 403 even with the token
// (without it, 401 as any request).
func TestLoopbackHostOnly(t *testing.T) {
	t.Parallel()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, tc := range []struct {
		host   string
		status string
	}{
		{"127.0.0.1:" + port, "200"},
		{"localhost:" + port, "200"},
		{"LocalHost.:" + port, "200"},
		{"view.localhost:" + port, "200"},
		{"[::1]:" + port, "200"},
		{"127.0.0.2", "200"},
		{"evil.example:" + port, "403"},
		{"evil.example", "403"},
		{"localhost.evil.example:" + port, "403"},
		{"10.0.0.1:" + port, "403"},
		{"[::ffff:10.0.0.1]:" + port, "403"},
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /api/state HTTP/1.1\r\nHost: %s\r\nX-Glassnet-Token: %s\r\nConnection: close\r\n\r\n", tc.host, s.Token())
		got, _ := io.ReadAll(c)
		c.Close()
		line, _, _ := strings.Cut(string(got), "\r\n")
		if !strings.HasPrefix(line, "HTTP/1.1 "+tc.status+" ") {
			t.Errorf("Host %q: %q, want %s", tc.host, line, tc.status)
		}
		if tc.status == "403" && !strings.Contains(string(got), "not a loopback name or address") {
			t.Errorf("Host %q: %q, want the reason", tc.host, got)
		}
	}
	// Without the token it is 401, whatever the Host.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
	got, _ := io.ReadAll(c)
	if line, _, _ := strings.Cut(string(got), "\r\n"); !strings.HasPrefix(line, "HTTP/1.1 401 ") {
		t.Errorf("Host evil.example without the token: %q, want 401", line)
	}
}
