//go:build !linux

package netnstest

import (
	"runtime"
	"testing"
)

// Run skips the test: network namespaces exist on Linux only.
func Run(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	SkipOrFail(t, "netnstest: %s needs a Linux network namespace; this is %s", t.Name(), runtime.GOOS)
}

// RunTUN skips the test: network namespaces exist on Linux only.
func RunTUN(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	Run(t, fn)
}

// RunUnprivileged skips the test: it is implemented on Linux only.
func RunUnprivileged(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	SkipOrFail(t, "netnstest: RunUnprivileged is implemented on Linux only; this is %s", runtime.GOOS)
}

// Another fails the test: network namespaces exist on Linux only, and
// Run has skipped before a test gets here.
func Another(t testing.TB) int {
	t.Helper()
	t.Fatal("netnstest: Another needs Linux")
	return -1
}
