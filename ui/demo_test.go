package ui_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/internal/app"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
	"github.com/glassnet/glassnet/ws"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// demo is a glassnet demo --ui run driven through the API.
type demo struct {
	t    *testing.T
	s    *ui.Server
	base string
	stop func() error
	wait func() error // for the demo to return by itself
	errc chan error
}

// startDemo runs the demo with its browser view on a loopback port; it
// waits at the first step unless run.
func startDemo(t *testing.T, run bool, rules app.Rules) *demo {
	t.Helper()
	return startDemoOpts(t, run, app.DemoOptions{Rules: rules})
}

func startDemoOpts(t *testing.T, run bool, opts app.DemoOptions) *demo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *ui.Server, 1)
	errc := make(chan error, 1)
	go func() {
		opts.UI = &app.UIOptions{Addr: "127.0.0.1:0", Run: run, Ready: func(s *ui.Server) { ready <- s }}
		errc <- app.Demo(ctx, opts)
	}()
	d := &demo{t: t, errc: errc}
	select {
	case d.s = <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("demo: %v", err)
	}
	d.base = "http://" + d.s.Addr().String()
	var once sync.Once
	var err error
	d.stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	d.wait = func() error {
		once.Do(func() { err = <-errc; cancel() })
		return err
	}
	t.Cleanup(func() { d.stop() })
	return d
}

