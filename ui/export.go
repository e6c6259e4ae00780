package ui

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/glassnet/glassnet/trace"
)

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	if !queryOnly(w, r, "format") {
		return
	}
	format := r.URL.Query().Get("format")
	var write func(io.Writer) error
	var ext, ctype string
	switch format {
	case "jsonl", "":
		format, ext, ctype, write = "jsonl", "jsonl", "application/x-ndjson", s.WriteJSONL
	case "pcapng":
		if !s.capture.Load() { // State.Capture
			writeError(w, http.StatusConflict, "ui: this history has no packet bytes to capture (a trace in JSON lines keeps none; record the run with --pcap)")
			return
		}
		ext, ctype, write = "pcapng", "application/octet-stream", s.WritePCAPNG
	case "perfetto":
		ext, ctype, write = "json", "application/json", s.WritePerfetto
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: format %q: jsonl, pcapng or perfetto", format))
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="glassnet-`+format+`.`+ext+`"`)
	// The history keeps the newest events: an export of a long run starts
	// where it does, and says so to a program that asks.
	first, last, _ := s.hist.bounds()
	w.Header().Set("X-Glassnet-Events", fmt.Sprintf("%d-%d", first, last))
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
// writes them for demo, each at its event's time, but for the packets of a
// capture the view read, which keep the times the capture gave them
// ("time"). The time of day an event's T counts from is the one the
// stack's packets say (origin): a packet's event in the same file as its
// record in serve's --pcap has the same time, give or take the moment
// between the two stamps. A trace read from JSON lines, which keeps no
// time of day, counts from the moment of the export less the last event's
// T.
func (s *Server) WritePCAPNG(w io.Writer) error {
	p := trace.NewPCAPNG(w)
	if start, ok := s.origin(); ok {
		p.Start = start
	} else {
		_, last, _ := s.hist.bounds()
		e, _ := s.hist.get(last) // the latest event; its T is the largest
		p.Start = time.Now().Add(-e.T)
	}
	s.each(func(e *trace.Event) error { p.Emit(e); return nil })
	return p.Close()
}

// origin returns the time of day the history's times count from, as its
// packets' stamps give it (trace.Event.Captured): of each packet's
// Captured - T, the median, which a packet whose event waited for the
// tracer's sinks (its T the later for it) does not move.
func (s *Server) origin() (time.Time, bool) {
	var offs []time.Duration
	var base time.Time
	s.each(func(e *trace.Event) error {
		if e.Captured.IsZero() {
			return nil
		}
		if base.IsZero() {
			base = e.Captured.Add(-e.T)
		}
		offs = append(offs, e.Captured.Sub(base)-e.T)
		return nil
	})
	if len(offs) == 0 {
		return time.Time{}, false
	}
	slices.Sort(offs)
	return base.Add(offs[len(offs)/2]), true
}

// WritePerfetto writes the history in the Chrome trace-event JSON format
// that ui.perfetto.dev and chrome://tracing open (trace.WritePerfetto): a
// process per stack, a track per layer, and flow arrows between each
// packet and the frames it carried.
func (s *Server) WritePerfetto(w io.Writer) error {
	var evs []trace.Event
	s.each(func(e *trace.Event) error {
		evs = append(evs, *e)
		return nil
	})
	return trace.WritePerfetto(w, evs)
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
