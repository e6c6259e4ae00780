package netnstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// envChild marks a child process started by this package. Its value is
// "mode;namespace of the parent;test name".
const envChild = "GLASSNET_NETNSTEST_CHILD"

const (
	modeNetns        = "netns"
	modeUnprivileged = "unprivileged"
)

// nobody is the user and group an unprivileged child runs as.
const nobody = 65534

// Run runs fn in a fresh network namespace in which only the loopback
// interface exists, up. See the package documentation for what running in
// a child process means for fn.
func Run(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	if m, ok := marker(); ok && m.mode == modeNetns {
		runChild(t, m, fn)
		return
	}
	if err := privileged(); err != nil {
		SkipOrFail(t, "netnstest: %s needs its own network namespace: %v; run the tests as root", t.Name(), err)
	}
	runParent(t, modeNetns, fn)
}

// RunTUN is Run for a test that also needs /dev/net/tun.
func RunTUN(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	if _, ok := marker(); !ok {
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			SkipOrFail(t, "netnstest: %s needs /dev/net/tun: %v (modprobe tun; in a container pass --device /dev/net/tun)", t.Name(), err)
		}
	}
	Run(t, fn)
}

// RunUnprivileged runs fn in a child process without privileges, so a test
// can check what a user who is not root gets (typically a clear error).
// When the test runs as root the child runs as user and group nobody
// (65534) with no capabilities, and, when root may create one, in a fresh
// network namespace.
func RunUnprivileged(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	if m, ok := marker(); ok && m.mode == modeUnprivileged {
		runChild(t, m, fn)
		return
	}
	if os.Geteuid() != 0 && privileged() == nil {
		t.Skipf("netnstest: %s needs to drop privileges, but this user holds capabilities and is not root", t.Name())
	}
	runParent(t, modeUnprivileged, fn)
}

// privileged reports, as an error naming what is missing, whether this
// process may create a network namespace and configure interfaces in it.
func privileged() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	var missing []string
	for _, c := range []struct {
		name string
		bit  int
	}{{"CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN}, {"CAP_NET_ADMIN", unix.CAP_NET_ADMIN}} {
		if data[c.bit/32].Effective&(1<<(c.bit%32)) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (uid %d)", strings.Join(missing, " and "), os.Geteuid())
	}
	return nil
}

type childMarker struct {
	mode   string
	parent string // the parent's network namespace, "dev:inode"
	test   string
}

func marker() (childMarker, bool) {
	v, ok := os.LookupEnv(envChild)
	if !ok {
		return childMarker{}, false
	}
	parts := strings.SplitN(v, ";", 3)
	if len(parts) != 3 {
		return childMarker{mode: "invalid"}, true
	}
	return childMarker{mode: parts[0], parent: parts[1], test: parts[2]}, true
}

// netnsID identifies the network namespace of this process.
func netnsID() (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return "", err
	}
	return strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10), nil
}

