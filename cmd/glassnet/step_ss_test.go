package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// TestRunDemoStep drives --step through the command line: two single
// steps, on to the next frame, then run freely.
func TestRunDemoStep(t *testing.T) {
	old := stdin
	stdin = strings.NewReader("\n\nf\nq\n")
	defer func() { stdin = old }()
	var stdout, stderr bytes.Buffer
	if err := run([]string{"demo", "--step"}, &stdout, &stderr); err != nil {
		t.Fatalf("demo --step: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if n := strings.Count(out, "[enter] next step"); n != 4 {
		t.Errorf("demo --step prompted %d times for 4 commands, want 4:\n%s", n, out)
	}
	if !strings.Contains(out, "close sent 1000") {
		t.Errorf("demo --step did not run to the end after q:\n%s", out)
	}
}

// TestStepInTerminal runs `glassnet demo --step` on a pseudo-terminal, as a
// person would, with keystrokes typed through script(1).
func TestStepInTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-qfec", os.Args[0], "/dev/null")
	cmd.Env = append(os.Environ(), "GLASSNET_TEST_MAIN=demo --step")
	cmd.Stdin = strings.NewReader("\n\nf\nq\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo --step in a terminal: %v\n%s", err, out)
	}
	text := string(out)
	if n := strings.Count(text, "[enter] next step"); n < 4 {
		t.Errorf("prompted %d times, want at least 4:\n%s", n, text)
	}
	if !strings.Contains(text, "done: client sent") {
		t.Errorf("the demo did not finish:\n%s", text)
	}
}

// TestRunSS lists the sockets of a stack through its control socket, as
// `glassnet ss NAME` does for a running serve.
func TestRunSS(t *testing.T) {
	a, b := tun.Pipe(tun.PipeOptions{})
	st, err := netstack.New(netstack.Options{Device: a, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer b.Close()
	socks := sockets.New(st.Stack(), sockets.Options{})
	l, err := socks.Listener("tcp", "10.0.0.2:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	name := fmt.Sprintf("cmdtest%d", os.Getpid())
	srv, err := ctl.Listen(name, socks, ctl.Options{Node: "test", Counters: func() map[string]uint64 {
		return map[string]uint64{"drop loss": 12, "drop empty": 0}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	var stdout, stderr bytes.Buffer
	if err := run([]string{"ss", name}, &stdout, &stderr); err != nil {
		t.Fatalf("ss: %v\n%s", err, stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "LISTEN") || !strings.Contains(out, "10.0.0.2:8080") ||
		!strings.Contains(out, "drop loss") || strings.Contains(out, "drop empty") || !strings.Contains(out, "Process: heap in use") {
		t.Fatalf("ss printed:\n%s", out)
	}
	if err := run([]string{"ss", name + "-missing"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "is glassnet serve running?") {
		t.Fatalf("ss for a missing stack = %v", err)
	}
}

// TestSSAnotherUser runs glassnet ss as a user other than the one whose
// serve keeps its control socket in /run/glassnet: the error says ss sees
// that serve only as its user, with sudo.
func TestSSAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		netnstest.SkipOrFail(t, "needs root, to run ss as another user beside root's control socket")
	}
	st := stack.New(stack.Options{})
	defer st.Close()
	srv, err := ctl.Listen(fmt.Sprintf("gnsu%d", os.Getpid()%100000), sockets.New(st, sockets.Options{}), ctl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// A copy of this binary that the other user may run.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "glassnet-as-nobody")
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{"ss", "ss glass0"} {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = []string{"GLASSNET_TEST_MAIN=" + args, "TMPDIR=" + dir}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "/run/glassnet belongs to uid 0") ||
			!strings.Contains(string(out), "a serve started with sudo is seen with sudo glassnet ss") {
			t.Errorf("glassnet %s as nobody: %v, %s; want it to say that /run/glassnet is root's, and sudo", args, err, out)
		}
	}
}
