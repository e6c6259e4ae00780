package interop

import (
	"encoding/json"
	"fmt"
	"testing"
)

// inSight is a script that says, for each of the ladder, the layers, the
// event list and the byte stream, whether the element of event id drawn
// selected there lies inside what its scroller shows (below the sticky
// lane names): "" when each does, else what is wrong.
const inSight = `((id) => {
	const bad = [];
	for (const [view, css] of [["ladder", "#ladder"], ["layers", "#lanes"], ["events", "#events"], ["byte stream", "#ruler"]]) {
		const box = document.querySelector(css);
		const el = box.querySelector('[data-event-id="' + id + '"][data-hl="sel"]');
		if (!el) { bad.push(view + ": #" + id + " not drawn selected"); continue; }
		const v = box.getBoundingClientRect(), r = el.getBoundingClientRect();
		const head = box.firstElementChild && getComputedStyle(box.firstElementChild).position === "sticky" ? box.firstElementChild.getBoundingClientRect().height : 0;
		if (r.bottom <= v.top + head || r.top >= v.bottom || r.right <= v.left || r.left >= v.right)
			bad.push(view + ": #" + id + " at " + Math.round(r.top - v.top) + " px in a box " + Math.round(v.height) + " px high scrolled to " + Math.round(box.scrollTop));
	}
	return bad.join("; ");
})`

// TestUISelectionInSight: a unit selected far above where the views are
// scrolled is brought into sight, and stays there, in the ladder, the
// layers, the event list and the byte stream, the same data-event-id lit
// in each. (The browser's scroll anchoring undid the ladder's scroll to
// it: the ladder ended at its top, the selection out of sight.)
func TestUISelectionInSight(t *testing.T) {
	p := viewedDemo(t, "--trace")
	// the frames the client sent, each drawn in every view
	var frames []int
	json.Unmarshal([]byte(p.eval(`JSON.stringify(glassnet.store.events.filter((e) => e.layer === "ws" && e.event === "frame" && e.node === "client" && e.dir === "out").map((e) => e.id))`)), &frames)
	if len(frames) < 4 {
		t.Fatalf("the demo's client sent %d frames, want 4 or more", len(frames))
	}
	frame := `new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`
	for _, id := range frames {
		// every view scrolled to its end, as after a run
		p.eval(`glassnet.select(0, "test"); for (const id of ["ladder", "lanes", "events", "ruler"]) { const el = document.getElementById(id); el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event("scroll")); } "ok"`)
		p.eval(frame)
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, id))
		p.wait(fmt.Sprintf("#%d drawn selected", id), fmt.Sprintf(`document.getElementById("inspector-title").textContent.includes("#%d ") && "shown"`, id))
		// and still in sight a few frames on, once the browser has laid
		// the rows out
		for range 3 {
			p.eval(frame)
		}
		if bad := p.eval(fmt.Sprintf("%s(%d)", inSight, id)); bad != "" {
			t.Errorf("frame #%d selected with the views scrolled to their end: %s", id, bad)
		}
	}
	p.noProblems("selections far above")
}
