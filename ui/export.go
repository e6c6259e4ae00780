package ui

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/glassnet/glassnet/trace"
)

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	var write func(io.Writer) error
	var ext, ctype string
	switch format {
	case "jsonl", "":
		format, ext, ctype, write = "jsonl", "jsonl", "application/x-ndjson", s.WriteJSONL
	case "pcapng":
		ext, ctype, write = "pcapng", "application/octet-stream", s.WritePCAPNG
	case "perfetto":
		ext, ctype, write = "json", "application/json", s.WritePerfetto
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: format %q: jsonl, pcapng or perfetto", format))
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="glassnet-`+format+`.`+ext+`"`)
	bw := bufio.NewWriterSize(w, 64<<10)
	if write(bw) == nil {
		bw.Flush()
	}
}

// each calls f with the history's events, oldest first, a chunk at a time
// so that the history is not locked for long.
func (s *Server) each(f func(e *trace.Event) error) error {
	from := uint64(0)
	var evs []trace.Event
	for {
		evs = s.hist.rangeOf(evs[:0], from, 1<<64-1, 4096)
		if len(evs) == 0 {
			return nil
		}
		for i := range evs {
			if err := f(&evs[i]); err != nil {
				return err
			}
		}
		from = evs[len(evs)-1].ID + 1
	}
}

// WriteJSONL writes the history as JSON lines, as --trace writes them.
func (s *Server) WriteJSONL(w io.Writer) error {
	var b []byte
	return s.each(func(e *trace.Event) error {
		b = append(appendEventJSON(b[:0], e), '\n')
		_, err := w.Write(b)
		return err
	})
}

// WritePCAPNG writes the packets of the history as pcapng, as --pcap
// writes them for demo.
func (s *Server) WritePCAPNG(w io.Writer) error {
	p := trace.NewPCAPNG(w)
	s.each(func(e *trace.Event) error { p.Emit(e); return nil })
	return p.Close()
}

// WritePerfetto writes the history in the Chrome trace-event JSON format
// that ui.perfetto.dev and chrome://tracing open: a process per stack, a
// thread per layer, a slice per event, and flow arrows from each packet to
// the frames it carried (and back on egress).
func (s *Server) WritePerfetto(w io.Writer) error {
	pids := map[string]int{}
	tids := map[string]int{}
	ts := map[uint64]int64{} // event ID -> its time in ns, for packets and frames
	var b []byte
	first := true
	put := func(v any) error {
		if first {
			b = append(b[:0], `{"displayTimeUnit":"ns","traceEvents":[`+"\n"...)
			first = false
		} else {
			b = append(b[:0], ",\n"...)
		}
		b = appendJSON(b, v)
		_, err := w.Write(b)
		return err
	}
	layers := []trace.Layer{trace.LayerLink, trace.LayerIP, trace.LayerTCP, trace.LayerSocket, trace.LayerWS, trace.LayerApp}
	ids := func(e *trace.Event) (int, int, error) {
		node := e.Node
		if node == "" {
			node = "glassnet"
		}
		pid, ok := pids[node]
		if !ok {
			pid = len(pids) + 1
			pids[node] = pid
			if err := put(map[string]any{"ph": "M", "name": "process_name", "pid": pid, "args": map[string]any{"name": node}}); err != nil {
				return 0, 0, err
			}
			for i, l := range layers {
				tids[node+" "+string(l)] = i + 1
				if err := put(map[string]any{"ph": "M", "name": "thread_name", "pid": pid, "tid": i + 1, "args": map[string]any{"name": string(l)}}); err != nil {
					return 0, 0, err
				}
			}
		}
		key := node + " " + string(e.Layer)
		tid, ok := tids[key]
		if !ok {
			tid = len(layers) + len(tids) + 1
			tids[key] = tid
			if err := put(map[string]any{"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": map[string]any{"name": string(e.Layer)}}); err != nil {
				return 0, 0, err
			}
		}
		return pid, tid, nil
	}
	type end struct{ pid, tid int }
	where := map[uint64]end{}
	flows := 0
	err := s.each(func(e *trace.Event) error {
		pid, tid, err := ids(e)
		if err != nil {
			return err
		}
		us := float64(e.T.Nanoseconds()) / 1e3
		args := map[string]any{"id": e.ID}
		if e.Summary != "" {
			args["summary"] = e.Summary
		}
		if e.Conn != "" {
			args["conn"] = e.Conn
		}
		if e.Dir != "" {
			args["dir"] = e.Dir
		}
		if err := put(map[string]any{"ph": "X", "name": e.Name, "cat": string(e.Layer), "ts": us, "dur": 1, "pid": pid, "tid": tid, "args": args}); err != nil {
			return err
		}
		isPacket := e.Layer == trace.LayerLink && e.Name == "packet"
		isFrame := e.Layer == trace.LayerWS && e.Name == "frame"
		if !isPacket && !isFrame {
			return nil
		}
		ts[e.ID] = e.T.Nanoseconds()
		where[e.ID] = end{pid, tid}
		key := "frames"
		if isFrame {
			key = "packets"
		}
		// A partner seen before this event: an arrow from it to here.
		for _, other := range idList(e.Field(key)) {
			t0, ok := ts[other]
			if !ok {
				continue
			}
			o := where[other]
			flows++
			name := "carried"
			if err := put(map[string]any{"ph": "s", "id": flows, "name": name, "cat": "flow", "ts": float64(t0) / 1e3, "pid": o.pid, "tid": o.tid}); err != nil {
				return err
			}
			if err := put(map[string]any{"ph": "f", "bp": "e", "id": flows, "name": name, "cat": "flow", "ts": us, "pid": pid, "tid": tid}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if first {
		b = append(b[:0], `{"displayTimeUnit":"ns","traceEvents":[`...)
	} else {
		b = b[:0]
	}
	b = append(b, "\n]}\n"...)
	_, err = w.Write(b)
	return err
}

// idList reads a list of event IDs from a field: []uint64 from a live
// tracer, or numbers from a recorded one.
func idList(v any) []uint64 {
	switch x := v.(type) {
	case []uint64:
		return x
	case []any:
		out := make([]uint64, 0, len(x))
		for _, y := range x {
			switch n := y.(type) {
			case float64:
				out = append(out, uint64(n))
			case interface{ String() string }:
				if u, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
					out = append(out, u)
				}
			}
		}
		return out
	}
	return nil
}
