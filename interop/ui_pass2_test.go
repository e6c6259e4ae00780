package interop

import (
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

// rulerMarksOverText names the texts of the byte stream a mark's label
// ("read = acked = sent 164") lies on: the axis's numbers above all.
const rulerMarksOverText = `(() => {
	const out = [];
	const over = (a, b) => a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;
	const texts = [...document.querySelectorAll("#ruler svg text")].filter((t) => !t.closest(".marks"));
	for (const bg of document.querySelectorAll("#ruler .marks rect.mark-bg")) {
		const b = bg.getBBox();
		const lab = bg.nextElementSibling ? bg.nextElementSibling.textContent : "?";
		for (const t of texts) if (over(b, t.getBBox())) out.push(JSON.stringify(lab) + " over " + JSON.stringify(t.textContent));
	}
	return out.join("; ");
})()`

// TestUIRulerMarksClearOfTicks: the labels of the byte stream's marks
// (sent, acked, read) share the row of the axis's offsets; at every
// packet of the demo selected, in a wide and a narrow window, no label
// covers an offset on the axis or any other text.
func TestUIRulerMarksClearOfTicks(t *testing.T) {
	_, p := endedDemo(t)
	for _, size := range [][2]int{{1600, 1000}, {1024, 760}} {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": false}, nil)
		got := p.eval(`(async () => {
			const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
			const ids = glassnet.store.events.filter((e) => e.layer === "link" && e.event === "packet").map((e) => e.id);
			const out = [];
			let marked = 0;
			for (const id of ids) {
				glassnet.select(id, "test");
				await frame();
				await frame();
				if (document.querySelector("#ruler .marks rect.mark-bg")) marked++;
				const bad = ` + rulerMarksOverText + `;
				if (bad) out.push("#" + id + ": " + bad);
			}
			return JSON.stringify({ marked, of: ids.length, bad: out.slice(0, 8) });
		})()`)
		t.Logf("%d × %d: %s", size[0], size[1], got)
		if !strings.Contains(got, `"bad":[]`) || strings.Contains(got, `"marked":0,`) {
			t.Errorf("at %d × %d the byte stream's marks: %s", size[0], size[1], got)
		}
	}
	p.noProblems("the byte stream's marks")
}
