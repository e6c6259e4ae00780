package interop

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
)

// frames is JavaScript that waits two animation frames: the page draws in
// the first after an update.
const frames = `const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));`

// pressDuring presses the mouse on an element css selects (the first one
// not covered by another), lets the page draw what the JavaScript update
// changes, and releases it on the element, where it is now should the
// redraw have moved it: "" when the click reached the element, else where
// it went. A view that makes the element again between the press and the
// release loses the click.
func pressDuring(p *uiPage, css, update string) string {
	p.t.Helper()
	point := func(v string) [2]float64 {
		p.t.Helper()
		var xy [2]float64
		if err := json.Unmarshal([]byte(v), &xy); err != nil {
			p.t.Fatalf("no element %s to press (%s)", css, v)
		}
		return xy
	}
	mouse := func(typ string, xy [2]float64) {
		p.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": xy[0], "y": xy[1], "button": "left", "clickCount": 1}, nil)
	}
	const at = `const at = (el) => { const r = el.getBoundingClientRect(); return [r.x + Math.min(r.width / 2, 20), r.y + r.height / 2]; };`
	xy := point(p.eval(fmt.Sprintf(`(async () => {
		`+frames+at+`
		await frames();
		let seen = "none";
		for (let i = 0; i < 20; i++) {
			const el = document.querySelectorAll(%s)[i];
			if (!el) break;
			el.scrollIntoView({block: "center", inline: "center"});
			await frames();
			if (!el.isConnected) continue;
			const [x, y] = at(el);
			const hit = document.elementFromPoint(x, y);
			if (!hit || !(el === hit || el.contains(hit))) {
				seen = "covered by " + (hit ? hit.outerHTML.slice(0, 200) : "nothing");
				continue;
			}
			window.pressed = el;
			window.clicked = "no click";
			addEventListener("click", (e) => { clicked = pressed.isConnected && pressed.contains(e.target) ? "" : "the click went to " + (e.target.outerHTML || e.target.nodeName).slice(0, 120) + (pressed.isConnected ? "" : ", the element pressed is gone"); }, {capture: true, once: true});
			return JSON.stringify([x, y]);
		}
		return JSON.stringify(seen);
	})()`, strconv.Quote(css))))
	mouse("mouseMoved", xy)
	mouse("mousePressed", xy)
	if v := p.eval(`(async () => {
		` + frames + at + `
		` + update + `;
		glassnet.invalidate();
		await frames();
		return pressed.isConnected ? JSON.stringify(at(pressed)) : "";
	})()`); v != "" {
		xy = point(v)
	}
	mouse("mouseMoved", xy)
	mouse("mouseReleased", xy)
	return p.eval(`clicked`)
}

// pointAt runs the JavaScript before in the page, moves the pointer onto
// the element the expression el finds (as window.pointed, scrolled into
// sight and not covered by another), and returns what the JavaScript
// after returns once the page has drawn.
func pointAt(p *uiPage, el, before, after string) string {
	p.t.Helper()
	v := p.eval(`(async () => {
		` + frames + `
		const el = ` + el + `;
		if (!el) return "none";
		el.scrollIntoView({block: "center"});
		await frames();
		const r = el.getBoundingClientRect(), x = r.x + Math.min(r.width / 2, 20), y = r.y + r.height / 2;
		const hit = document.elementFromPoint(x, y);
		if (!hit || !(el === hit || el.contains(hit))) return "covered by " + (hit ? hit.outerHTML.slice(0, 200) : "nothing");
		window.pointed = el;
		{
			` + before + `
		}
		return JSON.stringify([x, y]);
	})()`)
	var xy [2]float64
	if err := json.Unmarshal([]byte(v), &xy); err != nil {
		p.t.Fatalf("nothing to point at with %s: %s", el, v)
	}
	p.call("Input.dispatchMouseEvent", map[string]any{"type": "mouseMoved", "x": xy[0], "y": xy[1]}, nil)
	return p.eval(`(async () => {
		` + frames + `
		await frames();
		` + after + `
	})()`)
}

