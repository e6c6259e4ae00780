package interop

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// connsRowInSight says whether the connections table's selected row is
// in sight: inside the table's box, the table inside the window, and the
// row's middle not under anything else; otherwise where it is.
const connsRowInSight = `(() => {
	const el = document.getElementById("conns"), row = el.querySelector('tr[aria-selected="true"]');
	if (!row) return "no selected row";
	const b = el.getBoundingClientRect(), r = row.getBoundingClientRect();
	const where = "row " + Math.round(r.top) + "–" + Math.round(r.bottom) + ", table " + Math.round(b.top) + "–" + Math.round(b.bottom) + ", window " + innerWidth + "×" + innerHeight + ", scrollTop " + el.scrollTop;
	if (r.top < b.top - 1 || r.bottom > b.bottom + 1 || b.top < 0 || b.bottom > innerHeight + 1) return "out of sight: " + where;
	const at = document.elementFromPoint(Math.min(r.left + 20, innerWidth - 1), (r.top + r.bottom) / 2);
	return at && row.contains(at) ? "in sight" : "covered by " + (at ? at.outerHTML.slice(0, 80) : "nothing") + ": " + where;
})()`

// TestUIConnsRowKeptInSightNarrowed: the connection every view shows
// stays in sight in the connections table when the window is narrowed.
// Its row is brought into sight once, when it is chosen; narrowing the
// window makes each row taller (the queues go to a line of their own,
// addresses break) and the table's box shorter, and the row slid out of
// the table's sight below, to be found by scrolling. Now the table keeps
// the chosen row in sight across a change of size, as long as it was in
// sight before it.
func TestUIConnsRowKeptInSightNarrowed(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	file := filepath.Join(t.TempDir(), "many.jsonl")
	manyEvents(t, file, 12000)
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	size := func(w, h int) {
		p.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil)
	}
	size(1920, 1080)
	p.wait("the recording in the page", `window.glassnet && glassnet.store.events.length === 12000 && glassnet.timing.draws > 0 && glassnet.store.conns.size > 20 && "loaded"`)
	// a packet of a connection two thirds down the table
	id := p.eval(`(() => {
		const keys = [...glassnet.store.conns.keys()].filter((k) => k.includes(" ⇄ "));
		const key = keys[Math.floor(keys.length * 2 / 3)];
		return String(glassnet.store.events.find((e) => e.layer === "link" && e.event === "packet" && glassnet.store.connOf.get(e.id) === key).id);
	})()`)
	p.eval(fmt.Sprintf(`glassnet.select(%s, "test"); "ok"`, id))
	frames := `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`
	p.wait("the connection's row chosen", `document.querySelector('#conns tr[aria-selected="true"]') && "chosen"`)
	p.eval(frames)
	if got := p.eval(connsRowInSight); got != "in sight" {
		t.Fatalf("at 1920 px, packet #%s selected, its connection's row is %s", id, got)
	}
	p.shot("ui-conns-narrowed-1920")
	for _, s := range [][2]int{{1280, 800}, {1024, 700}, {900, 640}, {800, 600}} {
		size(s[0], s[1])
		p.eval(frames)
		p.eval(frames)
		if got := p.eval(connsRowInSight); got != "in sight" {
			t.Errorf("narrowed to %d × %d, the connection's row is %s", s[0], s[1], got)
		}
		p.shot(fmt.Sprintf("ui-conns-narrowed-%d", s[0]))
	}
	p.noProblems("narrowing the window")
}
