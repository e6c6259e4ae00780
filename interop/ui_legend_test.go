package interop

import (
	"fmt"
	"testing"
)

// TestUILegendUnreceived: the ladder's legend explains the … that ends a
// packet not seen arriving (yet), and the legend stays readable, each
// entry whole and none on another, in a 1280 and a 1024 px window.
func TestUILegendUnreceived(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	// step until a packet is on the wire and not yet at the other stack
	// (the server's SYN-ACK: both stacks are in the ladder by then)
	inFlight := `[...document.querySelectorAll("#ladder .lost text")].some((t) => t.textContent === "…")`
	for i := 0; p.eval(inFlight+` ? "yes" : ""`) != "yes"; i++ {
		if i == 60 {
			t.Fatal("60 steps and no packet drawn in flight")
		}
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "event"}, nil); err != nil {
			t.Fatal(err)
		}
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	}
	for _, size := range [][2]int{{1280, 800}, {1024, 700}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		bad := p.eval(`(() => {
			const lg = document.querySelector("#ladder-panel h2 .legend");
			const u = lg && lg.querySelector('[data-legend="unreceived"]');
			if (!u) return "no legend entry for …";
			const out = [];
			if (!u.textContent.includes("…") || !/not received/.test(u.textContent)) out.push("the entry reads " + JSON.stringify(u.textContent));
			const panel = document.getElementById("ladder-panel").getBoundingClientRect();
			const items = [...lg.children].map((s) => [s.textContent.trim(), s.getBoundingClientRect()]);
			for (const [txt, b] of items) {
				if (b.width === 0 || b.left < panel.left || b.right > panel.right + 0.5) out.push(JSON.stringify(txt) + " outside the panel");
			}
			for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) {
				const a = items[i][1], b = items[j][1];
				if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) out.push(JSON.stringify(items[i][0]) + " over " + JSON.stringify(items[j][0]));
			}
			const title = document.getElementById("ladder-title").getBoundingClientRect();
			for (const [txt, b] of items) if (title.width && title.left < b.right && b.left < title.right && title.top < b.bottom && b.top < title.bottom) out.push(JSON.stringify(txt) + " over the ladder's title");
			return out.join("; ");
		})()`)
		if bad != "" {
			t.Errorf("at %d × %d the ladder's legend: %s", size[0], size[1], bad)
		}
		p.shot(fmt.Sprintf("ui-legend-%d", size[0]))
	}
	p.noProblems("the legend")
}
