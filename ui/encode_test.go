package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// sinkJSON is the line trace.NewJSON writes for e, without its newline.
func sinkJSON(e *trace.Event) []byte {
	var b bytes.Buffer
	trace.NewJSON(&b).Emit(e)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func FuzzEventJSON(f *testing.F) {
	f.Add("a->b", "sum <b>&\"quoted\"\n\t\x00\x7f", "key", "value\u2028\u2029", int64(-5), 1.5, true)
	f.Add("", "", "id", "\xff\xfe", int64(0), 1e21, false)
	f.Add("10.0.0.1:1->10.0.0.2:80", "ok", "summary", "x", int64(1<<62), -1.25e-7, true)
	f.Add("c", "", "conn", "é", int64(3), 2.0, false)
	f.Add("c", "", "conn", "", int64(3), math.NaN(), false)
	f.Add("c", "", "conn", "", int64(3), math.Inf(-1), false)
	f.Fuzz(func(t *testing.T, conn, summary, key, val string, n int64, x float64, b bool) {
		e := &trace.Event{ID: 7, T: 3 * time.Millisecond, Node: "client", Layer: trace.LayerTCP, Dir: trace.In, Name: "segment", Conn: conn, Summary: summary,
			Fields: []trace.Field{{Key: key, Value: val}, {Key: "n", Value: n}, {Key: "u", Value: uint32(n)}, {Key: "d", Value: time.Duration(n)},
				{Key: "b", Value: b}, {Key: "ids", Value: []uint64{1, uint64(n)}}, {Key: "nil", Value: nil}, {Key: "none", Value: []uint64(nil)},
				{Key: "f", Value: x}, {Key: key, Value: n}}}
		want := sinkJSON(e)
		got := appendEventJSON(nil, e)
		if !json.Valid(got) {
			t.Fatalf("not JSON: %s", got)
		}
		// encoding/json refuses NaN and the infinities, so there is no
		// reference to compare with then; the page's must still parse.
		if json.Valid(want) && !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// TestEventJSONManyKeys: an event with more keys than glassnet's events
// have (a recorded file can hold any) is written as encoding/json writes
// it, keys in order.
func TestEventJSONManyKeys(t *testing.T) {
	t.Parallel()
	e := &trace.Event{ID: 1, Node: "n", Layer: trace.LayerApp, Name: "step"}
	for i := range 100 {
		e.Fields = append(e.Fields, trace.Field{Key: fmt.Sprintf("k%03d", (i*37)%100), Value: i})
	}
	if got, want := appendEventJSON(nil, e), sinkJSON(e); !bytes.Equal(got, want) {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

// BenchmarkAppendEventJSON writes a TCP segment's link event as the live
// stream does.
func BenchmarkAppendEventJSON(b *testing.B) {
	d := trace.DescribePacket(tcpPacket("hello, world"), nil)
	e := &trace.Event{ID: 12345, Node: "server", Layer: trace.LayerLink, Dir: trace.In, Name: "packet", Conn: d.Conn, Summary: d.Summary,
		Fields: d.Fields()}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = appendEventJSON(buf[:0], e)
	}
}
