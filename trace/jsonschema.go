package trace

//go:generate go test -run TestSchemaFile|TestFieldsFile -update .

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// schemaFile is schema.json, the JSON Schema (draft 2020-12) of the event
// objects NewJSON writes, generated from Header and Kinds by JSONSchema.
//
//go:embed schema.json
var schemaFile []byte

// JSONSchema returns the JSON Schema of the event objects NewJSON writes,
// generated from Header and the structs of Kinds: one definition per
// kind, named "layer.event", that lists every key the kind may have, the
// type of each and the keys it always has. schema.json holds its output.
func JSONSchema() []byte {
	hdr := reflect.TypeOf(Header{})
	top := obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", "https://github.com/glassnet/glassnet/trace/schema.json"},
		{"title", "glassnet trace event"},
		{"description", "One line of glassnet's JSON lines trace (trace.NewJSON). Generated from the Go structs in trace/schema.go; do not edit."},
		{"x-version", SchemaVersion},
		{"type", "object"},
	}
	var refs []any
	defs := obj{}
	for _, k := range Kinds {
		name := string(k.Layer) + "." + k.Event
		refs = append(refs, obj{{"$ref", "#/$defs/" + name}})
		props := obj{}
		var required []any
		add := func(t reflect.Type) {
			for i := range t.NumField() {
				f := t.Field(i)
				key, opt := jsonKey(f)
				if key == "" {
					continue
				}
				p := propSchema(f)
				switch key {
				case "layer":
					p = obj{{"const", string(k.Layer)}}
				case "event":
					p = obj{{"const", k.Event}}
				}
				props = append(props, kv{key, p})
				if !opt {
					required = append(required, key)
				}
			}
		}
		add(hdr)
		add(k.Fields)
		defs = append(defs, kv{name, obj{
			{"type", "object"},
			{"properties", props},
			{"required", required},
			{"additionalProperties", false},
		}})
	}
	top = append(top, kv{"oneOf", refs}, kv{"$defs", defs})
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(top); err != nil {
		panic(err) // the values above always encode
	}
	return b.Bytes()
}

