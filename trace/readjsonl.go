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
	br := bufio.NewReaderSize(r, 64<<10)
	var events []Event
	version := 0
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			if len(line)+len(chunk) > MaxJSONLine {
				return events, version, fmt.Errorf("trace: line %d: longer than %d bytes", n, MaxJSONLine)
			}
			line = append(line, chunk...)
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return events, version, fmt.Errorf("trace: line %d: %w", n, err)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e, v, perr := parseJSONEvent(line)
			if perr != nil {
				return events, version, fmt.Errorf("trace: line %d: %w", n, perr)
			}
			events = append(events, e)
			version = max(version, v)
		}
		if err == io.EOF {
			return events, version, nil
		}
	}
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