// TestUIRedraw: what a person is doing in the page outlives the redraws
// that the live stream brings. A field folded and text selected in the
// inspector stay when the page draws again, and text selected in the hex
// dump stays when the pointer on a header marks its bytes; a focused
// "fire now" button keeps the focus when another stack's timer row comes;
// a row of the event list or the connections table, a unit in the ladder,
// the layers, the byte stream or the seq/time graph, pressed and drawn
// again before the release, gets the click; text selected in the
// connections table and the state change stays; the rule list and the
// hold requests, changed by a script, leave the focus on the button it was
// on; and a stack added keeps the one chosen in their forms.
func TestUIRedraw(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	// step goes on to the next unit and waits until the page has drawn
	// the event the stack stopped at.
	step := func(to string) {
		t.Helper()
		var s uiState
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": to}, &s); err != nil {
			t.Fatal(err)
		}
		if err := r.api(ctx, "GET", "/api/state", nil, &s); err != nil {
			t.Fatal(err)
		}
		p.wait("the page at the step", fmt.Sprintf(`glassnet.state.current === %d && glassnet.store.get(%d) && document.querySelector('#events [data-current="true"][data-event-id="%d"]') && "drawn"`, s.Current, s.Current, s.Current))
	}
	step("packet")

	// The inspector: the bytes of a packet come after its fields. As soon
	// as they are in, a header is folded and the hex dump selected; a
	// redraw leaves both as they were.
	insp := p.eval(`(async () => {
		` + frames + `
		const insp = document.getElementById("inspector");
		const id = glassnet.store.events.find((e) => e.layer === "link" && e.event === "packet").id;
		// its bytes come from the server again, as for a packet not looked at yet
		glassnet.views.find((v) => v.constructor.name === "InspectorView").cache.delete(id);
		glassnet.select(0, "test");
		await frames();
		const done = new Promise((resolve) => {
			const mo = new MutationObserver(() => {
				const d = insp.querySelector("details"), dump = insp.querySelector("#insp-dump");
				if (!d || !dump || !dump.textContent) return;
				mo.disconnect();
				d.open = false;
				const r = document.createRange();
				r.selectNodeContents(dump);
				getSelection().removeAllRanges();
				getSelection().addRange(r);
				resolve([d, dump]);
			});
			mo.observe(insp, {childList: true, subtree: true});
			setTimeout(() => resolve(null), 10000);
		});
		glassnet.select(id, "test");
		const got = await done;
		if (!got) return "no bytes in the inspector in 10 s";
		const [d, dump] = got;
		glassnet.invalidate();
		await frames();
		const sel = getSelection();
		const kept = sel.rangeCount && dump.isConnected && dump.contains(sel.getRangeAt(0).startContainer) && String(sel).length > 0;
		getSelection().removeAllRanges();
		return (d.isConnected && !d.open ? "folded" : "unfolded") + ", " + (kept ? "selected" : "selection lost");
	})()`)
	if insp != "folded, selected" {
		t.Errorf("a header folded and the hex dump selected in the inspector, then a redraw: %s", insp)
	}

	// The pointer on a header of the packet marks its bytes in the hex
	// dump, without writing the dump again: text selected in it stays,
	// and no text in it changes.
	if got := pointAt(p, `[...document.querySelectorAll("#inspector .tree summary[data-at]")].find((s) => +s.dataset.at > 0)`, `
		const dump = document.getElementById("insp-dump");
		const texts = [], w = document.createTreeWalker(dump, NodeFilter.SHOW_TEXT);
		while (w.nextNode()) texts.push(w.currentNode);
		const r = document.createRange();
		r.setStart(texts[0], Math.min(6, texts[0].length));
		const last = texts[texts.length - 1];
		r.setEnd(last, Math.max(0, last.length - 5));
		getSelection().removeAllRanges();
		getSelection().addRange(r);
		window.dumpText = String(getSelection());
		window.dumpChanges = [];
		window.dumpWatch = new MutationObserver((ms) => dumpChanges.push(...ms));
		dumpWatch.observe(dump, {subtree: true, childList: true, characterData: true});
	`, `
		const dump = document.getElementById("insp-dump");
		const changed = dumpChanges.concat(dumpWatch.takeRecords()).length;
		dumpWatch.disconnect();
		const kept = String(getSelection()) === dumpText && dumpText.length > 0;
		getSelection().removeAllRanges();
		const want = 2 * Math.min(+pointed.dataset.len, glassnet.views.find((v) => v.constructor.name === "InspectorView").buf.length - +pointed.dataset.at);
		const marked = dump.querySelectorAll(".hl").length;
		return [marked === want ? "its bytes marked" : marked + " marked of " + want, changed + " changes to the dump's text", kept ? "selection kept" : "selection lost"].join(", ");
	`); got != "its bytes marked, 0 changes to the dump's text, selection kept" {
		t.Errorf("the hex dump selected, then the pointer on the TCP header: %s", got)
	}

	// The timers: the client's SYN waits on its timer. Its "fire now" has
	// the focus while the stack steps on until the server's row comes.
	fire := `document.querySelector('#timers [data-timer-node="client"] button[data-fire]')`
	p.wait("the client's SYN timer", fire+` && !`+fire+`.hidden && "shown"`)
	// While its count goes down, only the count's text changes: the
	// button's attributes stay as they are (one that changed every tick
	// would be a change to a script watching the page, and a button
	// written again).
	p.eval(`window.fireNow = ` + fire + `; fireNow.focus();
		window.fireAttrs = [];
		window.fireTicks = 0;
		window.fireWatch = new MutationObserver((ms) => { for (const m of ms) if (m.type === "attributes" && m.target === fireNow) fireAttrs.push(m.attributeName); else if (m.type === "characterData") fireTicks++; });
		fireWatch.observe(fireNow.closest("[data-timer-node]"), {subtree: true, attributes: true, characterData: true});
		"ok"`)
	// 300 ms of the SYN's 1 s go by on the paused clock, which the next
	// event's time shows: the count goes down.
	if err := r.api(ctx, "POST", "/api/clock/advance", map[string]int{"ms": 300}, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; p.eval(`document.querySelector('#timers [data-timer-node="server"]') ? "yes" : ""`) != "yes"; i++ {
		if i == 100 {
			t.Fatal("100 steps and no timer row for the server")
		}
		step("event")
	}
	if got := p.eval(`fireNow.isConnected && !fireNow.hidden && document.activeElement === fireNow ? "kept" : "lost to " + (document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : "nothing")`); got != "kept" {
		t.Errorf("the client's focused fire now, once the server's timer row came: the focus is %s", got)
	}
	if got := p.eval(`fireWatch.disconnect(); fireTicks === 0 ? "the count did not change" : fireAttrs.length ? "attributes changed: " + fireAttrs.join(" ") : "attributes kept"`); got != "attributes kept" {
		t.Errorf("the client's fire now while its timer counted down: %s", got)
	}

	// A row of the event list and one of the connections table, pressed
	// while the page draws again (the press selects; a step, a new event
	// or the server's socket table redraw): the release clicks the row
	// pressed.
	if got := pressDuring(p, `#events .vrow[data-event-id="2"]`, ""); got != "" {
		t.Errorf("a row of the event list pressed and drawn again: %s", got)
	}
	p.eval(`glassnet.select(glassnet.state.current, "test"); "ok"`)
	if got := pressDuring(p, `#conns tr[data-conn*="⇄"]`, `glassnet.select(glassnet.state.current - 1, "test")`); got != "" {
		t.Errorf("a row of the connections table pressed and drawn again: %s", got)
	}
	// Text selected in the connections table stays when the server's
	// socket table comes again (about once a second), here with one more
	// socket in it.
	conns := p.eval(`(async () => {
		` + frames + `
		const td = document.querySelector('#conns tr[data-conn*="⇄"] td.addr');
		const r = document.createRange();
		r.selectNodeContents(td);
		getSelection().removeAllRanges();
		getSelection().addRange(r);
		const text = String(getSelection());
		glassnet.conns = (glassnet.conns || []).concat([{node: "server", proto: "udp", state: "BOUND", local: "10.0.0.2:9999", fd: 999, recv_q: 0, send_q: 0}]);
		glassnet.invalidate();
		await frames();
		const now = String(getSelection());
		getSelection().removeAllRanges();
		return td.isConnected && now === text ? "kept" : "lost: " + JSON.stringify(now);
	})()`)
	if conns != "kept" {
		t.Errorf("text selected in the connections table, then the socket table came again: the selection is %s", conns)
	}

	// The drawings, once the first WebSocket frame is in: a packet's label
	// in the ladder, an event in the layers, a segment in the byte stream
	// and a point of the seq/time graph, pressed (which selects them) and
	// drawn again before the release, get the click.
	step("frame")
	for _, css := range []string{`#ladder g[data-kind="packet-label"]:not([data-hl])`, `#lanes g[data-event-id]:not([data-hl])`, `#ruler rect[data-kind="packet"]:not([data-hl])`} {
		if got := pressDuring(p, css, ""); got != "" {
			t.Errorf("%s pressed and drawn again: %s", css, got)
		}
	}
	p.click(`.tabs button[data-tab="seqgraph"]`)
	if got := pressDuring(p, `#seqgraph [data-event-id]:not([data-hl])`, ""); got != "" {
		t.Errorf("a point of the seq/time graph pressed and drawn again: %s", got)
	}
	p.click(`.tabs button[data-tab="lanes"]`)
	// The lines from cause to effect in the layers pass under the labels
	// they cross: no part of one shows between the characters of a label
	// that is not lit (a lit one has an opaque box). Each point of a line
	// inside such a label's text is one the line must not be hit at.
	lines := p.wait("lines crossing the labels of the layers", `(() => {
		const box = document.getElementById("lanes").getBoundingClientRect();
		const labels = [...document.querySelectorAll("#lanes g[data-event-id]:not([data-hl]) > text")].map((t) => t.getBoundingClientRect())
			.filter((r) => r.width > 0 && r.top >= box.top && r.bottom <= box.bottom && r.left >= box.left && r.right <= box.right);
		let inside = 0;
		const seen = [];
		for (const path of document.querySelectorAll("#lanes path.cause")) {
			const m = path.getScreenCTM(), n = path.getTotalLength();
			for (let d = 0; d <= n; d += 0.5) {
				const q = path.getPointAtLength(d).matrixTransform(m);
				const r = labels.find((r) => q.x > r.left + 1 && q.x < r.right - 1 && q.y > r.top + 1 && q.y < r.bottom - 1);
				if (!r) continue;
				inside++;
				if (document.elementsFromPoint(q.x, q.y).includes(path)) seen.push(Math.round(q.x) + "," + Math.round(q.y));
			}
		}
		return inside > 0 && (seen.length ? seen.length + " of " + inside + " points in labels show a line, at " + seen.slice(0, 5).join(" ") : "hidden");
	})()`)
	if lines != "hidden" {
		t.Errorf("the layers' lines from cause to effect through labels not lit: %s", lines)
	}
	// Text selected in the state change (a stack's name) stays when
	// another event is selected.
	diff := p.eval(`(async () => {
		` + frames + `
		const h = document.querySelector("#diff .diffcol h3");
		const r = document.createRange();
		r.selectNodeContents(h);
		getSelection().removeAllRanges();
		getSelection().addRange(r);
		const text = String(getSelection());
		glassnet.select(glassnet.state.current - 1, "test");
		await frames();
		const now = String(getSelection());
		getSelection().removeAllRanges();
		return h.isConnected && now === text ? "kept" : "lost: " + JSON.stringify(now);
	})()`)
	if diff != "kept" {
		t.Errorf("text selected in the state change, then another event selected: the selection is %s", diff)
	}

	// A rule and a hold request that a script (or another page) adds draw
	// their lists again: the remove and cancel buttons being pressed there
	// keep the focus.
	focusKept := func(what, button string, add func() string, drawn string) {
		t.Helper()
		p.wait(what, button)
		p.eval(`window.focused = ` + button + `; focused.focus(); "ok"`)
		css := add()
		p.wait(what+" and one more", fmt.Sprintf(`document.querySelector(%q) && "drawn"`, fmt.Sprintf(drawn, css)))
		if got := p.eval(`focused.isConnected && document.activeElement === focused ? "kept" : "lost to " + (document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : "nothing")`); got != "kept" {
			t.Errorf("%s, a focused button, and one more added by a script: the focus is %s", what, got)
		}
	}
	var rules []string
	addRule := func() string {
		var a struct{ ID any }
		if err := r.api(ctx, "POST", "/api/rules", map[string]string{"node": "server", "point": "ingress", "rule": "udp : drop"}, &a); err != nil {
			t.Fatal(err)
		}
		rules = append(rules, fmt.Sprint(a.ID))
		return rules[len(rules)-1]
	}
	addRule()
	focusKept("a rule", `document.querySelector("#rule-list button[data-rule-id]")`, addRule, `#rule-list button[data-rule-id="%s"]`)
	var armed []string
	arm := func() string {
		var a struct{ ID any }
		if err := r.api(ctx, "POST", "/api/hold", map[string]string{"point": "link-egress", "node": "client", "filter": "udp"}, &a); err != nil {
			t.Fatal(err)
		}
		armed = append(armed, fmt.Sprint(a.ID))
		return armed[len(armed)-1]
	}
	arm()
	focusKept("a hold request", `document.querySelector("#hold-armed button[data-disarm]")`, arm, `#hold-armed button[data-disarm="%s"]`)
	// A stack added while the page is open (a program's AddNode) comes in
	// a state message: the stack chosen in the rule and hold forms stays
	// chosen.
	p.setValue("#rl-node", "server")
	p.setValue("#hn-node", "server")
	chosen := p.eval(`(async () => {
		` + frames + `
		const was = glassnet.state.nodes;
		glassnet.state.nodes = ["another", ...was];
		glassnet.invalidate();
		await frames();
		const got = ["rl-node", "hn-node"].map((id) => { const s = document.getElementById(id); return s.value + " of " + s.options.length; }).join(", ");
		glassnet.state.nodes = was;
		glassnet.invalidate();
		await frames();
		return got;
	})()`)
	if chosen != "server of 3, server of 3" {
		t.Errorf("the server chosen in the rule and hold forms, and a third stack added: the forms have %s", chosen)
	}
	for _, id := range rules {
		if err := r.api(ctx, "DELETE", "/api/rules/"+id, nil, nil); err != nil {
			t.Error(err)
		}
	}
	for _, id := range armed {
		if err := r.api(ctx, "DELETE", "/api/hold/"+id, nil, nil); err != nil {
			t.Error(err)
		}
	}
	// The inspector's Related lines follow what is traced after the event
	// shown (the same packet in the other stack, the later packets of a
	// frame, a retransmission of its range): they change without the
	// event being selected again, and the rest of the inspector, with the
	// text selected in it, stays.
	related := p.eval(`(async () => {
		` + frames + `
		const id = glassnet.store.events.find((e) => e.layer === "link" && e.event === "packet").id;
		glassnet.select(id, "test");
		await frames();
		const sum = document.querySelector("#inspector .summary");
		const r = document.createRange();
		r.selectNodeContents(sum);
		getSelection().removeAllRanges();
		getSelection().addRange(r);
		const text = String(getSelection());
		const line = () => /a retransmission/.test(document.getElementById("insp-related").textContent);
		const before = line();
		glassnet.store.retrans.add(id);
		glassnet.invalidate();
		await frames();
		const shown = line();
		const kept = sum.isConnected && String(getSelection()) === text;
		glassnet.store.retrans.delete(id);
		glassnet.invalidate();
		await frames();
		getSelection().removeAllRanges();
		return [before ? "shown before" : "not before", shown ? "shown" : "not shown", kept ? "selection kept" : "selection lost", line() ? "still shown" : "gone"].join(", ");
	})()`)
	if related != "not before, shown, selection kept, gone" {
		t.Errorf("a packet in the inspector marked a retransmission after it was shown, then not: %s", related)
	}
	p.noProblems("redraws")
}

