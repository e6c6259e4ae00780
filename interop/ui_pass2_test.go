package interop

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// endedDemo is pausedDemo played to the end of its run, every event in
// the page.
func endedDemo(t *testing.T, args ...string) (*uiRun, *uiPage) {
	t.Helper()
	r, ctx, p := pausedDemo(t, args...)
	if err := r.api(ctx, "POST", "/api/play", nil, nil); err != nil {
		t.Fatal(err)
	}
	p.waitLong("the end of the demo", time.Minute, `glassnet.state.ended && glassnet.store.events.length === glassnet.state.count && "ended"`)
	return r, p
}

// rulerAxisAndMarks measures, in the byte stream as drawn, the boxes of
// the axis's numbers and of the marks' labels (sent, acked, read) on the
// row they share: it names every mark label that lies on a number, on
// another label or on any other text, and every tick line whose number is
// missing where it would have fitted inside the picture.
const rulerAxisAndMarks = `(() => {
	const out = [];
	const box = (el) => { const r = el.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; };
	const over = (a, b) => a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;
	const svg = document.querySelector("#ruler svg");
	if (!svg) return { bad: ["no byte stream"], labels: 0, short: 0, bare: 0, ticks: 0 };
	const labels = [...svg.querySelectorAll(".marks text")];
	const texts = [...svg.querySelectorAll("text")].filter((t) => !t.closest(".marks"));
	labels.forEach((l, i) => {
		const b = box(l), bg = box(l.previousElementSibling);
		for (const t of texts) if (over(b, box(t)) || over(bg, box(t))) out.push(JSON.stringify(l.textContent) + " over " + JSON.stringify(t.textContent));
		for (const o of labels.slice(i + 1)) if (over(b, box(o))) out.push(JSON.stringify(l.textContent) + " over " + JSON.stringify(o.textContent));
	});
	const right = svg.getBoundingClientRect().right;
	let ticks = 0;
	for (const line of svg.querySelectorAll("line.gridline")) {
		const x = +line.getAttribute("x1") + 2, y = +line.getAttribute("y1") + 6;
		const num = [...svg.querySelectorAll("g[data-offset] > text")].find((t) => Math.abs(+t.getAttribute("x") - x) < 0.2 && +t.getAttribute("y") === y);
		if (num) { ticks++; continue; }
		// a number of up to 7 characters (1.5 MiB) would have fitted
		if (line.getBoundingClientRect().x + 2 + 7 * 6.1 <= right) out.push("the tick at x " + x + " has no number");
	}
	const marks = [...svg.querySelectorAll("g.marks")];
	const bare = marks.reduce((n, g) => n + g.querySelectorAll("line").length - g.querySelectorAll("text").length, 0);
	const short = labels.filter((l) => !/ \d+$/.test(l.textContent)).length;
	const el = document.getElementById("ruler");
	if (el.scrollHeight > el.clientHeight + 1) out.push("the byte stream scrolls: " + el.scrollHeight + " px in " + el.clientHeight);
	return { bad: out, labels: labels.length, short, bare, ticks };
})()`