// call makes an API request and decodes the answer into out.
func (d *demo) call(method, path, body string, out any) int {
	d.t.Helper()
	req, _ := http.NewRequest(method, d.base+path, strings.NewReader(body))
	req.Header.Set("X-Glassnet-Token", d.s.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			d.t.Fatalf("%s %s: %v in %q", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (d *demo) state() ui.State {
	d.t.Helper()
	var st ui.State
	if code := d.call("GET", "/api/state", "", &st); code != 200 {
		d.t.Fatalf("state: %d", code)
	}
	return st
}

// waitFor polls the state until cond holds.
func (d *demo) waitFor(what string, cond func(ui.State) bool) ui.State {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := d.state()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("waited 30s for %s; state %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *demo) event(id uint64) map[string]any {
	d.t.Helper()
	var e map[string]any
	if code := d.call("GET", fmt.Sprintf("/api/events/%d", id), "", &e); code != 200 {
		d.t.Fatalf("event %d: %d %v", id, code, e)
	}
	return e
}

// finish lets the demo run to its end and checks that its conversation
// succeeded.
func (d *demo) finish() {
	d.t.Helper()
	d.end()
	if err := d.stop(); err != nil {
		d.t.Fatalf("demo: %v", err)
	}
}

// holdFirst arms a hold request (the JSON of POST /api/hold), runs until
// it holds a unit, and returns that unit.
func (d *demo) holdFirst(req, what string) ui.Hold {
	d.t.Helper()
	if code := d.call("POST", "/api/hold", req, nil); code != 200 {
		d.t.Fatalf("arm %s: %d", req, code)
	}
	d.call("POST", "/api/play", "", nil)
	d.waitFor(what, func(st ui.State) bool { return st.Held == 1 })
	// A packet held at the link is named by the "held" step the stack
	// traces once its hook has returned, a moment after it is listed.
	var hs ui.Holds
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		d.call("GET", "/api/holds", "", &hs)
		if len(hs.Holds) == 1 && hs.Holds[0].Event != 0 {
			return hs.Holds[0]
		}
		if time.Now().After(end) {
			d.t.Fatalf("%s: held for 20 s and not yet named by an event: %+v", what, hs.Holds)
		}
	}
}

// events returns the events from to to, as GET /api/events gives them.
func (d *demo) events(from, to uint64) []map[string]any {
	d.t.Helper()
	var page struct{ Events []map[string]any }
	if code := d.call("GET", fmt.Sprintf("/api/events?from=%d&to=%d", from, to), "", &page); code != 200 {
		d.t.Fatalf("events %d to %d: %d", from, to, code)
	}
	return page.Events
}

// end lets the demo run to the end of its conversation.
func (d *demo) end() {
	d.t.Helper()
	d.call("POST", "/api/breakpoints", `{"breakpoints":[]}`, nil)
	d.call("POST", "/api/play", "", nil)
	d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
}

// TestSlowStepThroughHandshake: a person who reads for longer than the
// WebSocket handshake timeout (10 s on the wall clock) while the client's
// SYN is out still sees the conversation through: stepping stops the
// stacks' clock, and the stepped demo's dial has no handshake timeout.
func TestSlowStepThroughHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the handshake timeout")
	}
	t.Parallel()
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	d.call("POST", "/api/breakpoints", `{"breakpoints":["tcp and syn and not ack"]}`, nil)
	d.call("POST", "/api/play", "", nil)
	st := d.waitFor("the client's SYN", func(st ui.State) bool { return st.Hit != "" && st.Current != 0 })
	if e := d.event(st.Current); e["node"] != "client" {
		t.Fatalf("stopped at %v, want the client's SYN", e)
	}
	time.Sleep(ws.DefaultHandshakeTimeout + time.Second)
	d.end()
	var page struct{ Events []map[string]any }
	d.call("GET", "/api/events?from=1&to=10000", "", &page)
	done := false
	for _, e := range page.Events {
		if s, _ := e["summary"].(string); strings.Contains(s, "done: client sent") {
			done = true
		}
		if s, _ := e["summary"].(string); strings.Contains(s, "conversation stopped") {
			t.Errorf("the conversation stopped: %s", s)
		}
	}
	if !done {
		t.Error("the demo did not come to its end")
	}
	if err := d.stop(); err != nil {
		t.Fatalf("demo after a slow step through the handshake: %v", err)
	}
}

func TestStepAndBreakpoints(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	st := d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	if !st.Paused || st.Mode != "step" || !st.ClockPaused || len(st.Nodes) != 2 {
		t.Fatalf("at the first step: %+v", st)
	}
	first := st.Current
	if code := d.call("POST", "/api/step", "", &st); code != 200 || st.Current <= first {
		t.Fatalf("step: %d, current %d after %d", code, st.Current, first)
	}
	for _, to := range []struct{ to, layer, event string }{
		{"segment", "tcp", "segment"}, {"packet", "link", "packet"}, {"frame", "ws", "frame"}, {"message", "ws", "message"},
	} {
		prev := st.Current
		if code := d.call("POST", "/api/step", `{"to":"`+to.to+`"}`, &st); code != 200 || st.Current <= prev {
			t.Fatalf("step to %s: %d, current %d", to.to, code, st.Current)
		}
		if e := d.event(st.Current); e["layer"] != to.layer || e["event"] != to.event {
			t.Fatalf("step to %s stopped at %v %v", to.to, e["layer"], e["event"])
		}
	}
	var e struct{ Error string }
	if code := d.call("POST", "/api/step", `{"to":"byte"}`, &e); code != 400 || e.Error == "" {
		t.Fatalf("step to byte: %d %q", code, e.Error)
	}
	// A bad filter: the command line's message, after the API's "ui: ".
	_, want := hook.ParseFilter("tcp and fni")
	if code := d.call("POST", "/api/breakpoints", `{"breakpoints":["tcp and fni"]}`, &e); code != 400 || e.Error != "ui: "+want.Error() {
		t.Fatalf("bad breakpoint: %d %q, want 400 %q", code, e.Error, want)
	}
	_, want = ws.ParseFrameFilter("ws clsoe")
	if code := d.call("POST", "/api/breakpoints", `{"breakpoints":["ws clsoe"]}`, &e); code != 400 || e.Error != "ui: "+want.Error() {
		t.Fatalf("bad frame breakpoint: %d %q, want 400 %q", code, e.Error, want)
	}
	// Every event is matched against every breakpoint: 256 at most.
	many := `{"breakpoints":["tcp and fin"` + strings.Repeat(`,"tcp and fin"`, 256) + `]}`
	if code := d.call("POST", "/api/breakpoints", many, &e); code != 400 || e.Error != "ui: 257 breakpoints, at most 256 (none set)" {
		t.Fatalf("257 breakpoints: %d %q, want 400 and the bound", code, e.Error)
	}
	var bps struct{ Breakpoints []string }
	if code := d.call("POST", "/api/breakpoints", `{"breakpoints":["tcp and fin"]}`, &bps); code != 200 || len(bps.Breakpoints) != 1 {
		t.Fatalf("breakpoints: %d %v", code, bps)
	}
	if code := d.call("POST", "/api/play", "", &st); code != 200 || st.Paused {
		t.Fatalf("play: %d %+v", code, st)
	}
	st = d.waitFor("the breakpoint", func(st ui.State) bool { return st.Current != 0 && st.Hit != "" })
	ev := d.event(st.Current)
	if st.Hit != "tcp and fin" || ev["event"] != "packet" || !strings.Contains(ev["flags"].(string), "F") || ev["bytes"] == nil {
		t.Fatalf("stopped by %q at %v", st.Hit, ev)
	}
	if !st.ClockPaused {
		t.Fatal("the clock runs while the stack is paused")
	}
	// The socket table, read while the stack is paused at the FIN.
	var conns struct {
		Conns []ui.Conn
		Stale bool
	}
	d.call("GET", "/api/conns", "", &conns)
	nodes := map[string]bool{}
	for _, c := range conns.Conns {
		if c.Proto == "tcp" && c.State != "LISTEN" {
			nodes[c.Node] = true
		}
	}
	if conns.Stale || !nodes["client"] || !nodes["server"] {
		t.Fatalf("conns while paused: %+v", conns)
	}
	// Breakpoints on frames and on TCP state.
	d.call("POST", "/api/breakpoints", `{"breakpoints":["state TIME-WAIT"]}`, nil)
	d.call("POST", "/api/play", "", nil)
	st = d.waitFor("TIME-WAIT", func(st ui.State) bool { return st.Hit == "state TIME-WAIT" && st.Current != 0 })
	if ev := d.event(st.Current); ev["state"] != "TIME-WAIT" {
		t.Fatalf("stopped at %v", ev)
	}
	d.end()
	if code := d.call("POST", "/api/step", "", &e); code != 409 {
		t.Fatalf("step after the end: %d %q", code, e.Error)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("demo: %v", err)
	}
}

func TestFrameBreakpointAndClock(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	var e struct{ Error string }
	if code := d.call("POST", "/api/clock/advance", `{"ms":0}`, &e); code != 400 {
		t.Fatalf("advance 0: %d %q", code, e.Error)
	}
	var st ui.State
	if code := d.call("POST", "/api/clock/advance", `{"ms":5}`, &st); code != 200 {
		t.Fatalf("advance while paused: %d", code)
	}
	d.call("POST", "/api/breakpoints", `{"breakpoints":["ws close"]}`, nil)
	d.call("POST", "/api/play", "", nil)
	st = d.waitFor("the close frame", func(st ui.State) bool { return st.Hit == "ws close" && st.Current != 0 })
	if ev := d.event(st.Current); ev["event"] != "frame" || ev["opcode"] != "close" {
		t.Fatalf("stopped at %v", ev)
	}
	d.finish()
}

// TestHoldZeroWindow holds the client's first data segment at its link
// egress, sets its window to 0 and releases it: the server's TCP state
// then shows a send window of 0.
func TestHoldZeroWindow(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	var e struct{ Error string }
	if code := d.call("POST", "/api/hold", `{"point":"link-egress","node":"client","filter":"tcp and fni"}`, &e); code != 400 || !strings.Contains(e.Error, "fni") {
		t.Fatalf("bad hold filter: %d %q", code, e.Error)
	}
	var a struct{ ID uint64 }
	if code := d.call("POST", "/api/hold", `{"point":"link-egress","node":"client","filter":"tcp and psh"}`, &a); code != 200 || a.ID == 0 {
		t.Fatalf("arm: %d %+v", code, a)
	}
	d.call("POST", "/api/breakpoints", `{"breakpoints":["snd_wnd == 0"]}`, nil)
	d.call("POST", "/api/play", "", nil)
	d.waitFor("the held segment", func(st ui.State) bool { return st.Held == 1 })
	var hs ui.Holds
	for deadline := time.Now().Add(20 * time.Second); len(hs.Holds) == 0 || hs.Holds[0].Event == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the held packet has no event: %+v", hs)
		}
		d.call("GET", "/api/holds", "", &hs)
	}
	h := hs.Holds[0]
	if ev := d.event(h.Event); ev["event"] != "held" || ev["layer"] != "link" || ev["node"] != "client" || ev["bytes"] == nil {
		t.Fatalf("the held packet's event %d is %v", h.Event, ev)
	}
	if h.Point != "link-egress" || h.Node != "client" || h.Fields["window"].(float64) == 0 || !strings.Contains(h.Fields["flags"].(string), "P") || len(hs.Armed) != 0 {
		t.Fatalf("held %+v, armed %v", h, hs.Armed)
	}
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"release","edit":{"window":0,"opcode":"text"}}`, &e); code != 400 {
		t.Fatalf("a frame's field on a packet: %d %q", code, e.Error)
	}
	var raw json.RawMessage
	code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"release","edit":{"window":0}}`, &raw)
	var out ui.Outcome
	json.Unmarshal(raw, &out)
	if code != 200 || !out.Edited {
		t.Fatalf("release: %d %+v", code, out)
	}
	// every field go doc ./ui lists is in the answer, false ones too
	var fields map[string]any
	json.Unmarshal(raw, &fields)
	for _, k := range []string{"id", "action", "edited", "outcome", "pending", "failed"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("the release answer %s has no %q", raw, k)
		}
	}
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"release"}`, &e); code != 404 || !strings.HasPrefix(e.Error, fmt.Sprintf("ui: decided already: held unit %d was ", h.ID)) {
		t.Fatalf("release twice: %d %q", code, e.Error)
	}
	if code := d.call("POST", "/api/holds/99999", `{"action":"release"}`, &e); code != 404 || !strings.HasPrefix(e.Error, "ui: no such held unit 99999") {
		t.Fatalf("release of a unit never held: %d %q", code, e.Error)
	}
	// the hold stopped the run: go on
	d.call("POST", "/api/play", "", nil)
	st := d.waitFor("the zero window", func(st ui.State) bool { return st.Hit == "snd_wnd == 0" && st.Current != 0 })
	ev := d.event(st.Current)
	if ev["node"] != "server" || ev["event"] != "state" || ev["snd_wnd"].(float64) != 0 {
		t.Fatalf("stopped at %v", ev)
	}
	d.finish()
}

// TestHoldFrameEdit holds the client's first text frame and changes its
// payload: the server echoes the changed message, which the demo notices
// and says, and the conversation goes on to its end with the view open.
func TestHoldFrameEdit(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"ws-out","node":"client","filter":"text"}`, "the held frame")
	if h.Fields["opcode"] != "text" || h.Fields["payload_hex"] != fmt.Sprintf("%x", "hello, glassnet") {
		t.Fatalf("held %+v", h)
	}
	var out ui.Outcome
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), fmt.Sprintf(`{"action":"release","edit":{"payload_hex":"%x"}}`, "changed"), &out); code != 200 {
		t.Fatalf("release: %d", code)
	}
	d.end()
	st := d.state()
	evs := d.events(1, st.Last)
	said := false
	for _, e := range evs {
		if s, _ := e["summary"].(string); e["node"] == "demo" && strings.Contains(s, "came back changed") && strings.Contains(s, `"changed"`) {
			said = true
		}
	}
	if !said {
		t.Error("the demo did not say that the echo came back changed")
	}
	d.finish()
}