// tickSelect is JavaScript that selects text from the text node tickFrom
// into the count of the card or row tickIn (the first text node with a
// digit in its waiting time or its text), and watches tickIn's text for
// changes; tickCheck tells, after the count ticked, whether the selection
// stayed and how much text changed.
const (
	tickSelect = `
		const digits = (el) => { const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT); while (w.nextNode()) if (/\d/.test(w.currentNode.nodeValue)) return w.currentNode; return null; };
		const texts = (el) => { const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT), out = []; while (w.nextNode()) if (w.currentNode.nodeValue.trim()) out.push(w.currentNode); return out; };
		window.count = digits(tickIn.querySelector("[data-since]") || tickIn.querySelector("span"));
		const r = document.createRange();
		r.setStart(tickFrom, Math.min(2, tickFrom.length));
		r.setEnd(count, Math.min(2, count.length));
		if (r.collapsed) { r.setStart(count, Math.min(2, count.length)); r.setEnd(tickFrom, Math.min(2, tickFrom.length)); }
		getSelection().removeAllRanges();
		getSelection().addRange(r);
		window.tickText = String(getSelection());
		window.tickWas = tickIn.textContent;
		window.tickChanges = [];
		window.tickWatch = new MutationObserver((ms) => tickChanges.push(...ms));
		tickWatch.observe(tickIn, {subtree: true, childList: true, characterData: true});`
	tickCheck = `
		const changed = tickChanges.splice(0).concat(tickWatch.takeRecords()).length;
		const kept = String(getSelection()) === tickText && tickText.length > 0 && count.isConnected;
		return (kept ? "selection kept" : "selection lost: " + JSON.stringify(String(getSelection())) + " was " + JSON.stringify(tickText)) + ", " + changed + " text changes";`
)

