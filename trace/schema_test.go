package trace

import (
	"bytes"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite schema.json from the Go structs")

// TestSchemaFile checks that schema.json is what JSONSchema generates from
// the structs; go generate (or -update) rewrites it.
func TestSchemaFile(t *testing.T) {
	got := JSONSchema()
	if *update {
		if err := os.WriteFile("schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, schemaFile) {
		t.Fatal("schema.json differs from the Go structs: run go generate ./trace/")
	}
}

func TestKindsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds {
		name := string(k.Layer) + "." + k.Event
		if seen[name] {
			t.Errorf("kind %s listed twice", name)
		}
		seen[name] = true
		if _, ok := KindOf(k.Layer, k.Event); !ok {
			t.Errorf("KindOf(%s) not found", name)
		}
	}
}

func TestValidateJSON(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	tr := New(NewJSON(&b))
	tr.Emit(packetEvent(1, 1448))
	tr.Emit(Event{Node: "server", Layer: LayerWS, Dir: In, Name: "frame", Conn: "a->b", Summary: "FIN text len=5",
		Fields: []Field{{"fin", true}, {"rsv", 0}, {"opcode", "text"}, {"masked", true}, {"len", int64(5)},
			{"header_len", 6}, {"offset", int64(0)}, {"offset_from", "tcp"}, {"ws_offset", int64(0)}}})
	tr.Emit(Event{Node: "demo", Layer: LayerApp, Name: "step", Summary: "narration"})
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if err := ValidateJSON([]byte(line)); err != nil {
			t.Errorf("%s: %v", line, err)
		}
	}

	good := `{"v":1,"id":3,"t":5,"node":"server","layer":"socket","dir":"in","event":"recv","conn":"a->b","fd":4,"n":10,"offset":0}`
	if err := ValidateJSON([]byte(good)); err != nil {
		t.Fatalf("good event: %v", err)
	}
	for _, c := range []struct{ line, want string }{
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"socket","dir":"in","event":"recv","fd":4,"bogus":1}`, `unknown key "bogus"`},
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"socket","dir":"in","event":"recv","fd":"4"}`, "fd: \"4\" has the wrong type"},
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"socket","dir":"in","event":"recv"}`, `missing key "fd"`},
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"socket","dir":"in","event":"recv","fd":4.5}`, "wrong type"},
		{`{"v":1,"id":-3,"t":5,"node":"s","layer":"socket","dir":"in","event":"recv","fd":4}`, "below 0"},
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"socket","dir":"sideways","event":"recv","fd":4}`, "not one of"},
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"link","dir":"in","event":"packet","len":40,"seq":4294967296}`, "above 4294967295"},
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"link","dir":"in","event":"packet","len":40,"frames":[1,"x"]}`, "frames[1]"},
		{`{"v":1,"id":3,"t":5,"node":"s","layer":"socket","dir":"in","event":"fly"}`, "not in the schema"},
		{`{"id":3,"t":5,"node":"s","layer":"socket","dir":"in","event":"close","fd":1}`, `missing key "v"`},
		{`[1]`, "not a JSON object"},
		{`{"layer":"app","event":"step"} {}`, "more than one"},
	} {
		err := ValidateJSON([]byte(c.line))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one containing %q", c.line, err, c.want)
		}
	}
}

// TestFieldsFile checks that fields_gen.go is what genFields writes from
// the structs; go generate (or -update) rewrites it.
func TestFieldsFile(t *testing.T) {
	got, err := genFields()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("fields_gen.go", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile("fields_gen.go")
	if err != nil || !bytes.Equal(got, have) {
		t.Fatalf("fields_gen.go differs from the Go structs (%v): run go generate ./trace/", err)
	}
}

// fill sets every field of the struct v points to, pointers included.
func fill(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint32, reflect.Uint64:
			f.SetUint(7)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]uint64{1, 2}))
		case reflect.Interface:
			f.Set(reflect.ValueOf("request"))
		case reflect.Struct: // an Opt: set, with a zero value
			f.FieldByName("Set").SetBool(true)
		}
	}
}

// TestFieldsMatchSchema: an event of each kind whose struct has every
// field set, emitted through NewJSON with its Fields method, validates
// against schema.json; with none of the optional ones set it does too.
func TestFieldsMatchSchema(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds {
		for _, full := range []bool{true, false} {
			v := reflect.New(k.Fields)
			if full {
				fill(v.Elem())
			}
			// A field with an enum holds one of its values.
			for i := range k.Fields.NumField() {
				if e, ok := strings.CutPrefix(k.Fields.Field(i).Tag.Get("schema"), "enum="); ok {
					first, _, _ := strings.Cut(e, ",")
					v.Elem().Field(i).SetString(first)
				}
			}
			var fields []Field
			if m := v.MethodByName("Fields"); m.IsValid() {
				fields = m.Call(nil)[0].Interface().([]Field)
			}
			if full && len(fields) != k.Fields.NumField() {
				t.Errorf("%s.%s: %d fields of %d", k.Layer, k.Event, len(fields), k.Fields.NumField())
			}
			var b bytes.Buffer
			New(NewJSON(&b)).Emit(Event{Node: "n", Layer: k.Layer, Dir: In, Name: k.Event, Fields: fields})
			if err := ValidateJSON(b.Bytes()); err != nil {
				t.Errorf("%s.%s (all set %v): %v\n%s", k.Layer, k.Event, full, err, b.Bytes())
			}
		}
	}
}

// TestFieldsExactLength checks that Fields allocates no room beyond the
// fields it lists: an event keeps its Fields, and a packet's 14 fields in
// room for 34 would cost more than twice the memory.
func TestFieldsExactLength(t *testing.T) {
	p := DescribePacket(tcpPacket(ipClient, ipServer, 40000, 80, 1000, 1, 0x18, "hello"), nil)
	f := p.Fields()
	if len(f) == 0 || cap(f) != len(f) {
		t.Errorf("LinkPacket.Fields: len %d, cap %d; want the same, above 0", len(f), cap(f))
	}
	for _, k := range Kinds {
		for _, full := range []bool{false, true} {
			v := reflect.New(k.Fields)
			if full {
				fill(v.Elem())
			}
			fs, ok := v.Interface().(interface{ Fields() []Field })
			if !ok {
				continue // a kind of no fields
			}
			f := fs.Fields()
			if cap(f) != len(f) {
				t.Errorf("%s.Fields (every field set: %v): len %d, cap %d; want the same", k.Fields.Name(), full, len(f), cap(f))
			}
		}
	}
}

// TestFieldKeysApartFromHeader: no kind's field has a key of the header's
// (v, id, t, node, ...). NewJSON writes the header's keys after the
// fields, so such a field never reached a trace: the IPv4 identification
// and the ICMP echo identifier, both "id", were the event's id in every
// JSON line.
func TestFieldKeysApartFromHeader(t *testing.T) {
	header := map[string]bool{}
	ht := reflect.TypeOf(Header{})
	for i := range ht.NumField() {
		if key, _ := jsonKey(ht.Field(i)); key != "" {
			header[key] = true
		}
	}
	if !header["id"] || !header["node"] {
		t.Fatalf("header keys %v", header)
	}
	for _, k := range Kinds {
		for i := range k.Fields.NumField() {
			if key, _ := jsonKey(k.Fields.Field(i)); header[key] {
				t.Errorf("%s.%s: field %s has the header's key %q", k.Layer, k.Event, k.Fields.Field(i).Name, key)
			}
		}
	}
}
