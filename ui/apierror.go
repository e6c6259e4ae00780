package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"path"
	"reflect"
	"strings"
)

// isAPI reports whether path is under /api/, where every answer is JSON.
func isAPI(path string) bool {
	return path == "/api" || strings.HasPrefix(path, "/api/")
}

// cleanPath reports whether p is as path.Clean leaves it (but for a
// trailing slash): no empty, "." or ".." elements.
func cleanPath(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// jsonErrors is the ResponseWriter of an API request. The error answers
// that others write as text, the ServeMux (404, 405) and ws.Accept (426,
// 403, 400), it holds back and writes as {"error": ...} with the same
// status and headers (Allow, Upgrade) when the handler returns (finish).
type jsonErrors struct {
	http.ResponseWriter
	r     *http.Request
	code  int // the error status held back, 0 if none
	text  strings.Builder
	wrote bool // the header went out as it was
}

// maxErrorText bounds the text of an error answer kept for the message.
const maxErrorText = 1 << 10

func (j *jsonErrors) WriteHeader(code int) {
	if !j.wrote && j.code == 0 && code >= 400 && !strings.HasPrefix(j.Header().Get("Content-Type"), "application/json") {
		j.code = code
		return
	}
	j.wrote = true
	j.ResponseWriter.WriteHeader(code)
}

func (j *jsonErrors) Write(b []byte) (int, error) {
	if j.code != 0 {
		if n := maxErrorText - j.text.Len(); n > 0 {
			j.text.Write(b[:min(n, len(b))])
		}
		return len(b), nil
	}
	j.wrote = true
	return j.ResponseWriter.Write(b)
}

// Unwrap lets http.NewResponseController reach the connection (the live
// stream's WebSocket upgrade hijacks it).
func (j *jsonErrors) Unwrap() http.ResponseWriter { return j.ResponseWriter }

// finish writes the error held back, if any.
func (j *jsonErrors) finish() {
	if j.code == 0 {
		return
	}
	h := j.Header()
	h.Del("Content-Length")
	r := j.r
	var msg string
	switch j.code {
	case http.StatusNotFound:
		msg = "ui: no such API path: " + r.URL.Path
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("ui: %s %s is not allowed: it takes %s", r.Method, r.URL.Path, h.Get("Allow"))
	default:
		msg = strings.TrimSpace(j.text.String())
		if msg == "" {
			msg = "ui: " + strings.ToLower(http.StatusText(j.code))
		}
	}
	writeError(j.ResponseWriter, j.code, msg)
}

// decodeError words an error of decoding a request body into a value of
// type body for its user: which field, what it holds, and what it may
// hold. A field whose values are fewer than its type's says which in a
// range tag (`range:"1 to 3600000"`), so that a number too large for the
// type gets the range the handler takes, not the type's.
func decodeError(err error, body reflect.Type) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		if s := err.Error(); strings.HasPrefix(s, "json: unknown field ") {
			return "ui: " + strings.TrimPrefix(s, "json: ")
		} else if strings.HasPrefix(s, "ui: ") {
			return s // a field's own UnmarshalJSON said what is wrong
		}
		return "ui: bad JSON: " + err.Error()
	}
	field := te.Field
	if field == "" {
		field = "the body"
	}
	got, lit, _ := strings.Cut(te.Value, " ")
	if got == "number" && lit != "" && isInteger(te.Type.Kind()) {
		lo, hi := intRange(te.Type)
		v, ok := new(big.Rat).SetString(lit)
		switch {
		case !ok || !v.IsInt():
			return fmt.Sprintf("ui: %s is a whole number, not %s", field, lit)
		case v.Cmp(lo) < 0 || v.Cmp(hi) > 0:
			span := lo.RatString() + " to " + hi.RatString()
			if r := rangeTag(body, te.Field); r != "" {
				span = r
			}
			return fmt.Sprintf("ui: %s %s is out of range (%s)", field, lit, span)
		default:
			return fmt.Sprintf("ui: %s %s: write the number in digits", field, lit)
		}
	}
	if got == "number" && lit != "" && (te.Type.Kind() == reflect.Float32 || te.Type.Kind() == reflect.Float64) {
		// only a number too large for a float64 (1e400) gets here
		if r := rangeTag(body, te.Field); r != "" {
			return fmt.Sprintf("ui: %s %s is out of range (%s)", field, lit, r)
		}
		return fmt.Sprintf("ui: %s %s is too large a number", field, lit)
	}
	return fmt.Sprintf("ui: %s is %s, not %s", field, kindName(te.Type), valueName(got))
}

// rangeTag returns the range tag of the field at path (JSON names joined
// by dots, as json.UnmarshalTypeError.Field gives it) in the struct type
// t, or "".
func rangeTag(t reflect.Type, path string) string {
	var tag string
	for name := range strings.SplitSeq(path, ".") {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			return ""
		}
		f, ok := jsonField(t, name)
		if !ok {
			return ""
		}
		t, tag = f.Type, f.Tag.Get("range")
	}
	return tag
}

// jsonField finds the field of the struct type t that JSON calls name.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if key == "" {
			key = f.Name
		}
		if key == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// bodyFault says what is wrong with the first field of the JSON value
// body that is null ("edit.window is null: leave the field out
// instead") or given twice in its object ("point is given twice"), naming
// it as json.UnmarshalTypeError names fields; "" if none is. An element of
// an array is named by the array's field.
func bodyFault(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	type level struct {
		object  bool            // an object (else an array)
		key     string          // the field whose value comes next, or came last
		wantKey bool            // the next token is a key
		seen    map[string]bool // the object's keys so far
	}
	var stack []level
	name := func() string {
		var keys []string
		for _, l := range stack {
			if l.object {
				keys = append(keys, l.key)
			}
		}
		return strings.Join(keys, ".")
	}
	for {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if k, ok := t.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = k, false
				if stack[n-1].seen[k] {
					return name() + " is given twice"
				}
				if stack[n-1].seen == nil {
					stack[n-1].seen = make(map[string]bool)
				}
				stack[n-1].seen[k] = true
				continue
			}
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, level{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		case nil:
			if n := name(); n != "" {
				return n + " is null: leave the field out instead"
			}
		}
		// a value ended: what follows in an object is a key
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
}

// isInteger reports whether k is one of Go's integer kinds.
func isInteger(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Uint64
}

// intRange is the range of the integer type t.
func intRange(t reflect.Type) (lo, hi *big.Rat) {
	bits := uint(t.Bits())
	if t.Kind() >= reflect.Uint {
		top := new(big.Int).Lsh(big.NewInt(1), bits)
		return new(big.Rat), new(big.Rat).SetInt(top.Sub(top, big.NewInt(1)))
	}
	half := new(big.Int).Lsh(big.NewInt(1), bits-1)
	return new(big.Rat).SetInt(new(big.Int).Neg(half)), new(big.Rat).SetInt(half.Sub(half, big.NewInt(1)))
}

// kindName says what a value of type t is written as in JSON.
func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch k := t.Kind(); {
	case isInteger(k):
		return "a whole number"
	case k == reflect.Float32 || k == reflect.Float64:
		return "a number"
	case k == reflect.String:
		return "a string"
	case k == reflect.Bool:
		return "true or false"
	case k == reflect.Slice || k == reflect.Array:
		return "an array"
	}
	return "an object"
}

// valueName names the JSON value UnmarshalTypeError.Value describes.
func valueName(v string) string {
	switch v {
	case "number":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "array":
		return "an array"
	case "object":
		return "an object"
	}
	return v
}