// TestUITicks: text that ticks, how long a unit has been held and a
// timer's countdown, is one text node changed on its own. While text
// selected in its card or row touches it, it is left as it is (the
// selection stays, nothing in the card or row changes), and it is brought
// up to date once the selection has gone: then only the count changes.
func TestUITicks(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	// ticked waits until the text of tickIn is not what it was when it was
	// selected, and says what changed.
	ticked := func(what string) string {
		t.Helper()
		p.wait(what+" brought up to date", `tickIn.textContent !== tickWas && "ticked"`)
		return p.eval(`(() => {
			const recs = tickChanges.splice(0).concat(tickWatch.takeRecords());
			tickWatch.disconnect();
			const bad = recs.filter((m) => !(m.type === "characterData" && m.target === count));
			return count.isConnected ? bad.length + " other changes" : "the count made again";
		})()`)
	}

	// The client's SYN timer: its row counts down as later events come,
	// on the stack's clock. (The newest event is moved 300 ms on by hand,
	// as one that came later would be.)
	if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "packet"}, nil); err != nil {
		t.Fatal(err)
	}
	row := `document.querySelector('#timers [data-timer-node="client"]')`
	p.wait("the client's SYN timer", row+` && /^SYN sent: again in/.test(`+row+`.querySelector("span").textContent) && "shown"`)
	got := p.eval(`(async () => {
		` + frames + `
		window.tickIn = ` + row + `;
		window.tickFrom = tickIn.querySelector("b").firstChild;
		` + tickSelect + `
		const e = glassnet.store.events[glassnet.store.events.length - 1];
		window.moved = [e, e.t];
		e.t += 300e6;
		glassnet.store.version++;
		glassnet.invalidate();
		await frames();
		` + tickCheck + `
	})()`)
	if got != "selection kept, 0 text changes" {
		t.Errorf("text selected from the client's name into its timer's count, then the count ticked: %s", got)
	}
	p.eval(`getSelection().removeAllRanges(); "ok"`)
	if got := ticked("the timer's count"); got != "0 other changes" {
		t.Errorf("the timer's row, once the selection was gone: %s", got)
	}
	p.eval(`(() => { moved[0].t = moved[1]; glassnet.store.version++; glassnet.invalidate(); return "ok"; })()`)

	// A held frame counts how long it has waited, once a second: text
	// selected from that count into the summary of what is held stays.
	// (The server's list is made 5 s older by hand, as if it had come 5 s
	// ago.)
	holdClientText(ctx, t, r)
	p.wait("the held frame's card counting", `(() => { const s = document.querySelector("#holds .holdcard [data-since]"); return s && /\d/.test(s.textContent) && "shown"; })()`)
	got = p.eval(`(() => {
		window.tickIn = document.querySelector("#holds .holdcard");
		window.tickFrom = tickIn.querySelector(".head").lastChild;
		` + tickSelect + `
		glassnet.holdsAt -= 5000;
		glassnet.views.find((v) => v.constructor.name === "HoldsView").render();
		` + tickCheck + `
	})()`)
	if got != "selection kept, 0 text changes" {
		t.Errorf("text selected from a held frame's waiting time into its summary, then the time ticked: %s", got)
	}
	p.eval(`getSelection().removeAllRanges(); "ok"`)
	if got := ticked("the waiting time"); got != "0 other changes" {
		t.Errorf("the held frame's card, once the selection was gone: %s", got)
	}
	p.noProblems("ticks")
}