// jsonKey returns f's JSON key and whether it is optional (omitempty).
func jsonKey(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if tag == "-" || !f.IsExported() {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	o := strings.Split(opts, ",")
	return name, slices.Contains(o, "omitempty") || slices.Contains(o, "omitzero")
}

var durationType = reflect.TypeOf(time.Duration(0))

// propSchema is the schema of one field.
func propSchema(f reflect.StructField) obj {
	var p obj
	if s := f.Tag.Get("schema"); s != "" {
		k, v, _ := strings.Cut(s, "=")
		vals := strings.Split(v, ",")
		switch k {
		case "type":
			p = obj{{"type", anySlice(vals)}}
		case "enum":
			p = obj{{"type", "string"}, {"enum", anySlice(vals)}}
		}
	} else {
		p = typeSchema(f.Type)
	}
	doc := f.Tag.Get("doc")
	if f.Type == durationType || (f.Type.Kind() == reflect.Pointer && f.Type.Elem() == durationType) {
		doc = strings.TrimPrefix(doc+"; nanoseconds", "; ")
	}
	if doc != "" {
		p = append(p, kv{"description", doc})
	}
	return p
}

func typeSchema(t reflect.Type) obj {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v, ok := optValue(t); ok {
		t = v
	}
	switch t.Kind() {
	case reflect.String:
		return obj{{"type", "string"}}
	case reflect.Bool:
		return obj{{"type", "boolean"}}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return obj{{"type", "integer"}}
	case reflect.Uint8:
		return obj{{"type", "integer"}, {"minimum", 0}, {"maximum", 255}}
	case reflect.Uint16:
		return obj{{"type", "integer"}, {"minimum", 0}, {"maximum", 65535}}
	case reflect.Uint32:
		return obj{{"type", "integer"}, {"minimum", 0}, {"maximum", uint64(1<<32 - 1)}}
	case reflect.Uint, reflect.Uint64:
		return obj{{"type", "integer"}, {"minimum", 0}}
	case reflect.Slice:
		return obj{{"type", "array"}, {"items", typeSchema(t.Elem())}}
	}
	panic("trace: no schema for field type " + t.String())
}

// optValue returns T for an Opt[T].
func optValue(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeOf(Header{}).PkgPath() || !strings.HasPrefix(t.Name(), "Opt[") {
		return nil, false
	}
	return t.Field(0).Type, true
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// obj is a JSON object that keeps its keys in order.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ValidateJSON checks one event object, as NewJSON writes it, against
// schema.json: its layer and event name a kind the schema defines, every
// key it has is one that kind has, with a value of the right type, and
// every key the kind always has is there. It reads the subset of JSON
// Schema that JSONSchema writes.
func ValidateJSON(line []byte) error {
	s, err := loadSchema()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("trace: not a JSON object: %w", err)
	}
	if dec.More() {
		return errors.New("trace: more than one JSON value")
	}
	layer, _ := v["layer"].(string)
	event, _ := v["event"].(string)
	def, ok := s.byKind[layer+"."+event]
	if !ok {
		return fmt.Errorf("trace: event %q of layer %q is not in the schema", event, layer)
	}
	return checkValue(def, v, "")
}

type loadedSchema struct {
	byKind map[string]map[string]any
}

var (
	schemaOnce sync.Once
	schemaVal  *loadedSchema
	schemaErr  error
)

func loadSchema() (*loadedSchema, error) {
	schemaOnce.Do(func() {
		dec := json.NewDecoder(bytes.NewReader(schemaFile))
		dec.UseNumber()
		var top map[string]any
		if err := dec.Decode(&top); err != nil {
			schemaErr = fmt.Errorf("trace: schema.json: %w", err)
			return
		}
		defs, _ := top["$defs"].(map[string]any)
		refs, _ := top["oneOf"].([]any)
		ls := &loadedSchema{byKind: map[string]map[string]any{}}
		for _, r := range refs {
			ref, _ := r.(map[string]any)["$ref"].(string)
			def, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			if !ok {
				schemaErr = fmt.Errorf("trace: schema.json: bad $ref %q", ref)
				return
			}
			props, _ := def["properties"].(map[string]any)
			l, _ := props["layer"].(map[string]any)["const"].(string)
			e, _ := props["event"].(map[string]any)["const"].(string)
			ls.byKind[l+"."+e] = def
		}
		schemaVal = ls
	})
	return schemaVal, schemaErr
}

// checkValue validates v against the schema s, reporting errors at path.
func checkValue(s map[string]any, v any, path string) error {
	at := func(format string, args ...any) error {
		where := path
		if where == "" {
			where = "event"
		}
		return fmt.Errorf("trace: %s: %s", where, fmt.Sprintf(format, args...))
	}
	if c, ok := s["const"]; ok && !jsonEqual(c, v) {
		return at("is %v, want %v", v, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return jsonEqual(x, v) }) {
		return at("%v is not one of %v", v, e)
	}
	if t, ok := s["type"]; ok {
		types, _ := t.([]any)
		if ts, ok := t.(string); ok {
			types = []any{ts}
		}
		if !slices.ContainsFunc(types, func(x any) bool { return hasType(v, x.(string)) }) {
			return at("%s has the wrong type, want %v", describeJSON(v), t)
		}
	}
	if n, ok := v.(json.Number); ok {
		if m, ok := s["minimum"].(json.Number); ok && numLess(n, m) {
			return at("%s is below %s", n, m)
		}
		if m, ok := s["maximum"].(json.Number); ok && numLess(m, n) {
			return at("%s is above %s", n, m)
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		for i, x := range v.([]any) {
			if err := checkValue(items, x, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return nil
	}
	props, _ := s["properties"].(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p, ok := props[k].(map[string]any)
		if !ok {
			if s["additionalProperties"] == false {
				return at("unknown key %q", k)
			}
			continue
		}
		if err := checkValue(p, m[k], k); err != nil {
			return err
		}
	}
	req, _ := s["required"].([]any)
	for _, r := range req {
		if _, ok := m[r.(string)]; !ok {
			return at("missing key %q", r)
		}
	}
	return nil
}

func hasType(v any, t string) bool {
	switch t {
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			_, err = strconv.ParseUint(n.String(), 10, 64)
		}
		return err == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func describeJSON(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprint(v)
}

func jsonEqual(a, b any) bool {
	an, ok1 := a.(json.Number)
	bn, ok2 := b.(json.Number)
	if ok1 && ok2 {
		return !numLess(an, bn) && !numLess(bn, an)
	}
	return a == b
}

// numLess compares two JSON numbers exactly when both are integers.
func numLess(a, b json.Number) bool {
	ai, e1 := strconv.ParseInt(a.String(), 10, 64)
	bi, e2 := strconv.ParseInt(b.String(), 10, 64)
	if e1 == nil && e2 == nil {
		return ai < bi
	}
	au, e1 := strconv.ParseUint(a.String(), 10, 64)
	bu, e2 := strconv.ParseUint(b.String(), 10, 64)
	switch {
	case e1 == nil && e2 == nil:
		return au < bu
	case e1 == nil && strings.HasPrefix(b.String(), "-"):
		return false
	case e2 == nil && strings.HasPrefix(a.String(), "-"):
		return true
	}
	af, _ := a.Float64()
	bf, _ := b.Float64()
	return af < bf
}
