package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

// TestUIAPIAudit drives the browser view as a script written from the
// README and `go doc ./ui` would: through the JSON API, a live stream of
// its own, and the page's data-* attributes, on `glassnet demo --ui` and
// on `glassnet serve --ui` over a TUN. Each check is a promise the
// documentation makes.
func TestUIAPIAudit(t *testing.T) {
	t.Run("queries", func(t *testing.T) {
		r := startUI(t, "demo", "--ui", "127.0.0.1:0")
		auditQueries(t, r)
	})
	t.Run("pages", func(t *testing.T) {
		r := startUI(t, "demo", "--ui", "127.0.0.1:0")
		auditPages(t, r)
	})
	t.Run("concurrent", func(t *testing.T) {
		r := startUI(t, "demo", "--ui", "127.0.0.1:0")
		auditConcurrent(t, r)
	})
	t.Run("page", func(t *testing.T) {
		needProgram(t, chromiumBin, "chromium")
		r := startUI(t, "demo", "--ui", "127.0.0.1:0", "--ui-run")
		auditPage(t, r)
	})
	t.Run("serve", func(t *testing.T) {
		needProgram(t, curlBin, "curl")
		netnstest.RunTUN(t, func(t *testing.T) {
			s := startServe(t, "--ui", "127.0.0.1:0")
			auditServe(t, serveUI(t, s))
		})
	})
}

// auditAnswer is one answer of the view: its status and body.
type auditAnswer struct {
	status int
	body   []byte
}

// auditDo sends one request to the view with the token in the
// X-Glassnet-Token header and returns the answer.
func auditDo(t *testing.T, r *uiRun, method, path string, body []byte) auditAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Glassnet-Token", r.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return auditAnswer{res.StatusCode, b}
}

// auditJSON is auditDo with a JSON body (nil for none) that wants a 200
// and decodes the answer into out (when not nil).
func auditJSON(t *testing.T, r *uiRun, method, path string, body, out any) {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	a := auditDo(t, r, method, path, b)
	if a.status != http.StatusOK {
		t.Fatalf("%s %s %s: %d %s", method, path, b, a.status, a.body)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, a.body)
		}
	}
}

// auditError checks that a is the documented error: the status want and a
// body {"error":"ui: ..."} whose message contains each of says.
func auditError(t *testing.T, what string, a auditAnswer, want int, says ...string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || !strings.HasPrefix(e.Error, "ui: ") {
		t.Errorf("%s: %d %.300q, want a JSON {\"error\":\"ui: ...\"}", what, a.status, a.body)
		return
	}
	if a.status != want {
		t.Errorf("%s: %d %s, want %d", what, a.status, e.Error, want)
	}
	for _, s := range says {
		if !strings.Contains(e.Error, s) {
			t.Errorf("%s: the error %q does not say %q", what, e.Error, s)
		}
	}
}

// auditStateOf is the part of GET /api/state the audit reads.
type auditStateOf struct {
	Paused      bool     `json:"paused"`
	Mode        string   `json:"mode"`
	Current     uint64   `json:"current"`
	Breakpoints []string `json:"breakpoints"`
	Held        int      `json:"held"`
	Ended       bool     `json:"ended"`
}

// auditEvent is the part of an event the audit reads.
type auditEvent struct {
	ID      uint64 `json:"id"`
	Node    string `json:"node"`
	Layer   string `json:"layer"`
	Event   string `json:"event"`
	Dir     string `json:"dir"`
	Summary string `json:"summary"`
}

// auditEvents fetches GET /api/events?query.
func auditEvents(t *testing.T, r *uiRun, query string) (evs []auditEvent, first, last uint64) {
	t.Helper()
	var res struct {
		Events      []auditEvent `json:"events"`
		First, Last uint64
	}
	auditJSON(t, r, "GET", "/api/events?"+query, nil, &res)
	return res.Events, res.First, res.Last
}

