package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestUIContrast reads every piece of text in sight on the page, in the
// light and the dark, with a packet held, at a breakpoint and at the end
// of the run with a frame selected (its packets lit as related): each has
// a contrast of at least 4.5:1 (WCAG AA; 3:1 for large text) with what is
// painted beneath it, the page's fills and backgrounds blended as drawn. A
// control that is disabled is left out, as WCAG leaves it out.
func TestUIContrast(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	audit := func(when string) {
		t.Helper()
		for _, theme := range []string{"light", "dark"} {
			p.call("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": theme}}}, nil)
			p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
			if low := p.eval(lowContrastText); low != "" {
				t.Errorf("%s, %s theme: text hard to read (contrast, where, element, text, colours):\n%s", when, theme, low)
			}
			p.shot(fmt.Sprintf("ui-contrast-%s-%s", strings.ReplaceAll(when, " ", "-"), theme))
		}
		p.call("Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": "prefers-color-scheme", "value": "light"}}}, nil)
	}
	api := func(method, path string, body any) {
		t.Helper()
		if err := r.api(ctx, method, path, body, nil); err != nil {
			t.Fatal(err)
		}
	}

	api("POST", "/api/breakpoints", map[string]any{"breakpoints": []string{"ws close"}})
	api("POST", "/api/hold", map[string]any{"point": "link-egress", "node": "client", "filter": "tcp"})
	api("POST", "/api/play", nil)
	p.wait("the held packet", `document.querySelector("#hold-list [data-hold-id]") && document.querySelector('#ladder [data-held="true"]') && "held"`)
	audit("held")

	var holds struct {
		Holds []struct {
			ID int `json:"id"`
		} `json:"holds"`
	}
	if err := r.api(ctx, "GET", "/api/holds", nil, &holds); err != nil || len(holds.Holds) == 0 {
		t.Fatalf("the held packet: %v %+v", err, holds)
	}
	api("POST", fmt.Sprintf("/api/holds/%d", holds.Holds[0].ID), map[string]any{"action": "release", "edit": map[string]any{"window": 1234}})
	api("POST", "/api/play", nil)
	p.waitLong("the breakpoint", time.Minute, `glassnet.state.hit && document.getElementById("status").textContent.includes("ws close") && "hit"`)
	audit("breakpoint")

	api("POST", "/api/breakpoints", map[string]any{"breakpoints": []string{}})
	api("POST", "/api/play", nil)
	p.waitLong("the end of the demo", time.Minute, `glassnet.state.ended && glassnet.store.events.length === glassnet.state.count && "ended"`)
	p.eval(`glassnet.select(glassnet.store.events.find((e) => e.event === "frame" && e.node === "server" && e.len > 1000).id); "ok"`)
	p.wait("the big frame lit", `document.querySelector('#ladder [data-hl="rel"]') && "lit"`)
	audit("end")
	p.noProblems("the contrast audit")
}

// lowContrastText lists, a line each, the text in the window whose
// contrast with what is beneath it is under 4.5:1 (3:1 for large text):
// for each text node, its colour (with the opacity of its element and
// those around it) over the fills and backgrounds under the middle of
// the text, from the topmost opaque one up, over the page's background.
const lowContrastText = `(() => {
	// rgb(), rgba() and color(srgb r g b / a), as computed styles give them
	const rgba = (s) => {
		const m = (s || "").match(/[\d.]+(e-?\d+)?/g);
		if (!m || m.length < 3 || s === "none") return null;
		const k = s.startsWith("color(") ? 255 : 1;
		return [Number(m[0]) * k, Number(m[1]) * k, Number(m[2]) * k, m.length > 3 ? Number(m[3]) : 1];
	};
	const lum = (c) => { const v = c.slice(0, 3).map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
	const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
	const opacity = (el) => { let o = 1; for (let e = el; e && e.nodeType === 1; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
	const noPaint = new Set(["text", "tspan", "svg", "g", "line", "polyline"]);
	const paint = (el) => {
		const cs = getComputedStyle(el);
		let c;
		if (el instanceof SVGElement) {
			if (noPaint.has(el.tagName)) return null;
			c = rgba(cs.fill);
			if (c) c[3] *= Number(cs.fillOpacity);
		} else c = rgba(cs.backgroundColor);
		if (!c) return null;
		c[3] *= opacity(el);
		return c[3] > 0.01 ? c : null;
	};
	const page = rgba(getComputedStyle(document.body).backgroundColor);
	const bad = [], seen = new Set();
	const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	while (w.nextNode()) {
		const n = w.currentNode, el = n.parentElement;
		if (!n.textContent.trim() || !el || seen.has(el)) continue;
		seen.add(el);
		if (el.closest(":disabled, [aria-disabled=true], option, script, style")) continue;
		const r = document.createRange();
		r.selectNodeContents(n);
		// the part of the text in sight: within the window and every box
		// around it that clips (a panel that scrolls, an svg)
		const q = r.getBoundingClientRect(), b = {left: q.left, top: q.top, right: q.right, bottom: q.bottom};
		const clip = (c) => { b.left = Math.max(b.left, c.left); b.top = Math.max(b.top, c.top); b.right = Math.min(b.right, c.right); b.bottom = Math.min(b.bottom, c.bottom); };
		clip({left: 0, top: 0, right: innerWidth, bottom: innerHeight});
		for (let e = el.parentElement; e; e = e.parentElement) {
			const s = getComputedStyle(e);
			if (s.overflowX !== "visible" || s.overflowY !== "visible" || e.tagName === "svg") clip(e.getBoundingClientRect());
		}
		if (b.right - b.left < 2 || b.bottom - b.top < 2) continue;
		const cs = getComputedStyle(el);
		if (cs.visibility !== "visible") continue;
		const fg = rgba(el instanceof SVGElement ? cs.fill : cs.color);
		if (!fg) continue;
		if (el instanceof SVGElement) fg[3] *= Number(cs.fillOpacity);
		fg[3] *= opacity(el);
		const x = (b.left + b.right) / 2, y = (b.top + b.bottom) / 2;
		const under = [];
		for (const e of document.elementsFromPoint(x, y)) {
			if (e === el || e.contains(el) && e instanceof SVGElement && noPaint.has(e.tagName)) continue;
			const c = paint(e);
			if (!c) continue;
			under.push(c);
			if (c[3] >= 0.999) break;
		}
		let bg = page;
		for (const c of under.reverse()) bg = over(c, bg);
		const f = over(fg, bg);
		const [hi, lo] = [lum(f), lum(bg)].sort((a, c) => c - a);
		const ratio = (hi + 0.05) / (lo + 0.05);
		const size = parseFloat(cs.fontSize), large = size >= 24 || size >= 18.66 && Number(cs.fontWeight) >= 700;
		if (ratio < (large ? 3 : 4.5)) {
			const hl = el.closest("[data-hl]");
			bad.push(ratio.toFixed(2) + ":1 #" + ((el.closest("[id]") || {}).id || "") + " " + el.tagName + (el.getAttribute("class") ? "." + el.getAttribute("class").trim().replace(/\s+/g, ".") : "") +
				(hl ? "[data-hl=" + hl.getAttribute("data-hl") + "]" : "") + " " + JSON.stringify(n.textContent.trim().slice(0, 40)) +
				" rgb(" + f.slice(0, 3).map(Math.round) + ") on rgb(" + bg.slice(0, 3).map(Math.round) + ")");
		}
	}
	return [...new Set(bad)].join("\n");
})()`
