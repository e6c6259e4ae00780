package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// MaxJSONLine bounds one line ReadJSONL reads.
const MaxJSONLine = 16 << 20

// ReadJSONL reads a trace NewJSON wrote, one event object per line, back
// into Events: id, t, node, layer, dir, event, conn and summary into their
// fields, every other key but "v" into Fields, sorted by key. Integers
// become int64 (uint64 above its range), other numbers float64, an array
// of non-negative integers (frames, packets) []uint64. Blank lines are
// skipped and keys it does not know are kept, so a trace of a later schema
// version reads too. A line that is not an event object (bad JSON, id
// missing or not a positive integer, a header key of the wrong type, a "v"
// that is not a version) stops
// the reading: the events before it are returned with an error that names
// the line.
func ReadJSONL(r io.Reader) ([]Event, error) {
	events, _, err := ReadJSONLVersion(r)
	return events, err
}

// ReadJSONLVersion is ReadJSONL that also returns the highest schema
// version (key "v") of the events it read, 0 if none had one. A version
// above SchemaVersion is a trace from a later glassnet: its events read,
// but keys this one does not know are only Fields to it.
func ReadJSONLVersion(r io.Reader) ([]Event, int, error) {
	events, version, _, err := ReadJSONLRange(r, 0, 0)
	return events, version, err
}

// ReadJSONLRange is ReadJSONLVersion that leaves out the first skip events
// and reads at most n after them (all of them when n is 0), and returns,
// as more, how many lines that are not blank follow them. The lines left
// out and those that follow are counted, not read as events: a file of
// any length costs the memory of n events, and a bad line among them is
// not found.
func ReadJSONLRange(r io.Reader, skip, n int) (events []Event, version, more int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	lines := 0
	if skip > 0 {
		if _, lines, err = countLines(br, skip); err != nil {
			return nil, 0, 0, fmt.Errorf("trace: line %d: %w", lines+1, err)
		}
	}
	var line []byte
	for ln := lines + 1; ; ln++ {
		if n > 0 && len(events) == n {
			if more, _, err = countLines(br, 0); err != nil {
				err = fmt.Errorf("trace: after line %d: %w", ln-1, err)
			}
			return events, version, more, err
		}
		line = line[:0]
		var rerr error
		for {
			var chunk []byte
			chunk, rerr = br.ReadSlice('\n')
			if len(line)+len(chunk) > MaxJSONLine {
				return events, version, 0, fmt.Errorf("trace: line %d: longer than %d bytes", ln, MaxJSONLine)
			}
			line = append(line, chunk...)
			if rerr != bufio.ErrBufferFull {
				break
			}
		}
		if rerr != nil && rerr != io.EOF {
			return events, version, 0, fmt.Errorf("trace: line %d: %w", ln, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e, v, perr := parseJSONEvent(line)
			if perr != nil {
				return events, version, 0, fmt.Errorf("trace: line %d: %w", ln, perr)
			}
			events = append(events, e)
			version = max(version, v)
		}
		if rerr == io.EOF {
			return events, version, 0, nil
		}
	}
}

// countLines reads lines from br until it has read limit that are not
// blank (to its end when limit is 0), and returns how many of those it read, and
// how many lines in all.
func countLines(br *bufio.Reader, limit int) (n, lines int, err error) {
	text, some := false, false // the line being read has more than white space, has a byte
	for limit == 0 || n < limit {
		chunk, err := br.ReadSlice('\n')
		text = text || len(bytes.TrimSpace(chunk)) > 0
		some = some || len(chunk) > 0
		if err == bufio.ErrBufferFull {
			continue
		}
		if text {
			n++
		}
		if some {
			lines++
		}
		text, some = false, false
		if err == io.EOF {
			return n, lines, nil
		}
		if err != nil {
			return n, lines, err
		}
	}
	return n, lines, nil
}

// parseJSONEvent turns one event object into an Event, and returns its
// schema version (0 without one).
func parseJSONEvent(line []byte) (Event, int, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Event{}, 0, fmt.Errorf("not a JSON object: %w", err)
	}
	if m == nil {
		return Event{}, 0, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, 0, errors.New("more than one JSON value")
	}
	version := 0
	if x, ok := m["v"]; ok {
		vn, ok := x.(json.Number)
		v, err := strconv.ParseUint(string(vn), 10, 31)
		if !ok || err != nil {
			return Event{}, 0, fmt.Errorf(`"v" %v is not a schema version`, x)
		}
		version = int(v)
	}
	var e Event
	id, ok := m["id"].(json.Number)
	if !ok {
		return Event{}, 0, errors.New(`no "id" number`)
	}
	v, err := strconv.ParseUint(id.String(), 10, 64)
	if err != nil || v == 0 {
		return Event{}, 0, fmt.Errorf(`"id" %s is not a positive integer`, id)
	}
	e.ID = v
	if t, ok := m["t"]; ok {
		tn, ok := t.(json.Number)
		ns, err := strconv.ParseInt(string(tn), 10, 64)
		if !ok || err != nil {
			return Event{}, 0, fmt.Errorf(`"t" %v is not an integer of nanoseconds`, t)
		}
		e.T = time.Duration(ns)
	}
	strs := []struct {
		key string
		dst *string
	}{{"node", &e.Node}, {"event", &e.Name}, {"conn", &e.Conn}, {"summary", &e.Summary}}
	for _, s := range strs {
		if x, ok := m[s.key]; ok {
			if *s.dst, ok = x.(string); !ok {
				return Event{}, 0, fmt.Errorf("%q is %s, not a string", s.key, describeJSON(x))
			}
		}
	}
	if x, ok := m["layer"]; ok {
		s, ok := x.(string)
		if !ok {
			return Event{}, 0, fmt.Errorf(`"layer" is %s, not a string`, describeJSON(x))
		}
		e.Layer = Layer(s)
	}
	if x, ok := m["dir"]; ok {
		s, ok := x.(string)
		if !ok {
			return Event{}, 0, fmt.Errorf(`"dir" is %s, not a string`, describeJSON(x))
		}
		e.Dir = Dir(s)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		switch k {
		case "v", "id", "t", "node", "layer", "dir", "event", "conn", "summary":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		e.Fields = make([]Field, 0, len(keys))
	}
	for _, k := range keys {
		e.Fields = append(e.Fields, Field{Key: k, Value: goValue(m[k])})
	}
	return e, version, nil
}

// goValue converts a decoded JSON value to the Go types emitters use.
func goValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		if f, err := v.Float64(); err == nil && !math.IsInf(f, 0) {
			return f
		}
		return string(v)
	case []any:
		ids := make([]uint64, 0, len(v))
		for _, x := range v {
			n, ok := x.(json.Number)
			if !ok {
				break
			}
			u, err := strconv.ParseUint(string(n), 10, 64)
			if err != nil {
				break
			}
			ids = append(ids, u)
		}
		if len(ids) == len(v) {
			return ids
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = goValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = goValue(x)
		}
		return out
	}
	return v
}
