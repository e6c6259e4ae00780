package interop

import (
	"strings"
	"testing"
)

// TestUIMessageLitBothSides: a WebSocket message and an HTTP upgrade are
// one unit in both stacks, as a packet and a frame are: the byte stream
// draws each once, as its sender wrote it, and selecting either stack's
// event for it (the message the client sent or the one the server read,
// the request the client wrote or the one the server parsed, and the
// 101 both ways) lights that one drawing.
func TestUIMessageLitBothSides(t *testing.T) {
	p := viewedDemo(t, "--trace")
	units := p.eval(`JSON.stringify(glassnet.store.events.filter((e) => e.layer === "ws" &&
		(e.event === "handshake" || e.event === "message" && (e.len === 3000 || e.summary.includes("hello, glassnet")))).map((e) => [e.id, e.event, e.node + " " + e.dir]))`)
	var n int
	for _, u := range strings.Split(strings.Trim(units, "[]"), "],[") {
		f := strings.Split(strings.Trim(u, "[]"), ",")
		if len(f) != 3 {
			t.Fatalf("the units: %s", units)
		}
		id, event, who := f[0], strings.Trim(f[1], `"`), strings.Trim(f[2], `"`)
		kind := map[string]string{"handshake": "http", "message": "message"}[event]
		n++
		p.eval(`glassnet.select(` + id + `); "ok"`)
		p.wait("#"+id+" drawn selected", `document.getElementById("inspector-title").textContent.includes("#`+id+` ") && "shown"`)
		p.eval(`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r("ok"))))`)
		if lit := p.eval(`(document.querySelector('#ruler [data-kind="` + kind + `"][data-hl="sel"]') || {getAttribute: () => "none"}).getAttribute("data-event-id")`); lit == "none" {
			t.Errorf("%s #%s (%s) selected: nothing of kind %s lit in the byte stream", event, id, who, kind)
		}
	}
	if n < 8 {
		t.Errorf("%d messages and handshakes checked, want 4 handshakes and the sender's and reader's copies of two messages: %s", n, units)
	}
	p.noProblems("messages lit")
}
