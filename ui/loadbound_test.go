package ui

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/trace"
)

// jsonlTrace returns n JSON lines events, as --trace writes them.
func jsonlTrace(n int) []byte {
	var b bytes.Buffer
	for id := 1; id <= n; id++ {
		fmt.Fprintf(&b, `{"dir":"out","event":"packet","id":%d,"layer":"link","node":"server","seq":%d,"summary":"IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack %d, length 0","t":%d,"v":1}`+"\n", id, id*7, id*3, id*1000)
	}
	return b.Bytes()
}

// pcapngCapture returns a pcapng capture, as the view exports one, of the
// n packets of wsCapture.
func pcapngCapture(t *testing.T, n int) []byte {
	t.Helper()
	s, err := New(Options{History: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	defer s.cancel()
	if _, err := s.Load(bytes.NewReader(wsCapture(n))); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := s.WritePCAPNG(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// loadCount loads file into a Server that keeps history events and
// returns the events it retained, the bytes Load allocated, and Load's
// error.
func loadCount(t *testing.T, file []byte, history int) (kept, allocated uint64, err error) {
	t.Helper()
	s, nerr := New(Options{History: history})
	if nerr != nil {
		t.Fatal(nerr)
	}
	defer s.cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = s.Load(bytes.NewReader(file))
	runtime.ReadMemStats(&after)
	_, _, kept = s.hist.bounds()
	return kept, after.TotalAlloc - before.TotalAlloc, err
}

// TestLoadBoundedByHistory: a recorded run far longer than the history
// costs the load what the history costs, not what the file holds. Load
// retains the history's number of events, counts the rest, and allocates
// for a file 20 times the history about what it allocates for a file of
// the history's length (before it read every event of the file, and kept
// the first: a 3-million-event trace took 5 GB to show 200,000).
func TestLoadBoundedByHistory(t *testing.T) {
	const history = 2000
	for _, c := range []struct {
		name    string
		file    func(n int) []byte
		atLeast bool // a capture's frames of the packets counted are not counted
	}{
		{"jsonl", jsonlTrace, false},
		{"pcap", wsCapture, true},
		{"pcapng", func(n int) []byte { return pcapngCapture(t, n) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			small, large := c.file(history), c.file(20*history)
			// The bytes allocated are counted for the whole process:
			// the fewest of three loads leaves out what goroutines of
			// other tests allocated meanwhile.
			var base, allocated uint64 = 1 << 63, 1 << 63
			var kept uint64
			var err error
			for range 3 {
				_, b, _ := loadCount(t, small, history)
				k, a, e := loadCount(t, large, history)
				base, allocated, kept, err = min(base, b), min(allocated, a), k, e
			}
			var many *TooManyError
			if !errors.As(err, &many) {
				t.Fatalf("Load of %d packets or lines into a history of %d: %v, want a TooManyError", 20*history, history, err)
			}
			t.Logf("%v; %d bytes allocated for the file of %d, %d for the file of %d", err, allocated, 20*history, base, history)
			if kept != history {
				t.Errorf("retained %d events, want the history's %d", kept, history)
			}
			if many.Kept != history || many.Events < 20*history || many.AtLeast != c.atLeast {
				t.Errorf("TooManyError %+v, want Kept %d, Events %d or more, AtLeast %v", *many, history, 20*history, c.atLeast)
			}
			if !c.atLeast && many.Events != 20*history {
				t.Errorf("TooManyError counts %d events of a trace of %d lines", many.Events, 20*history)
			}
			if allocated > 2*base {
				t.Errorf("Load of a file 20 times the history allocated %d bytes, more than twice the %d of a file the history's length", allocated, base)
			}
		})
	}
}

// TestLoadCountsPastHistory: the lines past the history are counted, not
// read, so a bad line there (a trace being written when it was copied)
// does not hide the events before it behind an error about it.
func TestLoadCountsPastHistory(t *testing.T) {
	t.Parallel()
	file := string(jsonlTrace(10)) + "not an event\n\n" + `{"id":11,"t":` // cut mid-line
	kept, _, err := loadCount(t, []byte(file), 10)
	var many *TooManyError
	if kept != 10 || !errors.As(err, &many) || many.Events != 12 || strings.Contains(err.Error(), "line 11") {
		t.Errorf("Load: %d events, %v; want 10 and a TooManyError of 12 events", kept, err)
	}
}

// TestLoadFromSkips: LoadFrom leaves out the first events of a trace, or
// packets of a capture, which keep their numbers, so that the part of a
// run after the history's length can be seen; past the end it says so.
func TestLoadFromSkips(t *testing.T) {
	t.Parallel()
	s, err := New(Options{History: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.cancel()
	n, err := s.LoadFrom(bytes.NewReader(jsonlTrace(25)), 10)
	var many *TooManyError
	if n != 10 || !errors.As(err, &many) || many.Events != 25 || many.Skipped != 10 || many.Next != 20 || !strings.Contains(err.Error(), "the 10 after the first 10") {
		t.Errorf("LoadFrom 10 of 25 lines into a history of 10: %d, %v", n, err)
	}
	if st := s.State(); st.First != 11 || st.Last != 20 {
		t.Errorf("kept events %d to %d, want 11 to 20", st.First, st.Last)
	}

	c, err := New(Options{History: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.cancel()
	if n, err := c.LoadFrom(bytes.NewReader(wsCapture(50)), 20); n == 0 || err != nil {
		t.Fatalf("LoadFrom 20 of a capture of 50 packets: %d, %v", n, err)
	}
	var first *trace.Event
	c.hist.scanBack(^uint64(0), 1<<20, func(e *trace.Event) bool {
		if e.Name == "packet" {
			first = e
		}
		return true
	})
	if first == nil {
		t.Fatal("no packet after 20 of 50 left out")
	}
	number := first.ID // a packet's number, unless frames came between (capture.go)
	if v, ok := first.Field("pcap_number").(uint64); ok {
		number = v
	}
	if number != 21 {
		t.Errorf("the first packet after 20 left out is number %d in the capture, want 21: %s", number, first.Summary)
	}

	// Of a capture, the next part starts after the last packet kept:
	// its frames took some of the history's room.
	p, err := New(Options{History: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer p.cancel()
	_, err = p.LoadFrom(bytes.NewReader(wsCapture(3000)), 0)
	kept := 0
	p.hist.scanBack(^uint64(0), 1<<20, func(e *trace.Event) bool {
		if e.Name == "packet" {
			kept++
		}
		return true
	})
	if !errors.As(err, &many) || many.Next != kept || kept >= 1000 {
		t.Errorf("a capture of 3000 packets in a history of 1000 events: %v, %+v; want Next the %d packets kept", err, many, kept)
	}

	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.cancel()
	if n, err := e.LoadFrom(bytes.NewReader(jsonlTrace(5)), 5); n != 0 || err == nil {
		t.Errorf("LoadFrom 5 of 5 lines: %d, %v; want an error that nothing is left", n, err)
	}
}

// TestLoadLongCaptureFrames: of a capture longer than the history, the
// frames of both directions are in the part kept. When Load read the
// whole capture, the frames the history could hold were all spent on the
// first stream, through to the capture's end, and the replies had none.
func TestLoadLongCaptureFrames(t *testing.T) {
	t.Parallel()
	s, err := New(Options{History: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.cancel()
	if _, err := s.Load(bytes.NewReader(wsCapture(6000))); err == nil {
		t.Fatal("Load of 6000 packets into a history of 1000 events: no TooManyError")
	}
	frames := map[trace.Dir]int{}
	s.hist.scanBack(^uint64(0), 1<<20, func(e *trace.Event) bool {
		if e.Layer == trace.LayerWS && e.Name == "frame" {
			frames[e.Dir]++
		}
		return true
	})
	if frames[trace.In] == 0 || frames[trace.Out] == 0 || frames[trace.In]-frames[trace.Out] > 1 {
		t.Errorf("frames kept by direction: %v, want as many each way (each message is echoed)", frames)
	}
}

// TestLoadPartialState: the state tells the page what a recorded run's
// load left out, so that the count of events it shows is not read as the
// whole run: a run longer than the history, with the --skip that shows
// the next part, and a file cut short; nothing for a file shown whole.
func TestLoadPartialState(t *testing.T) {
	t.Parallel()
	const history = 100
	whole := jsonlTrace(history)
	cut := whole[:len(whole)-10]
	for _, c := range []struct {
		name string
		file []byte
		skip int
		want []string // "" for none
	}{
		{"whole", whole, 0, nil},
		{"longer", jsonlTrace(3 * history), 0, []string{"first 100 of 300 in the file · --skip 100 for the next"}},
		{"longer skipped", jsonlTrace(3 * history), 100, []string{"100 after the first 100 of 300 in the file · --skip 200 for the next"}},
		{"cut short", cut, 0, []string{"line 100"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(Options{History: history})
			if err != nil {
				t.Fatal(err)
			}
			defer s.cancel()
			s.LoadFrom(bytes.NewReader(c.file), c.skip)
			p := s.State().Partial
			if c.want == nil && p != "" {
				t.Fatalf("partial = %q for a file shown whole", p)
			}
			for _, w := range c.want {
				if !strings.Contains(p, w) {
					t.Errorf("partial = %q, want it to say %q", p, w)
				}
			}
			if strings.Contains(p, "ui: ") || strings.Contains(p, "\n") {
				t.Errorf("partial = %q: one line, without the package's prefix", p)
			}
		})
	}
}
