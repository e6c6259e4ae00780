package ui

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/glassnet/glassnet/trace"
)

// appendEventJSON appends e as the JSON object the --trace JSON lines
// sink writes (trace.NewJSON): v, id, t, node, layer, dir, event, conn,
// summary and every field, keys in sorted order (as encoding/json writes
// a map), strings not HTML-escaped, without a newline. It is the live
// stream's hot path, so it writes the common value types itself.
func appendEventJSON(dst []byte, e *trace.Event) []byte {
	type kv struct {
		k string
		v any
		f bool // a field (v) rather than a base key
	}
	var arr [32]kv
	kvs := arr[:0]
next:
	for _, f := range e.Fields {
		if baseKeys[f.Key] && (f.Key != "conn" || e.Conn != "") && (f.Key != "summary" || e.Summary != "") {
			continue // the base keys win, as in trace.NewJSON
		}
		for i := range kvs {
			if kvs[i].k == f.Key {
				kvs[i].v = f.Value // a repeated key: the last, as in a map
				continue next
			}
		}
		kvs = append(kvs, kv{k: f.Key, v: f.Value, f: true})
	}
	for _, k := range [...]string{"v", "id", "t", "node", "layer", "dir", "event", "conn", "summary"} {
		if (k == "conn" && e.Conn == "") || (k == "summary" && e.Summary == "") {
			continue // a field of that name, if any, stands
		}
		kvs = append(kvs, kv{k: k})
	}
	// Sort the keys through their indexes, by insertion: an event has a
	// few dozen short keys, and a move shifts an index, not a key and its
	// value (the generic sort of the pairs was two thirds of this
	// function).
	var ordArr [len(arr)]int32
	var ord []int32
	if len(kvs) > len(ordArr) {
		// More keys than an event of glassnet's has (a recorded file's):
		// a sort whose cost does not grow with their square.
		ord = make([]int32, len(kvs))
		for i := range ord {
			ord[i] = int32(i)
		}
		slices.SortFunc(ord, func(a, b int32) int { return strings.Compare(kvs[a].k, kvs[b].k) })
	} else {
		ord = ordArr[:len(kvs)]
		for i := range kvs {
			j := i
			for ; j > 0 && kvs[ord[j-1]].k > kvs[i].k; j-- {
				ord[j] = ord[j-1]
			}
			ord[j] = int32(i)
		}
	}
	dst = append(dst, '{')
	for i, o := range ord {
		x := &kvs[o]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, x.k)
		dst = append(dst, ':')
		if x.f {
			dst = appendValue(dst, x.v)
			continue
		}
		switch x.k {
		case "v":
			dst = strconv.AppendInt(dst, trace.SchemaVersion, 10)
		case "id":
			dst = strconv.AppendUint(dst, e.ID, 10)
		case "t":
			dst = strconv.AppendInt(dst, e.T.Nanoseconds(), 10)
		case "node":
			dst = appendString(dst, e.Node)
		case "layer":
			dst = appendString(dst, string(e.Layer))
		case "dir":
			dst = appendString(dst, string(e.Dir))
		case "event":
			dst = appendString(dst, e.Name)
		case "conn":
			dst = appendString(dst, e.Conn)
		case "summary":
			dst = appendString(dst, e.Summary)
		}
	}
	return append(dst, '}')
}

// appendValue appends a field value as encoding/json would write it.
func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendString(dst, x)
	case bool:
		return strconv.AppendBool(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int8:
		return strconv.AppendInt(dst, int64(x), 10)
	case int16:
		return strconv.AppendInt(dst, int64(x), 10)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case time.Duration:
		return strconv.AppendInt(dst, int64(x), 10)
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float64:
		if !math.IsInf(x, 0) && !math.IsNaN(x) && x == math.Trunc(x) && math.Abs(x) < 1e21 {
			return strconv.AppendFloat(dst, x, 'f', -1, 64)
		}
	case []uint64:
		if x == nil {
			return append(dst, "null"...)
		}
		dst = append(dst, '[')
		for i, n := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, n, 10)
		}
		return append(dst, ']')
	case json.Number:
		if x != "" {
			return append(dst, x...)
		}
	}
	return appendJSON(dst, v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json writes it
// with HTML escaping off.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
