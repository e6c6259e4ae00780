package trace

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// FuzzStepperCommands types any lines at the stepper's prompt. Each
// command does what the help says to the breakpoints (b FILTER adds one
// numbered in turn, d N deletes number N, b lists them), anything else
// leaves them be, and every line the stepper says is indented.
func FuzzStepperCommands(f *testing.F) {
	for _, s := range []string{"b tcp and fin\nb ws\nd 1\nb", "b\nd\nd x\nd 99\nd -1\nd 1e3", "b !bad\nb  spaced  out \nb", "x\nh\n?\nzz\nb a\nd 01\nb",
		"break a\ndelete 1\nbreak", "p\ns\nf\nm\nn\nc\nq\n\nnext", "b a\nb a\nd 2\nd 2\nb", "d 9223372036854775808\nd +1\nb \u00a0x"} {
		f.Add(s)
	}
	ev := &Event{ID: 1, Node: "n", Layer: LayerTCP, Name: "segment", Fields: []Field{{Key: "seq", Value: uint32(1)}}}
	f.Fuzz(func(t *testing.T, script string) {
		var out bytes.Buffer
		s := NewStepper(StepOptions{Out: &out, ParseBreakpoint: func(filter string) (func(*Event) bool, error) {
			if strings.Contains(filter, "!") {
				return nil, errors.New("no ! here")
			}
			return func(*Event) bool { return true }, nil
		}})
		type bp struct {
			n      int
			filter string
		}
		var want []bp
		next := 1
		for line := range strings.Lines(script) {
			line = strings.TrimSpace(line)
			cmd, arg, _ := strings.Cut(line, " ")
			arg = strings.TrimSpace(arg)
			switch {
			case (cmd == "b" || cmd == "break") && arg != "" && !strings.Contains(arg, "!"):
				want = append(want, bp{next, arg})
				next++
			case cmd == "d" || cmd == "delete":
				if n, err := strconv.Atoi(arg); err == nil {
					for i := range want {
						if want[i].n == n {
							want = append(want[:i], want[i+1:]...)
							break
						}
					}
				}
			}
			s.command1(line, ev)
		}
		for line := range strings.Lines(out.String()) {
			if !strings.HasPrefix(line, indent) {
				t.Fatalf("%q: the stepper said %q, not indented", script, line)
			}
		}
		out.Reset()
		s.command1("b", ev)
		var list strings.Builder
		for _, b := range want {
			fmt.Fprintf(&list, "%s%d  %s\n", indent, b.n, b.filter)
		}
		if len(want) == 0 {
			list.WriteString(indent + "no breakpoints (b FILTER sets one)\n")
		}
		if out.String() != list.String() {
			t.Fatalf("%q: breakpoints\n%s\nwant\n%s", script, out.String(), list.String())
		}
	})
}
