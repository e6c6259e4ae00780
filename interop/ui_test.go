package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// envScreenshots names a directory for the browser view's screenshots (the
// README's come from `GLASSNET_UI_SCREENSHOTS=../docs/img go test -run TestUI`);
// without it they go to a temporary directory.
const envScreenshots = "GLASSNET_UI_SCREENSHOTS"

// uiRun is a running glassnet with its browser view, and the view's address.
type uiRun struct {
	cmd   *exec.Cmd
	out   syncBuffer
	done  chan struct{}
	url   string // as printed, with ?token=
	base  string // http://127.0.0.1:PORT
	token string
}

// startUI starts glassnet with args (a command with --ui 127.0.0.1:0: the
// host's loopback, any port) and returns once it has printed the view's
// address.
func startUI(t *testing.T, args ...string) *uiRun {
	t.Helper()
	r := &uiRun{cmd: exec.Command(glassnetBin, args...), done: make(chan struct{})}
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stdout = &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start glassnet %s: %v", args[0], err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			r.out.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "glassnet: ui at "); ok {
				select {
				case ready <- strings.TrimSpace(u):
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-r.done:
			case <-time.After(10 * time.Second):
				syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
				<-r.done
			}
		}
		if t.Failed() {
			t.Logf("glassnet %s output:\n%s", args[0], r.out.String())
		}
	})
	select {
	case r.url = <-ready:
	case <-r.done:
		t.Fatalf("glassnet %s exited before it printed its address:\n%s", args[0], r.out.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("glassnet %s printed no address in 20s:\n%s", args[0], r.out.String())
	}
	i := strings.Index(r.url, "/?token=")
	if i < 0 {
		t.Fatalf("the view's address %q has no /?token=", r.url)
	}
	r.base, r.token = r.url[:i], r.url[i+len("/?token="):]
	t.Logf("glassnet %s: %s", strings.Join(args, " "), r.url)
	return r
}