// TestEditThatChangesNothing: an edit that sets each field to what it
// was is no edit: the answer does not say "edited" and no verdict is
// traced, for a packet and for a frame.
func TestEditThatChangesNothing(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	release := func(h ui.Hold, edit string) {
		t.Helper()
		var out ui.Outcome
		if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"release","edit":`+edit+`}`, &out); code != 200 || out.Edited || out.Outcome != "released" {
			t.Errorf("release with %s: %d %+v, want released, not edited", edit, code, out)
		}
	}
	p := d.holdFirst(`{"point":"link-egress","node":"client","filter":"tcp and psh"}`, "the held packet")
	release(p, fmt.Sprintf(`{"flags":%q,"window":%v,"payload_hex":%q}`, p.Fields["flags"], p.Fields["window"], p.Fields["payload_hex"]))
	f := d.holdFirst(`{"point":"ws-out","node":"client","filter":"text"}`, "the held frame")
	release(f, fmt.Sprintf(`{"opcode":%q,"fin":%v,"payload_hex":%q}`, f.Fields["opcode"], f.Fields["fin"], f.Fields["payload_hex"]))
	d.end()
	for _, e := range d.events(p.Event, d.state().Last) {
		if e["event"] == "verdict" && e["node"] == "client" && (e["layer"] == "link" || e["layer"] == "ws") {
			t.Errorf("#%v: a verdict for an edit that changed nothing: %v", e["id"], e["summary"])
		}
	}
	d.finish()
}

// TestUnsendableEditRefused: an edit that makes a held packet too long for
// the link (no segmentation offload in the demo) is a 400 that says so,
// for a release, a duplicate and a delay alike, and loses nothing: the
// packet stays held, and released as it was it goes on, and the run ends.
func TestUnsendableEditRefused(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	long := strings.Repeat("41", 2000) // 2000 bytes of payload: over the MTU of 1500
	h := d.holdFirst(`{"point":"link-egress","node":"client","filter":"tcp and psh"}`, "the held request")
	for _, body := range []string{
		`{"action":"release","edit":{"payload_hex":"` + long + `"}}`,
		`{"action":"duplicate","edit":{"payload_hex":"` + long + `"}}`,
		`{"action":"delay","delay_ms":1,"edit":{"payload_hex":"` + long + `"}}`,
	} {
		var e struct{ Error string }
		if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), body, &e); code != 400 || !strings.Contains(e.Error, "2052 bytes, over the MTU 1500") {
			t.Errorf("%.40s…: %d %q, want 400 saying the packet is over the MTU", body, code, e.Error)
		}
		var hs ui.Holds
		if d.call("GET", "/api/holds", "", &hs); len(hs.Holds) != 1 || hs.Holds[0].ID != h.ID {
			t.Fatalf("after a refused edit the queue holds %+v, want unit %d", hs.Holds, h.ID)
		}
	}
	var out ui.Outcome
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"release"}`, &out); code != 200 || out.Failed {
		t.Fatalf("release as held: %d %+v", code, out)
	}
	d.end()
	for _, e := range d.events(h.Event, d.state().Last) {
		if r, _ := e["reason"].(string); strings.HasPrefix(r, "ui-unsendable") {
			t.Errorf("a packet traced as unsendable: %v", e["summary"])
		}
	}
	d.finish()
}

// TestFrameEditWithDuplicateTraced: a frame edited and duplicated (or
// delayed) is traced with one verdict, its action the duplicate; its
// reason says what the edit changed, as a held packet's edit does.
func TestFrameEditWithDuplicateTraced(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"ws-out","node":"client","filter":"text"}`, "the held frame")
	var out ui.Outcome
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"duplicate","edit":{"opcode":"binary","payload_hex":"4142"}}`, &out); code != 200 || !out.Edited {
		t.Fatalf("duplicate with an edit: %d %+v", code, out)
	}
	d.end()
	reasons := []string{}
	for _, e := range d.events(h.Event, d.state().Last) {
		if e["layer"] == "ws" && e["event"] == "verdict" && e["node"] == "client" && e["action"] == "duplicate" {
			reasons = append(reasons, fmt.Sprint(e["reason"]))
		}
	}
	if want := "ui-edit: opcode text → binary, payload 15 → 2 bytes"; len(reasons) != 1 || reasons[0] != want {
		t.Errorf("duplicate verdicts with reasons %q, want one with %q", reasons, want)
	}
	d.stop()
}

// TestDroppedFrameNotAwaited: a message frame dropped on its way out
// takes its echo with it; the demo says so and goes on to the end of its
// conversation instead of waiting for the echo for ever.
func TestDroppedFrameNotAwaited(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"ws-out","node":"client","filter":"text"}`, "the held frame")
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"drop"}`, nil); code != 200 {
		t.Fatalf("drop: %d", code)
	}
	d.end()
	st := d.state()
	evs := d.events(1, st.Last)
	said, echoes := "", 0
	for _, e := range evs {
		s, _ := e["summary"].(string)
		if e["node"] == "demo" && strings.Contains(s, "will not come") {
			said = s
		}
		if e["node"] == "client" && e["layer"] == "ws" && e["event"] == "message" && e["dir"] == "in" {
			echoes++
		}
	}
	if !strings.Contains(said, "the client dropped a text frame it was sending (ui hold)") || !strings.Contains(said, "the echo of a text message") {
		t.Errorf("the demo said %q, want that the client dropped the text frame and its echo will not come", said)
	}
	// the three other messages came back
	if echoes != 3 {
		t.Errorf("%d echoes came back, want 3", echoes)
	}
	d.finish()
}

// TestDroppedSendKeepsView: a send the page drops (the client's HTTP
// upgrade request) makes the dial fail once the server gives up waiting
// for the request; the run ends, and the view stays open on it instead of
// going away with the process.
func TestDroppedSendKeepsView(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"socket-send","node":"client"}`, "the held send")
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"drop"}`, nil); code != 200 {
		t.Fatalf("drop: %d", code)
	}
	// the server's header timeout is 10 s
	st := d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
	said := false
	for _, e := range d.events(1, st.Last) { // the view is still there
		if s, _ := e["summary"].(string); e["node"] == "demo" && strings.Contains(s, "the conversation stopped: demo: dial") {
			said = true
		}
	}
	if !said {
		t.Error("the demo did not say that the dial failed")
	}
}

// TestReleaseOnDisconnect: what is held when the last page goes away is
// released, and the run goes on to its end.
func TestReleaseOnDisconnect(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	page, _, err := ws.Dial(ctx, strings.Replace(d.base, "http", "ws", 1)+"/api/live?token="+d.s.Token(), &ws.DialOptions{Header: http.Header{"Origin": {d.base}}})
	if err != nil {
		t.Fatal(err)
	}
	// Read (and acknowledge) until the page sees the unit held.
	got := make(chan struct{})
	var heldID uint64
	go func() {
		defer close(got)
		for {
			_, b, err := page.ReadMessage(ctx)
			if err != nil {
				return
			}
			var m struct {
				Type   string
				Events []struct{ ID uint64 }
				Holds  []ui.Hold
			}
			json.Unmarshal(b, &m)
			if n := len(m.Events); n > 0 {
				page.WriteMessage(ctx, ws.MessageText, fmt.Appendf(nil, `{"type":"ack","last":%d}`, m.Events[n-1].ID))
			}
			if m.Type == "holds" && len(m.Holds) == 1 {
				heldID = m.Holds[0].ID
				return
			}
		}
	}()
	if code := d.call("POST", "/api/hold", `{"point":"ws-out","node":"client","filter":"binary"}`, nil); code != 200 {
		t.Fatalf("arm: %d", code)
	}
	if code := d.call("POST", "/api/hold", `{"point":"socket-send","node":"server"}`, nil); code != 200 {
		t.Fatalf("arm socket-send: %d", code)
	}
	d.call("POST", "/api/play", "", nil)
	<-got
	if st := d.state(); st.Held != 1 {
		t.Fatalf("the page saw a hold the state does not have: %+v", st)
	}
	page.CloseNow()
	d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended && st.Held == 0 })
	var hs ui.Holds
	d.call("GET", "/api/holds", "", &hs)
	if len(hs.Armed) != 0 {
		t.Fatalf("still armed after the page went: %v", hs.Armed)
	}
	// A script that decides it now is told what became of it.
	var e struct{ Error string }
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", heldID), `{"action":"drop"}`, &e); code != 404 || e.Error != fmt.Sprintf("ui: decided already: held unit %d was released when the last page went away", heldID) {
		t.Errorf("drop after the page went: %d %q", code, e.Error)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("demo: %v", err)
	}
}

