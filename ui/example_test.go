package ui_test

import (
	"fmt"
	"strings"

	"github.com/glassnet/glassnet/ui"
)

// A recorded run, as glassnet view opens it: the events of a --trace file
// in the history, nothing to control.
func ExampleServer_Load() {
	view, err := ui.New(ui.Options{})
	if err != nil {
		panic(err)
	}
	defer view.Close()
	n, err := view.Load(strings.NewReader(`{"id":1,"t":0,"node":"client","layer":"socket","dir":"","event":"connect","fd":3}
{"id":2,"t":5000,"node":"client","layer":"tcp","dir":"out","event":"segment","flags":"S","seq":1000}
`))
	if err != nil {
		panic(err)
	}
	st := view.State()
	fmt.Println(n, st.Live, st.First, st.Last, st.Nodes)
	// Output: 2 false 1 2 [client]
}

// Breakpoints are written as the rule filters are, plus TCP state
// conditions; a bad one gives the rule parser's message.
func ExampleParseBreakpoint() {
	for _, src := range []string{"tcp and fin", "ws close", "rcv_wnd == 0", "state TIME-WAIT", "retransmit", "tcp and fni"} {
		_, err := ui.ParseBreakpoint(src)
		fmt.Printf("%-16s %v\n", src, err)
	}
	// Output:
	// tcp and fin      <nil>
	// ws close         <nil>
	// rcv_wnd == 0     <nil>
	// state TIME-WAIT  <nil>
	// retransmit       <nil>
	// tcp and fni      filter "tcp and fni": at column 9: unknown word "fni"
}