// exportTo writes the view's export in format (pcapng, jsonl, perfetto)
// to file.
func (r *uiRun) exportTo(t *testing.T, ctx context.Context, format, file string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", r.base+"/api/export?format="+format, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Glassnet-Token", r.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("export %s: %s, %v", format, res.Status, err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// api calls the view's JSON API with the run's token and decodes the answer
// into out (when not nil); a status other than 200 is an error with the
// server's message.
func (r *uiRun) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Glassnet-Token", r.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// uiState is the part of GET /api/state the test reads.
type uiState struct {
	Paused  bool   `json:"paused"`
	Current int    `json:"current"`
	Count   int    `json:"count"`
	Hit     string `json:"hit"`
	Held    int    `json:"held"`
	Ended   bool   `json:"ended"`
}

// uiEvent is the part of an event the test reads.
type uiEvent struct {
	ID      int    `json:"id"`
	Node    string `json:"node"`
	Layer   string `json:"layer"`
	Event   string `json:"event"`
	Dir     string `json:"dir"`
	Flags   string `json:"flags"`
	Packets []int  `json:"packets"`
	Summary string `json:"summary"`
}

// consoleWatch collects what the page reports as an error: exceptions it
// did not catch, console.error calls, and error log entries.
type consoleWatch struct {
	mu       sync.Mutex
	problems []string
}

func (w *consoleWatch) event(method string, params json.RawMessage) {
	var p struct {
		ExceptionDetails *struct {
			Text      string `json:"text"`
			URL       string `json:"url"`
			Line      int    `json:"lineNumber"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
		Type string `json:"type"`
		Args []struct {
			Value       any    `json:"value"`
			Description string `json:"description"`
		} `json:"args"`
		Entry *struct {
			Level  string `json:"level"`
			Text   string `json:"text"`
			URL    string `json:"url"`
			Source string `json:"source"`
		} `json:"entry"`
	}
	json.Unmarshal(params, &p)
	var msg string
	switch {
	case method == "Runtime.exceptionThrown" && p.ExceptionDetails != nil:
		d := p.ExceptionDetails
		msg = fmt.Sprintf("exception: %s %s (%s:%d)", d.Text, d.Exception.Description, d.URL, d.Line)
	case method == "Runtime.consoleAPICalled" && (p.Type == "error" || p.Type == "assert"):
		var parts []string
		for _, a := range p.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, fmt.Sprint(a.Value))
			}
		}
		msg = "console." + p.Type + ": " + strings.Join(parts, " ")
	case method == "Log.entryAdded" && p.Entry != nil && p.Entry.Source == "network" && strings.Contains(p.Entry.URL, "/api/"):
		return // an API error the page shows (a bad breakpoint); the test checks it there
	case method == "Log.entryAdded" && p.Entry != nil && p.Entry.Level == "error":
		msg = fmt.Sprintf("log %s: %s %s", p.Entry.Source, p.Entry.Text, p.Entry.URL)
	default:
		return
	}
	w.mu.Lock()
	w.problems = append(w.problems, msg)
	w.mu.Unlock()
}

func (w *consoleWatch) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.problems
	w.problems = nil
	return p
}

// uiPage is the view open in chromium, with helpers that fail the test.
type uiPage struct {
	t      *testing.T
	ctx    context.Context
	page   *cdpPage
	watch  *consoleWatch
	shots  string
	stderr *bytes.Buffer
}

func (p *uiPage) call(method string, params, result any) {
	p.t.Helper()
	if err := p.page.cdp.call(p.ctx, p.page.session, method, params, result); err != nil {
		p.t.Fatalf("%s: %v\nchromium stderr:\n%s", method, err, p.stderr.Bytes())
	}
}

// eval returns the value of a JavaScript expression in the page.
func (p *uiPage) eval(expr string) string {
	p.t.Helper()
	v, err := p.page.eval(p.ctx, expr)
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// wait returns the first truthy value of expr (polled in the page, 10 s at most).
func (p *uiPage) wait(what, expr string) string {
	p.t.Helper()
	v, err := p.page.wait(p.ctx, expr)
	if err != nil {
		// what the page says first: the error ends with the whole page
		p.t.Fatalf("waiting for %s\npage status: %s\nthe hold queue's last answer: %s\n%v", what,
			p.evalQuiet(`document.getElementById("status").textContent`), p.evalQuiet(`(document.getElementById("hold-last") || {}).textContent || "none"`), err)
	}
	return v
}

// waitLong is wait for things that take longer than its 10 s: it polls
// again until d has passed.
func (p *uiPage) waitLong(what string, d time.Duration, expr string) string {
	p.t.Helper()
	end := time.Now().Add(d)
	for {
		v, err := p.page.wait(p.ctx, expr)
		if err == nil {
			return v
		}
		if !strings.Contains(err.Error(), "timed out waiting") || time.Now().After(end) {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

func (p *uiPage) evalQuiet(expr string) string {
	v, err := p.page.eval(p.ctx, expr)
	if err != nil {
		return err.Error()
	}
	return v
}

// key presses one key as a person would.
func (p *uiPage) key(k string, code int) {
	p.t.Helper()
	for _, typ := range []string{"keyDown", "keyUp"} {
		params := map[string]any{"type": typ, "key": k, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}
		if typ == "keyDown" && len(k) == 1 {
			params["text"] = k
		}
		p.call("Input.dispatchKeyEvent", params, nil)
	}
}

// click scrolls the element selected by css into view and clicks its
// middle, as a person would: once the element has stood still for two
// frames (a page drawing new events can move it between the look and the
// press), and again if the click did not reach it (something moved it
// under the pointer all the same).
func (p *uiPage) click(css string) {
	p.t.Helper()
	js := fmt.Sprintf(`(async () => {
		const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
		let el, r, before = "";
		for (let i = 0; i < 50; i++) {
			el = document.querySelector(%s);
			if (!el) return "";
			el.scrollIntoView({block: "center", inline: "center"});
			await frame();
			await frame();
			r = el.getBoundingClientRect();
			const now = [r.x, r.y, r.width, r.height].join();
			if (now === before) break;
			before = now;
		}
		const x = r.x + Math.min(r.width / 2, 20), y = r.y + r.height / 2;
		const at = document.elementFromPoint(x, y);
		if (!at || !(el === at || el.contains(at) || at.contains(el) || (el.parentNode && el.parentNode.contains(at)))) return "covered by " + (at ? at.outerHTML.slice(0, 200) : "nothing") + " at " + x + "," + y;
		window.__glassnetClick = "";
		addEventListener("click", (e) => { const t = e.target; window.__glassnetClick = el.isConnected && (el === t || el.contains(t) || (el.parentNode && el.parentNode.contains(t))) ? "hit" : "missed: " + (t.outerHTML || t.nodeName).slice(0, 200); }, {capture: true, once: true});
		return JSON.stringify([x, y]);
	})()`, strconv.Quote(css))
	for try := 1; ; try++ {
		v := p.eval(js)
		var xy [2]float64
		if err := json.Unmarshal([]byte(v), &xy); err != nil {
			p.t.Fatalf("no element %s to click (%q)", css, v)
		}
		for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
			p.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": xy[0], "y": xy[1], "button": "left", "clickCount": 1}, nil)
		}
		got := p.eval(`window.__glassnetClick || "no click"`)
		if got == "hit" {
			return
		}
		if try == 3 {
			p.t.Fatalf("clicking %s three times: %s", css, got)
		}
		p.t.Logf("clicking %s: %s; again", css, got)
	}
}

// setValue types a value into a form field and says it changed.
func (p *uiPage) setValue(css, value string) {
	p.t.Helper()
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) return "missing";
		el.value = %s;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return "ok";
	})()`, strconv.Quote(css), strconv.Quote(value))
	if v := p.eval(js); v != "ok" {
		p.t.Fatalf("set %s: %s", css, v)
	}
}

// shot saves a PNG of the page as name.png.
func (p *uiPage) shot(name string) {
	p.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	p.call("Page.captureScreenshot", map[string]any{"format": "png"}, &res)
	b, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(p.shots, name+".png")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", file)
}

// noProblems fails the test for anything the page reported as an error.
func (p *uiPage) noProblems(when string) {
	p.t.Helper()
	p.eval("1") // reads the events that came since the last call
	for _, m := range p.watch.take() {
		p.t.Errorf("%s: the page reported %s", when, m)
	}
}

// openUI opens the view in chromium at 1600x1000, watching the console
// from the first script on.
func openUI(t *testing.T, ctx context.Context, r *uiRun) *uiPage {
	t.Helper()
	// The demo may wait out its own timeouts while the test holds it paused.
	defer func(d time.Duration) { chromiumLifetime = d }(chromiumLifetime)
	chromiumLifetime = 3 * time.Minute
	page, stderr := chromiumCDP(t, ctx, "about:blank")
	shots := os.Getenv(envScreenshots)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &uiPage{t: t, ctx: ctx, page: page, watch: &consoleWatch{}, shots: shots, stderr: stderr}
	page.cdp.onEvent = p.watch.event
	p.call("Runtime.enable", nil, nil)
	p.call("Log.enable", nil, nil)
	p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": false}, nil)
	p.call("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "light"}}}, nil)
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	p.call("Page.navigate", map[string]any{"url": r.url}, &nav)
	if nav.ErrorText != "" {
		t.Fatalf("open %s: %s", r.url, nav.ErrorText)
	}
	return p
}

// TestUI drives the browser view of `glassnet demo --ui` in headless
// chromium the way a person would: it steps to the first WebSocket frame
// with the keyboard, reads the handshake and the upgrade off the ladder,
// clicks a frame and sees its packets lit in the ladder and the byte
// ruler, sets a breakpoint, holds the client's next segment, closes its
// window and releases it, sees the server's send window drop to zero in the
// state view, and runs to the FIN. Any exception or console error fails it.
func TestUI(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	r := startUI(t, "demo", "--ui", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)

	// Idle: demo --ui waits at its first step for the page.
	p.wait("the page to show the paused stack", `window.glassnet && glassnet.state.paused && glassnet.store.events.length > 0 && document.getElementById("status").dataset.status === "paused" && "ready"`)
	p.shot("ui-idle")
	p.noProblems("opening the page")

	state := func() uiState {
		t.Helper()
		var s uiState
		if err := r.api(ctx, "GET", "/api/state", nil, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	event := func(id int) uiEvent {
		t.Helper()
		var e uiEvent
		if err := r.api(ctx, "GET", "/api/events/"+strconv.Itoa(id), nil, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	// drawn waits until the page has drawn the event the stack stopped at.
	drawn := func(what string) uiState {
		t.Helper()
		s := state()
		// every event up to it in the page (ids have no gaps), and drawn
		p.wait(what, fmt.Sprintf(`glassnet.state.current === %d && glassnet.store.get(%d) && glassnet.store.events.length === glassnet.store.events[glassnet.store.events.length - 1].id && document.querySelector('#events [data-current="true"]') && "drawn"`, s.Current, s.Current))
		return s
	}

	// Mid-handshake: three packets on, through the JSON API.
	for range 3 {
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "packet"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s := drawn("the third packet")
	if e := event(s.Current); e.Layer != "link" || e.Event != "packet" {
		t.Fatalf("stepped to the next packet, stopped at %+v", e)
	}
	p.wait("the SYN in the ladder", `document.querySelector('#ladder g[data-kind="packet"][data-flags="S"]')`)
	// The server has answered the SYN; TCP reports SYN-RCVD a few steps
	// later. The table and the state change say where it is, as the
	// timers do ("SYN-ACK sent"), not "no state yet": the table as
	// glassnet ss names it, SYN-RECV.
	if e := event(s.Current); e.Node != "server" || e.Flags != "S." || e.Dir != "out" {
		t.Fatalf("the third packet is %+v, not the server's SYN-ACK", e)
	}
	if got := p.eval(`(() => {
		const row = document.querySelector('#conns tr[data-node="server"][data-conn*="⇄"] td.state');
		const col = document.querySelector('#diff .diffcol[data-node="server"] [data-unreported]');
		return (row ? row.textContent.replace(/^server/, "") : "no row") + "|" + (col ? col.dataset.unreported : "none");
	})()`); got != "SYN-RECV|SYN-RCVD" {
		t.Errorf("at the server's SYN-ACK the table and the state change say %q for the server, want SYN-RECV|SYN-RCVD", got)
	}
	p.shot("ui-handshake")
	// The client entered SYN-SENT by sending its SYN: the state change
	// names the SYN and the call that sent it. (The report is deferred:
	// it may come a few steps after the SYN.)
	synSent := `(() => { const col = document.querySelector('#diff .diffcol[data-node="client"]'); const st = col && col.querySelector('tr[data-field="state"]'); const c = col && col.querySelector('[data-cause]'); return st && st.dataset.new === "SYN-SENT" && /SYN sent by the application's connect\(\)/.test(c.textContent) ? "shown" : ""; })()`
	for i := 0; p.eval(synSent) != "shown"; i++ {
		if i == 20 {
			t.Fatalf("no SYN-SENT with its cause in the client's state change 20 steps after the SYN: %s", p.eval(`document.querySelector('#diff').innerText`))
		}
		if p.eval(`glassnet.store.events.some((e) => e.node === "client" && e.event === "state" && e.state === "SYN-SENT") ? "y" : ""`) == "y" {
			// reported: select it, so that the state change shows it
			p.eval(`glassnet.select(glassnet.store.events.find((e) => e.node === "client" && e.event === "state" && e.state === "SYN-SENT").id, "test"); "ok"`)
			p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
			if p.eval(synSent) == "shown" {
				break
			}
			// the cause names connect() once its call has returned:
			// step on until it has
		}
		if err := r.api(ctx, "POST", "/api/step", nil, nil); err != nil {
			t.Fatal(err)
		}
		drawn("a step towards the client's SYN-SENT report")
	}
	// The layer and seq/time views show the stack of the event selected.
	p.eval(`glassnet.select(glassnet.store.events.find((e) => e.node === "client" && e.event === "state" && e.state === "SYN-SENT").id, "test"); "ok"`)
	p.wait("the layers of the selected event's stack", `glassnet.node === "client" && document.getElementById("node").value === "client" && document.querySelector("#lanes .lane-label").textContent === "client" && "client"`)
	p.eval(`glassnet.select(0, "test"); "ok"`)
	// The page was open before the connection: once both ends are in, the
	// layer and seq/time views show the stack that accepted, as they do
	// on a page opened later.
	p.wait("the server's layers", `glassnet.node === "server" && document.getElementById("node").value === "server" && "server"`)

	// n goes one event on.
	p.key("n", 78)
	p.wait("one step with n", fmt.Sprintf(`glassnet.state.current > %d && "stepped"`, s.Current))

	// The exports are downloads of the history.
	for _, f := range []string{"jsonl", "pcapng", "perfetto"} {
		got := p.eval(fmt.Sprintf(`fetch(document.getElementById("exp-%s").href).then((r) => r.status + " " + r.headers.get("content-disposition"))`, f))
		if !strings.HasPrefix(got, "200 attachment") {
			t.Errorf("export %s: %s", f, got)
		}
	}

	// (1) The first WebSocket frame, with the keyboard: f.
	p.key("f", 70)
	p.wait("the stack to stop at a frame", `glassnet.state.current && glassnet.store.get(glassnet.state.current) && glassnet.store.get(glassnet.state.current).event === "frame" && "frame"`)
	s = drawn("the first frame")
	if e := event(s.Current); e.Layer != "ws" || e.Event != "frame" {
		t.Fatalf("f stopped at %+v, want the first ws frame", e)
	}

	// (2) The ladder shows the three-way handshake and the HTTP upgrade.
	// The ladder redraws on the next animation frame after the event list:
	// give it until the deadline to show them, then check.
	upgrade := []string{`#ladder g[data-http="request"]`, `#ladder g[data-http="response"]`, `#ladder [data-ws="handshake"][data-node="server"]`, `#ladder [data-ws="handshake"][data-node="client"]`}
	shown := `JSON.stringify([...document.querySelectorAll('#ladder g[data-kind="packet"]')].slice(0, 3).map((g) => g.dataset.flags)) === '["S","S.","."]'`
	for _, css := range upgrade {
		shown += fmt.Sprintf(` && !!document.querySelector(%s)`, strconv.Quote(css))
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && p.eval(shown) != "true"; {
		time.Sleep(50 * time.Millisecond)
	}
	flags := p.eval(`JSON.stringify([...document.querySelectorAll('#ladder g[data-kind="packet"]')].slice(0, 3).map((g) => g.dataset.flags))`)
	if flags != `["S","S.","."]` {
		t.Errorf("the ladder's first three segments have flags %s, want SYN, SYN-ACK, ACK", flags)
	}
	for _, css := range upgrade {
		if p.eval(fmt.Sprintf(`!!document.querySelector(%s)`, strconv.Quote(css))) != "true" {
			t.Errorf("the ladder lacks the upgrade: no %s", css)
		}
	}

	// (3) The server's copy of that frame (the next frame) names the packets
	// that carried it; clicking it lights them in the ladder and the ruler.
	p.key("f", 70)
	p.wait("the next frame", fmt.Sprintf(`glassnet.state.current > %d && glassnet.store.get(glassnet.state.current) && glassnet.store.get(glassnet.state.current).event === "frame" && "frame"`, s.Current))
	s = drawn("the server's frame")
	frame := event(s.Current)
	if frame.Node != "server" || len(frame.Packets) == 0 {
		t.Fatalf("the second frame is %+v, want the server's copy with its packets", frame)
	}
	p.eval(`glassnet.select(0); "ok"`)
	chip := fmt.Sprintf(`#ladder [data-kind="frame"][data-event-id="%d"] rect`, frame.ID)
	if _, err := p.page.wait(ctx, fmt.Sprintf(`document.querySelector(%q)`, chip)); err != nil {
		t.Fatalf("the ladder has no chip for frame #%d: %v\nthe ladder's events: %s", frame.ID, err,
			p.eval(`[...document.querySelectorAll("#ladder [data-event-id]")].map((e) => e.dataset.eventId + ":" + (e.dataset.kind || "")).join(" ") + " focus " + glassnet.focus`))
	}
	p.click(chip)
	p.wait("the frame selected", fmt.Sprintf(`glassnet.selected === %d && location.hash === "#event=%d" && "selected"`, frame.ID, frame.ID))
	ids, _ := json.Marshal(frame.Packets)
	lit := p.wait("its packets lit", fmt.Sprintf(`(() => {
		const want = new Set(%s.flatMap((id) => [id, glassnet.store.twin.get(id)]).filter(Boolean).map(String));
		const ladder = [...document.querySelectorAll('#ladder g[data-kind="packet"][data-hl="rel"]')].filter((g) => want.has(g.dataset.eventId) || want.has(g.dataset.twin));
		const ruler = [...document.querySelectorAll('#ruler [data-kind="packet"][data-hl="rel"]')].filter((r) => want.has(r.dataset.eventId));
		return ladder.length && ruler.length && JSON.stringify({ladder: ladder.length, ruler: ruler.length});
	})()`, ids))
	t.Logf("frame #%d carried by packets %v: lit %s", frame.ID, frame.Packets, lit)
	if p.eval(fmt.Sprintf(`!!document.querySelector('#ruler [data-kind="frame"][data-hl="sel"]') && !!document.querySelector('#inspector .summary[data-event-id="%d"]')`, frame.ID)) != "true" {
		t.Errorf("the frame is not marked in the ruler, or not in the inspector")
	}
	// The byte stream's message brackets and HTTP blocks are the ws
	// message and handshake events, for scripts as for clicks.
	kinds := p.eval(`JSON.stringify([...document.querySelectorAll('#ruler [data-kind="message"][data-event-id], #ruler [data-kind="http"][data-event-id]')].map((el) => { const e = glassnet.store.get(+el.dataset.eventId); return el.dataset.kind + ":" + (e && e.layer + " " + e.event); }).filter((v, i, a) => a.indexOf(v) === i).sort())`)
	if kinds != `["http:ws handshake","message:ws message"]` {
		t.Errorf("the byte stream's HTTP blocks and message brackets stand for %s, want the ws handshake and message events", kinds)
	}
	// The inspector rebuilds the frame from its packets' bytes: header
	// bits, mask key, and the payload unmasked.
	insp := p.wait("the frame in the inspector", `(() => { const el = document.getElementById("inspector"); return el.querySelector(".bits") && el.textContent.includes("Payload unmasked") && el.textContent; })()`)
	if !strings.Contains(insp, "mask key") || !strings.Contains(insp, "hello, glassnet") {
		t.Errorf("the inspector shows no mask key or no unmasked text for frame #%d:\n%s", frame.ID, insp)
	}
	p.noProblems("stepping to the frames")

	// A reload while the run is paused keeps what the address names
	// (#event=ID), not the step the run stopped at.
	p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, frame.Packets[0]))
	p.wait("the packet's address", fmt.Sprintf(`location.hash === "#event=%d" && "ok"`, frame.Packets[0]))
	// The old page marks itself, so that the wait is answered by the new
	// one only.
	p.eval(`window.oldPage = true; location.reload(); "ok"`)
	p.wait("the packet selected again after a reload", fmt.Sprintf(`!window.oldPage && typeof glassnet !== "undefined" && glassnet.timing && glassnet.timing.loaded > 0 && glassnet.state.paused && glassnet.state.current === %d && glassnet.selected === %d && "restored"`, frame.ID, frame.Packets[0]))

	// An address naming an event the view does not have says so.
	for _, h := range []string{"99999999", "abc"} {
		p.eval(`location.hash = "#event=` + h + `"; "ok"`)
		got := p.wait("the inspector on #event="+h, `(() => { const m = document.querySelector('#inspector [data-missing="`+h+`"]'); return m && m.textContent; })()`)
		if !strings.Contains(got, h) {
			t.Errorf("#event=%s: the inspector says %q", h, got)
		}
	}

	// A packet's header tree checks its checksums: the IP header's and
	// the TCP segment's are correct in the packets the stacks sent.
	p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, frame.Packets[0]))
	sums := p.wait("a packet's checksums in the inspector", `(() => { const t = document.getElementById("inspector").textContent; const n = (t.match(/\(correct\)/g) || []).length; return n >= 2 && String(n); })()`)
	if strings.Contains(p.eval(`document.getElementById("inspector").textContent`), "(wrong") {
		t.Errorf("the inspector finds a wrong checksum in packet #%d (%s correct)", frame.Packets[0], sums)
	}

	// (4, first half) Breakpoints from the page: a bad one shows the
	// server's message, a good one is set.
	p.setValue("#bp-text", "tcp andd fin")
	p.click("#bp-apply")
	msg := p.wait("the breakpoint error", `document.getElementById("bp-msg").dataset.result === "error" && document.getElementById("bp-msg").textContent`)
	t.Logf("a bad breakpoint: %s", msg)
	p.setValue("#bp-text", "tcp and fin")
	p.click("#bp-apply")
	p.wait("the breakpoint set", `document.getElementById("bp-msg").dataset.result === "ok" && "ok"`)

	// Live rules from the page: a bad one shows the command line's error; a
	// good one is listed, then removed.
	p.setValue("#rl-node", "client")
	p.setValue("#rl-point", "egress")
	p.setValue("#rl-rule", "loss 200%")
	p.click("#rl-add")
	msg = p.wait("the rule error", `document.getElementById("rl-msg").dataset.result === "error" && document.getElementById("rl-msg").textContent`)
	t.Logf("a bad rule: %s", msg)
	p.setValue("#rl-rule", "udp : drop")
	p.click("#rl-add")
	p.wait("the rule listed", `document.getElementById("rl-msg").dataset.result === "ok" && document.querySelector("#rule-list button[data-rule-id]") && "listed"`)
	p.click("#rule-list button[data-rule-id]")
	p.wait("the rule removed", `!document.querySelector("#rule-list button[data-rule-id]") && "removed"`)

	// A rule and breakpoints that a script (or another page) sets show in
	// the page without a reload.
	var added struct{ ID int }
	if err := r.api(ctx, "POST", "/api/rules", map[string]string{"node": "server", "point": "ingress", "rule": "udp : drop"}, &added); err != nil {
		t.Fatal(err)
	}
	p.wait("the rule a script added", fmt.Sprintf(`document.querySelector('#rule-list button[data-rule-id="%d"]') && "listed"`, added.ID))
	if err := r.api(ctx, "DELETE", fmt.Sprintf("/api/rules/%d", added.ID), nil, nil); err != nil {
		t.Fatal(err)
	}
	p.wait("the rule a script removed", `!document.querySelector("#rule-list button[data-rule-id]") && "removed"`)
	for _, bps := range [][]string{{"tcp and fin", "ws close"}, {"tcp and fin"}} {
		if err := r.api(ctx, "POST", "/api/breakpoints", map[string]any{"breakpoints": bps}, nil); err != nil {
			t.Fatal(err)
		}
		p.wait("the breakpoints a script set", fmt.Sprintf(`document.getElementById("bp-text").value === %q && "shown"`, strings.Join(bps, "\n")))
	}

	// (5) Hold the next segment the client sends, from the page's form, and
	// step (the clock stands still between steps, so TCP does not send it
	// again meanwhile) until it is held.
	p.setValue("#hn-point", "link-egress")
	p.setValue("#hn-node", "client")
	p.setValue("#hn-filter", "tcp")
	p.click("#hn-arm")
	p.wait("the hold armed", `document.getElementById("hn-msg").dataset.result === "ok" && "ok"`)
	// steady checks that the run controls and the exports stay where they
	// are whatever the status says: it changes with every state and events
	// message, and a button that moves between a press and its release
	// loses the click (the press lands on the button, the release beside
	// it).
	steady := func(when string) {
		t.Helper()
		moved := p.eval(`(() => {
			const els = [...document.querySelectorAll("#controls button, #controls select, #exports a, #help-toggle")];
			const at = () => els.map((e) => { const r = e.getBoundingClientRect(); return e.id + "@" + r.x + "," + r.y; }).join(" ");
			const saved = [document.getElementById("status").dataset.status, document.getElementById("status").textContent];
			const before = at();
			const bad = [];
			for (const text of ["", "paused at #7", "paused at #123456 server link packet · 123456 events · 12 held", "x".repeat(400)]) {
				glassnet.status("paused", text);
				const now = at();
				if (now !== before) bad.push(JSON.stringify(text) + ": " + now);
			}
			glassnet.status(saved[0], saved[1]);
			return bad.length ? "with the status at rest: " + before + "; with the status " + bad.join("; ") : "";
		})()`)
		if moved != "" {
			t.Fatalf("%s: the run controls move when the status text changes (a click on them is lost): %s", when, moved)
		}
	}
	// play clicks Play once, as a person would, and waits for the stack to move.
	play := func() {
		t.Helper()
		before := state()
		p.click("#play")
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if s := state(); s.Paused != before.Paused || s.Current != before.Current || s.Ended {
				return
			}
		}
		t.Fatalf("a click on Play did not start the run in 10s: the stack is still at %+v; Play is %s, the page says %q",
			state(), p.evalQuiet(`(() => { const b = document.getElementById("play"); const r = b.getBoundingClientRect(); return (b.disabled ? "disabled" : "enabled") + " at " + r.x + "," + r.y; })()`),
			p.evalQuiet(`document.getElementById("status").textContent`))
	}
	stepUntil := func(what string, done func() bool) {
		t.Helper()
		for i := 0; !done(); i++ {
			if i == 500 {
				t.Fatalf("500 steps and still no %s", what)
			}
			if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "event"}, nil); err != nil {
				t.Fatalf("step until %s: %v", what, err)
			}
		}
	}
	stepUntil("held packet", func() bool { return state().Held > 0 })
	holdID := p.wait("the held packet in the hold queue", `(() => { const c = document.querySelector('#holds [data-hold-id]'); return c && c.querySelector('[data-field="window"]') && c.dataset.holdId; })()`)
	p.wait("the held packet in the ladder", `document.querySelector('#ladder g[data-held="true"]') && "held"`)
	p.shot("ui-held")

	// Close its window and release it: the answer comes once the stack has
	// taken the packet back, at one of the next steps.
	card := fmt.Sprintf(`#holds [data-hold-id="%s"]`, holdID)
	// Its seq relative, as the ladder writes it (the rel_seq of the
	// client's TCP segment just traced), beside the absolute one; each
	// follows the other.
	rel := func() string {
		return p.eval(fmt.Sprintf(`(() => { const c = document.querySelector(%q); const r = c && c.querySelector('[data-rel="seq"]'); return r ? r.value + " " + c.querySelector('[data-field="seq"]').value : ""; })()`, card))
	}
	p.wait("the held segment's relative seq", fmt.Sprintf(`document.querySelector(%q) && "shown"`, card+` [data-rel="seq"]`))
	relAbs := strings.Fields(rel())
	traced := p.eval(`String(glassnet.store.events.findLast((e) => e.node === "client" && e.layer === "tcp" && e.event === "segment").rel_seq)`)
	if len(relAbs) != 2 || relAbs[0] != traced {
		t.Fatalf("the held segment's seq relative and absolute: %q; the trace's rel_seq %s", relAbs, traced)
	}
	// Its len is the whole IP packet's, as its bytes are long, where the
	// summary's len= is the TCP payload's: the label says which.
	if got := p.eval(fmt.Sprintf(`(() => { const c = document.querySelector(%q); const l = c.querySelector('[data-shown="len"]'); const h = glassnet.holds.find((h) => String(h.id) === c.dataset.holdId); return l.previousElementSibling.textContent + " " + l.value + " " + h.fields.len; })()`, card)); !regexp.MustCompile(`^len \(IP packet\) (\d+) (\d+)$`).MatchString(got) || strings.Fields(got)[3] != strings.Fields(got)[4] {
		t.Errorf("the held packet's len in its card: %q, want it labelled as the IP packet's, with the API's value", got)
	}
	if got := p.eval(`(() => { const l = document.querySelector('#ladder-panel [data-legend="relative"]'); return l ? l.textContent : "none"; })()`); got != "seq/ack relative" {
		t.Errorf("the ladder's legend on its seq and ack numbers: %q, want it to say they are relative", got)
	}
	abs, _ := strconv.ParseUint(relAbs[1], 10, 32)
	relSeq, _ := strconv.ParseUint(relAbs[0], 10, 32)
	p.setValue(card+` [data-rel="seq"]`, strconv.FormatUint(relSeq+5, 10))
	if got := strings.Fields(rel()); len(got) != 2 || got[1] != strconv.FormatUint(uint64(uint32(abs+5)), 10) {
		t.Errorf("relative seq %d+5: the absolute one reads %q, want %d", relSeq, got, uint32(abs+5))
	}
	p.setValue(card+` [data-field="seq"]`, relAbs[1])
	if got := strings.Fields(rel()); len(got) != 2 || got[0] != relAbs[0] {
		t.Errorf("absolute seq set back: the relative one reads %q, want %s", got, relAbs[0])
	}
	// A window that is not a number, typed as a person would (the
	// browser reads "1-2" in a number field as empty), is said so, and
	// the unit stays held rather than going on without the edit.
	p.eval(fmt.Sprintf(`(() => { const w = document.querySelector(%q); w.value = ""; w.focus(); return "ok"; })()`, card+` [data-field="window"]`))
	p.call("Input.insertText", map[string]any{"text": "1-2"}, nil)
	p.click(card + ` button[data-hold-action="release"]`)
	if msg := p.wait("the release refused", `document.getElementById("hold-last").dataset.result === "error" && document.getElementById("hold-last").textContent`); !strings.Contains(msg, "not a number: window") {
		t.Errorf("release with 1-2 typed in the window: %q, want it refused as not a number", msg)
	}
	if s := state(); s.Held != 1 {
		t.Errorf("release with 1-2 typed in the window: %d held, want the unit still held", s.Held)
	}
	p.setValue(card+` [data-field="window"]`, "0")
	p.click(card + ` button[data-hold-action="release"]`)
	p.wait("the release sent", fmt.Sprintf(`document.getElementById("hold-last").dataset.holdId === %q && "sent"`, holdID))
	outcome := fmt.Sprintf(`(() => { const o = document.getElementById("hold-last"); return o.dataset.holdId === %q && o.dataset.result && o.dataset.result + ": " + o.textContent; })()`, holdID)
	zeroState := `(() => { const e = glassnet.store.events.find((e) => e.node === "server" && e.layer === "tcp" && e.event === "state" && e.snd_wnd === 0); return e ? String(e.id) : ""; })()`
	stepUntil("zero window at the server", func() bool { return p.eval(zeroState) != "" })
	out := p.wait("the release's outcome", outcome)
	if !strings.HasPrefix(out, "ok") || !strings.Contains(out, "edited") {
		t.Errorf("release with window 0: %s", out)
	}

	// (6) The server's TCP state after the zero-window segment, selected by
	// its address (#event=ID), shows snd_wnd 0 in the state view.
	zero := p.eval(zeroState)
	p.eval(`location.hash = "#event=` + zero + `"; "ok"`)
	p.wait("the zero window in the server's state change", `document.querySelector('#diff [data-node="server"] tr[data-field="snd_wnd"][data-new="0"][data-changed="true"]') && "zero"`)
	p.shot("ui-zero-window")

	// (4, second half) Play: the run stops at the FIN.
	steady("paused after the release")
	play()
	p.waitLong("the breakpoint hit", time.Minute, `glassnet.state.paused && glassnet.state.hit && "hit"`)
	s = drawn("the FIN")
	if hit := state().Hit; hit != "tcp and fin" {
		t.Errorf("stopped by breakpoint %q, want tcp and fin", hit)
	}
	if st := p.wait("the status at the breakpoint", `document.getElementById("status").textContent.includes("breakpoint tcp and fin") && document.getElementById("status").textContent`); !strings.Contains(st, " tcp ") {
		t.Errorf("the status at the breakpoint names no event: %q", st)
	}
	if e := event(s.Current); !strings.Contains(e.Flags, "F") {
		t.Errorf("the breakpoint tcp and fin stopped at %+v, which has no FIN", e)
	}
	p.noProblems("hold, release and breakpoint")

	// The end of the run: every event in.
	if err := r.api(ctx, "POST", "/api/breakpoints", map[string]any{"breakpoints": []string{}}, nil); err != nil {
		t.Fatal(err)
	}
	// The count beside the box follows breakpoints cleared by a script.
	p.wait("the breakpoints a script cleared", `document.getElementById("bp-text").value === "" && document.getElementById("bp-msg").textContent === "none set" && "cleared"`)
	steady("paused at the breakpoint")
	// The buttons drawn with every message are changed in place, not made
	// again: one made again between a press and its release loses the click.
	// The Seq/time graph is open during the run, so it redraws with it.
	p.click(`.tabs button[data-tab="seqgraph"]`)
	p.wait("the Seq/time graph", `document.querySelector("#seqgraph svg") && "drawn"`)
	kept := p.eval(`(() => {
		window.keptButtons = [...document.querySelectorAll("#controls button, #timers [data-timer-node], #timers [data-timer-node] button, #seqgraph button")];
		return window.keptButtons.map((b) => b.id || b.dataset.timerNode && "timer " + b.dataset.timerNode || b.dataset.xmode || b.textContent).join(", ");
	})()`)
	if !strings.Contains(kept, "play") || !strings.Contains(kept, "timer") || !strings.Contains(kept, "order") {
		t.Fatalf("want Play, the timers and the Seq/time x buttons before the run, have %s", kept)
	}
	play()
	p.waitLong("the end of the demo", time.Minute, `glassnet.state.ended && glassnet.store.events.length === glassnet.state.count && "ended"`)
	if gone := p.eval(`keptButtons.filter((b) => !b.isConnected).map((b) => b.id || b.dataset.timerNode && "timer " + b.dataset.timerNode || b.dataset.xmode || b.textContent).join(", ")`); gone != "" {
		t.Errorf("made again while the run went on: %s (of %s); a click on them can be lost", gone, kept)
	}
	// The graph's MSS (cwnd × MSS) is what the stack's full segments carry:
	// the peer's MSS option less the 12 bytes of timestamps.
	mss := p.eval(`document.querySelector("#seqgraph [data-mss]").textContent`)
	biggest := p.eval(`"MSS " + Math.max(...glassnet.store.connEvents(glassnet.focus).filter((e) => e.event === "packet" && e.node === glassnet.node && e.dir === "out").map((e) => e.payload_len || 0))`)
	if mss != biggest || mss != "MSS 1448" {
		t.Errorf("the Seq/time graph says %q; the largest segment %s sent carries %q, want both MSS 1448 (MTU 1500 less 40 and 12 of timestamps)", mss, p.eval(`glassnet.node`), biggest)
	}
	p.click(`.tabs button[data-tab="lanes"]`)
	// The server's window probes while the client's window was zero are
	// one byte it had sent before, drawn dotted, not as retransmissions.
	probes := p.eval(`JSON.stringify([...glassnet.store.probes].map((id) => { const e = glassnet.store.get(id); return e.node + " " + e.layer + " " + e.dir + " " + e.payload_len + " " + glassnet.store.retrans.has(id); }))`)
	t.Logf("window probes: %s", probes)
	if probes == "[]" {
		t.Error("the server sent no window probe the page knows as one while the client's window was zero")
	}
	if strings.Contains(probes, "true") || !strings.Contains(probes, "server link out 1") {
		t.Errorf("window probes counted as retransmissions, or none sent by the server: %s", probes)
	}

	// Many events in, the 3000-byte frame selected, in the light and the dark.
	p.eval(`glassnet.select(glassnet.store.events.find((e) => e.event === "frame" && e.node === "server" && e.len > 1000).id); "ok"`)
	p.wait("the big frame drawn", `document.querySelector('#ruler [data-kind="frame"][data-hl="sel"]') && "ok"`)
	// Its chip in the ladder gives its length in bytes, as the segments
	// that carried it ("text 3000B") and the inspector do, not in KiB.
	if got := p.wait("the big frame's chip in the ladder", `((e) => ((c) => c && c.textContent + "|" + e.len)(document.querySelector('#ladder [data-kind="frame"][data-event-id="' + e.id + '"]')))(glassnet.store.get(glassnet.selected))`); !strings.Contains(strings.Split(got, "|")[0], " "+strings.Split(got, "|")[1]+" B") {
		t.Errorf("the ladder's chip of a frame and its length: %q, want the length in bytes", got)
	}
	// and so does its label in the byte stream (the sender's copy)
	got := p.eval(`((e) => ((g) => g ? [...g.querySelectorAll("text")].map((x) => x.textContent).join(" ") + "|" + e.len : "none")(document.querySelector('#ruler [data-kind="frame"][data-hl="sel"]')))(glassnet.store.get(glassnet.selected))`)
	if label, n, _ := strings.Cut(got, "|"); n == "" || !strings.Contains(label, " "+n+" B") {
		t.Errorf("the byte stream's label of a frame and its length: %q, want the length in bytes", got)
	}
	// The run has ended, and its timers are those at the frame selected,
	// as the connections table shows it there (ESTABLISHED): not the
	// closed connection of the run's end, and with nothing to fire.
	if timers := p.eval(`document.getElementById("timers").textContent`); strings.Contains(timers, "closed") || strings.Contains(timers, "ended") || !strings.Contains(timers, "RTO") {
		t.Errorf("the timers at a frame in the middle of an ended run: %q, want the RTO of an open connection", timers)
	}
	if n := p.eval(`String(document.querySelectorAll("#timers button:not([hidden])").length)`); n != "0" {
		t.Errorf("%s \"fire now\" buttons shown in an ended run", n)
	}
	p.shot("ui-run")
	readable := func(when string) {
		t.Helper()
		if low := p.eval(litLabelsLowContrast); low != "" {
			t.Errorf("%s: the labels on the selected frame are hard to read: %s", when, low)
		}
	}
	readable("in the light")
	p.call("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "dark"}}}, nil)
	p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	p.shot("ui-run-dark")
	readable("in the dark")

	// A packet held before its held step reached the page has no event
	// yet: nothing drawn for it names event 0 or none, and its card names
	// the event once it comes. (Fed the stream's message by hand.)
	p.eval(`document.getElementById("right").scrollTop = 0; "ok"`)
	p.eval(`glassnet.onLive({type: "holds", holds: [{id: 990, point: "link-egress", node: "client", event: 0, summary: "held early", fields: {flags: "S", seq: 1, ack: 0, window: 100, payload_hex: "", len: 40}}, {id: 991, point: "link-ingress", node: "server", event: 0, summary: "held coming in", fields: {flags: "P.", seq: 1, ack: 1, window: 100, payload_hex: "00", len: 41}}], armed: []}); "ok"`)
	p.wait("the early hold drawn", `document.querySelector('#holds [data-hold-id="990"]') && document.querySelector('#ladder [data-hold-id="990"]') && document.querySelector('#ladder [data-hold-id="991"]') && "drawn"`)
	// Each held packet's label is beside its grey box, not over it, and
	// clear of the time column.
	if bad := p.eval(`[990, 991].map((id) => {
		const box = document.querySelector('#ladder g.pkt[data-hold-id="' + id + '"] rect.heldbox').getBoundingClientRect();
		const lab = document.querySelector('#ladder g.pkt-label[data-hold-id="' + id + '"] text').getBoundingClientRect();
		const svg = document.querySelector("#ladder svg").getBoundingClientRect();
		const over = lab.left < box.right && box.left < lab.right;
		return over || lab.left < svg.left + 60 ? id + ": label " + Math.round(lab.left - svg.left) + "-" + Math.round(lab.right - svg.left) + ", box " + Math.round(box.left - svg.left) + "-" + Math.round(box.right - svg.left) : "";
	}).filter(Boolean).join("; ")`); bad != "" {
		t.Errorf("a held packet's label covers its box or the times: %s", bad)
	}
	if bad := p.eval(`[...document.querySelectorAll("[data-event-id]")].filter((el) => !/^[1-9][0-9]*$/.test(el.dataset.eventId)).map((el) => el.tagName + "." + (el.getAttribute("class") || "") + "=" + JSON.stringify(el.dataset.eventId)).join(" ")`); bad != "" {
		t.Errorf("drawn with a data-event-id that names no event: %s", bad)
	}
	// and its card is brought into sight in the right-hand column
	if out := p.eval(`(() => { const c = document.querySelector('#holds [data-hold-id="990"]').getBoundingClientRect(), r = document.getElementById("right").getBoundingClientRect(); return c.top >= r.top - 1 && c.bottom <= r.bottom + 1 ? "" : "card at " + Math.round(c.top) + " to " + Math.round(c.bottom) + ", column " + Math.round(r.top) + " to " + Math.round(r.bottom); })()`); out != "" {
		t.Errorf("a unit newly held is out of sight: %s", out)
	}
	last := p.eval(`String(glassnet.store.events[glassnet.store.events.length - 1].id)`)
	p.eval(`glassnet.onLive({type: "holds", holds: [{id: 990, point: "link-egress", node: "client", event: ` + last + `, summary: "held early", fields: {flags: "S", seq: 1, ack: 0, window: 100, payload_hex: "", len: 40}}, {id: 991, point: "link-ingress", node: "server", event: 0, summary: "held coming in", fields: {flags: "P.", seq: 1, ack: 1, window: 100, payload_hex: "00", len: 41}}], armed: []}); "ok"`)
	p.wait("the early hold's card naming its event", `document.querySelector('#holds [data-hold-id="990"][data-event-id="`+last+`"] a[data-goto="`+last+`"]') && "named"`)
	scrolled := p.eval(`String(document.getElementById("right").scrollTop)`)
	p.eval(`glassnet.onLive({type: "holds", holds: [], armed: []}); "ok"`)
	p.wait("the early holds gone", `!document.querySelector('[data-hold-id="990"], [data-hold-id="991"]') && "gone"`)
	// With nothing held the column goes back to the top, where it was
	// before the cards were brought into sight: the inspector.
	if top := p.eval(`String(document.getElementById("right").scrollTop)`); scrolled == "0" || top != "0" {
		t.Errorf("the right column scrolled to %s px for the held cards and to %s px once nothing is held, want back at 0", scrolled, top)
	}
	// Unless the person scrolled it meanwhile: then it stays.
	p.eval(`glassnet.onLive({type: "holds", holds: [{id: 992, point: "link-egress", node: "client", event: ` + last + `, summary: "held again", fields: {flags: "S", seq: 1, ack: 0, window: 100, payload_hex: "", len: 40}}], armed: []}); "ok"`)
	p.wait("the hold drawn again", `document.querySelector('#holds [data-hold-id="992"]') && "drawn"`)
	p.eval(`(() => { const col = document.getElementById("right"); col.dispatchEvent(new WheelEvent("wheel", {deltaY: -100})); col.scrollTop = 100; return "ok"; })()`)
	p.eval(`glassnet.onLive({type: "holds", holds: [], armed: []}); "ok"`)
	p.wait("the hold gone again", `!document.querySelector('[data-hold-id="992"]') && "gone"`)
	if top := p.eval(`String(document.getElementById("right").scrollTop)`); top != "100" {
		t.Errorf("the right column a person scrolled to 100 px went to %s px once nothing is held, want it left there", top)
	}
	p.eval(`document.getElementById("right").scrollTop = 0; "ok"`)

	// The banner for events the live view skipped (a free run the page
	// fell behind in), fed the stream's message by hand: it counts them and
	// fetches them from the history.
	p.eval(`glassnet.onLive({type: "skipped", from: 10, to: 19, count: 10}); "ok"`)
	p.wait("the skipped banner", `document.getElementById("banner").dataset.skipped === "10" && !document.getElementById("banner").hidden && "shown"`)
	p.eval(`window.fetchButton = document.querySelector('#banner button[data-action="fetch-skipped"]'); glassnet.onLive({type: "skipped", from: 30, to: 34, count: 5}); "ok"`)
	p.wait("the banner counting both", `document.getElementById("banner").dataset.skipped === "15" && "15"`)
	if p.eval(`fetchButton.isConnected`) != "true" {
		t.Errorf("the banner's button was made again by the next skipped message: a click on it can be lost")
	}
	p.click(`#banner button[data-action="fetch-skipped"]`)
	p.wait("the skipped events fetched", `document.getElementById("banner").hidden && "fetched"`)

	// In a 1024 × 700 window (in the light again) every column is on
	// screen, every ladder label is drawn over the arrows, and the events
	// filter finds an event by its #ID.
	p.call("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "light"}}}, nil)
	p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1024, "height": 700, "deviceScaleFactor": 1, "mobile": false}, nil)
	p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	p.shot("ui-narrow")
	if out := p.eval(`["left", "center", "right"].filter((id) => document.getElementById(id).getBoundingClientRect().right > innerWidth + 1).join(" ")`); out != "" {
		t.Errorf("at 1024 px the columns %s reach past the window", out)
	}
	// and the ladder's two lanes with their labels fit its column
	if out := p.eval(`(() => { const l = document.getElementById("ladder"); return l.scrollWidth > l.clientWidth + 1 ? l.scrollWidth + " > " + l.clientWidth : ""; })()`); out != "" {
		t.Errorf("at 1024 px the ladder scrolls sideways: %s", out)
	}
	// and the connections table fits its column, each connection's
	// queues, cwnd and rtt on a line under its addresses
	if out := p.eval(`(() => { const c = document.getElementById("conns"); const n = [...c.querySelectorAll("tr[data-conn] td.nums")].filter((td) => td.offsetWidth > 0 && /cwnd \d+ · rtt /.test(td.textContent)).length; return c.scrollWidth > c.clientWidth + 1 ? "scrolls: " + c.scrollWidth + " > " + c.clientWidth : n < 2 ? n + " rows with their cwnd and rtt in sight" : ""; })()`); out != "" {
		t.Errorf("at 1024 px the connections table does not fit: %s", out)
	}
	if order := p.eval(`(() => { const gs = [...document.querySelectorAll("#ladder svg > g")]; const lastArrow = gs.map((g) => g.dataset.kind).lastIndexOf("packet"); const firstLabel = gs.findIndex((g) => g.dataset.kind === "packet-label"); return firstLabel > lastArrow ? "" : "arrow " + lastArrow + ", label " + firstLabel; })()`); order != "" {
		t.Errorf("a ladder label is drawn before an arrow that can cross it: %s", order)
	}
	// The chips beside the lanes (frames, the upgrade, a close) show their
	// whole label, also where the column beside the lane is narrow.
	for _, size := range [][2]int{{800, 600}, {1024, 700}, {1600, 1000}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		if cut := p.eval(ladderChipsCut); cut != "" {
			t.Errorf("at %d × %d the ladder cuts chips: %s", size[0], size[1], cut)
		}
		// the selected frame stays in sight in the ladder, below its
		// lane names
		if out := p.eval(`(() => { const g = document.querySelector('#ladder g[data-event-id="' + glassnet.selected + '"]'); if (!g) return "not drawn"; const b = g.getBoundingClientRect(), h = document.querySelector("#ladder .ladder-head").getBoundingClientRect(), l = document.getElementById("ladder").getBoundingClientRect(); return b.top >= h.bottom - 1 && b.bottom <= l.bottom + 1 ? "" : "at " + Math.round(b.top) + "-" + Math.round(b.bottom) + ", the ladder's rows " + Math.round(h.bottom) + "-" + Math.round(l.bottom); })()`); out != "" {
			t.Errorf("at %d × %d the selected frame is out of sight in the ladder: %s", size[0], size[1], out)
		}
		// The status is read whole, the ladder and the layers have room
		// for their rows (the middle column scrolls to the layers), and
		// the state change's two stacks fit its column.
		room := p.eval(`JSON.stringify({
			status: (() => {
				// the status as it is, and a long one: a breakpoint's
				// filter and the held count wrap onto its second line
				const s = document.getElementById("status"), t = s.firstElementChild;
				const whole = () => s.scrollWidth <= s.clientWidth + 1 && t.scrollHeight <= t.clientHeight + 1;
				const saved = [s.dataset.status, t.textContent], now = whole();
				glassnet.status("paused", "paused at #1234 client tcp segment · breakpoint tcp and fin · 1234 events · 1 held");
				const long = whole();
				glassnet.status(saved[0], saved[1]);
				return now && long;
			})(),
			ladder: document.getElementById("ladder").clientHeight,
			layers: document.getElementById("lanes").clientHeight,
			diff: (() => { const g = document.querySelector("#diff .diffgrid"); return !g || g.scrollWidth <= g.clientWidth + 1; })(),
			text: (() => { const r = document.querySelector("#events .vrow"), sm = r.querySelector(".sm"); return Math.round(getComputedStyle(sm).display === "block" ? sm.getBoundingClientRect().width : r.getBoundingClientRect().right - r.querySelector(".ly").getBoundingClientRect().right); })(),
			layersFit: (() => { const l = document.getElementById("lanes"); return l.scrollWidth <= l.clientWidth + 1; })(),
		})`)
		var got struct {
			Status, Diff, LayersFit bool
			Ladder, Layers, Text    int
		}
		if err := json.Unmarshal([]byte(room), &got); err != nil {
			t.Fatal(err)
		}
		if !got.Status || !got.Diff || !got.LayersFit || got.Ladder < 200 || got.Layers < 120 || got.Text < 150 {
			t.Errorf("at %d × %d: %s; want the status, the state change and the layers' columns whole, and 200 px or more for the ladder, 120 for the layers, 150 for an event's text in the list", size[0], size[1], room)
		}
	}
	// The seq/time graph (260 px high at least, with its windows and
	// timers at the bottom) is in sight whole or scrolls to what is not:
	// at 800 × 600 its tab has less room than that. At 1024 × 700 and
	// 1280 × 800 the byte stream folds to its title while Seq/time is
	// open, so that the graph is read whole and the ladder keeps its rows.
	p.click(`.tabs button[data-tab="seqgraph"]`)
	for _, size := range [][2]int{{1024, 700}, {1280, 800}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		p.wait("the seq/time graph drawn", `document.querySelector("#seqgraph .sg-graph svg") ? "drawn" : ""`)
		if size[0] == 1024 {
			p.shot("ui-seqgraph-1024")
		}
		room := p.eval(`(() => {
			const g = document.querySelector("#seqgraph .sg-graph"), l = document.getElementById("ladder");
			const bad = [];
			// the graph is drawn 260 px high at least: it is in sight whole
			if (g.clientHeight < 260 || g.scrollHeight > g.clientHeight + 1) bad.push("the graph's box is " + g.clientHeight + " px tall for a graph of " + g.scrollHeight);
			if (g.scrollWidth > g.clientWidth + 1) bad.push("the graph scrolls sideways");
			if (l.clientHeight < 200) bad.push("the ladder has " + l.clientHeight + " px for its rows");
			if (l.scrollWidth > l.clientWidth + 1) bad.push("the ladder scrolls sideways");
			if (!document.querySelector("#ladder g.pkt")) bad.push("the ladder shows no packet");
			// the connections table in its column whole: its rtt column
			// cut to "1.9 m" behind a scroll bar at 1280 px
			const t = document.getElementById("conns");
			if (t.scrollWidth > t.clientWidth + 1) bad.push("the connections table is " + t.scrollWidth + " px wide in a column of " + t.clientWidth);
			const c = document.getElementById("center");
			if (c.scrollWidth > c.clientWidth + 1) bad.push("the middle column scrolls sideways");
			const u = document.getElementById("ruler-unfold");
			if (!u || !u.offsetWidth) bad.push("the folded byte stream has no button to open it");
			return bad.join("; ");
		})()`)
		if room != "" {
			t.Errorf("at %d × %d with Seq/time open: %s", size[0], size[1], room)
		}
	}
	// the folded byte stream opens again with the Layers tab
	p.click("#ruler-unfold")
	if out := p.wait("the byte stream open again", `(() => { const r = document.getElementById("ruler"); return document.querySelector('.tabs button[data-tab="lanes"]').getAttribute("aria-selected") === "true" && r.clientHeight >= 100 ? "open" : ""; })()`); out != "open" {
		t.Errorf("the byte stream after its show button: %s", out)
	}
	p.click(`.tabs button[data-tab="seqgraph"]`)
	for _, size := range [][2]int{{800, 600}, {1024, 700}, {1600, 1000}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		out := p.wait("the seq/time graph drawn", `(() => {
			const g = document.querySelector("#seqgraph .sg-graph"), s = g && g.querySelector("svg");
			if (!s) return "";
			const b = s.getBoundingClientRect(), cs = getComputedStyle(g);
			const y = b.height <= g.clientHeight + 1 || /auto|scroll/.test(cs.overflowY), x = b.width <= g.clientWidth + 1 || /auto|scroll/.test(cs.overflowX);
			if (!y || !x) return "a graph of " + Math.round(b.width) + " × " + Math.round(b.height) + " in a box of " + g.clientWidth + " × " + g.clientHeight + " that does not scroll";
			// never wider than its box (a box tall enough fits it whole,
			// with no strip left over and no scroll bar)
			if (g.scrollWidth > g.clientWidth + 1) return "a graph " + g.scrollWidth + " wide in a box " + g.clientWidth + " wide: it scrolls sideways";
			if (g.clientHeight >= 260 && (Math.abs(b.height - g.clientHeight) > 1 || Math.abs(b.width - g.clientWidth) > 1)) return "a graph of " + Math.round(b.width) + " × " + Math.round(b.height) + " in a box of " + g.clientWidth + " × " + g.clientHeight;
			return "whole or scrolls";
		})()`)
		if out != "whole or scrolls" {
			t.Errorf("at %d × %d the seq/time graph is cut off: %s", size[0], size[1], out)
		}
	}
	p.click(`.tabs button[data-tab="lanes"]`)
	p.setValue("#events-filter", "#"+p.eval(`String(glassnet.selected)`))
	p.wait("the selected event found by #ID", `glassnet.views.find((v) => v.constructor.name === "EventsView").list.some((e) => e.id === glassnet.selected) && document.getElementById("events-count").textContent.includes(" of ") && "found"`)
	p.setValue("#events-filter", "")

	// (7) Nothing went wrong in the page.
	p.noProblems("the whole run")
	if st := p.eval(`document.getElementById("status").dataset.status`); st == "error" {
		t.Errorf("the page's status says %s", p.eval(`document.getElementById("status").textContent`))
	}
}

// ladderChipsCut lists the ladder's chips whose label is cut or runs out of
// the chip or the ladder, with the label; "" when there are chips and none
// is, "no chips" when there are none.
const ladderChipsCut = `(() => {
	const gs = [...document.querySelectorAll("#ladder g.ann")];
	if (!gs.length) return "no chips";
	const bad = [];
	for (const g of gs) {
		const t = g.querySelector("text"), r = g.querySelector("rect.chip");
		const svg = g.ownerSVGElement.getBoundingClientRect(), tb = t.getBoundingClientRect(), rb = r.getBoundingClientRect();
		if (t.textContent.endsWith("…") || tb.left < rb.left || tb.right > rb.right + 1 || rb.left < svg.left || rb.right > svg.right + 1)
			bad.push("#" + g.dataset.eventId + " " + JSON.stringify(t.textContent) + " text " + Math.round(tb.left) + "-" + Math.round(tb.right) + " chip " + Math.round(rb.left) + "-" + Math.round(rb.right));
	}
	return bad.join("; ");
})()`

// litLabelsLowContrast lists the selected frame's chip in the ladder and its
// payload in the byte stream when the text on them has a contrast under
// 4.5:1 (WCAG AA) with the fill beneath, blended over the page; "" when both
// are drawn and readable.
const litLabelsLowContrast = `(() => {
	const rgb = (s) => (s.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
	const lum = (c) => { const v = c.map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
	const bg = rgb(getComputedStyle(document.body).backgroundColor);
	const bad = [];
	for (const [css, under] of [['#ladder g.ann[data-hl="sel"]', "rect.chip"], ['#ruler g[data-kind="frame"][data-hl="sel"]', "rect.fp"]]) {
		const g = document.querySelector(css);
		const r = g && g.querySelector(under), t = g && g.querySelector("text");
		if (!r || !t) { bad.push(css + " " + under + ": not drawn"); continue; }
		const rs = getComputedStyle(r);
		const a = Number(rs.opacity) * Number(rs.fillOpacity);
		const fill = rgb(rs.fill).map((x, i) => x * a + bg[i] * (1 - a));
		const [hi, lo] = [lum(fill), lum(rgb(getComputedStyle(t).fill))].sort((x, y) => y - x);
		const ratio = (hi + 0.05) / (lo + 0.05);
		if (ratio < 4.5) bad.push(css + " " + JSON.stringify(t.textContent) + " " + ratio.toFixed(2) + ":1");
	}
	return bad.join("; ");
})()`

// manyEvents writes n events to file: the demo's trace over and over, each
// copy with its ids (and the ids it names) and times moved past the last.
// Every copy reuses the same ports with its own sequence numbers, as a new
// incarnation of the connection would (a SYN with another ISN): the page
// makes each copy a connection of its own (#2, #3, …), so the event list
// and the connections table get them all, the ladder one copy at a time.
func manyEvents(t *testing.T, file string, n int) {
	t.Helper()
	repeatTrace(t, demoEvents(t), file, n)
}

// demoEvents are the events of the demo's trace.
func demoEvents(t *testing.T) []map[string]any {
	t.Helper()
	demo := filepath.Join(t.TempDir(), "demo.jsonl")
	run(t, 2*time.Minute, glassnetBin, "demo", "--trace", demo)
	b, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var e map[string]any
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("the demo's trace: %v in %s", err, line)
		}
		evs = append(evs, e)
	}
	return evs
}

// repeatTrace writes n events to file: evs over and over, as manyEvents says.
func repeatTrace(t *testing.T, evs []map[string]any, file string, n int) {
	t.Helper()
	shift := func(v any, by float64) any {
		switch x := v.(type) {
		case float64:
			return x + by
		case []any:
			out := make([]any, len(x))
			for i, y := range x {
				out[i] = y.(float64) + by
			}
			return out
		}
		return v
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	var idBase, tBase, tMax, copies float64
	for written := 0; written < n; idBase, copies = idBase+float64(len(evs)), copies+1 {
		for _, e := range evs {
			if written == n {
				break
			}
			c := make(map[string]any, len(e))
			for k, v := range e {
				switch k {
				case "id", "packet", "frame", "packets", "frames":
					v = shift(v, idBase)
				case "t":
					tMax = max(tMax, v.(float64))
					v = shift(v, tBase)
				case "seq", "ack":
					// Each copy is a new incarnation of the connection
					// (as after TIME-WAIT): the same ports, other
					// sequence numbers, so a packet's copy on the other
					// stack is told apart from the copies of other runs.
					if x, ok := v.(float64); ok {
						v = float64(uint32(x + copies*1e6))
					}
				}
				c[k] = v
			}
			if err := enc.Encode(c); err != nil {
				t.Fatal(err)
			}
			written++
		}
		tBase += tMax + 1e6
	}
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUIManyEvents opens 100,000 events (`glassnet view` of a recorded
// trace) and checks that the page draws only what is in sight: the event
// list and the ladder keep a bounded number of elements wherever they are
// scrolled, and a selection far down is drawn. It logs how long loading
// and drawing took (a measurement, not an assertion).
func TestUIManyEvents(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	const n = 100000
	file := filepath.Join(t.TempDir(), "many.jsonl")
	manyEvents(t, file, n)
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.waitLong("all events in the page", time.Minute, fmt.Sprintf(`window.glassnet && glassnet.store.events.length === %d && glassnet.timing.draws > 0 && "loaded"`, n))
	t.Logf("%d events: loaded and indexed %.0f ms after the page started, first draws took up to %.0f ms",
		n, atof(p.eval(`glassnet.timing.loaded`)), atof(p.eval(`glassnet.timing.maxDraw`)))

	// How fast the page takes events in: a fresh store indexing the same
	// 100,000 in batches of 1000, as the live stream hands them (drawing is
	// once a frame whatever the number).
	rate := p.eval(`(() => {
		const evs = glassnet.store.events.slice();
		const s = new glassnet.store.constructor();
		const t0 = performance.now();
		for (let i = 0; i < evs.length; i += 1000) s.add(evs.slice(i, i + 1000));
		return String(Math.round(evs.length / ((performance.now() - t0) / 1000)));
	})()`)
	t.Logf("the page's store takes in %s events a second", rate)

	// In sight only, at the top and in the middle.
	count := func() (rows, ladder int) {
		t.Helper()
		var c [2]int
		json.Unmarshal([]byte(p.eval(`JSON.stringify([document.querySelectorAll("#events .vrow").length, document.querySelectorAll("#ladder [data-event-id]").length])`)), &c)
		return c[0], c[1]
	}
	// A recorded run opens at its start, in the list as in the ladder.
	if first := p.eval(`(() => { const l = document.getElementById("events"); const rows = [...l.querySelectorAll(".vrow")].filter((r) => { const b = r.getBoundingClientRect(), v = l.getBoundingClientRect(); return b.top >= v.top && b.bottom <= v.bottom; }); return rows.length ? rows[0].dataset.eventId : "none"; })()`); first != p.eval(`String(glassnet.store.events[0].id)`) {
		t.Errorf("the recorded run's event list opens at #%s, not at its first event", first)
	}
	for _, where := range []string{"top", "middle"} {
		if where == "middle" {
			p.eval(`(() => { for (const id of ["events", "ladder", "lanes"]) { const el = document.getElementById(id); el.scrollTop = el.scrollHeight / 2; el.dispatchEvent(new Event("scroll")); } return "ok"; })()`)
			p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		}
		rows, ladder := count()
		t.Logf("scrolled to the %s: %d event rows and %d ladder units in the DOM", where, rows, ladder)
		if rows == 0 || rows > 200 || ladder == 0 || ladder > 1500 {
			t.Errorf("at the %s the page holds %d event rows and %d ladder units; want some, and only those in sight", where, rows, ladder)
		}
	}

	// A selection far down, by its address, is drawn in the list and the
	// ladder: a packet as its sender wrote it (the ladder draws a packet
	// once, under the sending stack's event; "carried" notes are not drawn).
	mid := n/2 + 1
	for p.eval(fmt.Sprintf(`(() => { const e = glassnet.store.get(%d); return e.layer + " " + e.event + " " + e.dir; })()`, mid)) != "link packet out" {
		mid++
	}
	start := time.Now()
	p.eval(fmt.Sprintf(`location.hash = "#event=%d"; "ok"`, mid))
	p.wait("the selection drawn", fmt.Sprintf(`document.querySelector('#events .vrow[data-event-id="%d"][data-hl="sel"]') && document.querySelector('#ladder [data-event-id="%d"]') && "drawn"`, mid, mid))
	// The connection it focuses every view on is in sight in the
	// connections table, not one of a hundred rows below its first few.
	if got := p.wait("the chosen connection's rows", `((rows) => rows.length && JSON.stringify(rows.map((r) => { const a = r.getBoundingClientRect(), b = document.getElementById("conns").getBoundingClientRect(); return a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5 ? "in sight" : "out of sight"; })))([...document.querySelectorAll('#conns tr[aria-selected="true"]')])`); strings.Contains(got, "out of") {
		t.Errorf("the rows of the connection chosen (%s), in the connections table: %s", p.eval(`glassnet.focus`), got)
	}
	// Each copy is a new incarnation (a SYN with another ISN): its data
	// is sent for the first time, not again, in the ladder (dashed) and
	// the byte stream (a row lower).
	var resent [2]int
	json.Unmarshal([]byte(p.eval(`(() => {
		const out = glassnet.store.events.filter((e) => e.layer === "link" && e.event === "packet" && e.dir === "out" && e.payload_len > 0);
		return JSON.stringify([out.filter((e) => glassnet.store.retrans.has(e.id)).length, out.length]);
	})()`)), &resent)
	if resent[1] == 0 || resent[0]*2 > resent[1] {
		t.Errorf("%d of %d data packets sent are marked as sent again", resent[0], resent[1])
	}
	t.Logf("selecting #%d and drawing it took %v (last draw %.0f ms: %s)", mid, time.Since(start), atof(p.eval(`glassnet.timing.lastDraw`)), p.eval(`JSON.stringify(glassnet.timing.views)`))
	p.shot("ui-many")
	p.noProblems("100,000 events")
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// TestUIOneStack opens a trace of one stack alone, as serve and lab record
// them (the demo's trace with the client's events taken out), where the
// other end of every packet is not traced. Each packet is a flat arrow in
// its own row between the stack and "peer (not traced)", and no two
// labels in the ladder overlap: a reply and the next packet in, drawn
// slanted to and from an invented time at the peer, used to cross with
// their labels on top of each other.
func TestUIOneStack(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	demo := filepath.Join(t.TempDir(), "demo.jsonl")
	run(t, 2*time.Minute, glassnetBin, "demo", "--trace", demo)
	b, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var e struct {
			Node string `json:"node"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("the demo's trace: %v in %s", err, line)
		}
		if e.Node == "server" {
			kept.Write(line)
			kept.WriteByte('\n')
			n++
		}
	}
	file := filepath.Join(t.TempDir(), "server.jsonl")
	if err := os.WriteFile(file, kept.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the server's events in the page", fmt.Sprintf(`window.glassnet && glassnet.store.events.length === %d && document.querySelectorAll("#ladder g.pkt").length > 0 && "loaded"`, n))
	if head := p.eval(`document.querySelector("#ladder .ladder-head").textContent`); !strings.Contains(head, "peer (not traced)") {
		t.Fatalf("the ladder's lanes: %q, want the server and the peer (not traced)", head)
	}

	// Every packet drawn in sight, then the rest of the ladder scrolled
	// into sight page by page.
	check := `(() => {
		const out = { packets: 0, slanted: [], overlaps: [] };
		const boxes = [];
		for (const g of document.querySelectorAll('#ladder g.pkt[data-kind="packet"]')) {
			const line = g.querySelector("line.arrow");
			if (!line) continue;
			out.packets++;
			if (line.getAttribute("y1") !== line.getAttribute("y2")) out.slanted.push(g.dataset.eventId);
			const r = g.querySelector("rect.bg");
			if (r) boxes.push({ id: g.dataset.eventId, x: +r.getAttribute("x"), y: +r.getAttribute("y"), w: +r.getAttribute("width"), h: +r.getAttribute("height") });
		}
		for (let i = 0; i < boxes.length; i++)
			for (let j = i + 1; j < boxes.length; j++) {
				const a = boxes[i], b = boxes[j];
				if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) out.overlaps.push(a.id + "/" + b.id);
			}
		return JSON.stringify(out);
	})()`
	packets := 0
	for page := 0; ; page++ {
		var res struct {
			Packets  int
			Slanted  []string
			Overlaps []string
		}
		if err := json.Unmarshal([]byte(p.eval(check)), &res); err != nil {
			t.Fatal(err)
		}
		packets += res.Packets
		if len(res.Slanted) > 0 {
			t.Errorf("page %d of the ladder: packets %v drawn slanted, want each flat in its own row (the peer is not traced)", page, res.Slanted)
		}
		if len(res.Overlaps) > 0 {
			t.Errorf("page %d of the ladder: the labels of packets %v overlap", page, res.Overlaps)
		}
		if page == 0 {
			p.shot("ui-one-stack")
		}
		more := p.eval(`(() => { const el = document.getElementById("ladder"); if (el.scrollTop + el.clientHeight >= el.scrollHeight - 2) return "end"; el.scrollTop += el.clientHeight - 60; el.dispatchEvent(new Event("scroll")); return "more"; })()`)
		if more == "end" {
			break
		}
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	}
	if packets == 0 {
		t.Fatal("no packet drawn in the ladder")
	}
	t.Logf("%d events of the server, %d packet arrows checked in the ladder (pages overlap)", n, packets)
	p.noProblems("a trace of one stack")
}

// TestUIServeTCPEcho watches serve --ui in headless chromium while the
// kernel, on the other side of the TUN, runs a TCP echo through it: a
// connection that is not WebSocket. Its packets carry no "HTTP" label in
// the ladder and its byte stream no HTTP band (the bytes of an echo are
// not an upgrade), and once it has closed, the connection's state is
// CLOSED, not the listener's LISTEN.
func TestUIServeTCPEcho(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	netnstest.RunTUN(t, func(t *testing.T) {
		s := startServe(t, "--ui", "127.0.0.1:0")
		r := serveUI(t, s)

		c := dialTCP(t, stackAddr+":7")
		sent := bytes.Repeat([]byte("echo "), 20000)
		go func() {
			c.Write(sent)
			c.CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, sent) {
			t.Fatalf("echo: %d bytes back of %d, %v", len(got), len(sent), err)
		}
		c.Close()
		port := c.LocalAddr().(*net.TCPAddr).Port

		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		p := openUI(t, ctx, r)
		key := p.wait("the echo connection in the page", fmt.Sprintf(`window.glassnet && [...glassnet.store.conns.keys()].find((k) => k.includes(":%d ") || k.endsWith(":%d")) || ""`, port, port))
		p.eval(fmt.Sprintf(`glassnet.setFocus(%q); "ok"`, key))
		p.wait("its packets in the ladder", `document.querySelectorAll('#ladder g.pkt[data-kind="packet"]').length > 10 && "drawn"`)
		if n := p.eval(`String(document.querySelectorAll('#ladder g.pkt[data-http="request"], #ladder g.pkt[data-http="response"]').length)`); n != "0" {
			t.Errorf("%s packets of a TCP echo labelled HTTP in the ladder, want 0", n)
		}
		if n := p.eval(`String(document.querySelectorAll('#ruler-panel [data-kind="http"]').length)`); n != "0" {
			t.Errorf("%s HTTP bands in the byte stream of a TCP echo, want 0", n)
		}
		state := p.wait("the connection's state once closed", fmt.Sprintf(`(() => { const c = glassnet.store.conns.get(%q); const id = c && c.states.get("glassnet"); const e = id && glassnet.store.get(id); return e && e.state !== "ESTABLISHED" && e.state !== "CLOSE-WAIT" && e.state !== "LAST-ACK" ? e.state : ""; })()`, key))
		if state != "CLOSED" {
			t.Errorf("the echo connection's last state in the page: %s, want CLOSED", state)
		}
		if timers := p.eval(`document.getElementById("timers").textContent`); !strings.Contains(timers, "connection closed") {
			t.Errorf("the timers of the closed connection: %q, want no timer running", timers)
		}
		// The echo's ACKs arrive in batches: their link events come
		// before TCP's state reports on them. Selecting one in the
		// middle shows the state it left, with that ACK as its cause.
		var pick struct {
			ID  int `json:"id"`
			Ack int `json:"rel_ack"`
		}
		js := fmt.Sprintf(`JSON.stringify((() => {
			const c = glassnet.store.conns.get(%q);
			// pure ACKs that moved SND.UNA on (not duplicates or window updates)
			let last = 0;
			const acks = c.ids.map((id) => glassnet.store.get(id)).filter((e) => {
				if (e.layer !== "link" || e.event !== "packet" || e.dir !== "in") return false;
				const moved = e.rel_ack > last;
				last = Math.max(last, e.rel_ack || 0);
				return moved && !e.payload_len && /^\.$/.test(e.flags || "") && e.rel_ack > 1;
			});
			return acks[acks.length >> 1] || {};
		})())`, key)
		if err := json.Unmarshal([]byte(p.eval(js)), &pick); err != nil || pick.ID == 0 {
			t.Fatalf("no ACK of the echo's data in the page (%v)", err)
		}
		p.eval(fmt.Sprintf(`location.hash = "#event=%d"; "ok"`, pick.ID))
		shown := func() string {
			return p.eval(`(() => { const col = document.querySelector('#diff .diffcol[data-node="glassnet"]'); if (!col) return ""; const una = col.querySelector('tr[data-field="snd_una"]'); return (una ? una.dataset.new : "") + " " + col.querySelector('[data-cause]').textContent; })()`)
		}
		want := fmt.Sprintf("%d cause: ", pick.Ack)
		wantLink := fmt.Sprintf(`[data-cause] a[data-goto="%d"]`, pick.ID)
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got := shown()
			if strings.HasPrefix(got, want) && p.eval(fmt.Sprintf(`document.querySelector('#diff .diffcol[data-node="glassnet"] %s') ? "yes" : "no"`, wantLink)) == "yes" {
				break
			}
			if time.Now().After(end) {
				t.Errorf("selecting ACK #%d (ack %d): the state change shows %q, want snd_una %d caused by #%d", pick.ID, pick.Ack, got, pick.Ack, pick.ID)
				break
			}
		}
		// The connections table shows the same state at it: the cwnd
		// and send-q the state change shows, not the last report before
		// the batch of ACKs was read.
		same := p.eval(`(() => {
			const d = document.querySelector('#diff .diffcol[data-node="glassnet"]');
			const v = (f) => ((tr) => tr ? tr.dataset.new : "none")(d.querySelector('tr[data-field="' + f + '"]'));
			const row = document.querySelector('#conns tr[data-node="glassnet"][data-conn="' + CSS.escape(` + strconv.Quote(key) + `) + '"]');
			const num = row ? [...row.querySelectorAll("td.num")].map((x) => x.textContent) : [];
			return "cwnd " + v("cwnd") + " send-q " + v("snd_buf_used") + " | cwnd " + num[2] + " send-q " + num[1];
		})()`)
		if diff, table, _ := strings.Cut(same, " | "); diff != table {
			t.Errorf("at ACK #%d the state change and the connections table say %q", pick.ID, same)
		}
		p.shot("ui-serve-echo")
		p.noProblems("serve --ui with a TCP echo")
	})
}

// viewedDemo records the demo with flag (--trace or --pcap) and opens the
// recording with glassnet view in headless chromium, drawn.
func viewedDemo(t *testing.T, flag string) *uiPage {
	t.Helper()
	needProgram(t, chromiumBin, "chromium")
	file := filepath.Join(t.TempDir(), map[string]string{"--trace": "demo.jsonl", "--pcap": "demo.pcapng"}[flag])
	run(t, 2*time.Minute, glassnetBin, "demo", flag, file)
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	p := openUI(t, ctx, r)
	p.wait("the recording in the page", `window.glassnet && glassnet.store.events.length > 0 && glassnet.timing.draws > 0 && "loaded"`)
	return p
}

// holdClientText has the demo hold the client's next text frame at
// ws-out, then plays on to it.
func holdClientText(ctx context.Context, t *testing.T, r *uiRun) {
	t.Helper()
	if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "ws-out", "node": "client", "filter": "text"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.api(ctx, "POST", "/api/play", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// pausedDemo starts glassnet demo --ui with args and a page on it, once
// the page shows the run paused at its first step.
func pausedDemo(t *testing.T, args ...string) (*uiRun, context.Context, *uiPage) {
	t.Helper()
	needProgram(t, chromiumBin, "chromium")
	r := startUI(t, append([]string{"demo", "--ui", "127.0.0.1:0"}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := openUI(t, ctx, r)
	p.wait("the page to show the paused stack", `window.glassnet && glassnet.state.paused && glassnet.store.events.length > 0 && "ready"`)
	return r, ctx, p
}

// TestUIFireNow: "fire now" on the handshake's timer moves the paused
// clock; until the stack runs on, the timer's row says it fired instead of
// counting down as if nothing happened, and the next steps bring the SYN
// sent again.
func TestUIFireNow(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	// The client's SYN on the wire: its timer counts down on the stopped clock.
	if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "packet"}, nil); err != nil {
		t.Fatal(err)
	}
	row := `document.querySelector('#timers [data-timer-node="client"]')`
	before := p.wait("the client's SYN timer", row+` && /^SYN sent: again in/.test(`+row+`.querySelector("span").textContent) && `+row+`.querySelector("span").textContent`)
	p.click(`#timers [data-timer-node="client"] button[data-fire]`)
	fired := p.wait("the timer's row to say it fired", row+` && /^fired: /.test(`+row+`.querySelector("span").textContent) && `+row+`.querySelector("span").textContent`)
	t.Logf("before: %q; after fire now: %q", before, fired)
	// Step on until the client sends its SYN again.
	for i := 0; p.eval(`glassnet.store.events.filter((e) => e.node === "client" && e.layer === "link" && e.event === "packet" && e.dir === "out" && e.flags === "S").length >= 2 ? "again" : ""`) != "again"; i++ {
		if i == 50 {
			t.Fatalf("50 steps after fire now and no SYN sent again; the row says %q", p.eval(row+`.querySelector("span").textContent`))
		}
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "event"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.wait("the row counting down again", row+` && !/^fired: /.test(`+row+`.querySelector("span").textContent) && "counting"`)

	// The inspector leaves out what the trace writes empty (the dir of a
	// socket() call, the errno of a call that succeeded).
	p.eval(`glassnet.select(glassnet.store.events.find((e) => e.layer === "socket" && e.call === "socket").id, "test"); "ok"`)
	empty := p.wait("a socket() call in the inspector", `document.querySelector("#inspector dl.kv") && JSON.stringify([...document.querySelectorAll("#inspector dl.kv dd")].filter((d) => !d.textContent.trim()).map((d) => d.previousElementSibling.textContent))`)
	if empty != "[]" {
		t.Errorf("the inspector shows fields with nothing in them: %s", empty)
	}
	p.noProblems("fire now")
}

// TestUIHoldText: a held frame's payload is shown as text beside its hex;
// editing the text edits the bytes, and the peer gets what was typed.
func TestUIHoldText(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	holdClientText(ctx, t, r)
	card := `#holds .holdcard`
	text := p.wait("the held frame's payload as text", fmt.Sprintf(`(() => { const c = document.querySelector(%q); const t = c && c.querySelector('[data-text="payload_hex"]'); return t && t.value; })()`, card))
	if text != "hello, glassnet" {
		t.Fatalf("the held text frame's payload reads %q as text, want the demo's hello, glassnet", text)
	}
	// In the ladder it waits as a frame, not as a packet: a script that
	// takes data-kind="packet" for a packet would find a ws event.
	if kinds := p.wait("the held frame in the ladder", `(() => { const g = document.querySelector('#ladder g.pkt[data-hold-id]'), l = document.querySelector('#ladder g.pkt-label[data-hold-id]'); return g && l && g.dataset.kind + " " + l.dataset.kind; })()`); kinds != "held-frame held-frame-label" {
		t.Errorf("the held frame's kinds in the ladder: %q, want held-frame and its label", kinds)
	}
	if tip := p.eval(`document.querySelector('#ladder g.pkt[data-hold-id] > title').textContent.split("\n")[0]`); !regexp.MustCompile(`^held after #\d+  client sending$`).MatchString(tip) {
		t.Errorf("the held frame's tooltip in the ladder begins %q, want it held after the event it names, not that event", tip)
	}
	// Its card says that the event it names came before it (a frame has
	// none of its own until it goes on).
	if head := p.eval(`document.querySelector("#holds .holdcard .head").textContent`); !regexp.MustCompile(`^‖ held: client at ws-out after #\d+ `).MatchString(head) {
		t.Errorf("the held frame's card begins %q, want it to name the event it was held after", head)
	}
	// Its card carries the event it is known by, and a click on the card
	// (not on a field) selects it, as a click on any drawn unit does.
	p.eval(`glassnet.select(1, "test"); "ok"`)
	p.wait("event #1 in the inspector", `document.getElementById("inspector-title").textContent.startsWith("#1 ") && "shown"`)
	p.eval(`document.querySelector("#holds .holdcard .head").dispatchEvent(new MouseEvent("click", {bubbles: true})); "ok"`)
	if got := p.wait("the click on the card taken", `(() => {
		const c = document.querySelector("#holds .holdcard");
		const title = document.getElementById("inspector-title").textContent.split(" ")[0];
		return glassnet.selected !== 1 && title === "#" + glassnet.selected && c.dataset.eventId + " " + glassnet.selected + " " + title;
	})()`); len(strings.Fields(got)) != 3 || "#"+strings.Fields(got)[0] != strings.Fields(got)[2] || strings.Fields(got)[0] != strings.Fields(got)[1] {
		t.Errorf("a click on the held frame's card: its data-event-id, the selection and the inspector's title are %q, want the same event", got)
	}
	// Selected, the card is lit as every unit with that data-event-id is;
	// another selection puts it out.
	p.wait("the selected card lit", `document.querySelector("#holds .holdcard").dataset.hl === "sel" && "lit"`)
	p.eval(`glassnet.select(1, "test"); "ok"`)
	p.wait("the card put out", `document.querySelector("#holds .holdcard").dataset.hl === undefined && "out"`)
	// Another unit held beside it redraws the queue: the card being typed
	// in keeps its place and its field the focus (a card taken out and put
	// back loses both, and a click made on it meanwhile).
	// The queue is drawn here and now, in one task, so that no message
	// from the server replaces the list in between.
	kept := p.eval(`(() => {
		const view = glassnet.views.find((v) => v.constructor.name === "HoldsView");
		const f = document.querySelector('#holds .holdcard [data-text="payload_hex"]');
		f.focus();
		const real = glassnet.holds;
		glassnet.holds = [{id: 1e9, point: "ws-out", node: "server", event: 0, fields: {opcode: "text", fin: true, payload_hex: "6869"}}, ...real];
		view.render();
		const n = document.querySelectorAll("#holds .holdcard").length;
		const ok = f.isConnected && document.activeElement === f;
		const lost = ok ? "" : " lost to " + (document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : "nothing");
		glassnet.holds = real;
		view.render();
		return n + " cards, focus" + (ok ? " kept" : lost) + ", " + document.querySelectorAll("#holds .holdcard").length + " after";
	})()`)
	if kept != "2 cards, focus kept, 1 after" {
		t.Fatalf("a second held unit drawn before the one being edited: %s", kept)
	}
	p.setValue(card+` [data-text="payload_hex"]`, "HELLO, héllo")
	if got := p.eval(`document.querySelector('#holds .holdcard [data-field="payload_hex"]').value`); got != hex.EncodeToString([]byte("HELLO, héllo")) {
		t.Fatalf("typed HELLO, héllo as text: the hex reads %s", got)
	}
	p.click(card + ` button[data-hold-action="release"]`)
	p.wait("the server's message with the text typed", `glassnet.store.events.some((e) => e.node === "server" && e.layer === "ws" && e.event === "message" && e.summary.includes("HELLO, héllo")) && "got"`)
	// An action's error in the status is read whole (it says why and what
	// to do), not cut at the status's width, at 1280 × 800 too.
	p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}, nil)
	whole := p.eval(`new Promise((r) => {
		glassnet.status("error", "step: ui: paused while the stack is idle: no step waits to go on from; the stack stops at its next event, and a step goes on from there; 1 held unit keeps its clock still until decided, so no timer brings one");
		requestAnimationFrame(() => requestAnimationFrame(() => {
			const s = document.getElementById("status");
			r(s.scrollWidth <= s.clientWidth + 1 && s.scrollHeight <= s.clientHeight + 1 ? "whole" : s.scrollWidth + " × " + s.scrollHeight + " in " + s.clientWidth + " × " + s.clientHeight);
		}));
	})`)
	if whole != "whole" {
		t.Errorf("a long error in the status at 1280 × 800: %s", whole)
	}
	p.noProblems("a held frame edited as text")
}

// TestUIHoldTextLineEnds: a held payload with CRLF line ends (the
// server's HTTP 101 answer, a send) edited as text keeps them: a browser's
// text box gives its text back with LF alone, and a held send keeps its
// length, so one word changed must change those bytes and no others.
func TestUIHoldTextLineEnds(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "socket-send", "node": "server"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.api(ctx, "POST", "/api/play", nil, nil); err != nil {
		t.Fatal(err)
	}
	card := `#holds .holdcard`
	text := p.wait("the held send's payload as text", fmt.Sprintf(`(() => { const c = document.querySelector(%q); const t = c && c.querySelector('[data-text="payload_hex"]'); return t && t.value; })()`, card))
	orig := p.eval(fmt.Sprintf(`document.querySelector(%q).value`, card+` [data-field="payload_hex"]`))
	raw, err := hex.DecodeString(orig)
	if err != nil || !bytes.Contains(raw, []byte("\r\nUpgrade: websocket\r\n")) {
		t.Fatalf("the held send is not the HTTP 101 answer: %q (%v)", raw, err)
	}
	if !strings.Contains(text, "Upgrade: websocket") {
		t.Fatalf("the held send's text: %q", text)
	}
	p.setValue(card+` [data-text="payload_hex"]`, strings.Replace(text, "Upgrade: websocket", "UPGRADE: websocket", 1))
	want := hex.EncodeToString(bytes.Replace(raw, []byte("Upgrade: websocket"), []byte("UPGRADE: websocket"), 1))
	if got := p.eval(fmt.Sprintf(`document.querySelector(%q).value`, card+` [data-field="payload_hex"]`)); got != want {
		g, _ := hex.DecodeString(got)
		t.Fatalf("one word of the text changed: the payload is now %q, want %q", g, bytes.Replace(raw, []byte("Upgrade: websocket"), []byte("UPGRADE: websocket"), 1))
	}
	p.click(card + ` button[data-hold-action="release"]`)
	if msg := p.wait("the release", `document.getElementById("hold-last").dataset.result && document.getElementById("hold-last").textContent`); !strings.Contains(msg, "released, edited") {
		t.Errorf("the send released with one word changed: %q", msg)
	}
	p.noProblems("a held send edited as text")
}

// TestUIDroppedSYN: a client whose SYN a rule drops before it reaches the
// wire still opened the connection: the ladder puts it on the left, named
// so, with the server's lane waiting for events.
func TestUIDroppedSYN(t *testing.T) {
	r, ctx, p := pausedDemo(t, "--egress", "tcp and syn : drop")
	dropped := `glassnet.store.events.some((e) => e.node === "client" && e.layer === "link" && e.event === "verdict" && e.flags === "S")`
	for i := 0; p.eval(dropped+` ? "dropped" : ""`) != "dropped"; i++ {
		if i == 100 {
			t.Fatal("100 steps and the rule has not dropped the client's SYN")
		}
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "event"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	lanes := p.wait("the ladder's lanes", `(() => { const l = [...document.querySelectorAll("#ladder .ladder-head text.lane-label")].map((t) => t.textContent); return l.length === 2 && JSON.stringify(l); })()`)
	if lanes != `["client (opened the connection)","server (no events yet)"]` {
		t.Errorf("with the client's SYN dropped before the wire, the ladder's lanes are %s", lanes)
	}
	// The drop's label, which names the rule, is read whole, clear of the
	// time column, in a small window as in a large one.
	for _, size := range [][2]int{{800, 600}, {1280, 800}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		cut := p.eval(`(() => {
			const ts = [...document.querySelectorAll('#ladder g[data-kind="drop-label"] text')];
			if (!ts.length) return "no drop label";
			return ts.map((t) => { const b = t.getBoundingClientRect(), s = t.ownerSVGElement.getBoundingClientRect();
				return t.textContent.endsWith("…") || b.left < s.left + 60 || b.right > s.right + 1 ? JSON.stringify(t.textContent) + " at " + Math.round(b.left - s.left) + "-" + Math.round(b.right - s.left) + " of " + Math.round(s.width) : ""; }).filter(Boolean).join("; ");
		})()`)
		if cut != "" {
			t.Errorf("at %d × %d the drop's label: %s", size[0], size[1], cut)
		}
	}
	p.noProblems("a dropped SYN")
}

// TestUIHandshakeFromPackets opens the demo's pcapng: packets and frames,
// no TCP state. A stack that has sent its SYN-ACK is SYN-RECV (SYN-RCVD) in the
// connections table, as the timers say "SYN-ACK sent", and no longer once
// the handshake is over, which only the packets after it say.
func TestUIHandshakeFromPackets(t *testing.T) {
	p := viewedDemo(t, "--pcap")
	var at struct {
		Node          string
		SynAck, After int
	}
	if err := json.Unmarshal([]byte(p.eval(`(() => {
		const pk = glassnet.store.events.filter((e) => e.layer === "link" && e.event === "packet");
		const sa = pk.find((e) => e.flags === "S." && e.dir === "out");
		const after = pk.find((e) => e.id > sa.id && e.node === sa.node && e.payload_len > 0);
		return JSON.stringify({node: sa.node, synAck: sa.id, after: after.id});
	})()`)), &at); err != nil {
		t.Fatal(err)
	}
	row := func(id int) string {
		t.Helper()
		p.eval(fmt.Sprintf(`glassnet.select(%d); "ok"`, id))
		return p.wait(fmt.Sprintf("the table at #%d", id), fmt.Sprintf(`glassnet.selected === %d && document.querySelector('#events .vrow[data-event-id="%d"][data-hl="sel"]') && ((td) => td && td.textContent.replace(%q, ""))(document.querySelector('#conns tr[data-node=%q][data-conn*="⇄"] td.state'))`, id, id, at.Node, at.Node))
	}
	if got := row(at.SynAck); got != "SYN-RECV" {
		t.Errorf("at the SYN-ACK #%d %s sent, its row says %q, want SYN-RECV (SYN-RCVD as glassnet ss names it)", at.SynAck, at.Node, got)
	}
	if got := row(at.After); strings.HasPrefix(got, "SYN-") {
		t.Errorf("at #%d, data after the handshake, %s's row still says %q", at.After, at.Node, got)
	}
	p.noProblems("the capture's handshake")
}

// TestUIHoldPastedHex: bytes pasted into a held unit's hex as a hex dump
// shows them, a space between bytes and lines broken, are those bytes, as
// the text beside the hex reads them: the edit goes out, where the server
// used to refuse the spaces and keep the unit held.
func TestUIHoldPastedHex(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	holdClientText(ctx, t, r)
	card := `#holds .holdcard`
	p.wait("the held frame", fmt.Sprintf(`document.querySelector(%q) && "held"`, card+` [data-field="payload_hex"]`))
	p.setValue(card+` [data-field="payload_hex"]`, "48 45 4c\n4c 4f")
	if text := p.eval(fmt.Sprintf(`document.querySelector(%q).value`, card+` [data-text="payload_hex"]`)); text != "HELLO" {
		t.Errorf("the pasted hex reads %q as text, want HELLO", text)
	}
	p.click(card + ` button[data-hold-action="release"]`)
	if msg := p.wait("the release", `document.getElementById("hold-last").dataset.result && document.getElementById("hold-last").textContent`); !strings.Contains(msg, "released, edited") {
		t.Fatalf("the frame released with pasted hex: %q", msg)
	}
	p.wait("the server's message", `glassnet.store.events.some((e) => e.node === "server" && e.layer === "ws" && e.event === "message" && /"HELLO"/.test(e.summary)) && "got"`)
	p.noProblems("pasted hex")
}

// TestUIFieldsExplained: every field the inspector lists, for every kind
// of event the demo traces, says what it is when hovered (a title), as
// the README promises ("every field explained").
func TestUIFieldsExplained(t *testing.T) {
	p := viewedDemo(t, "--trace")
	kinds := p.eval(`JSON.stringify([...new Map(glassnet.store.events.map((e) => [e.layer + " " + e.event, e.id])).values()])`)
	var ids []int
	if err := json.Unmarshal([]byte(kinds), &ids); err != nil || len(ids) < 10 {
		t.Fatalf("the kinds of event in the demo: %s (%v)", kinds, err)
	}
	unexplained := map[string][]string{}
	for _, id := range ids {
		p.eval(fmt.Sprintf(`glassnet.select(%d); "ok"`, id))
		got := p.wait(fmt.Sprintf("#%d in the inspector", id), fmt.Sprintf(`document.getElementById("inspector-title").textContent.startsWith("#%d ") && JSON.stringify([document.getElementById("inspector-title").textContent, [...document.querySelectorAll("#inspector dl.kv dt:not([title])")].map((d) => d.textContent)])`, id))
		var kv [2]json.RawMessage
		json.Unmarshal([]byte(got), &kv)
		var title string
		var names []string
		json.Unmarshal(kv[0], &title)
		json.Unmarshal(kv[1], &names)
		for _, n := range names {
			unexplained[n] = append(unexplained[n], title)
		}
	}
	for n, where := range unexplained {
		t.Errorf("the inspector's field %q says nothing when hovered (%s)", n, strings.Join(where[:min(3, len(where))], ", "))
	}
	p.noProblems("every kind in the inspector")
}

// TestUIHelpNamesEveryPanel: the page's help ("?") says what each of its
// panels and tabs is, for one who opens it the first time.
func TestUIHelpNamesEveryPanel(t *testing.T) {
	p := viewedDemo(t, "--trace")
	p.click("#help-toggle")
	missing := p.wait("the help", `!document.getElementById("help").hidden && JSON.stringify((() => {
		const named = [...document.querySelectorAll("#help b")].map((b) => b.textContent.toLowerCase());
		const panels = [...document.querySelectorAll(".panel > h2")].map((h) => h.firstChild.textContent.trim());
		const tabs = [...document.querySelectorAll(".tabs button[data-tab]")].map((b) => b.textContent.trim());
		return [...panels, ...tabs].filter((n) => n && !named.includes(n.toLowerCase()));
	})())`)
	if missing != "[]" {
		t.Errorf("the help says nothing of %s", missing)
	}
	// Open in a small window, it leaves most of it to the views.
	p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 800, "height": 600, "deviceScaleFactor": 1, "mobile": false}, nil)
	if h := p.eval(`new Promise((r) => requestAnimationFrame(() => r(String(Math.round(document.getElementById("help").getBoundingClientRect().height)))))`); atof(h) > 0.4*600+1 {
		t.Errorf("at 800 × 600 the help is %s px tall, more than 40%% of the window", h)
	}
	p.noProblems("the help")
}

// TestUIStateAtReceivedFIN: at the FIN that ends the server's close (the
// client's, which the server received), the connections table, the state
// change and the timers all show the state that segment left, TIME-WAIT:
// the timers used to count the retransmission timer of the state before.
func TestUIStateAtReceivedFIN(t *testing.T) {
	p := viewedDemo(t, "--trace")
	fin := p.eval(`String(glassnet.store.events.findLast((e) => e.node === "server" && e.layer === "link" && e.event === "packet" && e.dir === "in" && /F/.test(e.flags || "")).id)`)
	p.eval(`glassnet.select(` + fin + `); "ok"`)
	p.wait("#"+fin+" in the inspector", `document.getElementById("inspector-title").textContent.startsWith("#`+fin+` ") && "shown"`)
	// every view drawn at it (the timers too, which the frame after may draw)
	p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	got := p.eval(`((row, diff, timer) => [row ? row.textContent.replace(/^server/, "") : "no row", diff ? diff.dataset.new : "none", !timer ? "no timer" : /TIME-WAIT/.test(timer.textContent) ? "TIME-WAIT" : timer.textContent].join("|"))(
		document.querySelector('#conns tr[data-node="server"][data-conn*="⇄"] td.state'),
		document.querySelector('#diff .diffcol[data-node="server"] tr[data-field="state"]'),
		document.querySelector('#timers [data-timer-node="server"]'))`)
	if got != "TIME-WAIT|TIME-WAIT|TIME-WAIT" {
		t.Errorf("at the FIN #%s the server received, the table, the state change and the timers say %q, want TIME-WAIT in each", fin, got)
	}
	p.noProblems("the server's last FIN")
}