func TestLiveRules(t *testing.T) {
	d := startDemo(t, false, app.Rules{Egress: []string{"delay 1ms"}, Ingress: []string{"ws ping : drop"}})
	var rs struct {
		Rules []struct {
			ID                uint64
			Node, Point, Rule string
		}
	}
	d.call("GET", "/api/rules", "", &rs)
	if len(rs.Rules) != 2 || rs.Rules[0].Rule != "delay 1ms" || rs.Rules[1].Point != "ingress" {
		t.Fatalf("rules from the command line: %+v", rs.Rules)
	}
	_, perr := hook.ParseRule("loss 10x")
	var e struct{ Error string }
	if code := d.call("POST", "/api/rules", `{"node":"client","point":"egress","rule":"loss 10x"}`, &e); code != 400 || e.Error != "ui: egress rule: "+perr.Error() {
		t.Fatalf("bad rule: %d %q, want %q", code, e.Error, "ui: egress rule: "+perr.Error())
	}
	_, ferr := ws.ParseFrameRule("ws text : explode", "in")
	if code := d.call("POST", "/api/rules", `{"node":"client","point":"ingress","rule":"ws text : explode"}`, &e); code != 400 || e.Error != "ui: ingress rule: "+ferr.Error() {
		t.Fatalf("bad frame rule: %d %q, want %q", code, e.Error, "ui: ingress rule: "+ferr.Error())
	}
	if code := d.call("POST", "/api/rules", `{"node":"nobody","point":"egress","rule":"loss 1%"}`, &e); code != 400 {
		t.Fatalf("unknown node: %d", code)
	}
	var id struct{ ID uint64 }
	if code := d.call("POST", "/api/rules", `{"node":"server","point":"egress","rule":"duplicate 100%"}`, &id); code != 200 || id.ID == 0 {
		t.Fatalf("add: %d", code)
	}
	d.call("GET", "/api/rules", "", &rs)
	if len(rs.Rules) != 3 || rs.Rules[2].ID != id.ID || rs.Rules[2].Node != "server" {
		t.Fatalf("after adding: %+v", rs.Rules)
	}
	// Every server packet goes twice: the client sees duplicates.
	d.call("POST", "/api/play", "", nil)
	d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
	var page struct{ Events []map[string]any }
	dups := 0
	for from := uint64(1); ; from += 10000 {
		d.call("GET", fmt.Sprintf("/api/events?from=%d&to=%d", from, from+9999), "", &page)
		if len(page.Events) == 0 {
			break
		}
		for _, e := range page.Events {
			if e["event"] == "verdict" && e["node"] == "server" && e["action"] == "duplicate" {
				dups++
			}
		}
	}
	if dups == 0 {
		t.Fatal("the rule added from the page duplicated nothing")
	}
	if code := d.call("DELETE", fmt.Sprintf("/api/rules/%d", id.ID), "", nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if code := d.call("DELETE", fmt.Sprintf("/api/rules/%d", id.ID), "", &e); code != 404 {
		t.Fatalf("delete twice: %d", code)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("demo: %v", err)
	}
}

func TestExportAndView(t *testing.T) {
	var traced syncBuffer
	d := startDemoOpts(t, true, app.DemoOptions{Trace: &traced})
	st := d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
	get := func(format string) []byte {
		req, _ := http.NewRequest("GET", d.base+"/api/export?format="+format, nil)
		req.Header.Set("X-Glassnet-Token", d.s.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export %s: %d %v", format, resp.StatusCode, resp.Header)
		}
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	jl := get("jsonl")
	if n := strings.Count(string(jl), "\n"); uint64(n) != st.Count {
		t.Fatalf("jsonl has %d lines for %d events", n, st.Count)
	}
	// Exactly what --trace wrote, line for line.
	if want := traced.String(); string(jl) != want {
		gl, wl := strings.Split(string(jl), "\n"), strings.Split(want, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("line %d of the export:\n%s\n--trace wrote:\n%s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("the export has %d lines, --trace %d", len(gl), len(wl))
	}
	off, _ := ui.New(ui.Options{})
	n, err := off.Load(strings.NewReader(string(jl)))
	if err != nil || uint64(n) != st.Count {
		t.Fatalf("view of the jsonl: %d events, %v", n, err)
	}
	if ost := off.State(); ost.Live || ost.Last != st.Last || len(ost.Nodes) != 2 || ost.Capture {
		t.Fatalf("offline state %+v (a JSON-lines trace has no packet bytes to capture)", ost)
	}
	png := get("pcapng")
	off2, _ := ui.New(ui.Options{})
	n, err = off2.Load(strings.NewReader(string(png)))
	if err != nil || n == 0 {
		t.Fatalf("view of the pcapng: %d packets, %v", n, err)
	}
	if !off2.State().Capture {
		t.Error("the view of a pcapng says it has no packet bytes to capture")
	}
	var pf struct {
		TraceEvents []struct {
			Ph   string `json:"ph"`
			Name string `json:"name"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(get("perfetto"), &pf); err != nil {
		t.Fatal(err)
	}
	flows, procs := 0, 0
	for _, e := range pf.TraceEvents {
		if e.Ph == "s" {
			flows++
		}
		if e.Ph == "M" && e.Name == "process_name" {
			procs++
		}
	}
	if flows == 0 || procs < 2 {
		t.Fatalf("perfetto: %d flows, %d processes", flows, procs)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("demo: %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// TestFrameBytes: a frame's bytes, rebuilt from the packets that carried
// it, are its header and payload as on the wire, and payload_hex is the
// payload unmasked, for a masked client frame, the server's unmasked echo,
// and the 3000-byte message that spans segments.
func TestFrameBytes(t *testing.T) {
	d := startDemo(t, true, app.Rules{})
	d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
	large := fmt.Sprintf("%x", strings.Repeat("glassnet ", 400)[:3000])
	want := map[string]bool{}
	for _, k := range []string{"client out", "client in", "server out", "server in"} {
		want[k+" hello"], want[k+" large"] = false, false
	}
	var page struct{ Events []map[string]any }
	for from := uint64(1); ; from += 10000 {
		d.call("GET", fmt.Sprintf("/api/events?from=%d&to=%d", from, from+9999), "", &page)
		if len(page.Events) == 0 {
			break
		}
		for _, e := range page.Events {
			if e["event"] != "frame" || e["opcode"] != "text" {
				continue
			}
			full := d.event(uint64(e["id"].(float64)))
			p, _ := full["payload_hex"].(string)
			b, _ := full["bytes"].(string)
			hdr := int(full["header_len"].(float64))
			if p == "" || len(b) != 2*hdr+len(p) {
				t.Errorf("frame %v: bytes %d hex digits, payload %d, header %d", e["id"], len(b), len(p), hdr)
				continue
			}
			if masked := full["masked"].(bool); masked == (b[2*hdr:] == p) && len(p) > 0 {
				t.Errorf("frame %v masked=%v but bytes and payload agree=%v", e["id"], masked, b[2*hdr:] == p)
			}
			k := fmt.Sprintf("%v %v", e["node"], e["dir"])
			switch p {
			case fmt.Sprintf("%x", "hello, glassnet"):
				want[k+" hello"] = true
			case large:
				want[k+" large"] = true
			}
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no frame %s with its bytes", k)
		}
	}
	if err := d.stop(); err != nil {
		t.Fatalf("demo: %v", err)
	}
}

// TestHoldReleaseWhilePaused: releasing a held packet while the stack is
// paused at a step answers at once that it goes on when the stack runs,
// and it does.
func TestHoldReleaseWhilePaused(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	if code := d.call("POST", "/api/hold", `{"point":"link-egress","node":"client","filter":"tcp and syn"}`, nil); code != 200 {
		t.Fatalf("arm: %d", code)
	}
	d.call("POST", "/api/play", "", nil)
	d.waitFor("the held SYN", func(st ui.State) bool { return st.Held == 1 })
	d.call("POST", "/api/pause", "", nil)
	// The next step comes with the next event (at the latest the SYN's
	// retransmission timer).
	d.waitFor("a step", func(st ui.State) bool { return st.Current != 0 })
	var hs ui.Holds
	d.call("GET", "/api/holds", "", &hs)
	// The answer comes while the stack stays paused: at once if the stack
	// takes the packet back outside the held step, or within a moment,
	// pending, if it takes it when it runs.
	var out ui.Outcome
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", hs.Holds[0].ID), `{"action":"release"}`, &out); code != 200 || out.Pending != strings.Contains(out.Outcome, "when the stack runs") {
		t.Fatalf("release while paused: %d %+v", code, out)
	}
	if st := d.state(); !st.Paused || st.Current == 0 {
		t.Fatalf("no longer paused: %+v", st)
	}
	d.finish()
}

// TestRetransmitBreakpoint: with the client's data segments lost at
// random, the run stops at a segment sent again: the client's, after its
// rule dropped the first copy, or the server's echo, whose ACK (delayed,
// as on Linux) rode on a client segment that was lost. TCP sent the same
// range before, whether or not a packet of it left.
func TestRetransmitBreakpoint(t *testing.T) {
	d := startDemo(t, false, app.Rules{Egress: []string{"tcp and psh : loss 50% seed 3"}})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	d.call("POST", "/api/breakpoints", `{"breakpoints":["retransmit"]}`, nil)
	d.call("POST", "/api/play", "", nil)
	st := d.waitFor("a retransmission", func(st ui.State) bool { return st.Hit == "retransmit" && st.Current != 0 })
	ev := d.event(st.Current)
	if ev["event"] != "packet" || ev["dir"] != "out" || ev["payload_len"].(float64) == 0 {
		t.Fatalf("stopped at %v", ev)
	}
	// TCP sent the same bytes before, and sent them again since.
	evs := d.events(1, st.Current-1)
	segs := 0
	for _, e := range evs {
		if e["layer"] == "tcp" && e["event"] == "segment" && e["node"] == ev["node"] && e["dir"] == "out" && e["conn"] == ev["conn"] && e["rel_seq"] == ev["rel_seq"] {
			segs++
		}
	}
	if segs < 2 {
		t.Fatalf("packet %v at rel_seq %v: TCP sent that range %d times before it, want 2 (the first and this one)", st.Current, ev["rel_seq"], segs)
	}
	d.finish()
}

// TestRetransmitBreakpointDroppedCopy: a rule that drops every large
// segment drops the copies TCP sends again too; the retransmit breakpoint
// stops at the verdict that dropped one, since no packet of it leaves.
func TestRetransmitBreakpointDroppedCopy(t *testing.T) {
	d := startDemo(t, false, app.Rules{Egress: []string{"tcp and len > 1000 : drop"}})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	d.call("POST", "/api/breakpoints", `{"breakpoints":["retransmit"]}`, nil)
	d.call("POST", "/api/play", "", nil)
	st := d.waitFor("a dropped retransmission", func(st ui.State) bool { return st.Hit == "retransmit" && st.Current != 0 })
	ev := d.event(st.Current)
	// A slow run (-race, a busy machine) may have a small segment sent
	// again by its timer before: a packet of a range TCP sent before. Play
	// on past those.
	for range 10 {
		if ev["layer"] != "link" || ev["event"] != "packet" || ev["dir"] != "out" {
			break
		}
		segs := 0
		for _, e := range d.events(1, st.Current-1) {
			if e["layer"] == "tcp" && e["event"] == "segment" && e["node"] == ev["node"] && e["dir"] == "out" && e["conn"] == ev["conn"] && e["rel_seq"] == ev["rel_seq"] {
				segs++
			}
		}
		if segs < 2 {
			t.Fatalf("stopped at packet %v, which TCP did not send before", ev)
		}
		was := st.Current
		d.call("POST", "/api/play", "", nil)
		st = d.waitFor("a dropped retransmission", func(st ui.State) bool { return st.Hit == "retransmit" && st.Current > was })
		ev = d.event(st.Current)
	}
	if ev["layer"] != "link" || ev["event"] != "verdict" || ev["action"] != "drop" || ev["dir"] != "out" || ev["rel_seq"] == nil {
		t.Fatalf("stopped at %v, want the verdict that dropped a copy sent again", ev)
	}
	evs := d.events(1, st.Current-1)
	before := 0
	for _, e := range evs {
		if e["event"] == "verdict" && e["node"] == ev["node"] && e["conn"] == ev["conn"] && e["rel_seq"] == ev["rel_seq"] {
			before++
		}
	}
	if before == 0 {
		t.Errorf("no copy of rel_seq %v was dropped before #%d", ev["rel_seq"], st.Current)
	}
}

// TestRetransmitAfterDroppedHold: a data segment held at the link and
// dropped there never leaves; TCP sends it again, and the retransmit
// breakpoint stops at that copy, though no packet of the range left
// before it.
func TestRetransmitAfterDroppedHold(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	d.call("POST", "/api/breakpoints", `{"breakpoints":["retransmit"]}`, nil)
	h := d.holdFirst(`{"point":"link-egress","node":"client","filter":"tcp and psh"}`, "the held segment")
	held := d.event(h.Event)
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"drop"}`, nil); code != 200 {
		t.Fatalf("drop: %d", code)
	}
	d.call("POST", "/api/play", "", nil) // the hold stopped the run
	st := d.waitFor("the segment sent again", func(st ui.State) bool { return st.Hit == "retransmit" && st.Current != 0 })
	ev := d.event(st.Current)
	if ev["event"] != "packet" || ev["node"] != "client" || ev["dir"] != "out" || ev["conn"] != held["conn"] {
		t.Fatalf("stopped at %v, want the client's packet sent again after %v", ev, held)
	}
	// the drop is in the trace, after the held step
	evs := d.events(h.Event, st.Current)
	dropped := false
	for _, e := range evs {
		if e["layer"] == "link" && e["event"] == "verdict" && e["action"] == "drop" && e["reason"] == "ui-drop" && e["conn"] == held["conn"] {
			dropped = true
		}
	}
	if !dropped {
		t.Error("no link verdict says the held packet was dropped")
	}
	d.finish()
}

// TestHoldActions drops a held data segment (TCP sends it again, and that
// copy is held next), delays the copy, and duplicates the next segment
// (the server sees it twice); the conversation still succeeds.
func TestHoldActions(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	if code := d.call("POST", "/api/hold", `{"point":"link-egress","node":"client","filter":"tcp and psh","count":3}`, nil); code != 200 {
		t.Fatalf("arm: %d", code)
	}
	d.call("POST", "/api/play", "", nil)
	// next returns the oldest unit held after the one with ID after. More
	// than one may be held at once: a retransmission timer that fired as
	// the run stopped at a hold sends the segment again, and that copy is
	// held too.
	next := func(after uint64) ui.Hold {
		t.Helper()
		var hs ui.Holds
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			d.call("GET", "/api/holds", "", &hs)
			for _, h := range hs.Holds {
				if h.ID > after {
					return h
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no held segment after %d: %+v", after, hs)
			}
		}
	}
	decide := func(h ui.Hold, body, want string) {
		t.Helper()
		var out ui.Outcome
		if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), body, &out); code != 200 || !strings.HasPrefix(out.Outcome, want) {
			t.Fatalf("%s: %d %+v", body, code, out)
		}
		d.call("POST", "/api/play", "", nil) // the hold stopped the run
	}
	var e struct{ Error string }
	h1 := next(0)
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h1.ID), `{"action":"delay"}`, &e); code != 400 {
		t.Fatalf("delay without delay_ms: %d %q", code, e.Error)
	}
	// Whatever the action, a part of the decision that is wrong is
	// refused, and the unit stays held.
	for _, tc := range []struct{ body, want string }{
		{`{"action":"release","delay_ms":-5}`, `ui: delay_ms goes with action delay, not "release"`},
		{`{"action":"duplicate","delay_ms":20}`, `ui: delay_ms goes with action delay, not "duplicate"`},
		{`{"action":"drop","edit":{"flags":"Z"}}`, "ui: flag 'Z'"},
		{`{"action":"drop","edit":{"opcode":"text"}}`, "ui: opcode and fin are a frame's"},
	} {
		if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h1.ID), tc.body, &e); code != 400 || !strings.HasPrefix(e.Error, tc.want) {
			t.Errorf("%s: %d %q, want 400 %q", tc.body, code, e.Error, tc.want)
		}
	}
	if st := d.state(); st.Held != 1 {
		t.Fatalf("a refused decision let the unit go: %+v", st)
	}
	decide(h1, `{"action":"drop"}`, "dropped")
	h2 := next(h1.ID)
	if h2.Fields["seq"] != h1.Fields["seq"] || h2.Fields["payload_hex"] != h1.Fields["payload_hex"] {
		t.Fatalf("after the drop came %+v, want the same segment again (%+v)", h2.Fields, h1.Fields)
	}
	decide(h2, `{"action":"delay","delay_ms":20}`, "goes on after 20ms")
	h3 := next(h2.ID)
	decide(h3, `{"action":"duplicate"}`, "sent twice")
	d.end()
	var page struct{ Events []map[string]any }
	// Every transmission of the duplicated segment by the client's TCP
	// (one, and more if its retransmission timer fired before the
	// server's ACK came, on a loaded machine) passes the link once, held
	// or not: the server receives each, less the one dropped if the
	// duplicated segment is the one dropped before (the timer sent it
	// again while it was held), plus the hold's duplicate.
	dropped := 0
	if h3.Fields["seq"] == h1.Fields["seq"] {
		dropped = 1
	}
	copies, sent, said := 0, 0, false
	for from := uint64(1); ; from += 10000 {
		d.call("GET", fmt.Sprintf("/api/events?from=%d&to=%d", from, from+9999), "", &page)
		if len(page.Events) == 0 {
			break
		}
		for _, e := range page.Events {
			if e["event"] == "packet" && e["node"] == "server" && e["dir"] == "in" && e["seq"] == h3.Fields["seq"] && e["payload_len"].(float64) > 0 {
				copies++
			}
			if e["layer"] == "tcp" && e["event"] == "segment" && e["node"] == "client" && e["dir"] == "out" && e["seq"] == h3.Fields["seq"] && e["payload_len"].(float64) > 0 {
				sent++
			}
			// the trace says why the segment went twice
			if e["layer"] == "link" && e["event"] == "verdict" && e["action"] == "duplicate" && e["reason"] == "ui-duplicate" && e["node"] == "client" && e["id"].(float64) > float64(h3.Event) {
				said = true
			}
		}
	}
	if sent == 0 || copies != sent-dropped+1 {
		t.Fatalf("the server received the duplicated segment %d times; the client's TCP sent it %d times, the holds dropped %d and duplicated one", copies, sent, dropped)
	}
	if !said {
		t.Error("no link verdict says the held segment was duplicated")
	}
	if err := d.stop(); err != nil {
		t.Fatalf("demo: %v", err)
	}
}