// TestUIRulerMarksClearOfTicks: the labels of the byte stream's marks
// (sent, acked, read) share the row of the axis's offsets, and the axis
// keeps its numbers: at every packet of the demo selected, in windows
// 1024, 1280 and 1920 px wide, light and dark, chromium's boxes of the
// labels cover no number of the axis, no other label and no other text,
// and no tick lacks its number where it fits. (At 1024 px the labels
// took the axis's row for themselves: "read = acked 210" and "sent 1658"
// left only the 0 of the client's axis.) Each mark keeps its line and,
// here, a label; one that finds no room whole is its names alone.
func TestUIRulerMarksClearOfTicks(t *testing.T) {
	_, p := endedDemo(t)
	for _, theme := range []string{"light", "dark"} {
		p.call("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": theme}}}, nil)
		for _, size := range [][2]int{{1024, 760}, {1280, 800}, {1920, 1080}} {
			p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
			got := p.eval(`(async () => {
				const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
				const ids = glassnet.store.events.filter((e) => e.layer === "link" && e.event === "packet").map((e) => e.id);
				const out = [], n = { steps: ids.length, marked: 0, labels: 0, short: 0, bare: 0, ticks: 0, fewest: Infinity };
				for (const id of ids) {
					glassnet.select(id, "test");
					await frame();
					await frame();
					const m = ` + rulerAxisAndMarks + `;
					if (m.labels) n.marked++;
					n.labels += m.labels; n.short += m.short; n.bare += m.bare; n.ticks += m.ticks;
					n.fewest = Math.min(n.fewest, m.ticks);
					if (m.bad.length) out.push("#" + id + ": " + m.bad.join("; "));
				}
				return JSON.stringify({ ...n, bad: out.slice(0, 8) });
			})()`)
			t.Logf("%s, %d × %d: %s", theme, size[0], size[1], got)
			var res struct {
				Steps, Marked, Labels, Short, Bare, Fewest int
				Bad                                        []string
			}
			if err := json.Unmarshal([]byte(got), &res); err != nil {
				t.Fatalf("%s in %s", err, got)
			}
			for _, b := range res.Bad {
				t.Errorf("%s, %d px: %s", theme, size[0], b)
			}
			// the demo's two directions have 3 KiB each: the axis reads
			// at least 0 and 1 KiB, 2 KiB in each
			// a line on the demo's byte stream always finds room for a
			// label, whole or its names
			if res.Marked == 0 || res.Labels <= res.Short || res.Bare > 0 || res.Fewest < 4 {
				t.Errorf("%s, %d px: %d of %d steps have mark labels (%d, %d of them names alone, %d lines without one); the fewest numbers on the axes at a step %d",
					theme, size[0], res.Marked, res.Steps, res.Labels, res.Short, res.Bare, res.Fewest)
			}
			p.eval(`(async () => { glassnet.select(glassnet.store.events.filter((e) => e.layer === "link" && e.event === "packet")[40].id, "test"); await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))); return "ok"; })()`)
			p.shot(fmt.Sprintf("ui-ruler-marks-%d-%s", size[0], theme))
		}
	}
	p.noProblems("the byte stream's marks")
}

