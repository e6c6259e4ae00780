package interop

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestUIResetCause: a connection a rule resets ends CLOSED at both
// stacks, and the state change names the RST that ended it: received at
// the server, which reported the segments queued before it first (the
// cause used to read "a timer or the stack itself"), and at the client.
func TestUIResetCause(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	r := startUI(t, "demo", "--ui", "127.0.0.1:0", "--ui-run", "--egress", "tcp : rst after 12 packets")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the run to end", `window.glassnet && glassnet.state.ended && glassnet.store.events.length > 0 && "ended"`)
	for _, node := range []string{"server", "client"} {
		id := p.wait(node+"'s CLOSED report", `(() => { const e = glassnet.store.events.find((e) => e.node === "`+node+`" && e.layer === "tcp" && e.event === "state" && e.state === "CLOSED"); return e ? String(e.id) : ""; })()`)
		p.eval(`glassnet.select(` + id + `, "test"); "ok"`)
		cause := p.wait("the state change of "+node, `(() => { const c = document.querySelector('#diff .diffcol[data-node="`+node+`"] [data-cause]'); return c && c.textContent.includes("#`+id+`") ? c.textContent : ""; })()`)
		if !strings.Contains(cause, "RST received") {
			t.Errorf("%s's CLOSED (#%s): %q, want the RST received", node, id, cause)
		}
	}
	p.noProblems("a reset connection")
}
