package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/glassnet/glassnet/internal/leaktest"
)

// envBinary names the glassnet binary under test. TestMain builds one and
// sets it, so that the test binary re-executed in a network namespace uses
// the same build; set it beforehand to test a binary built elsewhere.
const envBinary = "GLASSNET_INTEROP_BINARY"

// glassnetBin is the path of the glassnet binary under test.
var glassnetBin string

// TestMain builds the glassnet binary once, runs the tests, and fails the
// run if goroutines outlive them: each one left waits on a peer process
// that was never reaped.
func TestMain(m *testing.M) {
	os.Exit(func() int {
		if glassnetBin = os.Getenv(envBinary); glassnetBin == "" {
			dir, err := os.MkdirTemp("", "glassnet-interop-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			// Built in the main module, with its go.mod and go.sum.
			build := exec.Command("go", "build", "-o", dir, "./cmd/glassnet")
			build.Dir = ".."
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "interop: build the glassnet binary:", err)
				return 1
			}
			glassnetBin = filepath.Join(dir, "glassnet")
			os.Setenv(envBinary, glassnetBin)
		}
		code := m.Run()
		if code == 0 {
			if err := leaktest.Check(leaktest.Wait); err != nil {
				fmt.Fprintln(os.Stderr, "interop:", err)
				code = 1
			}
		}
		return code
	}())
}
