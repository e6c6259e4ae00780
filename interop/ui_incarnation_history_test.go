package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
)

// TestUIReusedPortsKeepNumbers: in a long live run, a connection on ports
// used again keeps its number (#2) when the events of the one before it,
// and its own SYN, have left the server's history and the page: the page
// that saw them all, and one opened afterwards, both name it #2, and the
// next connection on the same ports #3. Counted again from what was left,
// #2 became the first and lost its number, and #3 became #2.
func TestUIReusedPortsKeepNumbers(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	const history = 2000
	s, err := ui.New(ui.Options{Live: true, Run: true, History: history})
	if err != nil {
		t.Fatal(err)
	}
	r := startInProcessUI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the page", `window.glassnet && glassnet.state.live && "ready"`)

	tr := trace.New(s.Sink())
	const base = "10.0.0.1:40000 ⇄ 10.0.0.2:80"
	packet := func(node string, dir trace.Dir, from, to string, flags string, seq uint32) uint64 {
		sa, sp, _ := strings.Cut(from, ":")
		da, dp, _ := strings.Cut(to, ":")
		spn, _ := strconv.Atoi(sp)
		dpn, _ := strconv.Atoi(dp)
		return tr.Emit(trace.Event{Node: node, Layer: trace.LayerLink, Dir: dir, Name: "packet", Conn: from + "->" + to,
			Summary: fmt.Sprintf("IP %s > %s: Flags [%s], seq %d, win 502, length 0", from, to, flags, seq),
			Fields: []trace.Field{{Key: "src", Value: sa}, {Key: "sport", Value: spn}, {Key: "dst", Value: da}, {Key: "dport", Value: dpn},
				{Key: "flags", Value: flags}, {Key: "seq", Value: seq}, {Key: "ack", Value: uint32(0)}, {Key: "win", Value: 502},
				// the ISNs are multiples of 100
				{Key: "rel_seq", Value: seq % 100}, {Key: "rel_ack", Value: uint32(0)}, {Key: "payload_len", Value: 0}}})
	}
	const cl, sv = "10.0.0.1:40000", "10.0.0.2:80"
	handshake := func(isn uint32) uint64 {
		id := packet("client", trace.Out, cl, sv, "S", isn)
		packet("server", trace.In, cl, sv, "S", isn)
		packet("server", trace.Out, sv, cl, "S.", 7000)
		packet("client", trace.In, sv, cl, "S.", 7000)
		return id
	}
	steps := func(n int) {
		for range n {
			tr.Emit(trace.Event{Node: "server", Layer: trace.LayerApp, Name: "step", Summary: "a step of a long run"})
		}
	}
	handshake(100)
	tr.Flush()
	// one connection on these endpoints: no number
	if got := p.wait("the first connection in the table", `(() => { const r = document.querySelector('#conns tr[data-conn*="⇄"][data-node="client"]'); return r && r.querySelector("td.addr").textContent; })()`); strings.Contains(got, "#") {
		t.Errorf("the only connection on its endpoints reads %q in the table, numbered", got)
	}
	steps(10)
	syn2 := handshake(200)
	tr.Flush()
	key := func(p *uiPage, id uint64) string {
		return p.wait(fmt.Sprintf("#%d in the page", id), fmt.Sprintf(`glassnet.store.connOf.get(%d) || ""`, id))
	}
	if got := key(p, syn2); got != base+" #2" {
		t.Fatalf("the second SYN's connection is %q, want %q", got, base+" #2")
	}
	// the first connection and the second's SYN leave the history, and
	// the page, which takes each round in before the next comes (else the
	// server would skip what it had not sent, and the page never have it)
	for range 3 * history / 1000 {
		last := tr.Emit(trace.Event{Node: "server", Layer: trace.LayerApp, Name: "step", Summary: "a step of a long run"})
		steps(999)
		tr.Flush()
		p.waitLong("a round in the page", time.Minute, fmt.Sprintf(`glassnet.store.get(%d) && "in"`, last+999))
	}
	late := packet("client", trace.Out, cl, sv, ".", 201)
	syn3 := handshake(300)
	tr.Flush()
	p.waitLong("the newest events in the page", time.Minute, fmt.Sprintf(`glassnet.store.get(%d) && glassnet.store.events[0].id > %d && "in"`, syn3, syn2))
	var st ui.State
	if err := r.api(ctx, "GET", "/api/state", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.First <= syn2 {
		t.Fatalf("the history holds #%d on, want the second SYN #%d gone", st.First, syn2)
	}
	check := func(p *uiPage, which string) {
		if got := key(p, late); got != base+" #2" {
			t.Errorf("%s: #%d of the second connection, after its SYN left the history, is of %q, want %q", which, late, got, base+" #2")
		}
		if got := key(p, syn3); got != base+" #3" {
			t.Errorf("%s: the third SYN #%d is of %q, want %q", which, syn3, got, base+" #3")
		}
		var rows []string
		json.Unmarshal([]byte(p.wait(which+": the connections table", `(() => { const r = [...document.querySelectorAll("#conns tr[data-conn]")].map((r) => r.dataset.conn); return r.length >= 2 && JSON.stringify(r); })()`)), &rows)
		have := map[string]bool{}
		for _, r := range rows {
			have[r] = true
		}
		if !have[base+" #2"] || !have[base+" #3"] || have[base] {
			t.Errorf("%s: the connections table's rows are %q, want %q and %q and not %q", which, rows, base+" #2", base+" #3", base)
		}
		p.noProblems(which)
	}
	check(p, "the page that saw it all")
	p2 := openUI(t, ctx, r)
	p2.wait("the second page", fmt.Sprintf(`window.glassnet && glassnet.store.get(%d) && "ready"`, syn3))
	check(p2, "a page opened later")
	p2.eval(fmt.Sprintf(`glassnet.select(%d, "test"); "ok"`, late))
	p2.wait(fmt.Sprintf("#%d drawn", late), fmt.Sprintf(`document.querySelector('#ladder [data-event-id="%d"]') && "drawn"`, late))
	p2.shot("ui-reused-ports-history")
}
