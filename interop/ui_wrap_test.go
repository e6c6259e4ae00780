package interop

import (
	"testing"
)

// TestUIInspectorNumbersWhole: in a 1024 px window, where the inspector's
// values wrap, a word (a number, a timestamp, an address and its port, a
// TCP option's name) that fits on a line is never cut across two: the
// values wrap between words, and an address pair after its arrow, "->"
// whole.
func TestUIInspectorNumbersWhole(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1024, "height": 700, "deviceScaleFactor": 1, "mobile": false}, nil)
	// the client's SYN: its options hold two timestamps, its conn an
	// address pair too long for the column
	syn := `(glassnet.store.events.find((e) => e.layer === "link" && e.event === "packet" && e.node === "client" && e.flags === "S") || {}).id`
	for i := 0; p.eval(syn+` ? "yes" : ""`) != "yes"; i++ {
		if i == 60 {
			t.Fatal("60 steps and no SYN from the client")
		}
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "packet"}, nil); err != nil {
			t.Fatal(err)
		}
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	}
	p.eval(`glassnet.select(` + syn + `); "ok"`)
	p.wait("the SYN in the inspector", `document.getElementById("inspector-title").textContent.includes("#" + `+syn+` + " ") && document.querySelector("#inspector .kv dd") && "shown"`)
	p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	cut := p.eval(`(() => {
		const bad = [];
		let wrapped = 0;
		for (const dd of document.querySelectorAll("#inspector .kv dd")) {
			const width = dd.getBoundingClientRect().width;
			if (dd.getClientRects().length && dd.getBoundingClientRect().height > 20) wrapped++;
			const w = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
			while (w.nextNode()) {
				const n = w.currentNode;
				for (const m of n.textContent.matchAll(/->|[^\s\->]+/g)) {
					const r = document.createRange();
					r.setStart(n, m.index);
					r.setEnd(n, m.index + m[0].length);
					const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
					if (lines.size > 1 && r.getBoundingClientRect().width <= width) bad.push(dd.previousElementSibling.textContent + ": " + m[0] + " on " + lines.size + " lines");
				}
			}
		}
		return wrapped ? bad.join("; ") || "whole" : "nothing wrapped";
	})()`)
	if cut != "whole" {
		t.Errorf("the inspector at 1024 px: %s", cut)
	}
	p.shot("ui-inspector-1024")
	p.noProblems("the inspector at 1024 px")
}
