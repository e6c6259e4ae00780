package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tracedHeader is how the trace writes a frame's header ("FIN text len=15
// masked"), which the page must not show: beside the packets' TCP flags
// its FIN reads as a TCP FIN.
var tracedHeader = regexp.MustCompile(`\bFIN\b|\b(text|binary|continuation|close|ping|pong) len=|fin=(true|false)`)

// TestUIFrameWordsEverywhere: a WebSocket frame reads the same wherever
// the page names it, as the ladder does ("text 15 B masked", ", more",
// ", last"), never as the trace's "FIN text len=15 masked": in the event
// list's line and its tooltip, the inspector's summary, the tooltips of
// the ladder, the layers and the byte stream, for the frame and for the
// packets that carried it; and in a held frame's card.
func TestUIFrameWordsEverywhere(t *testing.T) {
	p := viewedDemo(t, "--trace")
	var evs []struct {
		ID     int    `json:"id"`
		Event  string `json:"event"`
		Fin    bool   `json:"fin"`
		Opcode string `json:"opcode"`
		Len    int    `json:"len"`
		Masked bool   `json:"masked"`
	}
	// the frames, and the events that say which packets carried them
	json.Unmarshal([]byte(p.eval(`JSON.stringify(glassnet.store.events.filter((e) => (e.layer === "ws" && e.event === "frame") || e.event === "carried"))`)), &evs)
	frames := 0
	for _, e := range evs {
		p.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, e.ID))
		got := p.wait(fmt.Sprintf("#%d in the list and the inspector", e.ID), fmt.Sprintf(`((row, sum) => row && sum && sum.dataset.eventId === "%d" && JSON.stringify({
			line: row.querySelector(".sm").textContent,
			tip: row.title,
			inspector: sum.textContent,
			drawn: [...document.querySelectorAll('#ladder [data-event-id="%d"] title, #lanes [data-event-id="%d"] title, #ruler [data-event-id="%d"] title')].map((t) => t.textContent).join(" | "),
		}))(document.querySelector('#events .vrow[data-event-id="%d"]'), document.querySelector("#inspector .summary"))`, e.ID, e.ID, e.ID, e.ID, e.ID))
		var shown map[string]string
		if err := json.Unmarshal([]byte(got), &shown); err != nil {
			t.Fatal(err)
		}
		for where, s := range shown {
			if tracedHeader.MatchString(s) {
				t.Errorf("#%d (%s): the %s reads %q, in the trace's words", e.ID, e.Event, where, s)
			}
		}
		if e.Event != "frame" {
			continue
		}
		frames++
		want := fmt.Sprintf("%s %d B", e.Opcode, e.Len)
		if e.Masked {
			want += " masked"
		}
		switch {
		case !e.Fin:
			want += ", more"
		case e.Opcode == "continuation":
			want += ", last"
		}
		for _, where := range []string{"line", "inspector"} {
			if !strings.Contains(shown[where], want) {
				t.Errorf("frame #%d: the %s reads %q, want %q as the ladder says it", e.ID, where, shown[where], want)
			}
		}
	}
	if frames == 0 {
		t.Fatal("the demo's trace has no frames")
	}
	p.noProblems("frame words")
}

// TestUIHeldFrameWords: the card of a frame held in the hold queue names
// it as the ladder does ("text 15 B masked"), not "text fin=true len=15".
func TestUIHeldFrameWords(t *testing.T) {
	r, ctx, p := pausedDemo(t)
	holdClientText(ctx, t, r)
	got := p.wait("the held frame's card", `((c) => c && c.textContent)(document.querySelector("#holds [data-hold-id]"))`)
	if tracedHeader.MatchString(got) || !strings.Contains(got, "text 15 B") {
		t.Errorf("the held frame's card reads %q: want the frame named \"text 15 B\", not in the trace's words", got)
	}
	p.noProblems("a held frame")
}

// TestUIStateAtReceivedRST: at a RST a stack received, read in one batch
// after segments of data, the state change and the connections table
// show the state the RST left, CLOSED, caused by the RST; not the report
// of the first segment of the batch (ESTABLISHED, "segment received"),
// which a person would read as a reset the stack ignored.
func TestUIStateAtReceivedRST(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	file := filepath.Join(t.TempDir(), "demo.jsonl")
	// the demo fails, as it should when its connection is reset: the
	// trace is what counts
	demo := exec.Command(glassnetBin, "demo", "--trace", file, "--egress", "rst after 12 packets")
	if out, err := demo.CombinedOutput(); !strings.Contains(string(out), "reset") {
		t.Fatalf("the demo with its connection reset: %v\n%s", err, out)
	}
	r := startUI(t, "view", "--ui", "127.0.0.1:0", file)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the recording in the page", `window.glassnet && glassnet.store.events.length > 0 && glassnet.timing.draws > 0 && "loaded"`)
	rst := p.eval(`String((glassnet.store.events.find((e) => e.node === "server" && e.layer === "link" && e.event === "packet" && e.dir === "in" && /R/.test(e.flags || "")) || {}).id)`)
	if rst == "undefined" {
		t.Fatal("the server received no RST")
	}
	p.eval(`glassnet.select(` + rst + `, "test"); "ok"`)
	p.wait("#"+rst+" in the inspector", `document.getElementById("inspector-title").textContent.startsWith("#`+rst+` ") && "shown"`)
	p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
	got := p.eval(`((row, diff, cause) => [row ? row.textContent.replace(/^server/, "") : "no row", diff ? diff.dataset.new : "none", cause ? cause.textContent : "no cause"].join("|"))(
		document.querySelector('#conns tr[data-node="server"][data-conn*="⇄"] td.state'),
		document.querySelector('#diff .diffcol[data-node="server"] tr[data-field="state"]'),
		document.querySelector('#diff .diffcol[data-node="server"] [data-cause]'))`)
	parts := strings.Split(got, "|")
	if len(parts) != 3 || parts[0] != "UNCONN" || parts[1] != "CLOSED" || !strings.Contains(parts[2], "RST received") {
		t.Errorf("at the RST #%s the server received, the table, the state change and its cause say %q, want UNCONN|CLOSED|cause: RST received", rst, got)
	}
	p.noProblems("the server's RST")
}
