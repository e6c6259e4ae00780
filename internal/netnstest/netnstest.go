// Package netnstest runs a test that needs network privileges inside a
// fresh network namespace, so that it creates interfaces, addresses and
// routes only there and never in the host's own namespace.
//
// Run re-executes the current test binary with -test.run anchored to the
// calling test, in a child process created with CLONE_NEWNET. In the child,
// where an environment marker is set, Run brings the loopback interface up
// and calls fn directly. The child's output appears in the parent's test log
// and its result becomes the parent's.
//
// fn runs in a separate process: it cannot share variables, channels or
// files opened earlier with the parent test, and the test function (and
// TestMain) that encloses the call runs again in the child up to the call.
// Pass data into the child through environment variables (t.Setenv before
// Run) and check results inside fn. Of the test flags only -test.short and
// the remaining -test.timeout reach the child.
//
// Without the privileges to create a namespace the test is skipped with a
// message saying what is missing, unless GLASSNET_REQUIRE_PRIVILEGED=1 is set
// in the environment: then it fails, so that CI cannot pass by skipping.
//
//	func TestTUN(t *testing.T) {
//		netnstest.RunTUN(t, func(t *testing.T) {
//			dev, err := tun.Open(tun.Config{HostAddr: netip.MustParsePrefix("10.200.0.1/24")})
//			...
//		})
//	}
//
// RunUnprivileged is the opposite: it runs fn in a child without
// privileges (as user nobody when the tests run as root), to check what a
// user who is not root gets, such as a clear permission error.
//
// The child has its own network namespace only: the mount namespace is the
// host's, so /sys/class/net still lists the host's interfaces. Use netlink
// (or net.Interfaces) to look at the child's.
package netnstest

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// EnvRequire is the environment variable that turns a missing privilege
// into a test failure instead of a skip when set to "1".
const EnvRequire = "GLASSNET_REQUIRE_PRIVILEGED"

// SkipOrFail skips the test with the message, or fails it when
// GLASSNET_REQUIRE_PRIVILEGED=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf(format+" ("+EnvRequire+"=1 is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format+" (set "+EnvRequire+"=1 to make this a failure)", args...)
}

// runPattern returns a -test.run pattern that matches exactly the test
// named name (as t.Name returns it) and its ancestors.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// result finds the verdict line for test name in verbose test output.
func result(out, name string) string {
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		for _, v := range []string{"PASS", "FAIL", "SKIP"} {
			if strings.HasPrefix(line, "--- "+v+": "+name+" (") {
				return v
			}
		}
	}
	return ""
}

// logWriter forwards a child's output to the test log line by line and
// keeps all of it for result.
type logWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	line   []byte
	all    bytes.Buffer
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.line[:i]))
		w.line = w.line[i+1:]
	}
	return len(p), nil
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.line) > 0 {
		w.t.Log(w.prefix + string(w.line))
		w.line = nil
	}
}
