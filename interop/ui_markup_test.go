package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// The markup a hostile trace or peer puts where the view shows text: each
// makes an element with a data-injected attribute when it reaches the page
// as markup, in text, in an attribute's value and in a textarea's.
var hostileMarkup = []string{
	`<img src=x data-injected=1>`,
	`"><b data-injected=1>`,
	`'><u data-injected=1>`,
	`</textarea><i data-injected=1>`,
	`<svg><text data-injected=1>x</text></svg>`,
}

// markupWatch notes every element with a data-injected attribute in the
// page when it runs, and every one that comes into it after, however
// briefly.
const markupWatch = `(() => {
	if (window.__injected) return "ok";
	window.__injected = [];
	const note = (n) => {
		if (n.nodeType !== 1) return;
		if (n.hasAttribute("data-injected")) window.__injected.push(n.outerHTML.slice(0, 200));
		for (const m of n.querySelectorAll("[data-injected]")) window.__injected.push(m.outerHTML.slice(0, 200));
	};
	new MutationObserver((rs) => {
		for (const r of rs) {
			if (r.type === "attributes") note(r.target);
			for (const n of r.addedNodes) note(n);
		}
	}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-injected"] });
	note(document.documentElement);
	return "ok";
})()`

// markupWalk selects every event in turn, with each tab, each stack and
// each connection, and the help open: whatever the views draw. It returns
// the elements with a data-injected attribute seen (the watch's and those
// in the page at each step) and how many steps it took, as JSON.
const markupWalk = `(async () => {
	const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
	const insp = glassnet.views.find((v) => v.constructor.name === "InspectorView");
	const seen = [];
	let steps = 0;
	const look = (what) => {
		steps++;
		for (const m of document.querySelectorAll("[data-injected]")) seen.push(what + ": " + m.outerHTML.slice(0, 200));
	};
	const bytesIn = async (e) => {
		// the inspector asks the server for the bytes of these layers
		if (!["link", "ws", "ip", "tcp", "socket"].includes(e.layer)) return;
		for (let i = 0; i < 50 && !insp.cache.has(e.id); i++) await frame();
		await frame();
	};
	document.getElementById("help-toggle").click();
	await frame();
	look("help");
	document.getElementById("help-toggle").click();
	const nodes = [...document.getElementById("node").options].map((o) => o.value);
	for (const tab of document.querySelectorAll(".tabs button[data-tab]")) {
		tab.click();
		await frame();
		for (const n of nodes) {
			const sel = document.getElementById("node");
			sel.value = n;
			sel.dispatchEvent(new Event("change", { bubbles: true }));
			await frame();
			look("tab " + tab.dataset.tab + " stack " + n);
		}
		for (const e of glassnet.store.events) {
			glassnet.select(e.id);
			await frame();
			if (tab.dataset.tab === "lanes") await bytesIn(e);
			look("tab " + tab.dataset.tab + " event #" + e.id);
		}
	}
	for (const k of [...glassnet.store.conns.keys()]) {
		glassnet.setFocus(k);
		await frame();
		look("connection " + k);
	}
	document.getElementById("events-focus").click();
	await frame();
	look("events of the connection");
	return JSON.stringify({ seen: seen.concat(window.__injected), steps });
})()`

