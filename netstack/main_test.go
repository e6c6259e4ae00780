package netstack

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines outlive the tests: every Stack must
// stop what it started.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := settleGoroutines(10 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// settleGoroutines waits until no goroutine is left but the test runner's
// own, or reports the others.
func settleGoroutines(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		left := leaked()
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutines: %d\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benign marks goroutines that belong to the runtime or the test runner
// (the fuzzing engine installs a signal handler, for one).
var benign = []string{
	"testing.(*M).",
	"testing.tRunner",
	"testing.runFuzzing",
	"os/signal.loop",
	"runtime.goexit0",
}

func leaked() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 { // the goroutine running this check
			continue
		}
		keep := true
		for _, b := range benign {
			if strings.Contains(g, b) {
				keep = false
				break
			}
		}
		if keep && strings.TrimSpace(g) != "" {
			out = append(out, g)
		}
	}
	return out
}