// TestEventTimesExcludePauses: a demo waiting at a step does not move its
// events' times: they are on the stacks' clock, which stops with it, so
// the ladder, the timers and the graph show the stacks' time, not the
// time a person spent reading.
func TestEventTimesExcludePauses(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	first := d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	time.Sleep(700 * time.Millisecond) // paused: the stacks' clock stands still
	d.call("POST", "/api/step", "", nil)
	next := d.waitFor("the next step", func(st ui.State) bool { return st.Current > first.Current })
	t0, t1 := d.event(first.Current)["t"].(float64), d.event(next.Current)["t"].(float64)
	if gap := time.Duration(t1 - t0); gap >= 700*time.Millisecond {
		t.Errorf("events %d and %d are %v apart: the time paused at the step counts", first.Current, next.Current, gap)
	}
	// nor do the calls that wait through a pause (the server's accept,
	// the client's connect, paused at the client's SYN): their durations
	// are the stack's
	if code := d.call("POST", "/api/step", `{"to":"packet"}`, nil); code != 200 {
		t.Fatalf("step to the SYN: %d", code)
	}
	time.Sleep(700 * time.Millisecond)
	d.end()
	st := d.state()
	evs := d.events(1, st.Last)
	for _, e := range evs {
		if dur, ok := e["dur"].(float64); ok && e["layer"] == "socket" && time.Duration(dur) >= 700*time.Millisecond {
			t.Errorf("%v %v took %v: the time paused counts", e["node"], e["summary"], time.Duration(dur))
		}
	}
	d.finish()
}

