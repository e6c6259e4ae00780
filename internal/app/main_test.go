package app

import (
	"fmt"
	"os"
	"testing"

	"github.com/glassnet/glassnet/internal/leaktest"
	"github.com/glassnet/glassnet/internal/stacktest"
)

// TestMain lets this test binary stand in for the glassnet command in the
// lab tests: Lab re-executes it as the lab's child, which in turn runs it
// as the probe command inside the lab. As the test binary it fails the run
// if the tests leave goroutines behind.
func TestMain(m *testing.M) {
	if InLabChild() {
		os.Exit(RunLabChild())
	}
	if os.Getenv(envLabProbe) != "" {
		os.Exit(labProbe())
	}
	if err := stacktest.PrivateControlDir(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	leaktest.Main(m)
}
