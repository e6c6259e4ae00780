// Package leaktest fails a test binary whose tests leave goroutines behind.
//
//	func TestMain(m *testing.M) { leaktest.Main(m) }
package leaktest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long Main gives goroutines to finish after the tests.
const Wait = 10 * time.Second

// Main runs the tests, then fails the binary if goroutines other than the
// runtime's and the test runner's are still alive after Wait.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := Check(Wait); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// Check waits up to wait for every goroutine but the caller's, the
// runtime's and the test runner's to end, and returns their stacks in an
// error if some are still there.
func Check(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		left := leaked()
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines outlived the tests:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benign marks goroutines of the runtime and the test runner (the fuzzing
// engine installs a signal handler, for one).
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
		if i == 0 || strings.TrimSpace(g) == "" { // the goroutine running this check
			continue
		}
		keep := true
		for _, b := range benign {
			if strings.Contains(g, b) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, g)
		}
	}
	return out
}