// TestStateBreakpointOnEntering: "state ESTABLISHED" stops where a stack
// enters ESTABLISHED, once for each end of the demo's connection, not at
// every TCP state event that reports it again; states a stack enters by
// sending (SYN-SENT, FIN-WAIT1, LAST-ACK) stop too.
func TestStateBreakpointOnEntering(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	// ESTABLISHED is entered on a segment received; SYN-SENT, FIN-WAIT1
	// and LAST-ACK by sending (the SYN, the FINs): the server closes
	// first
	d.call("POST", "/api/breakpoints", `{"breakpoints":["state ESTABLISHED","state SYN-SENT","state FIN-WAIT1","state LAST-ACK"]}`, nil)
	var hits []string
	last := uint64(0)
	for {
		d.call("POST", "/api/play", "", nil)
		st := d.waitFor("a hit or the end", func(st ui.State) bool { return st.Ended || (st.Hit != "" && st.Current > last) })
		if st.Ended {
			break
		}
		last = st.Current
		e := d.event(st.Current)
		hits = append(hits, fmt.Sprint(e["node"], " ", e["state"]))
		if len(hits) > 20 {
			break
		}
	}
	slices.Sort(hits)
	if want := []string{"client ESTABLISHED", "client LAST-ACK", "client SYN-SENT", "server ESTABLISHED", "server FIN-WAIT1"}; !slices.Equal(hits, want) {
		t.Errorf("stopped at %v, want %v", hits, want)
	}
	d.finish()
}

// TestDisarm: an armed hold request can be taken back, and then holds
// nothing; taking back one that is not armed is a 404.
func TestDisarm(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	var a struct{ ID uint64 }
	if code := d.call("POST", "/api/hold", `{"point":"link-egress","node":"client","filter":"tcp and syn"}`, &a); code != 200 || a.ID == 0 {
		t.Fatalf("arm: %d %+v", code, a)
	}
	if code := d.call("DELETE", fmt.Sprintf("/api/hold/%d", a.ID), "", nil); code != 200 {
		t.Fatalf("disarm: %d", code)
	}
	var hs ui.Holds
	d.call("GET", "/api/holds", "", &hs)
	if len(hs.Armed) != 0 {
		t.Fatalf("armed after disarm: %+v", hs.Armed)
	}
	if code := d.call("DELETE", fmt.Sprintf("/api/hold/%d", a.ID), "", nil); code != 404 {
		t.Fatalf("disarm again: %d, want 404", code)
	}
	d.end() // the SYN goes out: nothing holds it
	if st := d.state(); st.Held != 0 {
		t.Fatalf("%d held after the request was taken back", st.Held)
	}
	d.finish()
}

// TestHoldStopsTheRun: a packet held at the link stops a free run (and a
// step to the next packet) at its held step, with the clock, so that TCP
// does not send it again while the page edits it.
func TestHoldStopsTheRun(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	d.holdFirst(`{"point":"link-egress","node":"client","filter":"tcp and psh"}`, "the held segment")
	st := d.waitFor("the run stopped at the hold", func(st ui.State) bool {
		if !st.Paused || !st.ClockPaused || st.Current == 0 {
			return false
		}
		var hs ui.Holds
		d.call("GET", "/api/holds", "", &hs)
		return len(hs.Holds) == 1 && hs.Holds[0].Event != 0 && st.Current >= hs.Holds[0].Event
	})
	// stopped: nothing more happens, the clock stands, no copy is sent
	time.Sleep(300 * time.Millisecond)
	if now := d.state(); now.Last != st.Last || !now.Paused {
		t.Errorf("after the hold the run went on: %+v, then %+v", st, now)
	}
	// The held segment itself, not a copy TCP sent again, carries the
	// request on.
	var hs ui.Holds
	d.call("GET", "/api/holds", "", &hs)
	d.call("POST", fmt.Sprintf("/api/holds/%d", hs.Holds[0].ID), `{"action":"release"}`, nil)
	d.finish()
}

