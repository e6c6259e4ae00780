package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// serveUI returns the browser view of a serve started with --ui, as a
// uiRun whose api calls reach it.
func serveUI(t *testing.T, s *server) *uiRun {
	t.Helper()
	var url string
	for end := time.Now().Add(10 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(s.out.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "glassnet: ui at "); ok {
				url = strings.TrimSpace(u)
			}
		}
		if url == "" && time.Now().After(end) {
			t.Fatalf("serve --ui printed no address:\n%s", s.out.String())
		}
	}
	i := strings.Index(url, "/?token=")
	if i < 0 {
		t.Fatalf("the view's address %q has no /?token=", url)
	}
	return &uiRun{url: url, base: url[:i], token: url[i+len("/?token="):]}
}

// heldUnit waits until the view holds a unit and returns it.
func heldUnit(t *testing.T, ctx context.Context, r *uiRun) (id int, event int, fields map[string]any) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var hs struct {
			Holds []struct {
				ID     int            `json:"id"`
				Event  int            `json:"event"`
				Fields map[string]any `json:"fields"`
			} `json:"holds"`
		}
		if err := r.api(ctx, "GET", "/api/holds", nil, &hs); err != nil {
			t.Fatal(err)
		}
		if len(hs.Holds) > 0 && hs.Holds[0].Event != 0 {
			return hs.Holds[0].ID, hs.Holds[0].Event, hs.Holds[0].Fields
		}
		if time.Now().After(end) {
			t.Fatal("nothing held within 20 s")
		}
	}
}

// focusPort focuses the page on the connection from the kernel's port and
// returns its key.
func focusPort(p *uiPage, port int) string {
	p.t.Helper()
	key := p.wait(fmt.Sprintf("the connection from port %d in the page", port), fmt.Sprintf(`window.glassnet && [...glassnet.store.conns.keys()].find((k) => k.includes(":%d ")) || ""`, port))
	p.eval(fmt.Sprintf(`glassnet.setFocus(%q); "ok"`, key))
	p.wait("the views drawn for the connection", fmt.Sprintf(`document.getElementById("ladder-title").title === %q && "drawn"`, key))
	return key
}

// TestUIRealTraffic watches serve --ui on a TUN while real peers on the
// kernel's side use it, and checks what the view says against what
// happened: an upgrade refused with 403 is not labelled "HTTP 101" in the
// ladder; a 300 kB message from python3-websockets, over some 200
// segments, is said to be carried by all of them, not only by the few the
// frame event could name when its header was read; a kernel SYN held and
// released with a smaller window is drawn with what the edit changed; the
// time columns and what is drawn beside them stay apart once the stack's
// clock is half an hour on; keep-alive probes, bare ACKs to tcpdump, are
// named, and a reset's seq; the status counts the run's events also when the page lacks the
// oldest;
// the socket table's note says a paused stack holds the
// table only when one is paused; and once the page goes away, a stack a
// held SYN had paused runs on and answers its peers.
// tableAndTimers is a JavaScript expression that reads, for glassnet's end
// of the focused connection key, the state the connections table shows
// and whether the Timers panel says the connection is closed:
// "ESTAB|not closed".
const tableAndTimers = `((tr, tm) => (tr ? tr.textContent.replace(/^glassnet/, "") : "no row") + "|" +
	(tm && tm.textContent.includes("connection closed") ? "connection closed" : "not closed"))(
	document.querySelector('#conns tr[data-node="glassnet"][data-conn="' + CSS.escape(key) + '"] td.state'),
	document.querySelector('#timers [data-timer-node="glassnet"]'))`

