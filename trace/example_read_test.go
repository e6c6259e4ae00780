package trace_test

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// A recorded trace (what --trace FILE writes) read back and counted by
// layer and step. Here the trace is written in the same program, from a
// few events a stack would emit.
func ExampleReadJSONL() {
	var file bytes.Buffer // an *os.File in a real program
	tr := trace.New(trace.NewJSON(&file))
	conn := "10.0.0.2:80->10.0.0.1:5000"
	tr.Emit(trace.Event{Node: "server", Layer: trace.LayerLink, Dir: trace.In, Name: "packet", Conn: conn})
	tr.Emit(trace.Event{Node: "server", Layer: trace.LayerTCP, Dir: trace.In, Name: "state", Conn: conn})
	tr.Emit(trace.Event{Node: "server", Layer: trace.LayerSocket, Dir: trace.In, Name: "recv", Conn: conn,
		Fields: (&trace.SocketIO{FD: 4, N: trace.Some(21), Offset: trace.Some[uint64](151)}).Fields()})
	tr.Emit(trace.Event{Node: "server", Layer: trace.LayerWS, Dir: trace.In, Name: "frame", Conn: conn})
	tr.Emit(trace.Event{Node: "server", Layer: trace.LayerLink, Dir: trace.In, Name: "packet", Conn: conn})

	events, err := trace.ReadJSONL(&file)
	if err != nil {
		fmt.Println(err) // names the line that is not an event
	}
	counts := map[string]int{}
	for _, e := range events {
		counts[string(e.Layer)+" "+e.Name]++
		if e.Name == "recv" {
			fmt.Println("recv copied", e.Field("n"), "bytes at offset", e.Field("offset"))
		}
	}
	fmt.Println(counts)
	// Output:
	// recv copied 21 bytes at offset 151
	// map[link packet:2 socket recv:1 tcp state:1 ws frame:1]
}

// A capture written by the PCAPNG sink (what demo --pcap writes) read back
// into link "packet" events, one interface per node, each described as the
// stack described it live.
func ExampleReadPCAPNG() {
	client := netip.MustParseAddr("10.0.0.1")
	server := netip.MustParseAddr("10.0.0.2")
	var file bytes.Buffer
	capture := trace.NewPCAPNG(&file)
	tr := trace.New(capture)
	for _, p := range []struct {
		dir trace.Dir
		pkt []byte
	}{
		{trace.Out, hook.BuildTCP(client, server, 5000, 80, 1000, 0, hook.FlagSYN, 64240, 64)},
		{trace.In, hook.BuildTCP(server, client, 80, 5000, 7000, 1001, hook.FlagSYN|hook.FlagACK, 65535, 64)},
		{trace.Out, hook.BuildTCP(client, server, 5000, 80, 1001, 7001, hook.FlagACK, 64240, 64)},
	} {
		tr.Emit(trace.Event{Node: "client", Layer: trace.LayerLink, Dir: p.dir, Name: "packet", Data: p.pkt})
	}
	if err := capture.Close(); err != nil { // writes what the sink still holds
		fmt.Println(err)
		return
	}

	events, err := trace.ReadPCAPNG(&file)
	if err != nil {
		fmt.Println(err)
	}
	for _, e := range events {
		fmt.Printf("#%d %s %-3s %s\n", e.ID, e.Node, e.Dir, e.Summary)
	}
	// Output:
	// #1 client out IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [S], seq 0, win 64240, length 0
	// #2 client in  IP 10.0.0.2.80 > 10.0.0.1.5000: Flags [S.], seq 0, ack 1, win 65535, length 0
	// #3 client out IP 10.0.0.1.5000 > 10.0.0.2.80: Flags [.], ack 1, win 64240, length 0
}
