package trace

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// perfettoLayers orders the tracks of a node, from the wire up.
var perfettoLayers = []Layer{LayerLink, LayerIP, LayerTCP, LayerSocket, LayerWS, LayerApp}

// perfettoSlice is how long a step lasts on its track at most, so that
// flow arrows have a slice to start from and end at (an instant has none
// in some viewers); a step is cut short where the next one on its track
// begins.
const perfettoSlice = time.Microsecond

// WritePerfetto writes events as Chrome trace-event JSON, which
// ui.perfetto.dev and chrome://tracing open: one process per node and one
// thread (track) per layer, link at the top and app at the bottom; each
// event a slice named "layer event" at its time, with its ID, direction,
// connection, summary and fields as arguments (a socket call lasts its
// duration); and a flow arrow, from the earlier to the later, between each
// packet and each WebSocket frame that shared bytes, taken from the
// "frames" and "packets" fields and "carried" events of a correlating
// Tracer. Events need not be sorted.
func WritePerfetto(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b Event) int {
		if a.T != b.T {
			return compareDur(a.T, b.T)
		}
		return compareU64(a.ID, b.ID)
	})

	// Tracks: nodes in order of first appearance, layers in wire order
	// and then any others.
	pids := map[string]int{}
	tids := map[Layer]int{}
	for i, l := range perfettoLayers {
		tids[l] = i + 1
	}
	var nodes []string
	var extra []Layer
	for _, e := range events {
		if _, ok := pids[e.Node]; !ok {
			pids[e.Node] = len(pids) + 1
			nodes = append(nodes, e.Node)
		}
		if _, ok := tids[e.Layer]; !ok {
			tids[e.Layer] = len(tids) + 1
			extra = append(extra, e.Layer)
		}
	}

	bw.WriteString(`{"displayTimeUnit":"ns","traceEvents":[`)
	first := true
	put := func(v any) error {
		if !first {
			bw.WriteString(",\n")
		}
		first = false
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = bw.Write(b)
		return err
	}
	layers := append(slices.Clone(perfettoLayers), extra...)
	for _, node := range nodes {
		pid := pids[node]
		name := node
		if name == "" {
			name = "(no node)"
		}
		meta := []perfettoMeta{
			{Name: "process_name", Ph: "M", Pid: pid, Args: map[string]any{"name": name}},
			{Name: "process_sort_index", Ph: "M", Pid: pid, Args: map[string]any{"sort_index": pid}},
		}
		for _, l := range layers {
			tid := tids[l]
			meta = append(meta,
				perfettoMeta{Name: "thread_name", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": string(l)}},
				perfettoMeta{Name: "thread_sort_index", Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"sort_index": tid}})
		}
		for _, m := range meta {
			if err := put(m); err != nil {
				return err
			}
		}
	}

	// Slices: each lasts until the next step on its track, at most
	// perfettoSlice; a socket call lasts its duration, ending at its time.
	type track struct {
		pid, tid int
	}
	next := map[track]time.Duration{}
	end := make([]time.Duration, len(events))
	for i := len(events) - 1; i >= 0; i-- {
		e := &events[i]
		k := track{pids[e.Node], tids[e.Layer]}
		d := perfettoSlice
		if n, ok := next[k]; ok && n-e.T < d {
			d = max(n-e.T, 0)
		}
		end[i] = e.T + d
		next[k] = e.T
	}
	at := map[uint64]perfettoAt{}
	for i := range events {
		e := &events[i]
		start, dur := e.T, end[i]-e.T
		if e.Layer == LayerSocket && e.Name == "call" {
			if d := durOf(e.Field("dur")); d > 0 && d <= e.T {
				start, dur = e.T-d, d
			}
		}
		args := map[string]any{"id": e.ID}
		if e.Dir != "" {
			args["dir"] = e.Dir
		}
		if e.Conn != "" {
			args["conn"] = e.Conn
		}
		if e.Summary != "" {
			args["summary"] = e.Summary
		}
		for _, f := range e.Fields {
			if _, taken := args[f.Key]; !taken {
				args[f.Key] = jsonSafe(f.Value)
			}
		}
		pid, tid := pids[e.Node], tids[e.Layer]
		if err := put(perfettoX{Name: string(e.Layer) + " " + e.Name, Cat: string(e.Layer), Ph: "X",
			Ts: micros(start), Dur: micros(dur), Pid: pid, Tid: tid, Args: args}); err != nil {
			return err
		}
		// A flow attaches to the slice that encloses its time on its
		// track: the middle of the step's own slice.
		at[e.ID] = perfettoAt{ts: micros(e.T + (end[i]-e.T)/2), pid: pid, tid: tid}
	}

	// Flows: every packet-frame pair once, from the earlier event.
	type pair struct{ a, b uint64 }
	seen := map[pair]bool{}
	var pairs []pair
	link := func(x, y uint64) {
		if x == y || x == 0 || y == 0 {
			return
		}
		p := pair{min(x, y), max(x, y)}
		if _, ok1 := at[p.a]; !ok1 || seen[p] {
			return
		}
		if _, ok2 := at[p.b]; !ok2 {
			return
		}
		seen[p] = true
		pairs = append(pairs, p)
	}
	for _, e := range events {
		switch {
		case e.Layer == LayerLink && e.Name == "packet":
			for _, f := range idsOf(e.Field("frames")) {
				link(e.ID, f)
			}
		case e.Layer == LayerWS && e.Name == "frame":
			for _, p := range idsOf(e.Field("packets")) {
				link(p, e.ID)
			}
		case e.Name == "carried":
			pkt, _ := idOf(e.Field("packet"))
			for _, f := range idsOf(e.Field("frames")) {
				link(pkt, f)
			}
			frm, _ := idOf(e.Field("frame"))
			for _, p := range idsOf(e.Field("packets")) {
				link(p, frm)
			}
		}
	}
	for i, p := range pairs {
		from, to := at[p.a], at[p.b]
		id := i + 1
		name := "bytes " + strconv.FormatUint(p.a, 10) + " -> " + strconv.FormatUint(p.b, 10)
		if err := put(perfettoFlow{Name: name, Cat: "carried", Ph: "s", ID: id, Ts: from.ts, Pid: from.pid, Tid: from.tid}); err != nil {
			return err
		}
		if err := put(perfettoFlow{Name: name, Cat: "carried", Ph: "f", BP: "e", ID: id, Ts: to.ts, Pid: to.pid, Tid: to.tid}); err != nil {
			return err
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

type perfettoMeta struct {
	Name string         `json:"name"`
	Ph   string         `json:"ph"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args"`
}

type perfettoX struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  float64        `json:"dur"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args"`
}

type perfettoFlow struct {
	Name string  `json:"name"`
	Cat  string  `json:"cat"`
	Ph   string  `json:"ph"`
	BP   string  `json:"bp,omitempty"`
	ID   int     `json:"id"`
	Ts   float64 `json:"ts"`
	Pid  int     `json:"pid"`
	Tid  int     `json:"tid"`
}

type perfettoAt struct {
	ts       float64
	pid, tid int
}

// micros is d in microseconds, the trace-event format's unit.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func compareDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// idOf reads an event ID from a field, as emitted (uint64) or read back
// (int64).
func idOf(v any) (uint64, bool) {
	switch v := v.(type) {
	case uint64:
		return v, true
	case int64:
		return uint64(v), v > 0
	case int:
		return uint64(v), v > 0
	}
	return 0, false
}

// idsOf reads a list of event IDs from a field.
func idsOf(v any) []uint64 {
	switch v := v.(type) {
	case []uint64:
		return v
	case []any:
		out := make([]uint64, 0, len(v))
		for _, x := range v {
			if id, ok := idOf(x); ok {
				out = append(out, id)
			}
		}
		return out
	}
	return nil
}

// durOf reads a duration field, as emitted (time.Duration) or read back
// (int64 nanoseconds).
func durOf(v any) time.Duration {
	switch v := v.(type) {
	case time.Duration:
		return v
	case int64:
		return time.Duration(v)
	}
	return 0
}

// jsonSafe makes a field value encodable: a duration in nanoseconds, as
// NewJSON writes it, and anything JSON cannot hold (NaN) as its text.
func jsonSafe(v any) any {
	if d, ok := v.(time.Duration); ok {
		return int64(d)
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}