// auditWait polls cond every 20 ms until it holds or 20 s have passed; then
// it fails the test with the view's state and holds.
func auditWait(t *testing.T, r *uiRun, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			st := auditDo(t, r, "GET", "/api/state", nil)
			hs := auditDo(t, r, "GET", "/api/holds", nil)
			t.Fatalf("waited 20 s for %s; state %s, holds %s", what, st.body, hs.body)
		}
	}
}

// auditStarted waits until a demo that waits at its first step is there.
func auditStarted(t *testing.T, r *uiRun) {
	t.Helper()
	auditWait(t, r, "the demo at its first step", func() bool {
		var st auditStateOf
		auditJSON(t, r, "GET", "/api/state", nil, &st)
		return st.Paused && st.Current != 0
	})
}

// auditQueries checks the query strings of the paths that take one: a
// malformed query is a 400 that says so, never a range quietly widened.
func auditQueries(t *testing.T, r *uiRun) {
	auditStarted(t, r)
	auditJSON(t, r, "POST", "/api/step", map[string]string{"to": "frame"}, nil)
	evs, first, last := auditEvents(t, r, "from=3&to=5")
	if len(evs) != 3 || evs[0].ID != 3 || evs[2].ID != 5 || first != 1 || last < 5 {
		t.Fatalf("from=3&to=5: %d events, first %d last %d", len(evs), first, last)
	}
	for _, c := range []struct {
		path string
		says string
	}{
		// url.Query drops a pair it cannot parse: from=3;to=5 would be
		// every event, %zz=1 nothing at all.
		{"/api/events?from=3;to=5", "does not parse"},
		{"/api/events?from=3&to=5&%zz=1", "does not parse"},
		{"/api/events?from=%G1", "does not parse"},
		{"/api/export?format=jsonl;x=1", "does not parse"},
		{"/api/live?from=1;x", "does not parse"},
	} {
		auditError(t, c.path, auditDo(t, r, "GET", c.path, nil), http.StatusBadRequest, c.says)
	}
}

// auditLive is a script's own /api/live, which makes it a page: it
// acknowledges every batch, as the page does, so that the stack never
// waits for it.
type auditLive struct {
	conn *ws.Conn
	done chan error // the read loop's end
}

func openAuditLive(t *testing.T, r *uiRun) *auditLive {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(r.base, "http") + "/api/live?token=" + r.token
	c, _, err := ws.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	l := &auditLive{conn: c, done: make(chan error, 1)}
	go func() {
		for {
			_, p, err := c.ReadMessage(context.Background())
			if err != nil {
				l.done <- err
				return
			}
			var m struct {
				Events []struct {
					ID uint64 `json:"id"`
				} `json:"events"`
			}
			if json.Unmarshal(p, &m) != nil {
				continue
			}
			if n := len(m.Events); n > 0 {
				ack := fmt.Sprintf(`{"type":"ack","last":%d}`, m.Events[n-1].ID)
				if err := c.WriteMessage(context.Background(), ws.MessageText, []byte(ack)); err != nil {
					l.done <- err
					return
				}
			}
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return l
}

// close closes the stream with 1000 and waits for its read loop to end.
func (l *auditLive) close(t *testing.T) {
	t.Helper()
	l.conn.Close(ws.StatusNormalClosure, "")
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the live stream did not end within 10 s of its close")
	}
}

// auditRawPageComesAndGoes opens /api/live on a connection of its own,
// sends a close frame and reads until the view closes the connection. The
// view forgets the page just after it has closed the connection; the
// close handshake alone, whose answer comes before, would leave the test
// asking for the holds before the page is gone.
func auditRawPageComesAndGoes(t *testing.T, r *uiRun) {
	t.Helper()
	host := strings.TrimPrefix(r.base, "http://")
	c, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /api/live?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", r.token, host)
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		t.Fatalf("a second page's upgrade: %q %v", status, err)
	}
	// A masked close frame, 1000, with the zero masking key.
	if _, err := c.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("a second page's close: the view did not close the connection: %v", err)
	}
}

