package app

import (
	"os"
	"testing"
)

// TestMain lets this test binary stand in for the glassnet command in the
// lab tests: Lab re-executes it as the lab's child, which in turn runs it
// as the probe command inside the lab.
func TestMain(m *testing.M) {
	if InLabChild() {
		os.Exit(RunLabChild())
	}
	if os.Getenv(envLabProbe) != "" {
		os.Exit(labProbe())
	}
	os.Exit(m.Run())
}
