package trace_test

import (
	"context"
	"fmt"

	"github.com/glassnet/glassnet/trace"
)

// A correlating Tracer joins a WebSocket frame and the packet that carried
// it. Here the packet arrives first (ingress): the frame event names the
// packet, and a carried event names the frame for the packet.
func ExampleTracer_Correlate() {
	ring := trace.NewRing(16)
	tr := trace.New(ring)
	tr.Correlate()
	tr.Emit(trace.Event{Node: "server", Layer: trace.LayerLink, Dir: trace.In, Name: "packet",
		Conn: "10.0.0.1:5000->10.0.0.2:80", Summary: "IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [P.], seq 152:173, length 21",
		Fields: []trace.Field{{Key: "flags", Value: "P."}, {Key: "rel_seq", Value: uint32(152)}, {Key: "payload_len", Value: 21}}})
	tr.Emit(trace.Event{Node: "server", Layer: trace.LayerWS, Dir: trace.In, Name: "frame",
		Conn: "10.0.0.2:80->10.0.0.1:5000", Summary: "FIN text len=15 masked",
		Fields: []trace.Field{{Key: "len", Value: int64(15)}, {Key: "header_len", Value: 6},
			{Key: "offset", Value: int64(151)}, {Key: "offset_from", Value: "tcp"}}})
	for _, e := range ring.Events() {
		fmt.Printf("#%d %s %s: %s\n", e.ID, e.Layer, e.Name, e.Summary)
	}
	// Output:
	// #1 link packet: IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [P.], seq 152:173, length 21
	// #2 ws frame: FIN text len=15 masked [packet #1]
	// #3 link carried: packet #1 carried ws frame #2 (FIN text len=15 masked at offset 151)
}

// A program steps through events with Wait and Next; the emitting
// goroutine, and every other layer with it, waits meanwhile.
func ExampleStepper() {
	st := trace.NewStepper(trace.StepOptions{})
	tr := trace.New(st)
	go func() {
		tr.Emit(trace.Event{Layer: trace.LayerLink, Dir: trace.In, Name: "packet"})
		tr.Emit(trace.Event{Layer: trace.LayerTCP, Dir: trace.In, Name: "state"})
		tr.Emit(trace.Event{Layer: trace.LayerWS, Dir: trace.In, Name: "frame"})
	}()
	ctx := context.Background()
	e, _ := st.Wait(ctx)
	fmt.Println("paused before", e.Layer, e.Name)
	st.ContinueToFrame() // skip to the next WebSocket frame
	e, _ = st.Wait(ctx)
	fmt.Println("paused before", e.Layer, e.Name)
	st.Run()
	// Output:
	// paused before link packet
	// paused before ws frame
}
