package trace

import (
	"bytes"
	"flag"
	"os"
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
