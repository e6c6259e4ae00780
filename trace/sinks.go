package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// NewText returns a sink that writes one readable line per event:
//
//	0.001234 server tcp    in  segment  10.0.0.1:40000->10.0.0.2:80  [SYN] seq=0 win=65535
func NewText(w io.Writer) Sink {
	return SinkFunc(func(e *Event) {
		var b strings.Builder
		fmt.Fprintf(&b, "%10.6f %-6s %-6s %-3s %-9s", e.T.Seconds(), e.Node, e.Layer, e.Dir, e.Name)
		if e.Conn != "" {
			b.WriteString(" ")
			b.WriteString(e.Conn)
		}
		if e.Summary != "" {
			b.WriteString("  ")
			b.WriteString(e.Summary)
		}
		b.WriteByte('\n')
		io.WriteString(w, b.String())
	})
}

// NewJSON returns a sink that writes one JSON object per line with the keys
// id, t (nanoseconds), node, layer, dir, event, conn, summary and every field.
func NewJSON(w io.Writer) Sink {
	enc := json.NewEncoder(w)
	return SinkFunc(func(e *Event) {
		m := make(map[string]any, 8+len(e.Fields))
		for _, f := range e.Fields {
			m[f.Key] = f.Value
		}
		m["id"] = e.ID
		m["t"] = e.T.Nanoseconds()
		m["node"] = e.Node
		m["layer"] = e.Layer
		m["dir"] = e.Dir
		m["event"] = e.Name
		if e.Conn != "" {
			m["conn"] = e.Conn
		}
		if e.Summary != "" {
			m["summary"] = e.Summary
		}
		enc.Encode(m)
	})
}