// auditHeld is one held unit of GET /api/holds.
type auditHeld struct {
	ID uint64 `json:"id"`
}

// auditHoldList is GET /api/holds: the units held and the requests armed.
type auditHoldList struct {
	Holds []auditHeld `json:"holds"`
	Armed []struct {
		ID uint64 `json:"id"`
	} `json:"armed"`
}

// auditHeldNow waits until a unit is held and returns it.
func auditHeldNow(t *testing.T, r *uiRun) auditHeld {
	t.Helper()
	var hs auditHoldList
	auditWait(t, r, "a held unit", func() bool {
		hs = auditHoldList{}
		auditJSON(t, r, "GET", "/api/holds", nil, &hs)
		return len(hs.Holds) > 0
	})
	return hs.Holds[0]
}

// auditDecide posts a decision on held unit id and returns the answer.
func auditDecide(t *testing.T, r *uiRun, id uint64, body string) auditAnswer {
	t.Helper()
	return auditDo(t, r, "POST", "/api/holds/"+strconv.FormatUint(id, 10), []byte(body))
}

// auditPages holds a packet of the demo with two live streams open, the
// pages of the promise "a page that goes away releases what it held":
// the second one leaving releases nothing while the first is there; the
// first, the last page, leaving releases the unit and forgets the armed
// request.
func auditPages(t *testing.T, r *uiRun) {
	auditStarted(t, r)
	live := openAuditLive(t, r)

	// The client's SYN held at the link; the run stops at its held step.
	auditJSON(t, r, "POST", "/api/hold", map[string]any{"point": "link-egress", "node": "client", "filter": "tcp and syn"}, nil)
	auditJSON(t, r, "POST", "/api/play", nil, nil)
	auditWait(t, r, "the SYN held and the run stopped at it", func() bool {
		var st auditStateOf
		auditJSON(t, r, "GET", "/api/state", nil, &st)
		return st.Paused && st.Held == 1
	})
	auditJSON(t, r, "POST", "/api/hold", map[string]any{"point": "link-ingress", "node": "server", "filter": "tcp", "count": 5}, nil)

	// A second page comes and goes: the first is still there, so what is
	// held stays held.
	held := auditHeldNow(t, r)
	auditRawPageComesAndGoes(t, r)
	var hs auditHoldList
	auditJSON(t, r, "GET", "/api/holds", nil, &hs)
	if len(hs.Holds) != 1 || hs.Holds[0].ID != held.ID {
		t.Fatalf("after a second page left the holds are %+v, want unit %d still held", hs.Holds, held.ID)
	}
	// The only page goes away with a unit held and a request armed.
	live.close(t)
	auditWait(t, r, "the held unit released and the armed hold forgotten", func() bool {
		hs = auditHoldList{}
		auditJSON(t, r, "GET", "/api/holds", nil, &hs)
		return len(hs.Holds) == 0 && len(hs.Armed) == 0
	})
	auditError(t, "a unit released when the page left", auditDecide(t, r, held.ID, `{"action":"drop"}`), http.StatusNotFound, "released when the last page went away")
}

