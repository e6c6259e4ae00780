package netnstest

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	envParentNS  = "NETNSTEST_TEST_PARENT_NS"
	envParentPID = "NETNSTEST_TEST_PARENT_PID"
	envHelper    = "NETNSTEST_TEST_HELPER"
)

// TestRunIsolates proves fn runs in another process, in another network
// namespace that holds only an up loopback interface.
func TestRunIsolates(t *testing.T) {
	id, err := netnsID()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := marker(); !ok {
		// This function runs again in the child: only the parent's
		// environment carries the parent's values.
		t.Setenv(envParentNS, id)
		t.Setenv(envParentPID, strconv.Itoa(os.Getpid()))
	}
	Run(t, func(t *testing.T) {
		if pid := os.Getenv(envParentPID); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			t.Errorf("fn runs in process %d, parent process %q: want different", os.Getpid(), pid)
		}
		child, err := netnsID()
		if err != nil {
			t.Fatal(err)
		}
		parent := os.Getenv(envParentNS)
		if parent == "" || child == parent {
			t.Fatalf("child namespace %s, parent namespace %q: want different", child, parent)
		}
		links, err := netlink.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 1 || links[0].Attrs().Name != "lo" {
			var names []string
			for _, l := range links {
				names = append(names, l.Attrs().Name)
			}
			t.Fatalf("links in the namespace: %v, want only lo", names)
		}
		if links[0].Attrs().Flags&net.FlagUp == 0 {
			t.Fatal("lo is down")
		}
		// Loopback really carries traffic.
		ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.DialUDP("udp4", nil, ln.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, _, err := ln.ReadFromUDP(buf)
		if err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("loopback read %q, %v", buf[:n], err)
		}
	})
}

// TestAnother proves Another gives a namespace other than the test's,
// and leaves the test in its own.
func TestAnother(t *testing.T) {
	Run(t, func(t *testing.T) {
		before, err := netnsID()
		if err != nil {
			t.Fatal(err)
		}
		fd := Another(t)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		other := strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10)
		after, err := netnsID()
		if err != nil {
			t.Fatal(err)
		}
		if other == before || after != before {
			t.Fatalf("namespace before %s, after %s, Another's %s: want Another's to differ and the test's to stay", before, after, other)
		}
	})
}

// TestRunSubtestNames proves the re-executed child finds subtests whose
// names hold regexp metacharacters, spaces and duplicates.
func TestRunSubtestNames(t *testing.T) {
	for _, name := range []string{"plain", "spaces and (parens) [x]|y.*", "plain"} {
		t.Run(name, func(t *testing.T) {
			Run(t, func(t *testing.T) {
				m, ok := marker()
				if !ok || m.test != t.Name() {
					t.Fatalf("child marker %+v, want test %q", m, t.Name())
				}
			})
		})
	}
}

func TestRunSkipInChildSkipsParent(t *testing.T) {
	if _, ok := marker(); ok {
		t.Skip("runs only at the top level")
	}
	if err := privileged(); err != nil {
		SkipOrFail(t, "needs privileges: %v", err)
	}
	// Without EnvRequire, a skip in the child skips the parent; with
	// it, the parent fails, as it would have skipped itself.
	for _, tc := range []struct {
		require string
		want    string
		fails   bool
	}{
		{"0", "--- SKIP: TestHelperChildSkips", false},
		{"1", "--- FAIL: TestHelperChildSkips", true},
	} {
		out, err := runHelper(t, "TestHelperChildSkips", "childskips", []string{EnvRequire + "=" + tc.require})
		if (err != nil) != tc.fails || !strings.Contains(out, tc.want) {
			t.Errorf("%s=%s: helper %v, want %q in its output\n%s", EnvRequire, tc.require, err, tc.want, out)
		}
	}
}

func TestHelperChildSkips(t *testing.T) {
	if os.Getenv(envHelper) != "childskips" {
		return // a helper for TestRunSkipInChildSkipsParent
	}
	Run(t, func(t *testing.T) { t.Skip("deliberate skip in the namespace") })
}

// TestRunChildFailureFailsParent runs a helper test whose fn fails in the
// namespace, and checks that the helper's process fails with the message.
func TestRunChildFailureFailsParent(t *testing.T) {
	if _, ok := marker(); ok {
		t.Skip("runs only at the top level")
	}
	if err := privileged(); err != nil {
		SkipOrFail(t, "needs privileges: %v", err)
	}
	out, err := runHelper(t, "TestHelperChildFails", "childfails", nil)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("helper: %v, want a failing exit\n%s", err, out)
	}
	for _, want := range []string{"boom from the namespace", "failed in the netns child", "--- FAIL: TestHelperChildFails"} {
		if !strings.Contains(out, want) {
			t.Errorf("helper output lacks %q:\n%s", want, out)
		}
	}
}

func TestHelperChildFails(t *testing.T) {
	if os.Getenv(envHelper) != "childfails" {
		return // a helper for TestRunChildFailureFailsParent
	}
	Run(t, func(t *testing.T) { t.Error("boom from the namespace") })
}

// TestUnprivilegedSkips proves that without privileges Run skips with a
// message naming what is missing.
func TestUnprivilegedSkips(t *testing.T) {
	RunUnprivileged(t, func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Fatal("the unprivileged child runs as root")
		}
		t.Setenv(EnvRequire, "")
		var inner *testing.T
		t.Run("inner", func(t *testing.T) {
			inner = t
			Run(t, func(t *testing.T) { t.Error("fn ran without privileges") })
		})
		if !inner.Skipped() {
			t.Fatal("Run without privileges did not skip")
		}
	})
}

// TestUnprivilegedRequireFails proves that with GLASSNET_REQUIRE_PRIVILEGED=1
// a missing privilege fails the test instead of skipping it.
func TestUnprivilegedRequireFails(t *testing.T) {
	RunUnprivileged(t, func(t *testing.T) {
		out, err := runHelper(t, "TestHelperRequire", "require", []string{EnvRequire + "=1"})
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("helper: %v, want a failing exit\n%s", err, out)
		}
		for _, want := range []string{"missing CAP_SYS_ADMIN and CAP_NET_ADMIN", "fails instead of skipping", "--- FAIL: TestHelperRequire"} {
			if !strings.Contains(out, want) {
				t.Errorf("helper output lacks %q:\n%s", want, out)
			}
		}
	})
}

func TestHelperRequire(t *testing.T) {
	if os.Getenv(envHelper) != "require" {
		return // a helper for TestUnprivilegedRequireFails
	}
	Run(t, func(t *testing.T) { t.Error("fn ran without privileges") })
}

// runHelper runs one test of this binary in a new process with the helper
// environment variable set.
func runHelper(t *testing.T, test, helper string, env []string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.v=true", "-test.count=1")
	cmd.Env = append(append(os.Environ(), envHelper+"="+helper), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
