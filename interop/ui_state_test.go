package interop

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestUIStateDrawn steps the demo through the API, as a script does, and
// checks at every change of glassnet.state.current, right after it, that
// the page already shows that event: its row in the list is the current
// one and selected, and the inspector has it. A script that waits on
// glassnet.state alone must not read the page one event behind.
func TestUIStateDrawn(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	// Each time state.current changes, the page's DOM is read as soon as
	// the task that changed it is done (a microtask after it).
	p.eval(`(() => {
		window.stateSeen = [];
		let st = glassnet.state;
		Object.defineProperty(glassnet, "state", {
			configurable: true,
			get: () => st,
			set: (v) => {
				const was = st && st.current;
				st = v;
				if (!v || !v.paused || !v.current || v.current === was) return;
				const c = v.current;
				queueMicrotask(() => {
					const row = !!document.querySelector('#events [data-current="true"][data-event-id="' + c + '"][data-hl="sel"]');
					const insp = (document.getElementById("inspector-title").textContent.match(/^#(\d+)/) || [])[1];
					const status = document.getElementById("status").textContent;
					window.stateSeen.push({ c, row, insp: +insp || 0, selected: glassnet.selected, status });
				});
			},
		});
		return "ok";
	})()`)
	for i := 0; i < 25; i++ {
		var st struct {
			Current int `json:"current"`
			Ended   bool
		}
		if err := r.api(ctx, "POST", "/api/step", map[string]string{"to": "event"}, &st); err != nil {
			t.Fatal(err)
		}
		p.wait(fmt.Sprintf("step %d drawn", i), fmt.Sprintf(`glassnet.state.current === %d && window.stateSeen.some((s) => s.c === %d) && "drawn"`, st.Current, st.Current))
	}
	var seen []struct {
		C, Insp, Selected int
		Row               bool
		Status            string
	}
	json.Unmarshal([]byte(p.eval(`JSON.stringify(window.stateSeen)`)), &seen)
	if len(seen) < 25 {
		t.Errorf("%d changes of glassnet.state.current seen for 25 steps", len(seen))
	}
	for _, s := range seen {
		if !s.Row || s.Insp != s.C || s.Selected != s.C {
			t.Errorf("right after glassnet.state.current became %d: its row current and selected %v, the inspector shows #%d, glassnet.selected %d, status %q", s.C, s.Row, s.Insp, s.Selected, s.Status)
		}
	}
	p.noProblems("stepping")
}
