package interop

import (
	"fmt"
	"testing"
)

// frames is JavaScript that waits two animation frames: the page draws in
// the first after an update.
const frames = `const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));`

// TestUIRedraw: what a person is doing in the page outlives the redraws
// that the live stream brings. A field folded and text selected in the
// inspector stay when the page draws again; a focused "fire now" button
// keeps the focus when another stack's timer row comes.
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

	// The timers: the client's SYN waits on its timer. Its "fire now" has
	// the focus while the stack steps on until the server's row comes.
	fire := `document.querySelector('#timers [data-timer-node="client"] button[data-fire]')`
	p.wait("the client's SYN timer", fire+` && !`+fire+`.hidden && "shown"`)
	p.eval(`window.fireNow = ` + fire + `; fireNow.focus(); "ok"`)
	for i := 0; p.eval(`document.querySelector('#timers [data-timer-node="server"]') ? "yes" : ""`) != "yes"; i++ {
		if i == 100 {
			t.Fatal("100 steps and no timer row for the server")
		}
		step("event")
	}
	if got := p.eval(`fireNow.isConnected && !fireNow.hidden && document.activeElement === fireNow ? "kept" : "lost to " + (document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : "nothing")`); got != "kept" {
		t.Errorf("the client's focused fire now, once the server's timer row came: the focus is %s", got)
	}
	p.noProblems("redraws")
}