// checkNoMarkup walks the page (markupWalk) and fails the test for any
// element the hostile texts made, and for anything the page reported.
func checkNoMarkup(t *testing.T, p *uiPage, what string) {
	t.Helper()
	var res struct {
		Seen  []string `json:"seen"`
		Steps int      `json:"steps"`
	}
	if err := json.Unmarshal([]byte(p.waitLong("the walk through "+what, 4*time.Minute, markupWalk)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Steps < 10 {
		t.Fatalf("%s: the walk looked at the page %d times", what, res.Steps)
	}
	slices.Sort(res.Seen)
	seen := slices.Compact(res.Seen)
	for i, s := range seen {
		if i == 20 {
			t.Errorf("%s: and %d more", what, len(seen)-i)
			break
		}
		t.Errorf("%s: an element made of the text it shows: %s", what, s)
	}
	t.Logf("%s: the page looked at %d times", what, res.Steps)
	p.noProblems(what)
}

// checkHeaders fails the test unless the page comes with its
// Content-Security-Policy and Referrer-Policy.
func checkHeaders(t *testing.T, r *uiRun) {
	t.Helper()
	res, err := http.Get(r.url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("GET /: Content-Security-Policy %q, want default-src 'none' and script-src 'self'", csp)
	}
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("GET /: Referrer-Policy %q, want no-referrer", rp)
	}
}

// hostileTrace is the demo's trace with markup in its texts (stack names,
// summaries, numbers of packets, states and calls written as strings), then
// one event of every kind schema.json knows with markup in every string
// field, and one more with markup in every field but its layer and event.
func hostileTrace(t *testing.T) []map[string]any {
	t.Helper()
	mk := func(i int) string { return hostileMarkup[i%len(hostileMarkup)] }
	nodes := map[string]string{}
	var out []map[string]any
	var last float64
	for i, e := range demoEvents(t) {
		if n, ok := e["node"].(string); ok {
			if _, ok := nodes[n]; !ok {
				nodes[n] = n + mk(len(nodes))
			}
			e["node"] = nodes[n]
		}
		e["summary"] = fmt.Sprint(e["summary"]) + " " + mk(i)
		for _, k := range []string{"win", "n", "cwnd", "srtt", "rel_snd_nxt", "ret", "errno", "reason", "uri", "host", "method", "state", "options", "args", "call", "opcode", "type"} {
			// a number as a string now and then: the view's arithmetic
			// must not turn it into markup either
			if _, ok := e[k]; ok && (i%3 == 0 || k == "win" || k == "n") {
				e[k] = fmt.Sprint(e[k]) + mk(i)
			}
		}
		out = append(out, e)
		last = e["id"].(float64)
	}
	b, err := os.ReadFile("../trace/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Type  any `json:"type"`
				Const any `json:"const"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	kinds := make([]string, 0, len(schema.Defs))
	for k := range schema.Defs {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, all := range []bool{false, true} {
		for ki, kind := range kinds {
			last++
			e := map[string]any{"v": 1, "id": last, "t": int(last) * 1000}
			i := ki
			for name, p := range schema.Defs[kind].Properties {
				i++
				switch {
				case name == "v" || name == "id" || name == "t":
				case p.Const != nil:
					e[name] = p.Const
				case all:
					e[name] = mk(i)
				case name == "dir":
					e[name] = []string{"in", "out"}[i%2]
				case p.Type == "string" || fmt.Sprint(p.Type) == "[string integer]":
					e[name] = mk(i)
				case p.Type == "integer":
					e[name] = i
				case p.Type == "boolean":
					e[name] = true
				case p.Type == "array":
					e[name] = []any{int(last) - 1, mk(i)}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// TestUIMarkupTrace opens a hostile trace with glassnet view: every text
// the page shows of it, in every view, is text.
func TestUIMarkupTrace(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	evs := hostileTrace(t)
	var buf bytes.Buffer
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	file := filepath.Join(t.TempDir(), "hostile.jsonl")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	checkHeaders(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the hostile trace in the page", fmt.Sprintf(`window.glassnet && glassnet.store.events.length === %d && "loaded"`, len(evs)))
	p.eval(markupWatch)
	checkNoMarkup(t, p, "a hostile trace")

	// what a person reads of it: a summary, a stack's name and the
	// related unit in the other stack, in the inspector
	var names []string
	if err := json.Unmarshal([]byte(p.eval(`(() => {
		const st = glassnet.store;
		const e = st.events.find((e) => e.layer === "ws" && e.event === "message" && st.twin.has(e.id));
		glassnet.select(e.id);
		return JSON.stringify([e.summary, e.node, st.get(st.twin.get(e.id)).node]);
	})()`)), &names); err != nil {
		t.Fatal(err)
	}
	text := p.wait("a message of the hostile trace in the inspector", `(() => { const el = document.querySelector("#inspector #insp-related"); return el && el.textContent.includes("the same unit in") && document.getElementById("inspector").textContent; })()`)
	for _, m := range names {
		if !strings.Contains(text, m) {
			t.Errorf("the inspector reads %q, want %q in it as text", text, m)
		}
	}
	p.shot("ui-markup-inspector")
	p.eval(`(() => {
		const e = glassnet.store.events.find((e) => e.layer === "tcp" && e.event === "state" && e.node.startsWith("server"));
		glassnet.select(e.id);
		return "ok";
	})()`)
	p.wait("the state view of a hostile trace", `document.querySelector("#diff [data-cause]") && "drawn"`)
	p.shot("ui-markup-state")
	p.noProblems("the hostile trace's inspector")
}

// TestUIMarkupLive has the kernel send markup to serve --ui while the page
// is open: in an HTTP request's path and headers, a WebSocket message and
// a close reason. The page shows it as text, the message held in its card
// too, and so does glassnet view of the capture serve wrote (--pcap).
func TestUIMarkupLive(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, pythonBin, "python3")
	netnstest.RunTUN(t, func(t *testing.T) {
		capture := filepath.Join(t.TempDir(), "hostile.pcap")
		s := startServe(t, "--ui", "127.0.0.1:0", "--pcap", capture)
		r := serveUI(t, s)
		checkHeaders(t, r)
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		p := openUI(t, ctx, r)
		p.wait("the page", `window.glassnet && document.getElementById("status").dataset.status !== "loading" && "up"`)
		p.eval(markupWatch)

		// A raw client: markup in a request line, in headers, in a
		// message and in a close reason (the URL has no spaces; a
		// slash parts attributes as a space does).
		// The message is held on its way in: its card shows it, in a
		// text box, until it is released.
		if err := r.api(ctx, "POST", "/api/hold", map[string]any{"point": "ws-in", "node": "glassnet", "filter": "text"}, nil); err != nil {
			t.Fatal(err)
		}
		client := exec.CommandContext(ctx, pythonBin, "-c", `
import os, socket, struct, sys
A = "`+stackAddr+`"
def frame(op, payload):
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
def until(s, end):
    got = b""
    while end not in got:
        b = s.recv(65536)
        if not b:
            break
        got += b
    return got
# a plain request for a path that is not there
s = socket.create_connection((A, 8080))
s.sendall(b'GET /<b/data-injected=1>"><i/data-injected=1> HTTP/1.1\r\nHost: ' + A.encode() + b'\r\nUser-Agent: </textarea><i data-injected=1>\r\nX-Markup: "><b data-injected=1>\r\nConnection: close\r\n\r\n')
print(until(s, b"\r\n\r\n").split(b"\r\n")[0].decode())
s.close()
# a WebSocket upgrade, a text message and a close reason
s = socket.create_connection((A, 8080))
s.sendall(b'GET /echo?q=<b/data-injected=1>"><i/data-injected=1> HTTP/1.1\r\nHost: ' + A.encode() + b'\r\nUser-Agent: "><b data-injected=1>\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
print(until(s, b"\r\n\r\n").split(b"\r\n")[0].decode())
msg = '<img src=x data-injected=1> "><b data-injected=1> </textarea><i data-injected=1>'.encode()
s.sendall(frame(1, msg))
echo = until(s, msg)
print("echoed" if msg in echo else "not echoed: %r" % echo)
s.sendall(frame(8, struct.pack("!H", 1000) + b'"><b data-injected=1><img src=x data-injected=1>'))
print("closed %r" % until(s, b"\x88")[-2:])
s.close()
`)
		var stdout, stderr bytes.Buffer
		client.Stdout, client.Stderr = &stdout, &stderr
		if err := client.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- client.Wait() }()
		held := p.wait("the hostile message held", `(() => {
			const c = document.querySelector("#hold-list [data-hold-id]");
			const bad = c && c.querySelector("[data-injected]");
			if (bad) return "injected " + bad.outerHTML.slice(0, 200);
			const t = c && c.querySelector('textarea[data-text="payload_hex"]');
			return t && t.value.includes("</textarea><i data-injected=1>") && c.dataset.holdId;
		})()`)
		if strings.HasPrefix(held, "injected ") {
			t.Fatalf("the card of a held message with markup: an element made of its text: %s", held)
		}
		p.shot("ui-markup-held")
		if err := r.api(ctx, "POST", "/api/holds/"+held, map[string]any{"action": "release"}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the raw client: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("the raw client did not end within 60 s of the release:\n%s%s", stdout.Bytes(), stderr.Bytes())
		}
		out := stdout.String()
		if !strings.Contains(out, "404") || !strings.Contains(out, "101") || !strings.Contains(out, "echoed") {
			t.Fatalf("the raw client: %q, want a 404, a 101 and its message echoed", out)
		}
		t.Logf("the raw client:\n%s", out)
		p.wait("the hostile message in the page", `glassnet.store.events.some((e) => e.layer === "ws" && e.event === "close" && (e.reason || "").includes("data-injected")) && glassnet.store.events.some((e) => e.layer === "ws" && e.event === "handshake" && (e.uri || "").includes("data-injected")) && "in"`)
		checkNoMarkup(t, p, "a hostile peer")
		p.eval(`(() => {
			const e = glassnet.store.events.find((e) => e.layer === "ws" && e.event === "handshake" && (e.uri || "").includes("data-injected"));
			glassnet.select(e.id);
			return "ok";
		})()`)
		text := p.wait("the handshake in the inspector", `(() => { const t = document.getElementById("inspector").textContent; return t.includes("data-injected") && t; })()`)
		if !strings.Contains(text, `/echo?q=<b/data-injected=1>"><i/data-injected=1>`) {
			t.Errorf("the inspector of the hostile upgrade reads %q, want its path as text", text)
		}
		p.shot("ui-markup-live")
		p.noProblems("a hostile peer's upgrade in the inspector")

		// The same bytes as a capture, opened with glassnet view: the
		// frames and the upgrade the view finds in its TCP streams.
		if err := s.interrupt(t); err != nil {
			t.Fatalf("glassnet serve: %v\n%s", err, s.out.String())
		}
		v := startUI(t, "view", "--ui", "127.0.0.1:0", capture)
		checkHeaders(t, v)
		pv := openUI(t, ctx, v)
		pv.wait("the capture in the page", `window.glassnet && glassnet.store.events.some((e) => e.layer === "ws" && e.event === "frame" && e.opcode === "close") && "loaded"`)
		pv.eval(markupWatch)
		checkNoMarkup(t, pv, "a hostile peer's capture")
	})
}
