package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestUIReusedPorts opens the demo's trace twice over, the second copy on
// the same ports with other sequence numbers (its client's SYN has another
// ISN: the ports used again, as after TIME-WAIT). Each copy is a
// connection of its own, as Wireshark makes it another TCP stream: a row
// each in the connections table, told apart by #1 and #2, and selecting an
// event of one shows that one alone in the ladder, the byte stream and
// Seq/time.
func TestUIReusedPorts(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	evs := demoEvents(t)
	file := filepath.Join(t.TempDir(), "twice.jsonl")
	repeatTrace(t, evs, file, 2*len(evs))
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the trace in the page", fmt.Sprintf(`window.glassnet && glassnet.store.events.length === %d && glassnet.timing.draws > 0 && "loaded"`, 2*len(evs)))

	var keys []string
	json.Unmarshal([]byte(p.eval(`JSON.stringify(glassnet.store.tcpConns().map((c) => c.key))`)), &keys)
	if len(keys) != 2 || keys[1] != keys[0]+" #2" {
		t.Fatalf("two incarnations of one connection are the connections %q, want one and the same with #2", keys)
	}
	last := len(evs) // the first copy's events are 1 to last
	// a data packet sent in each copy
	var pk [2]int
	json.Unmarshal([]byte(p.eval(fmt.Sprintf(`(() => {
		const d = glassnet.store.events.filter((e) => e.layer === "link" && e.event === "packet" && e.dir === "out" && e.payload_len > 0);
		return JSON.stringify([d.find((e) => e.id <= %d).id, d.find((e) => e.id > %d).id]);
	})()`, last, last))), &pk)
	for i, id := range pk {
		want := keys[i]
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, id))
		p.wait(fmt.Sprintf("#%d drawn", id), fmt.Sprintf(`document.querySelector('#ladder [data-event-id="%d"]') && document.querySelector('#ruler [data-event-id]') && "drawn"`, id))
		if got := p.eval(`glassnet.focus`); got != want {
			t.Errorf("selecting #%d focuses %q, want %q", id, got, want)
		}
		if got := p.eval(`document.getElementById("ladder-title").title`); got != want {
			t.Errorf("with #%d selected the ladder's title names %q, want %q", id, got, want)
		}
		// every event the ladder, the byte stream and Seq/time show is of
		// the copy selected
		p.eval(`document.querySelector('.tabs button[data-tab="seqgraph"]').onclick(); "ok"`)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		p.wait("Seq/time drawn", `document.querySelector('#seqgraph [data-event-id]') && "drawn"`)
		var out []string
		json.Unmarshal([]byte(p.eval(fmt.Sprintf(`(() => {
			const lo = %d, hi = %d, out = [];
			for (const v of ["ladder", "ruler", "seqgraph"]) {
				const ids = [...document.querySelectorAll("#" + v + " [data-event-id]")].map((el) => +el.dataset.eventId).filter((x) => x);
				const wrong = ids.filter((x) => x < lo || x > hi);
				if (!ids.length || wrong.length) out.push(v + ": " + ids.length + " events, of another connection " + wrong.slice(0, 5).join(" "));
			}
			return JSON.stringify(out);
		})()`, 1+i*last, (i+1)*last))), &out)
		for _, o := range out {
			t.Errorf("with #%d of %s selected, %s", id, want, o)
		}
		p.eval(`document.querySelector('.tabs button[data-tab="lanes"]').onclick(); "ok"`)
	}
	// Both in the connections table, told apart.
	rows := p.eval(`JSON.stringify([...document.querySelectorAll("#conns tr[data-conn]")].map((r) => r.dataset.conn + " " + ((r.querySelector(".inc") || {}).textContent || "")))`)
	var got []string
	json.Unmarshal([]byte(rows), &got)
	have := map[string]bool{}
	for _, r := range got {
		have[r] = true
	}
	if !have[keys[0]+" #1"] || !have[keys[1]+" #2"] {
		t.Errorf("the connections table's rows are %q, want %q marked #1 and %q marked #2", got, keys[0], keys[1])
	}
	p.shot("ui-reused-ports")
	p.noProblems("reused ports")
}