func TestUIRealTraffic(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, curlBin, "curl")
	needPythonWebsockets(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		s := startServe(t, "--ui", "127.0.0.1:0")
		r := serveUI(t, s)

		// An upgrade from a foreign origin: 403.
		out := run(t, 20*time.Second, curlBin, "-s", "-o", "/dev/null", "-w", "%{http_code} %{local_port}",
			"-H", "Origin: http://elsewhere.example", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
			"-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", stackHTTP+"/echo")
		var code, refusedPort int
		if _, err := fmt.Sscan(out, &code, &refusedPort); err != nil || code != 403 {
			t.Fatalf("curl with a foreign Origin: %q, want 403 and its port", out)
		}
		// A 300 kB binary message there and back.
		out = run(t, 60*time.Second, pythonBin, "-c", `
import asyncio, websockets
async def main():
    async with websockets.connect("`+stackWS+`/echo", max_size=None, compression=None) as ws:
        await ws.send(b"x" * 300000)
        print(len(await ws.recv()), ws.local_address[1])
asyncio.run(main())`)
		var echoed, msgPort int
		if _, err := fmt.Sscan(out, &echoed, &msgPort); err != nil || echoed != 300000 {
			t.Fatalf("python3-websockets: %q, want 300000 bytes back and its port", out)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		p := openUI(t, ctx, r)

		focusPort(p, refusedPort)
		labels := p.wait("the refused upgrade's answer in the ladder", `(() => { const t = [...document.querySelectorAll('#ladder g.pkt-label[data-kind="packet-label"]')].map((g) => g.textContent.split("\n").pop()).join(" | "); return t.includes("HTTP 4") && t; })()`)
		if !strings.Contains(labels, "HTTP 403 (upgrade refused)") || strings.Contains(labels, "HTTP 101") {
			t.Errorf("the ladder of an upgrade refused with 403 reads %q, want its answer as HTTP 403 (upgrade refused) and no HTTP 101", labels)
		}
		if chips := p.eval(`[...document.querySelectorAll('#ladder [data-kind="handshake"]')].map((g) => g.textContent.split("\n").pop()).join(" | ")`); !strings.Contains(chips, "HTTP 403 (upgrade refused)") {
			t.Errorf("the handshake notes of an upgrade refused with 403 read %q", chips)
		}

		focusPort(p, msgPort)
		var frame struct {
			ID      int   `json:"id"`
			Packets []int `json:"packets"`
		}
		js := fmt.Sprintf(`JSON.stringify(glassnet.store.events.find((e) => e.layer === "ws" && e.event === "frame" && e.dir === "in" && e.len === 300000 && (e.conn || "").includes(":%d")) || null)`, msgPort)
		if err := json.Unmarshal([]byte(p.wait("the 300 kB frame in the page", js)), &frame); err != nil || frame.ID == 0 {
			t.Fatalf("no 300 kB frame in the page (%v)", err)
		}
		p.eval(fmt.Sprintf(`location.hash = "#event=%d"; "ok"`, frame.ID))
		// A frame traced once every segment was in names them all
		// itself; one traced earlier names those that had come, and the
		// inspector counts the rest in from the carried events.
		if len(frame.Packets) < 300000/1500 {
			carried := p.wait("the count of the packets that carried the frame", `(() => { const el = document.querySelector('#inspector [data-carried]'); return el ? el.dataset.carried + " " + el.textContent : ""; })()`)
			var n int
			fmt.Sscan(carried, &n)
			if n < 300000/1500 || n <= len(frame.Packets) {
				t.Errorf("the inspector of a 300 kB frame (its packets field names %d): %q, want every packet that carried it, at least %d", len(frame.Packets), carried, 300000/1500)
			}
		} else {
			var links int
			fmt.Sscan(p.wait("the frame's packets in the inspector", `document.querySelectorAll('#inspector dd a[data-goto]').length + ""`), &links)
			if links < len(frame.Packets) {
				t.Errorf("the inspector of a 300 kB frame whose packets field names %d links %d of them", len(frame.Packets), links)
			}
		}

		// Hold the kernel's SYN to the discard port, release it with
		// a window of 1000, and play on.
		if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "link-ingress", "node": "glassnet", "filter": "tcp and syn and not ack and dst port 9"}, nil); err != nil {
			t.Fatal(err)
		}
		dialed := make(chan net.Conn, 1)
		go func() {
			c, err := net.DialTimeout("tcp", stackAddr+":9", 30*time.Second)
			if err != nil {
				t.Errorf("dial the discard port past the held SYN: %v", err)
			}
			dialed <- c
		}()
		hold, _, fields := heldUnit(t, ctx, r)
		win := int(fields["window"].(float64))
		if err := r.api(ctx, "POST", fmt.Sprintf("/api/holds/%d", hold), map[string]any{"action": "release", "edit": map[string]any{"window": 1000}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.api(ctx, "POST", "/api/play", nil, nil); err != nil {
			t.Fatal(err)
		}
		c := <-dialed
		if c == nil {
			return
		}
		port := c.LocalAddr().(*net.TCPAddr).Port
		c.Close()
		focusPort(p, port)
		want := fmt.Sprintf("✎ win %d → 1000 (edited)", win)
		got := p.wait("the edit in the ladder", `[...document.querySelectorAll('#ladder [data-kind="verdict"]')].map((g) => g.textContent.split("\n").pop()).join(" | ")`)
		if !strings.Contains(got, want) {
			t.Errorf("the ladder says %q of the SYN released with a window of 1000, want %q", got, want)
		}

		// Half an hour more on the stack's clock. It stands still
		// once a curl's SYN stops the paused run.
		// An echo connection left idle meanwhile gets serve's keep-alive
		// probes (idle 15 s), which tcpdump writes as bare ACKs.
		idle := dialTCP(t, stackAddr+":7")
		if _, err := idle.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(idle, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
		// The kernel's ACK of the echo must be in before the pause: one
		// still in the TUN when the clock moves on half an hour comes
		// after every retransmission of the echo, and the stack has
		// given the connection up by then, as TCP does.
		p.wait("the kernel's ACK of the echo", fmt.Sprintf(`glassnet.store.events.some((e) => e.layer === "link" && e.event === "packet" && e.dir === "in" && e.summary.startsWith("IP %s.%d > ") && e.summary.includes(", ack 3,")) && "acked"`,
			idle.LocalAddr().(*net.TCPAddr).IP, idle.LocalAddr().(*net.TCPAddr).Port))
		if err := r.api(ctx, "POST", "/api/pause", nil, nil); err != nil {
			t.Fatal(err)
		}
		curled := make(chan string, 1)
		go func() {
			out, err := exec.CommandContext(ctx, curlBin, "-s", "-m", "60", "-o", "/dev/null", "-w", "%{http_code} %{local_port}", stackHTTP+"/").Output()
			if err != nil {
				out = fmt.Appendf(out, " (%v)", err)
			}
			curled <- string(out)
		}()
		type clockState struct {
			ClockPaused bool  `json:"clock_paused"`
			ClockNS     int64 `json:"clock_ns"`
		}
		var cs clockState
		for end := time.Now().Add(20 * time.Second); !cs.ClockPaused; time.Sleep(20 * time.Millisecond) {
			if err := r.api(ctx, "GET", "/api/state", nil, &cs); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(end) {
				t.Fatal("the paused run did not stop at curl's SYN within 20 s")
			}
		}
		for _, step := range []struct {
			path string
			body any
		}{{"/api/clock/advance", map[string]int{"ms": 1_800_000}}, {"/api/play", nil}} {
			if err := r.api(ctx, "POST", step.path, step.body, nil); err != nil {
				t.Fatalf("%s: %v", step.path, err)
			}
		}
		// Half an hour passes for the stack while the kernel's curl
		// waits: the stack may give up on it (a timeout, a reset).
		t.Logf("curl across the clock's move: %s", <-curled)
		// The timers due meanwhile fire one by one: once the clock is
		// half an hour on, a new connection's times have 10 digits and
		// more.
		for want, end := cs.ClockNS+1_800_000*int64(time.Millisecond), time.Now().Add(60*time.Second); cs.ClockNS < want; time.Sleep(20 * time.Millisecond) {
			if err := r.api(ctx, "GET", "/api/state", nil, &cs); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(end) {
				t.Fatalf("the clock is %v short of half an hour on after 60 s", time.Duration(want-cs.ClockNS))
			}
		}
		out = run(t, 20*time.Second, curlBin, "-s", "-o", "/dev/null", "-w", "%{http_code} %{local_port}", stackHTTP+"/")
		var late int
		if _, err := fmt.Sscan(out, &code, &late); err != nil || code != 200 {
			t.Fatalf("curl after the clock moved on: %q", out)
		}
		focusPort(p, late)
		p.wait("the late connection's packets in the ladder", `document.querySelectorAll('#ladder g.pkt[data-kind="packet"]').length >= 6 && "drawn"`)
		for _, view := range []struct{ name, js string }{
			{"ladder", `(() => {
				const times = [...document.querySelectorAll("#ladder text.timecol")];
				const right = Math.max(...times.map((x) => x.getBBox().x + x.getBBox().width));
				const left = Math.min(...[...document.querySelectorAll("#ladder g.pkt-label rect.bg, #ladder g.pkt line.arrow")].map((x) => x.getBBox().x));
				return JSON.stringify({time: times.length ? times[times.length - 1].textContent : "", right, left});
			})()`},
			{"layers", `(() => {
				const times = [...document.querySelectorAll("#lanes text.timecol")];
				const right = Math.max(...times.map((x) => x.getBBox().x + x.getBBox().width));
				const left = Math.min(...[...document.querySelectorAll("#lanes circle, #lanes rect.col-bg")].map((x) => x.getBBox().x));
				return JSON.stringify({time: times.length ? times[times.length - 1].textContent : "", right, left});
			})()`},
		} {
			var g struct {
				Time        string
				Right, Left float64
			}
			if err := json.Unmarshal([]byte(p.eval(view.js)), &g); err != nil {
				t.Fatalf("%s: %v", view.name, err)
			}
			if len(g.Time) < len("1800000.000") || g.Left < g.Right {
				t.Errorf("%s: the time column (last %q) ends at x=%.0f and what is drawn beside it begins at x=%.0f, over its digits", view.name, g.Time, g.Right, g.Left)
			}
		}
		// A packet of an earlier connection selected, then the late one
		// chosen in the table: the state change shows the late one at
		// that packet, before it began, not the state a packet of its
		// own left half an hour later.
		earlier := p.eval(`(() => {
			const key = glassnet.focus, first = glassnet.store.conns.get(key).ids[0];
			const e = glassnet.store.events.findLast((e) => e.id < first && e.node === "glassnet" && e.layer === "link" && e.event === "packet" && e.dir === "in" && glassnet.store.connOf.get(e.id) !== key);
			return e ? String(e.id) : "none";
		})()`)
		if earlier == "none" {
			t.Fatal("no packet in before the late connection")
		}
		p.eval(`glassnet.select(` + earlier + `); "ok"`)
		focusPort(p, late)
		p.wait("the state change drawn at #"+earlier, `document.querySelector("#diff .diffcol[data-node=glassnet]") && glassnet.selected === `+earlier+` && "drawn"`)
		if got := p.eval(`(() => { const t = document.querySelector("#diff .diffcol[data-node=glassnet] table[data-state-id]"); return t ? t.dataset.stateId : document.querySelector("#diff .diffcol[data-node=glassnet]").textContent; })()`); atof(got) > atof(earlier) {
			t.Errorf("with #%s of another connection selected, the late connection's state change shows the state of #%s, after it", earlier, got)
		}
		p.shot("ui-real-late")
		// A reset from the kernel (SO_LINGER 0): its label has the seq
		// that makes it acceptable, as tcpdump writes it.
		rst := dialTCP(t, stackAddr+":9")
		rst.Write([]byte("reset"))
		rst.SetLinger(0)
		rstPort := rst.LocalAddr().(*net.TCPAddr).Port
		rst.Close()
		focusPort(p, rstPort)
		rl := p.wait("the reset in the ladder", `[...document.querySelectorAll('#ladder g.pkt-label[data-kind="packet-label"]')].map((g) => g.querySelector("text.lbl").textContent).find((l) => l.startsWith("[R")) || ""`)
		if !strings.HasPrefix(rl, "[R.] seq 6 ") {
			t.Errorf("the kernel's reset after 5 bytes reads %q in the ladder, want [R.] seq 6 as tcpdump writes it", rl)
		}

		// While the run plays freely the connections table shows the
		// server's socket table and the Timers panel follows it: a table
		// that still has the reset connection ESTABLISHED (made before
		// the reset reached it) and one that has it in gVisor's error
		// state, which the trace names CLOSED; the table names both as
		// glassnet ss does, ESTAB and UNCONN.
		p.wait("the reset connection CLOSED in the trace", `(() => { const c = glassnet.store.conns.get(glassnet.focus); const s = c && glassnet.store.stateAt(c, "glassnet", Infinity); return s && s.state === "CLOSED" ? "yes" : ""; })()`)
		for _, tc := range []struct{ table, shown, timer string }{
			{"ESTABLISHED", "ESTAB", "not closed"},
			{"ERROR", "UNCONN", "connection closed"},
		} {
			got := p.eval(`(() => {
				const app = glassnet, key = app.focus;
				const [r] = app.views[0].traceRows((c, n) => c.key === key && n === "glassnet", Infinity);
				app.selected = null;
				app.state.paused = false;
				app.conns = [{node: "glassnet", proto: "tcp", state: ` + strconv.Quote(tc.table) + `, local: r.local, peer: r.peer, fd: 99, recv_q: 0, send_q: 0}];
				app.connsAt = app.store.events[app.store.events.length - 1].id;
				app.views[0].sig = "";
				app.views[0].render();
				app.controls.timers();
				return ` + tableAndTimers + `;
			})()`)
			if want := tc.shown + "|" + tc.timer; got != want {
				t.Errorf("socket table with the reset connection %s: table and timers read %q, want %q", tc.table, got, want)
			}
		}
		// With an event from before the reset selected, the table shows
		// the state there, and so do the timers: they said "connection
		// closed", from the latest event, beside an ESTABLISHED row.
		got = p.eval(`(() => {
			const app = glassnet, key = app.focus, st = app.store;
			const est = st.conns.get(key).ids.map((id) => st.get(id)).find((e) => e.node === "glassnet" && e.layer === "tcp" && e.event === "state" && e.state === "ESTABLISHED");
			if (!est) return "no ESTABLISHED state";
			app.selected = est.id;
			app.views[0].sig = "";
			app.views[0].render();
			app.controls.timers();
			return ` + tableAndTimers + `;
		})()`)
		if want := "ESTAB|not closed"; got != want {
			t.Errorf("an event before the reset selected in a live run: table and timers read %q, want %q", got, want)
		}
		p.eval(`(() => { glassnet.selected = null; return ""; })()`)

		// A page that lacks the oldest events (skipped while it was
		// behind, or gone from the history before it came) counts the
		// run's events in its status all the same, by their ids.
		before := p.eval(`glassnet.store.events.splice(0, 50); String(glassnet.store.events[glassnet.store.events.length - 1].id)`)
		run(t, 20*time.Second, curlBin, "-s", "-o", "/dev/null", stackHTTP+"/")
		p.wait("the curl's events in the page", `glassnet.store.events[glassnet.store.events.length - 1].id > `+before+` && "in"`)
		p.wait("the status to count every event", `(() => { const evs = glassnet.store.events; const n = evs[evs.length - 1].id; return document.getElementById("status").textContent.includes("· " + n + " events") && n; })()`)
		focusPort(p, idle.LocalAddr().(*net.TCPAddr).Port)
		ka := p.wait("a keep-alive probe in the ladder", `(() => { const g = document.querySelector('#ladder g.pkt[data-keepalive="true"]'); const l = g && document.querySelector('#ladder g.pkt-label[data-event-id="' + g.dataset.eventId + '"]'); return l ? l.textContent.split("\n").pop() : ""; })()`)
		if !strings.Contains(ka, "keep-alive") || !strings.Contains(ka, " seq ") {
			t.Errorf("a keep-alive probe in the ladder reads %q, want its seq and keep-alive", ka)
		}

		// The socket table's note, with a table older than the trace.
		note := p.eval(`(() => { glassnet.selected = null; glassnet.connsAt = 1; glassnet.views[0].sig = ""; glassnet.views[0].render(); const n = document.querySelector("[data-conns-note]"); return (glassnet.state.paused ? "paused: " : "running: ") + (n ? n.textContent : ""); })()`)
		if !strings.HasPrefix(note, "running: The socket table is from #1") || strings.Contains(note, "paused stack") {
			t.Errorf("the socket table's note while the stack runs: %q, want no word of a paused stack", note)
		}

		// Hold a SYN, then close the page: the stack runs on.
		if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "link-ingress", "node": "glassnet", "filter": "tcp and syn and not ack and dst port 9"}, nil); err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := net.DialTimeout("tcp", stackAddr+":9", 30*time.Second)
			if err != nil {
				t.Errorf("dial the discard port once the page holding its SYN went away: %v", err)
			}
			dialed <- c
		}()
		heldUnit(t, ctx, r)
		p.noProblems("serve --ui with real peers")
		var nav struct{}
		p.call("Page.navigate", map[string]any{"url": "about:blank"}, &nav)
		if c := <-dialed; c != nil {
			c.Close()
		}
		out = run(t, 20*time.Second, curlBin, "-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", stackHTTP+"/")
		if out != "200" {
			t.Errorf("curl once the page went away: %q, want 200", out)
		}
		var st struct {
			Paused bool `json:"paused"`
		}
		if err := r.api(ctx, "GET", "/api/state", nil, &st); err != nil || st.Paused {
			t.Errorf("the state once the page went away: paused %v (%v), want running", st.Paused, err)
		}
	})
}

