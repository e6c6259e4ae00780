package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// NewText returns a sink that writes one readable line per event: time in
// seconds, ID, node, layer, direction, step, connection and summary:
//
//	0.001234 #17   server tcp    in  segment   10.0.0.1:40000->10.0.0.2:80  [SYN] seq=0 win=65535
func NewText(w io.Writer) Sink {
	return SinkFunc(func(e *Event) {
		io.WriteString(w, textLine(e))
	})
}

// textLine is the text sink's rendering of e, ending in a newline.
func textLine(e *Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%10.6f %-5s %-6s %-6s %-3s %-9s", e.T.Seconds(), fmt.Sprintf("#%d", e.ID), e.Node, e.Layer, e.Dir, e.Name)
	if e.Conn != "" {
		b.WriteString(" ")
		b.WriteString(e.Conn)
	}
	if e.Summary != "" {
		b.WriteString("  ")
		b.WriteString(e.Summary)
	}
	b.WriteByte('\n')
	return b.String()
}

// NewJSON returns a sink that writes one JSON object per line with the keys
// v (SchemaVersion), id, t (nanoseconds), node, layer, dir, event, conn,
// summary and every field. schema.json (JSONSchema) documents the keys of
// each kind of event.
func NewJSON(w io.Writer) Sink {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "a->b", not "a-\u003eb"
	return SinkFunc(func(e *Event) {
		m := make(map[string]any, 9+len(e.Fields))
		for _, f := range e.Fields {
			m[f.Key] = f.Value
		}
		m["v"] = SchemaVersion
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
