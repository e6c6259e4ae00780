package interop

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ui"
)

// TestUIPageKeepsTheHistory: in a long free run, the page forgets the
// events the server's history has let go of, so that it holds about as
// many as the history and every data-event-id in it names an event GET
// /api/events/ID answers for; a page that kept them all grew without end
// and showed ids the API had forgotten.
func TestUIPageKeepsTheHistory(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	const history = 2000
	s, err := ui.New(ui.Options{Live: true, Run: true, History: history})
	if err != nil {
		t.Fatal(err)
	}
	r := startInProcessUI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := openUI(t, ctx, r)
	p.wait("the page", `window.glassnet && glassnet.state.live && "ready"`)

	tr := trace.New(s.Sink())
	emit := func(n int) {
		for range n {
			tr.Emit(trace.Event{Node: "server", Layer: trace.LayerApp, Name: "step", Summary: "a step of a long run"})
		}
		tr.Flush()
	}
	emit(500)
	p.wait("the first events in the page", `glassnet.store.events.length >= 500 && "in"`)
	for round := 1; round <= 10; round++ {
		emit(1000)
		want := 500 + round*1000
		p.waitLong("the page to have the newest event", 30*time.Second, fmt.Sprintf(`(() => { const e = glassnet.store.events; return e.length && e[e.length - 1].id >= %d && "in"; })()`, want))
	}
	var st ui.State
	if err := r.api(ctx, "GET", "/api/state", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.History != history || st.First <= 1 {
		t.Fatalf("state %+v: want history %d and the first events gone", st, history)
	}
	n, _ := strconv.Atoi(p.eval(`String(glassnet.store.events.length)`))
	oldest, _ := strconv.ParseUint(p.eval(`String(glassnet.store.events[0].id)`), 10, 64)
	if n > history+history/10+1000 || oldest+uint64(history/10+1000) < st.First {
		t.Errorf("the page keeps %d events from #%d; the history keeps %d from #%d", n, oldest, history, st.First)
	}
	// Every event the page draws is one the API has.
	ids := strings.Fields(p.eval(`[...new Set([...document.querySelectorAll("[data-event-id]")].map((el) => el.dataset.eventId))].join(" ")`))
	if len(ids) == 0 {
		t.Fatal("no element with a data-event-id")
	}
	for _, id := range ids {
		if err := r.api(ctx, "GET", "/api/events/"+id, nil, nil); err != nil {
			t.Errorf("data-event-id %s: %v", id, err)
		}
	}
	p.noProblems("a long run")
}

// startInProcessUI starts s, a ui.Server of this process, on the host's
// loopback and returns it as a uiRun, closed when the test ends.
func startInProcessUI(t *testing.T, s *ui.Server) *uiRun {
	t.Helper()
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	i := strings.Index(url, "/?token=")
	return &uiRun{url: url, base: url[:i], token: url[i+len("/?token="):]}
}