// TestUIRealFrameEdit holds a frame from python3-websockets on its way in
// and the echo on its way out, edits both (the text, then the opcode and
// payload), and checks what the peer got, what tshark reads in the view's
// pcapng export, and that the ladder says what each edit changed; the
// inspector scales a window as tshark does.
func TestUIRealFrameEdit(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, "/usr/bin/tshark", "tshark")
	needPythonWebsockets(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		s := startServe(t, "--ui", "127.0.0.1:0", "--no-compress")
		r := serveUI(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		p := openUI(t, ctx, r)
		p.wait("the page", `window.glassnet && glassnet.state && glassnet.state.live && "live"`)
		if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "ws-in", "node": "glassnet", "filter": "text"}, nil); err != nil {
			t.Fatal(err)
		}
		peer := exec.CommandContext(ctx, pythonBin, "-c", `
import asyncio, websockets
async def main():
    async with websockets.connect("`+stackWS+`/echo", compression=None) as ws:
        await ws.send("hello in")
        got = await ws.recv()
        print(repr(got), ws.local_address[1])
asyncio.run(main())`)
		var out syncBuffer
		peer.Stdout, peer.Stderr = &out, &out
		if err := peer.Start(); err != nil {
			t.Fatal(err)
		}
		in, _, fields := heldUnit(t, ctx, r)
		if fields["payload_hex"] != "68656c6c6f20696e" {
			t.Fatalf("held on the way in: %v, want hello in", fields)
		}
		if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "ws-out", "node": "glassnet", "filter": "text"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.api(ctx, "POST", fmt.Sprintf("/api/holds/%d", in), map[string]any{"action": "release", "edit": map[string]any{"payload_hex": "68656c6c6f2065646974"}}, nil); err != nil {
			t.Fatal(err)
		}
		outID, _, fields := heldUnit(t, ctx, r)
		if fields["payload_hex"] != "68656c6c6f2065646974" {
			t.Fatalf("held on the way out: %v, want the edited hello edit", fields)
		}
		if err := r.api(ctx, "POST", fmt.Sprintf("/api/holds/%d", outID), map[string]any{"action": "release", "edit": map[string]any{"payload_hex": "4f5554", "opcode": "binary"}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := peer.Wait(); err != nil {
			t.Fatalf("python3-websockets: %v\n%s", err, out.String())
		}
		var got string
		var port int
		if _, err := fmt.Sscan(out.String(), &got, &port); err != nil || got != "b'OUT'" {
			t.Fatalf("python3-websockets got %q, want b'OUT' and its port", out.String())
		}

		focusPort(p, port)
		chips := p.wait("both edits in the ladder", `(() => { const v = [...document.querySelectorAll('#ladder [data-kind="verdict"]')].map((g) => g.textContent.split("\n").pop()); return v.length >= 2 && v.join(" | "); })()`)
		for _, want := range []string{"✎ payload 8 → 10 bytes (edited)", "✎ opcode text → binary, payload 10 → 3 bytes (edited)"} {
			if !strings.Contains(chips, want) {
				t.Errorf("the ladder's edits read %q, want %q", chips, want)
			}
		}

		// What went out, as tshark reads the view's capture: the
		// server's frame is binary, 3 bytes, unmasked (the peer got b'OUT').
		file := t.TempDir() + "/real.pcapng"
		r.exportTo(t, ctx, "pcapng", file)
		frames := run(t, time.Minute, "/usr/bin/tshark", "-r", file, "-d", "tcp.port==8080,http", "-Y", fmt.Sprintf("websocket and tcp.port == %d", port),
			"-T", "fields", "-e", "tcp.srcport", "-e", "websocket.opcode", "-e", "websocket.mask", "-e", "websocket.payload_length")
		want := []string{"1 1 8", "8080 2 0 3"} // the peer's frame as it sent it, the edited echo
		var server []string
		for _, line := range strings.Split(strings.TrimSpace(frames), "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[0] == "8080" && f[1] != "8" {
				server = append(server, strings.Join(f, " "))
			}
			if len(f) >= 4 && f[0] != "8080" && f[1] == "1" && strings.Join(f[1:4], " ") != want[0] {
				t.Errorf("tshark reads the peer's text frame as %q, want opcode, mask, length %q", line, want[0])
			}
		}
		if len(server) != 1 || server[0] != want[1] {
			t.Errorf("tshark reads the server's data frames as %q, want [%q]\n%s", server, want[1], frames)
		}

		// The window of each side's last packet, scaled as the
		// inspector says, is tshark's calculated window size.
		wins := run(t, time.Minute, "/usr/bin/tshark", "-r", file, "-Y", fmt.Sprintf("tcp.port == %d and not tcp.flags.syn == 1", port),
			"-T", "fields", "-E", "separator=|", "-e", "frame.comment", "-e", "tcp.window_size_value", "-e", "tcp.window_size", "-e", "tcp.srcport")
		last := map[string][3]string{}
		for _, line := range strings.Split(strings.TrimSpace(wins), "\n") {
			f := strings.Split(line, "|")
			if len(f) == 4 && strings.HasPrefix(f[0], "packet #") {
				id, _, _ := strings.Cut(strings.TrimPrefix(f[0], "packet #"), ";")
				last[f[3]] = [3]string{id, f[1], f[2]}
			}
		}
		if len(last) != 2 {
			t.Fatalf("tshark finds the packets of %d sides of the connection, want 2:\n%s", len(last), wins)
		}
		for side, w := range last {
			p.eval(fmt.Sprintf(`location.hash = "#event=%s"; "ok"`, w[0]))
			got := p.wait("the scaled window in the inspector", `(() => { const el = document.querySelector('#inspector [data-scaled]'); return document.getElementById("inspector-title").textContent.startsWith("#`+w[0]+` ") && el ? el.dataset.scaled : ""; })()`)
			if got != w[2] {
				t.Errorf("packet #%s from port %s, win %s: the inspector scales it to %s bytes, tshark to %s", w[0], side, w[1], got, w[2])
			}
		}
		p.noProblems("frames edited on real traffic")
	})
}