// TestEditedSendTraced: a held send stops the stacks' clock until it is
// decided, and released with its bytes edited it is traced as a verdict
// saying so, as a drop or a delay is (the edit went on the wire without a
// word in the trace).
func TestEditedSendTraced(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"socket-send","node":"client"}`, "the held send")
	// While the send waits for the page, the stacks' clock stands still:
	// no deadline (the server's header timeout) runs out during an edit.
	var st ui.State
	if d.call("GET", "/api/state", "", &st); !st.ClockPaused {
		t.Error("a send is held and the stacks' clock runs")
	}
	orig, _ := hex.DecodeString(h.Fields["payload_hex"].(string))
	i := bytes.Index(orig, []byte("Host: 10.0.0.2"))
	if i < 0 {
		t.Fatalf("the held send is not the upgrade request: %q", orig)
	}
	edited := bytes.Clone(orig)
	edited[i+len("Host: 10.0.0.")] = '9'
	body := fmt.Sprintf(`{"action":"release","edit":{"payload_hex":%q}}`, hex.EncodeToString(edited))
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), body, nil); code != 200 {
		t.Fatalf("release edited: %d", code)
	}
	var found bool
	d.waitFor("the verdict of the edit", func(st ui.State) bool {
		for _, e := range d.events(h.Event, st.Last) {
			if s, _ := e["summary"].(string); e["layer"] == "socket" && e["event"] == "verdict" && e["node"] == "client" &&
				strings.Contains(s, fmt.Sprintf("1 of %d bytes edited", len(orig))) {
				found = true
			}
		}
		return found
	})
	if d.call("GET", "/api/state", "", &st); st.ClockPaused && st.Mode == "free" {
		t.Error("the stacks' clock still stands still after the send was released")
	}
}

// TestHoldRelativeSeq: a TCP segment held at the link comes with what its
// seq and ack count from, so that the page shows them relative, as the
// ladder writes them: the server's 101 going out is seq 1, ack 152 (after
// the client's 151-byte request), and so is it coming in at the client; a
// SYN is its own base, with no ack to count.
func TestHoldRelativeSeq(t *testing.T) {
	for _, c := range []struct {
		req      string
		seq, ack int64 // -1: no base
	}{
		{`{"point":"link-egress","node":"server","filter":"tcp and psh"}`, 1, 152},
		{`{"point":"link-ingress","node":"client","filter":"tcp and psh and src port 80"}`, 1, 152},
		{`{"point":"link-egress","node":"client","filter":"tcp and syn"}`, 0, -1},
	} {
		d := startDemo(t, false, app.Rules{})
		d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
		d.holdFirst(c.req, "the held segment")
		var h ui.Hold
		d.waitFor("the held segment's step", func(ui.State) bool {
			var hs ui.Holds
			d.call("GET", "/api/holds", "", &hs)
			h = hs.Holds[0]
			return h.Event != 0
		})
		rel := func(k string, base *uint32) int64 {
			if base == nil {
				return -1
			}
			return int64(uint32(h.Fields[k].(float64)) - *base)
		}
		if s, a := rel("seq", h.SeqBase), rel("ack", h.AckBase); s != c.seq || a != c.ack {
			t.Errorf("%s: held %s: relative seq %d ack %d, want %d %d", c.req, h.Summary, s, a, c.seq, c.ack)
		}
		d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"release"}`, nil)
		d.finish()
	}
}

// TestHeldPacketKeepsClockAndEditTraced: a packet held at the link keeps
// the stacks' clock still until it is decided, also once the run goes on
// past its step (before, playing or stepping on let TCP's retransmission
// timer send the held segment again 200 ms later), and released with an
// edit it is traced as a verdict that says what changed, between the held
// step and the packet sent on.
func TestHeldPacketKeepsClockAndEditTraced(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"link-egress","node":"client","filter":"tcp and psh"}`, "the held request")
	d.waitFor("the held step", func(ui.State) bool {
		var hs ui.Holds
		d.call("GET", "/api/holds", "", &hs)
		h = hs.Holds[0]
		return h.Event != 0
	})
	d.call("POST", "/api/play", "", nil)
	time.Sleep(600 * time.Millisecond) // three times the first RTO
	st := d.state()
	if !st.ClockPaused {
		t.Error("a packet is held and the run plays on with the stacks' clock running")
	}
	seq := uint32(h.Fields["seq"].(float64))
	for _, e := range d.events(h.Event+1, st.Last) {
		if e["layer"] == "link" && e["event"] == "packet" && e["node"] == "client" && strings.Contains(e["summary"].(string), "IP 10.0.0.1.") &&
			strings.Contains(e["summary"].(string), "Flags [P.], seq 1:") {
			t.Errorf("the held segment (seq %d) went out again while held: #%v %v", seq, e["id"], e["summary"])
		}
	}
	win := uint16(h.Fields["window"].(float64))
	body := fmt.Sprintf(`{"action":"release","edit":{"window":%d}}`, win-1)
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), body, nil); code != 200 {
		t.Fatalf("release edited: %d", code)
	}
	want := fmt.Sprintf("win %d → %d", win, win-1)
	var verdict, sent uint64
	d.waitFor("the edit's verdict and the packet sent on", func(st ui.State) bool {
		for _, e := range d.events(h.Event+1, st.Last) {
			id := uint64(e["id"].(float64))
			s, _ := e["summary"].(string)
			switch {
			case e["layer"] == "link" && e["event"] == "verdict" && e["node"] == "client" && strings.Contains(s, want):
				verdict = id
			case e["layer"] == "link" && e["event"] == "packet" && e["node"] == "client" && strings.Contains(s, fmt.Sprintf("win %d,", win-1)):
				sent = id
			}
		}
		return verdict != 0 && sent != 0
	})
	if verdict > sent {
		t.Errorf("the edit's verdict #%d comes after the packet it made, #%d", verdict, sent)
	}
	d.finish()
}

// TestPCAPNGTimesExcludePauses: demo --ui --pcap stamps each packet with
// its event's time, on the stacks' clock, so that a pause at a step is
// not in the capture either (before, the capture counted wall time: a
// packet 6 ms into the trace was 90 s into the capture after a pause).
func TestPCAPNGTimesExcludePauses(t *testing.T) {
	var buf syncBuffer
	d := startDemoOpts(t, false, app.DemoOptions{PCAPNG: &buf})
	first := d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	time.Sleep(700 * time.Millisecond) // paused: the stacks' clock stands still
	d.call("POST", "/api/step", `{"to":"packet"}`, nil)
	d.waitFor("the first packet", func(st ui.State) bool { return st.Current > first.Current })
	time.Sleep(700 * time.Millisecond)
	d.end()
	times := map[uint64]time.Duration{}
	for _, e := range d.events(1, d.state().Last) {
		times[uint64(e["id"].(float64))] = time.Duration(e["t"].(float64))
	}
	d.finish()
	evs, err := trace.ReadPCAPNG(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 10 {
		t.Fatalf("the capture holds %d packets", len(evs))
	}
	// The capture's times, from its first packet, are the trace's.
	t0, _ := time.Parse(time.RFC3339Nano, evs[0].Field("time").(string))
	for _, e := range evs {
		at, _ := time.Parse(time.RFC3339Nano, e.Field("time").(string))
		live, ok := times[e.ID]
		if !ok {
			t.Fatalf("packet #%d of the capture is not in the trace", e.ID)
		}
		want := live - times[evs[0].ID]
		if got := at.Sub(t0); got-want > 50*time.Millisecond || want-got > 50*time.Millisecond {
			t.Errorf("packet #%d: %v into the capture, %v into the trace", e.ID, got, want)
		}
	}
}

// TestHoldAfterTheRunStopped: a conversation that goes wrong (here the
// echo of a binary frame the page turned into a text one, which is not
// UTF-8) ends the run while the stacks go on: the client's FIN still
// reaches the server. A packet held then, or a step the stack was
// stopped at, must not wait for a play the view refuses once the run has
// ended: the released FIN goes on to the server's TCP at once.
func TestHoldAfterTheRunStopped(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	if code := d.call("POST", "/api/hold", `{"point":"link-ingress","node":"server","filter":"tcp and fin"}`, nil); code != 200 {
		t.Fatalf("arm the FIN's hold: %d", code)
	}
	h := d.holdFirst(`{"point":"ws-in","node":"client","filter":"binary"}`, "the echo of the binary frame")
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"release","edit":{"opcode":"text"}}`, nil); code != 200 {
		t.Fatalf("release the frame as text: %d", code)
	}
	d.call("POST", "/api/play", "", nil)
	// The FIN is most often held after the run ended (the demo says the
	// conversation stopped as soon as the client closes, before its FIN
	// reaches the server), the case this is about; when it is held first
	// (under the race detector, say) the held FIN stops the run before
	// the demo can end it, and play lets it.
	if st := d.waitFor("the held FIN", func(st ui.State) bool { return st.Held == 1 }); !st.Ended {
		t.Log("the FIN was held before the run ended")
		d.call("POST", "/api/play", "", nil)
		d.waitFor("the end of the run", func(st ui.State) bool { return st.Ended })
	}
	var hs ui.Holds
	for end := time.Now().Add(20 * time.Second); len(hs.Holds) != 1 || hs.Holds[0].Event == 0; time.Sleep(5 * time.Millisecond) {
		d.call("GET", "/api/holds", "", &hs)
		if time.Now().After(end) {
			t.Fatalf("the FIN was not named by its held step: %+v", hs.Holds)
		}
	}
	var out ui.Outcome
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", hs.Holds[0].ID), `{"action":"release"}`, &out); code != 200 {
		t.Fatalf("release the FIN: %d %+v", code, out)
	}
	if out.Pending {
		t.Errorf("the released FIN waits for the stack to run, which nothing can make it do once the run has ended: %+v", out)
	}
	st := d.waitFor("the server's TCP to take the FIN", func(st ui.State) bool {
		for _, e := range d.events(hs.Holds[0].Event, st.Last) {
			if e["node"] == "server" && e["layer"] == "tcp" && e["event"] == "state" {
				return true
			}
		}
		return false
	})
	if st.Paused {
		t.Errorf("the ended run is paused at a step nothing can play: %+v", st)
	}
}