func runChild(t *testing.T, m childMarker, fn func(t *testing.T)) {
	t.Helper()
	id, err := netnsID()
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	switch m.mode {
	case modeNetns:
		if id == m.parent {
			t.Fatalf("netnstest: %s is set but this process is in its parent's network namespace; refusing to run", envChild)
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			t.Fatalf("netnstest: find lo: %v", err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			t.Fatalf("netnstest: bring lo up: %v", err)
		}
	case modeUnprivileged:
		if privileged() == nil {
			t.Fatalf("netnstest: the unprivileged child still has CAP_SYS_ADMIN and CAP_NET_ADMIN")
		}
	}
	fn(t)
}

func runParent(t *testing.T, mode string, fn func(t *testing.T)) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("netnstest: find the test binary: %v", err)
	}
	id, err := netnsID()
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}

	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	switch mode {
	case modeNetns:
		attr.Cloneflags = syscall.CLONE_NEWNET
	case modeUnprivileged:
		if os.Geteuid() == 0 {
			exe = copyExecutable(t, exe)
			attr.Credential = &syscall.Credential{Uid: nobody, Gid: nobody}
			if privileged() == nil {
				attr.Cloneflags = syscall.CLONE_NEWNET
			}
		}
	}

	ctx := context.Background()
	args := []string{"-test.run=" + runPattern(t.Name()), "-test.v=true", "-test.count=1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	if deadline, ok := t.Deadline(); ok {
		// Leave the child time to print its own timeout panic before
		// the context kills it.
		left := time.Until(deadline)
		args = append(args, "-test.timeout="+(left*9/10).String())
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-left/20))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), envChild+"="+mode+";"+id+";"+t.Name())
	if gorace := os.Getenv("GORACE"); !strings.Contains(gorace, "atexit_sleep_ms") {
		// A race-enabled binary otherwise sleeps a second on exit.
		cmd.Env = append(cmd.Env, strings.TrimSpace("GORACE="+gorace+" atexit_sleep_ms=0"))
	}
	cmd.SysProcAttr = attr
	cmd.WaitDelay = 5 * time.Second
	out := &logWriter{t: t, prefix: "[" + mode + "] "}
	cmd.Stdout, cmd.Stderr = out, out

	// Pdeathsig follows the thread that started the child: keep it alive
	// until the child is gone.
	runtime.LockOSThread()
	err = cmd.Run()
	runtime.UnlockOSThread()
	out.flush()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		SkipOrFail(t, "netnstest: %s: start the %s child: %v", t.Name(), mode, err)
	}
	switch result(out.all.String(), t.Name()) {
	case "SKIP":
		// What the child lacked (a device, a kernel feature) is what
		// EnvRequire asks to have: a failure then, as for the parent.
		SkipOrFail(t, "netnstest: %s skipped in the %s child (reason in the log above)", t.Name(), mode)
	case "PASS":
		if err != nil {
			t.Fatalf("netnstest: %s passed in the %s child, but the child failed: %v", t.Name(), mode, err)
		}
	case "FAIL":
		t.Fatalf("netnstest: %s failed in the %s child (%v; log above)", t.Name(), mode, err)
	default:
		t.Fatalf("netnstest: the %s child did not report on %s (%v); is the test name stable and reachable by -test.run %s?",
			mode, t.Name(), err, runPattern(t.Name()))
	}
}

// copyExecutable copies the test binary where user nobody can run it: go
// test builds it in a directory only its owner can enter.
func copyExecutable(t *testing.T, exe string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netnstest-")
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	defer src.Close()
	dst := dir + "/" + strings.ReplaceAll(t.Name(), "/", "_") + ".test"
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		t.Fatalf("netnstest: copy %s: %v", exe, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	return dst
}

// WaitOperUp waits until the kernel reports the interface name as
// operationally up (a veth drops what is sent before its carrier is), and
// fails the test after 5 seconds.
func WaitOperUp(t testing.TB, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still %v", name, l.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Another creates one more network namespace, empty, for a test that runs
// in Run's and moves an interface it created there
// (netlink.LinkSetNsFd). It returns a descriptor of the namespace, which
// lives until the test ends; then the kernel deletes what is left in it
// (a TUN or a veth; only a physical interface would go back to the host's
// namespace, and a test has none to move).
func Another(t testing.TB) int {
	t.Helper()
	if m, ok := marker(); !ok || m.mode != modeNetns {
		t.Fatal("netnstest: Another is for a test that runs in Run's namespace")
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result)
	go func() {
		// The thread goes into the new namespace and back; if it cannot
		// come back it stays locked, and the runtime retires it with
		// this goroutine.
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{-1, err}
			return
		}
		defer unix.Close(home)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("unshare(CLONE_NEWNET): %w", err)}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if serr := unix.Setns(home, unix.CLONE_NEWNET); serr != nil {
			err = errors.Join(err, fmt.Errorf("back to the test's namespace: setns: %w", serr))
		} else {
			runtime.UnlockOSThread()
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("netnstest: another namespace: %v", r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r.fd
}