// TestUIHeldEditShown: a held packet's card gives its fields in the order
// tcpdump does (flags, seq, ack, window, then the payload), marks a field
// once it is edited and says under the fields what a release will
// change; set back, the mark goes; released, the answer names the
// change, not only that there was one.
func TestUIHeldEditShown(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	p.setValue("#hn-point", "link-egress")
	p.setValue("#hn-node", "client")
	p.setValue("#hn-filter", "tcp")
	p.click("#hn-arm")
	p.wait("the hold armed", `document.getElementById("hn-msg").dataset.result === "ok" && "ok"`)
	card := `#holds [data-hold-id]`
	// step (as the stack answers, not as the page draws) until the unit
	// is held, then wait for its card
	held := func() bool {
		var s struct {
			Held int `json:"held"`
		}
		if err := r.api(ctx, "GET", "/api/state", nil, &s); err != nil {
			t.Fatal(err)
		}
		return s.Held > 0
	}
	for i := 0; !held(); i++ {
		if i == 100 {
			t.Fatal("100 steps and nothing held")
		}
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "event"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.wait("the held packet's card", `document.querySelector('`+card+` [data-field="window"]') && "shown"`)
	order := p.eval(`[...document.querySelectorAll('` + card + ` .form label')].map((l) => l.textContent).join(", ")`)
	t.Logf("the card's fields: %s", order)
	want := []string{"flags", "seq", "ack", "window", "payload (hex)"}
	at := -1
	for _, w := range want {
		i := strings.Index(order, w)
		if i <= at {
			t.Errorf("the card's fields read %q: want %q in the order %q", order, w, want)
		}
		at = i
	}
	old := p.eval(`document.querySelector('` + card + ` [data-field="window"]').value`)
	p.setValue(card+` [data-field="window"]`, "0")
	shown := p.eval(`(() => { const c = document.querySelector('` + card + `'); const b = c.querySelector("[data-edits]"); return [c.querySelector('[data-field="window"]').classList.contains("edited"), c.querySelector('[data-field="seq"]').classList.contains("edited"), !b.hidden && b.textContent].join("|"); })()`)
	if shown != "true|false|will change: window "+old+" → 0" {
		t.Errorf("window %s edited to 0: the card shows (window marked, seq marked, note) %q", old, shown)
	}
	p.shot("ui-held-edit")
	p.setValue(card+` [data-field="window"]`, old)
	if back := p.eval(`(() => { const c = document.querySelector('` + card + `'); return c.querySelector('[data-field="window"]').classList.contains("edited") + "|" + c.querySelector("[data-edits]").hidden; })()`); back != "false|true" {
		t.Errorf("the window set back to %s: the card shows (window marked, note hidden) %q", old, back)
	}
	p.setValue(card+` [data-field="window"]`, "0")
	p.click(card + ` button[data-hold-action="release"]`)
	for i := 0; p.eval(`document.getElementById("hold-last").dataset.result === "ok" ? "done" : ""`) != "done"; i++ {
		if i == 50 {
			t.Fatalf("50 steps and the release has no answer: %s", p.eval(`document.getElementById("hold-last").textContent`))
		}
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "event"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.eval(`document.getElementById("hold-last").textContent`); !strings.Contains(got, "window "+old+" → 0") {
		t.Errorf("released with window 0: the hold queue says %q, want it to name window %s → 0", got, old)
	}
	p.noProblems("an edited hold")
}

// TestUIKeyboardConnsAndFocus: the connections can be chosen without a
// mouse (Tab to a row, the arrows between rows, Enter chooses), and the
// row and the event list show that they have the keyboard's focus.
func TestUIKeyboardConnsAndFocus(t *testing.T) {
	_, p := endedDemo(t)
	// at the big frame, where both ends are ESTABLISHED
	p.eval(`glassnet.select(glassnet.store.events.find((e) => e.event === "frame" && e.len > 1000).id, "test"); "ok"`)
	p.wait("the connections drawn", `document.querySelectorAll("#conns tr[data-conn]").length >= 2 && "ok"`)
	// the listener's row chosen, by a script: the keyboard goes to the connection
	if got := p.eval(`((r) => r ? (glassnet.setFocus(r.dataset.conn), "ok") : "no listener")(document.querySelector('#conns tr[data-conn]:not([data-conn*="⇄"])'))`); got != "ok" {
		t.Fatalf("the connections at the big frame: %s", got)
	}
	p.wait("the listener chosen", `document.querySelector('#conns tr[data-conn*="⇄"][aria-selected="false"]') && "ok"`)
	p.eval(`document.getElementById("help-toggle").focus(); "ok"`)
	p.key("Tab", 9)
	focused := `(() => { const a = document.activeElement; return a.matches("#conns tr[data-conn]") ? a.dataset.conn : a.id || a.tagName; })()`
	first := p.eval(focused)
	if p.eval(`document.activeElement.matches("#conns tr[data-conn]") ? "row" : ""`) != "row" {
		t.Fatalf("Tab from the help button goes to %q, not to the first connection", first)
	}
	ring := `((a) => a.matches(":focus-visible") && getComputedStyle(a).outlineStyle !== "none" && parseFloat(getComputedStyle(a).outlineWidth) > 0 ? "shown" : "not shown: " + getComputedStyle(a).outlineStyle)(document.activeElement)`
	if got := p.eval(ring); got != "shown" {
		t.Errorf("a connection's row with the keyboard's focus: the focus is %s", got)
	}
	// down to a connection (not a listener) that is not the one chosen
	for i := 0; ; i++ {
		if p.eval(`((a) => a.dataset.conn.includes("⇄") && a.getAttribute("aria-selected") !== "true" ? "yes" : "")(document.activeElement)`) == "yes" {
			break
		}
		if i == 10 {
			t.Fatalf("ArrowDown through the connections found none to choose; at %q", p.eval(focused))
		}
		p.key("ArrowDown", 40)
	}
	want := p.eval(focused)
	if want == first {
		t.Errorf("ArrowDown did not move from the row %q", first)
	}
	p.key("Enter", 13)
	if got := p.wait("the row chosen", `glassnet.focus === `+strconv.Quote(want)+` && document.activeElement.getAttribute("aria-selected") === "true" && glassnet.focus`); got != want {
		t.Errorf("Enter on %q chose %q", want, got)
	}
	// the event list, where the arrows move the selection, shows its focus too
	p.eval(`document.getElementById("events-focus").focus(); "ok"`)
	p.key("Tab", 9)
	if id := p.eval(`document.activeElement.id`); id != "events" {
		t.Fatalf("Tab from the \"this connection\" box goes to %q, not the event list", id)
	}
	if got := p.eval(ring); got != "shown" {
		t.Errorf("the event list with the keyboard's focus: the focus is %s", got)
	}
	p.noProblems("the keyboard")
}

// TestUIInspectorFieldOrder: the inspector gives a packet's fields in the
// order tcpdump and Wireshark do (addresses, flags, seq, ack, window,
// lengths), each relative number beside its absolute one, and says what
// a length counts; a frame's length is its payload's; a call's
// arguments come before its result; the trace's format version last.
func TestUIInspectorFieldOrder(t *testing.T) {
	_, p := endedDemo(t)
	names := func(find string) []string {
		t.Helper()
		p.eval(`glassnet.select(glassnet.store.events.find((e) => ` + find + `).id, "test"); "ok"`)
		got := p.wait("the event in the inspector", `((e) => document.getElementById("inspector-title").textContent.startsWith("#" + e.id + " ") && JSON.stringify([...document.querySelectorAll("#inspector dl.kv dt")].map((d) => d.textContent + "=" + d.nextElementSibling.textContent)))(glassnet.store.get(glassnet.selected))`)
		var kv []string
		if err := json.Unmarshal([]byte(got), &kv); err != nil {
			t.Fatal(err)
		}
		return kv
	}
	inOrder := func(what string, kv []string, want ...string) {
		t.Helper()
		at := -1
		for _, w := range want {
			i := slices.IndexFunc(kv, func(s string) bool { return strings.HasPrefix(s, w+"=") })
			if i <= at {
				t.Errorf("%s: the inspector's fields %q, want %q in that order", what, kv, want)
				return
			}
			at = i
		}
	}
	value := func(kv []string, k string) string {
		for _, s := range kv {
			if v, ok := strings.CutPrefix(s, k+"="); ok {
				return v
			}
		}
		return ""
	}
	pkt := names(`e.layer === "link" && e.event === "packet" && e.payload_len > 1000`)
	inOrder("a packet", pkt, "src", "sport", "dst", "dport", "flags", "seq", "rel_seq", "ack", "rel_ack", "win", "len", "payload_len", "v")
	if v := pkt[len(pkt)-1]; !strings.HasPrefix(v, "v=") {
		t.Errorf("a packet: the last field is %q, want the trace's version", v)
	}
	if v := value(pkt, "len"); !strings.Contains(v, "bytes (the IP packet") {
		t.Errorf("a packet's len reads %q: want it to say it counts the IP packet's bytes", v)
	}
	if v := value(pkt, "payload_len"); !strings.Contains(v, "bytes of TCP payload") {
		t.Errorf("a packet's payload_len reads %q: want it to say it counts the TCP payload's bytes", v)
	}
	frame := names(`e.event === "frame" && e.len > 1000`)
	inOrder("a frame", frame, "fin", "opcode", "len", "v")
	if v := value(frame, "len"); !strings.Contains(v, "bytes of payload") {
		t.Errorf("a frame's len reads %q: want it to say it counts the payload's bytes", v)
	}
	call := names(`e.layer === "socket" && e.event === "call" && e.call === "recv"`)
	inOrder("a call", call, "call", "args", "ret", "dur", "v")
	p.noProblems("the inspector's fields")
}

// TestUIStateChangeCauseExplained: the state change's "cause:" line,
// the word a student meets first there, says on hover what it is: what
// made TCP change the variables marked since its previous report, and
// which event the # at its end is.
func TestUIStateChangeCauseExplained(t *testing.T) {
	_, p := endedDemo(t)
	p.eval(`glassnet.select(glassnet.store.events.find((e) => e.layer === "link" && e.event === "packet" && e.dir === "in" && e.payload_len > 1000).id, "test"); "ok"`)
	got := p.wait("the state change's causes", `((c) => c.length && JSON.stringify(c.map((d) => [d.textContent.slice(0, 40), d.title])))([...document.querySelectorAll("#diff [data-cause]")])`)
	var causes [][2]string
	if err := json.Unmarshal([]byte(got), &causes); err != nil {
		t.Fatal(err)
	}
	for _, c := range causes {
		if !strings.HasPrefix(c[0], "cause: ") || !strings.Contains(c[1], "since its previous report") || !strings.Contains(c[1], "segment received") || !strings.Contains(c[1], "tcp state event") {
			t.Errorf("the line %q has the tooltip %q: want it to say what a cause is and what its # names", c[0], c[1])
		}
	}
	p.noProblems("the state change's causes")
}

// TestUIHelpNamesEverything: the "?" help names the run controls and
// the exports as well as the panels and keys, says whether it is open
// (aria-expanded), and Escape closes it, as it does a dialog.
func TestUIHelpNamesEverything(t *testing.T) {
	_, _, p := pausedDemo(t)
	p.click("#help-toggle")
	got := p.wait("the help open", `!document.getElementById("help").hidden && document.getElementById("help-toggle").getAttribute("aria-expanded") === "true" && document.getElementById("help").textContent`)
	for _, w := range []string{"Play", "Pause", "Step", "Go", "jsonl", "pcapng", "perfetto", "Esc"} {
		if !strings.Contains(got, w) {
			t.Errorf("the help does not name %q: %s", w, got)
		}
	}
	p.shot("ui-help")
	p.key("Escape", 27)
	p.wait("the help closed by Escape", `document.getElementById("help").hidden && document.getElementById("help-toggle").getAttribute("aria-expanded") === "false" && "closed"`)
	p.noProblems("the help")
}
