package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUIFrameLabels: the ladder and the layers name a WebSocket frame by
// its opcode and length, without the word FIN, which beside the packets'
// TCP flags reads as a TCP FIN (the end of the connection); a frame
// without the FIN bit says ", more", and the continuation that ends its
// message ", last", as the packets' labels do.
func TestUIFrameLabels(t *testing.T) {
	p := viewedDemo(t, "--trace")
	var frames []struct {
		ID     int    `json:"id"`
		Fin    bool   `json:"fin"`
		Opcode string `json:"opcode"`
	}
	json.Unmarshal([]byte(p.eval(`JSON.stringify(glassnet.store.events.filter((e) => e.layer === "ws" && e.event === "frame"))`)), &frames)
	var more, last int
	for _, f := range frames {
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, f.ID))
		p.wait(fmt.Sprintf("#%d drawn", f.ID), fmt.Sprintf(`document.querySelector('#ladder [data-event-id="%d"][data-kind="frame"]') && document.querySelector('#lanes [data-event-id="%d"]') && "drawn"`, f.ID, f.ID))
		for _, css := range []string{fmt.Sprintf(`#ladder [data-event-id="%d"][data-kind="frame"]`, f.ID), fmt.Sprintf(`#lanes [data-event-id="%d"]`, f.ID)} {
			// what it shows (its tooltip has the trace's summary)
			label := p.eval(fmt.Sprintf(`[...document.querySelector('%s').querySelectorAll("text")].map((t) => t.textContent).join(" ")`, css))
			if strings.Contains(label, "FIN") {
				t.Errorf("%s reads %q: FIN beside TCP's flags", css, label)
			}
			want := ""
			switch {
			case !f.Fin:
				want = ", more"
			case f.Opcode == "continuation":
				want = ", last"
			}
			if want != "" && !strings.HasSuffix(label, want) {
				t.Errorf("%s (%s, fin %v) reads %q, want it to end in %q", css, f.Opcode, f.Fin, label, want)
			}
			if want == "" && (strings.HasSuffix(label, ", more") || strings.HasSuffix(label, ", last")) {
				t.Errorf("%s (a whole message in one frame) reads %q", css, label)
			}
		}
		if !f.Fin {
			more++
		} else if f.Opcode == "continuation" {
			last++
		}
	}
	if more == 0 || last == 0 {
		t.Errorf("the demo has %d frames without FIN and %d last continuations, want some of each", more, last)
	}
	p.noProblems("frame labels")
}

// TestUIDropRead: a packet a rule dropped reads whole. In the ladder its ✗
// is drawn over its label's background, not under it; in the layers the
// drop ends the way down from the segment TCP sent (selecting it lights
// the segment and its IP output) and says what it was, "✗ drop (loss)",
// not cut at the column's edge.
func TestUIDropRead(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	file := filepath.Join(t.TempDir(), "demo.jsonl")
	// the loss is seeded from the rule's text: the same copies every run
	run(t, 2*time.Minute, glassnetBin, "demo", "--trace", file, "--egress", "tcp and greater 1000 : loss 50%")
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the recording in the page", `window.glassnet && glassnet.store.events.length > 0 && glassnet.timing.draws > 0 && "loaded"`)
	var drops []int
	json.Unmarshal([]byte(p.eval(`JSON.stringify(glassnet.store.events.filter((e) => e.layer === "link" && e.event === "verdict" && e.action === "drop").map((e) => e.id))`)), &drops)
	if len(drops) == 0 {
		t.Fatal("the rule dropped nothing")
	}
	for _, id := range drops {
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, id))
		p.wait(fmt.Sprintf("drop #%d drawn", id), fmt.Sprintf(`document.querySelector('#ladder g.pkt.drop[data-event-id="%d"]') && document.querySelector('#lanes g[data-event-id="%d"][data-hl="sel"]') && "drawn"`, id, id))
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		if got := p.eval(fmt.Sprintf(`(() => {
			const x = [...document.querySelectorAll('#ladder [data-event-id="%d"] text')].find((t) => t.textContent === "✗");
			if (!x) return "no ✗";
			// its top too, where the label's background lies
			const r = x.getBoundingClientRect(), at = document.elementFromPoint(r.x + r.width / 2, r.y + 4);
			return at === x ? "" : "covered by " + (at ? at.outerHTML.slice(0, 120) : "nothing");
		})()`, id)); got != "" {
			t.Errorf("drop #%d: its ✗ in the ladder is %s", id, got)
		}
		if got := p.eval(fmt.Sprintf(`(() => {
			const g = document.querySelector('#lanes g[data-event-id="%d"]');
			const lit = [...document.querySelectorAll('#lanes g[data-hl="rel"]')].map((g) => g.dataset.layer);
			return [...g.querySelectorAll("text")].map((t) => t.textContent).join(" ") + "|" + ["tcp", "ip"].filter((l) => !lit.includes(l)).join(",");
		})()`, id)); !strings.HasPrefix(got, "✗ drop (loss)|") || !strings.HasSuffix(got, "|") {
			t.Errorf("drop #%d in the layers: %q, want the label \"✗ drop (loss)\" and nothing after | (the layers of its chain not lit)", id, got)
		}
	}
	p.noProblems("drops")
}