// auditConcurrent has several scripts drive one demo at once with commands
// that contradict each other. Eight decisions on one held packet: one
// wins, the others are told which. Then a free-for-all: every answer is a
// 200, or a 4xx with a JSON error (never a 5xx), and the run can be
// paused and stepped afterwards.
func auditConcurrent(t *testing.T, r *uiRun) {
	auditStarted(t, r)
	live := openAuditLive(t, r)
	auditJSON(t, r, "POST", "/api/hold", map[string]any{"point": "link-egress", "node": "client", "filter": "tcp and syn"}, nil)
	auditJSON(t, r, "POST", "/api/play", nil, nil)
	syn := auditHeldNow(t, r)
	actions := []string{"release", "drop", "duplicate", "delay", "release", "drop", "duplicate", "delay"}
	answers := make([]auditAnswer, len(actions))
	var race sync.WaitGroup
	for i, act := range actions {
		body := `{"action":"` + act + `"}`
		if act == "delay" {
			body = `{"action":"delay","delay_ms":5}`
		}
		race.Go(func() { answers[i] = auditDecide(t, r, syn.ID, body) })
	}
	race.Wait()
	var won []string
	for i, a := range answers {
		if a.status == http.StatusOK {
			won = append(won, actions[i])
		}
	}
	if len(won) != 1 {
		t.Fatalf("eight decisions on held unit %d at once: %d won (%q), want one", syn.ID, len(won), won)
	}
	for i, a := range answers {
		if a.status != http.StatusOK {
			past := map[string]string{"release": "released", "drop": "dropped", "duplicate": "duplicated", "delay": "delayed"}[won[0]]
			auditError(t, actions[i]+" after "+won[0], a, http.StatusNotFound, fmt.Sprintf("decided already: held unit %d was %s", syn.ID, past))
		}
	}
	auditJSON(t, r, "POST", "/api/play", nil, nil)

	reqs := []struct{ method, path, body string }{
		{"POST", "/api/play", ""},
		{"POST", "/api/pause", ""},
		{"POST", "/api/step", `{"to":"packet"}`},
		{"POST", "/api/step", `{"to":"frame"}`},
		{"POST", "/api/breakpoints", `{"breakpoints":["tcp and fin"]}`},
		{"POST", "/api/breakpoints", `{"breakpoints":[]}`},
		{"POST", "/api/hold", `{"point":"link-egress","node":"client","filter":"tcp"}`},
		{"GET", "/api/holds", ""},
		{"POST", "/api/rules", `{"node":"client","point":"egress","rule":"tcp : delay 1ms"}`},
		{"DELETE", "/api/rules/1", ""},
		{"POST", "/api/clock/advance", `{"ms":10}`},
		{"GET", "/api/state", ""},
		{"GET", "/api/events?from=1&to=50", ""},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for w := range 6 {
		wg.Go(func() {
			for i := range 40 {
				q := reqs[(w*7+i*5)%len(reqs)]
				var body []byte
				if q.body != "" {
					body = []byte(q.body)
				}
				a := auditDo(t, r, q.method, q.path, body)
				// Decide whatever the arming above held, as another page would.
				if q.path == "/api/holds" && a.status == http.StatusOK {
					var hs auditHoldList
					if json.Unmarshal(a.body, &hs) == nil {
						for _, h := range hs.Holds {
							auditDecide(t, r, h.ID, `{"action":"release"}`)
						}
					}
				}
				var e struct {
					Error string `json:"error"`
				}
				if a.status == http.StatusOK || (a.status >= 400 && a.status < 500 && json.Unmarshal(a.body, &e) == nil && strings.HasPrefix(e.Error, "ui: ")) {
					continue
				}
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s %s %s: %d %s", q.method, q.path, q.body, a.status, a.body))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	// Whatever state that left: disarm, release, pause, and step once.
	var hs auditHoldList
	auditJSON(t, r, "GET", "/api/holds", nil, &hs)
	for _, a := range hs.Armed {
		auditDo(t, r, "DELETE", "/api/hold/"+strconv.FormatUint(a.ID, 10), nil)
	}
	auditJSON(t, r, "POST", "/api/breakpoints", map[string]any{"breakpoints": []string{}}, nil)
	hs = auditHoldList{}
	auditJSON(t, r, "GET", "/api/holds", nil, &hs)
	for _, h := range hs.Holds {
		auditDecide(t, r, h.ID, `{"action":"release"}`)
	}
	// The scripts' play may have run the demo to its end: then pause is
	// a 409 that says so.
	if a := auditDo(t, r, "POST", "/api/pause", nil); a.status != http.StatusOK {
		auditError(t, "pause after the scripts", a, http.StatusConflict, "ui: the run has ended")
	}
	var st auditStateOf
	auditJSON(t, r, "GET", "/api/state", nil, &st)
	if !st.Ended {
		auditWait(t, r, "the run paused at a step", func() bool {
			st = auditStateOf{}
			auditJSON(t, r, "GET", "/api/state", nil, &st)
			return st.Ended || (st.Paused && st.Current != 0)
		})
	}
	if !st.Ended {
		before := st.Current
		auditJSON(t, r, "POST", "/api/step", map[string]string{"to": "event"}, &st)
		if st.Current <= before {
			t.Errorf("a step after the contest: current %d, was %d", st.Current, before)
		}
	}
	live.close(t)
}

// auditPage opens the finished demo's page at #event=ID for units of
// several kinds and checks that every element carrying that
// data-event-id is lit as the selection, and that a click on one moves
// the selection and the address.
func auditPage(t *testing.T, r *uiRun) {
	auditWait(t, r, "the demo's end", func() bool {
		var st auditStateOf
		auditJSON(t, r, "GET", "/api/state", nil, &st)
		return st.Ended
	})
	evs, _, _ := auditEvents(t, r, "from=1")
	pick := map[string]uint64{}
	for _, e := range evs {
		var kind string
		switch {
		case e.Layer == "link" && e.Event == "packet" && e.Dir == "in" && e.Node == "server":
			kind = "packet received"
		case e.Layer == "link" && e.Event == "packet" && e.Dir == "out" && e.Node == "client":
			kind = "packet sent"
		case e.Layer == "ws" && e.Event == "frame":
			kind = "frame"
		case e.Layer == "socket" && e.Event == "recv":
			kind = "recv"
		case e.Layer == "tcp" && e.Event == "state":
			kind = "tcp state"
		default:
			continue
		}
		// The middle one of each kind, not the first: the handshake's
		// packets are the easy ones.
		if _, ok := pick[kind]; !ok || e.ID < evs[len(evs)/2].ID {
			pick[kind] = e.ID
		}
	}
	if len(pick) < 5 {
		t.Fatalf("the demo's history lacks a kind of unit: %v", pick)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := pick["frame"]
	page, stderr := chromiumCDP(t, ctx, r.url+"#event="+strconv.FormatUint(first, 10))
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nchromium stderr:\n%s", append(args, stderr.Bytes())...)
	}
	if _, err := page.wait(ctx, fmt.Sprintf(`window.glassnet && glassnet.selected === %d && glassnet.store`, first)); err != nil {
		fail("the page did not select #event=%d: %v", first, err)
	}
	for kind, id := range pick {
		if _, err := page.eval(ctx, fmt.Sprintf(`location.hash = "#event=%d"`, id)); err != nil {
			fail("set #event=%d: %v", id, err)
		}
		// Once the inspector's title names it, every element with the id,
		// in every view, the inspector's summary line too, is lit as the
		// selection.
		if _, err := page.wait(ctx, fmt.Sprintf(`glassnet.selected === %[1]d && document.getElementById("inspector-title").textContent.startsWith("#%[1]d ")`, id)); err != nil {
			fail("%s #%d: the inspector's title does not name it: %v", kind, id, err)
		}
		// The views draw on their own frames: wait for every one.
		lit := fmt.Sprintf(`(() => {
			const els = [...document.querySelectorAll('[data-event-id="%[1]d"]')];
			const dark = els.filter((el) => el.dataset.hl !== "sel");
			const views = [...new Set(els.map((el) => (el.closest(".panel") || {}).id))].join(",");
			return JSON.stringify({n: els.length, dark: dark.map((el) => el.outerHTML.slice(0, 160)), views});
		})()`, id)
		_, waitErr := page.wait(ctx, `(r => r.n > 0 && r.dark.length === 0)(JSON.parse(`+lit+`))`)
		got, err := page.eval(ctx, lit)
		if err != nil {
			fail("%s #%d: %v", kind, id, err)
		}
		var res struct {
			N     int      `json:"n"`
			Dark  []string `json:"dark"`
			Views string   `json:"views"`
		}
		if err := json.Unmarshal([]byte(got), &res); err != nil {
			fail("%s #%d: %v in %s", kind, id, err, got)
		}
		t.Logf("%s #%d: %d elements in %s", kind, id, res.N, res.Views)
		if waitErr != nil || res.N == 0 || len(res.Dark) > 0 {
			t.Errorf("%s #%d selected: %d elements carry its data-event-id, these %d not data-hl=\"sel\": %q", kind, id, res.N, len(res.Dark), res.Dark)
		}
	}
	// A click on a ladder arrow selects its unit and writes the address.
	id := pick["packet sent"]
	got, err := page.eval(ctx, fmt.Sprintf(`(() => {
		location.hash = "";
		const el = document.querySelector('#ladder [data-event-id="%d"]');
		if (!el) return "no arrow";
		el.dispatchEvent(new MouseEvent("click", {bubbles: true}));
		return "clicked";
	})()`, id))
	if err != nil || got != "clicked" {
		fail("click the ladder's arrow #%d: %q %v", id, got, err)
	}
	if _, err := page.wait(ctx, fmt.Sprintf(`glassnet.selected === %[1]d && location.hash === "#event=%[1]d"`, id)); err != nil {
		fail("after the click on #%d: %v", id, err)
	}
	// An id the view does not have: the inspector says so.
	if _, err := page.eval(ctx, `location.hash = "#event=987654321"`); err != nil {
		fail("set #event=987654321: %v", err)
	}
	if _, err := page.wait(ctx, `document.getElementById("inspector").textContent.includes("987654321")`); err != nil {
		fail("the inspector on an event the view does not have: %v", err)
	}
}

// auditServe holds serve's SYN-ACK to a curl coming in on the TUN, with a
// breakpoint set and the run stopped at the held packet, and closes the
// only page: the packet goes on, curl gets its page, and, no page having
// come back within 5 s, serve runs freely without the breakpoint, so
// that a closed tab does not leave the stack stopped in front of its
// peers.
func auditServe(t *testing.T, r *uiRun) {
	live := openAuditLive(t, r)
	auditJSON(t, r, "POST", "/api/hold", map[string]any{"point": "link-egress", "node": "glassnet", "filter": "tcp and syn and ack"}, nil)
	done := make(chan string, 1)
	go func() {
		out, _ := exec.Command(curlBin, "-s", "-m", "60", "-o", "/dev/null", "-w", "%{http_code}", stackHTTP+"/").Output()
		done <- string(out)
	}()
	held := auditHeldNow(t, r)
	auditJSON(t, r, "POST", "/api/breakpoints", map[string]any{"breakpoints": []string{"tcp and fin"}}, nil)
	auditWait(t, r, "the run stopped at the held SYN-ACK", func() bool {
		var st auditStateOf
		auditJSON(t, r, "GET", "/api/state", nil, &st)
		return st.Paused && st.Held == 1
	})
	live.close(t)
	select {
	case out := <-done:
		if out != "200" {
			t.Errorf("curl whose SYN-ACK was held when the page left: %q, want 200", out)
		}
	case <-time.After(60 * time.Second):
		t.Error("curl did not finish within 60 s of the page leaving")
	}
	auditError(t, "the unit released when the page left", auditDecide(t, r, held.ID, `{"action":"release"}`), http.StatusNotFound, "released when the last page went away")
	auditWait(t, r, "serve running freely without breakpoints", func() bool {
		var st auditStateOf
		auditJSON(t, r, "GET", "/api/state", nil, &st)
		return !st.Paused && st.Mode == "free" && len(st.Breakpoints) == 0
	})
}