// TestRetransmitBreakpointSetLate: "retransmit" set after the first copy
// went (here: a held segment dropped, then the breakpoint set to catch
// TCP sending it again, as a person does) still stops at the copy sent
// again: the view follows what each stack sent whether or not a
// breakpoint was set then.
func TestRetransmitBreakpointSetLate(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"link-egress","node":"client","filter":"tcp and psh"}`, "the held segment")
	held := d.event(h.Event)
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"drop"}`, nil); code != 200 {
		t.Fatalf("drop: %d", code)
	}
	if code := d.call("POST", "/api/breakpoints", `{"breakpoints":["retransmit"]}`, nil); code != 200 {
		t.Fatalf("breakpoints: %d", code)
	}
	d.call("POST", "/api/play", "", nil) // the hold stopped the run
	st := d.waitFor("the segment sent again, or the end", func(st ui.State) bool { return st.Hit == "retransmit" && st.Current != 0 || st.Ended })
	if st.Ended {
		t.Fatal("the run ended without stopping at the dropped segment sent again")
	}
	ev := d.event(st.Current)
	seq := regexp.MustCompile(`seq \d+:\d+`).FindString(fmt.Sprint(ev["summary"]))
	if ev["event"] != "packet" || ev["node"] != "client" || ev["dir"] != "out" || ev["conn"] != held["conn"] || seq == "" || !strings.Contains(fmt.Sprint(held["summary"]), seq+",") {
		t.Fatalf("stopped at %v: %v, want the client's segment sent again after %v", ev["id"], ev["summary"], held["summary"])
	}
	d.finish()
}

// TestStepWhileIdleSaysWhy: paused while the stack is idle (everything
// waits on a held frame, whose hold keeps the clock still), a step has no
// step to go on from. The 409 says so in a person's words (the page shows
// it as is) and names what holds the stack, not only a field to poll.
func TestStepWhileIdleSaysWhy(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	d.holdFirst(`{"point":"ws-out","node":"client","filter":"text"}`, "the held frame")
	d.call("POST", "/api/pause", "", nil)
	d.waitFor("paused and idle", func(st ui.State) bool { return st.Paused && st.Current == 0 })
	var e struct{ Error string }
	if code := d.call("POST", "/api/step", `{"to":"frame"}`, &e); code != 409 || !strings.Contains(e.Error, "idle") || !strings.Contains(e.Error, "1 held unit") {
		t.Errorf("a step while paused and idle, a frame held: %d %q, want 409 saying the stack is idle and that a held unit keeps its clock still", code, e.Error)
	}
	if strings.Contains(e.Error, "state.current") {
		t.Errorf("the 409 speaks of state.current, which the page does not show: %q", e.Error)
	}
}

// TestDelayOutlivingTheStack: a packet delayed for longer than its stack
// lives (the server's SYN-ACK held and delayed an hour; the client's SYN
// sent again makes another, and the demo runs to its end and closes its
// stacks) is traced as dropped, saying why, rather than vanishing from the
// trace after its held step.
func TestDelayOutlivingTheStack(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"link-egress","node":"server","filter":"tcp and syn"}`, "the held SYN-ACK")
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), `{"action":"delay","delay_ms":3600000}`, nil); code != 200 {
		t.Fatalf("delay: %d", code)
	}
	d.end()
	d.waitFor("the delayed SYN-ACK's end in the trace", func(st ui.State) bool {
		for _, e := range d.events(h.Event, st.Last) {
			if s, _ := e["reason"].(string); e["node"] == "server" && e["layer"] == "link" && e["event"] == "verdict" && strings.HasPrefix(s, "ui-delay") {
				return true
			}
		}
		return false
	})
	d.finish()
}

// TestEditedSYNSaysNewISN: a held SYN released with another seq goes out
// as a new ISN, which the trace's packet counts from (relative seq 0); the
// verdict that says what the edit changed says so too, rather than
// "relative 0 → 5" beside a packet that reads seq 0.
func TestEditedSYNSaysNewISN(t *testing.T) {
	d := startDemo(t, false, app.Rules{})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	h := d.holdFirst(`{"point":"link-egress","node":"client","filter":"tcp and syn"}`, "the held SYN")
	seq := uint32(h.Fields["seq"].(float64))
	if code := d.call("POST", fmt.Sprintf("/api/holds/%d", h.ID), fmt.Sprintf(`{"action":"release","edit":{"seq":%d}}`, seq+5), nil); code != 200 {
		t.Fatalf("release with seq %d: %d", seq+5, code)
	}
	d.call("POST", "/api/play", "", nil)
	var verdict, sent map[string]any
	for end := time.Now().Add(20 * time.Second); sent == nil; time.Sleep(5 * time.Millisecond) {
		for _, e := range d.events(h.Event, d.state().Last) {
			switch {
			case e["node"] != "client" || e["layer"] != "link":
			case e["event"] == "verdict" && e["action"] == "modify":
				verdict = e
			case e["event"] == "packet" && e["flags"] == "S" && e["seq"] == float64(seq+5):
				sent = e
			}
		}
		if sent == nil && time.Now().After(end) {
			t.Fatal("the edited SYN was not traced within 20 s")
		}
	}
	if verdict == nil {
		t.Fatal("no verdict traced for the edit")
	}
	if sent["rel_seq"] != float64(0) {
		t.Errorf("the edited SYN sent: %v, want relative seq 0", sent["summary"])
	}
	want := fmt.Sprintf("seq %d → %d (new ISN, +5: still relative 0)", seq, seq+5)
	if r, _ := verdict["reason"].(string); !strings.Contains(r, want) {
		t.Errorf("the edit's verdict says %q, want %q, as the packet sent (%v) reads", r, want, sent["summary"])
	}
	d.finish()
}

// TestAnalysisBreakpoint: with the client's bare ACKs saying its window
// is zero, "analysis zero-window" stops the run at such a packet, as it
// leaves the client or reaches the server, and not before.
func TestAnalysisBreakpoint(t *testing.T) {
	d := startDemo(t, false, app.Rules{Egress: []string{"tcp and len < 60 and not syn : window 0"}})
	d.waitFor("the first step", func(st ui.State) bool { return st.Current != 0 })
	d.call("POST", "/api/breakpoints", `{"breakpoints":["analysis zero-window"]}`, nil)
	d.call("POST", "/api/play", "", nil)
	st := d.waitFor("a zero window", func(st ui.State) bool { return st.Hit == "analysis zero-window" && st.Current != 0 })
	ev := d.event(st.Current)
	if ev["layer"] != "link" || ev["event"] != "packet" || ev["win"] != 0.0 || ev["flags"] != "." {
		t.Fatalf("stopped at %v, want a bare ACK with window 0", ev)
	}
	for _, e := range d.events(1, st.Current-1) {
		if e["layer"] == "link" && e["event"] == "packet" && e["win"] == 0.0 {
			t.Fatalf("the run went past %v, a packet with window 0 before the one it stopped at", e)
		}
	}
	d.finish()
}
