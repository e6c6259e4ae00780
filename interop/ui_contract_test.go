package interop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// contractAddr is the stack's address in TestUIContract's namespace.
const contractAddr = "10.251.0.2"

// TestUIContract checks the browser view against what README.md and
// `go doc ./ui` promise, with testdata/uicontract.py: a script that knows
// only those, driving the JSON API with urllib, the live stream with
// python3-websockets and the page in headless chromium over the DevTools
// protocol, as an outside checker would. It runs against a paused
// `glassnet demo --ui` (every endpoint and control, then hostile
// requests), another for the page (clicks by data-event-id, #event=ID,
// the keys, screenshots of a breakpoint hit and a held packet), a
// `glassnet serve --ui` with curl and python3-websockets as its peers,
// and `glassnet view` of a recorded trace. Each broken promise is a line
// starting "FAIL " in the script's output.
func TestUIContract(t *testing.T) {
	needPythonWebsockets(t)
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, "/usr/bin/curl", "curl")
	netnstest.RunTUN(t, func(t *testing.T) {
		shots := os.Getenv(envScreenshots)
		if shots == "" {
			shots = t.TempDir()
		}
		script := func(t *testing.T, r *uiRun, args ...string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := groupCommand(t, ctx, pythonBin, append([]string{"testdata/uicontract.py", args[0], r.base, r.token}, args[1:]...)...)
			out, err := runGroup(cmd)
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "FAIL ") {
					t.Error(strings.TrimPrefix(l, "FAIL "))
				}
			}
			if err != nil || t.Failed() {
				t.Errorf("uicontract.py %s: %v\n%s", args[0], err, out)
			} else {
				t.Logf("uicontract.py %s:\n%s", args[0], out)
			}
		}
		t.Run("demo", func(t *testing.T) {
			t.Parallel()
			script(t, startUI(t, "demo", "--ui", "127.0.0.1:0"), "api,hostile")
		})
		t.Run("page", func(t *testing.T) {
			t.Parallel()
			port := contractPort(t)
			script(t, startUI(t, "demo", "--ui", "127.0.0.1:0"), "page", deathWrapper(t, chromiumBin), strconv.Itoa(port), shots)
		})
		t.Run("serve", func(t *testing.T) {
			t.Parallel()
			// serve prints its address on stdout, with its ready line
			s := startServeArgs(t, "serve", "--tun", "gnhz0", "--addr", contractAddr+"/24", "--port", "8080", "--ui", "127.0.0.1:0")
			var r uiRun
			for deadline := time.Now().Add(10 * time.Second); r.base == ""; time.Sleep(50 * time.Millisecond) {
				for _, l := range strings.Split(s.out.String(), "\n") {
					if u, ok := strings.CutPrefix(l, "glassnet: ui at "); ok {
						r.base, r.token, _ = strings.Cut(strings.TrimSpace(u), "/?token=")
					}
				}
				if r.base == "" && time.Now().After(deadline) {
					t.Fatalf("serve --ui printed no address:\n%s", s.out.String())
				}
			}
			script(t, &r, "serve", "http://"+contractAddr+":8080")
		})
		t.Run("view", func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "demo.jsonl")
			if out, err := exec.Command(glassnetBin, "demo", "--trace", file).CombinedOutput(); err != nil {
				t.Fatalf("glassnet demo --trace: %v\n%s", err, out)
			}
			script(t, startUI(t, "view", "--ui", "127.0.0.1:0", file), "offline")
		})
	})
}

// groupCommand returns a command that runs in a process group of its own
// with all it starts (the contract script's chromium, and chromium's
// helpers). The whole group is killed with SIGKILL when ctx is done, when
// the test ends, and by runGroup once the command has exited; and the
// command gets SIGKILL from the kernel when the test's process dies first
// (a test binary's timeout panic runs no cleanup). Killing the command
// alone, as exec.CommandContext does, leaves its chromium running, holding
// its profile directory, which the next run's chromium then refuses.
func groupCommand(t *testing.T, ctx context.Context, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
	// What the group left holding the output pipes does not keep Wait.
	cmd.WaitDelay = 5 * time.Second
	t.Cleanup(func() {
		killGroup(cmd)
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Wait()
		}
	})
	return cmd
}

// runGroup runs a groupCommand's command, returns its output, and then
// kills what is left of its group.
func runGroup(cmd *exec.Cmd) ([]byte, error) {
	out, err := cmd.CombinedOutput()
	killGroup(cmd)
	return out, err
}

// killGroup sends SIGKILL to the process group of a started groupCommand.
// The group's ID stays its leader's process ID, which the kernel does not
// give another process while any member of the group lives.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// deathWrapper returns a program that runs prog with its arguments and
// gets SIGKILL when the process that started it dies (setpriv
// --pdeathsig): the contract script's chromium goes with a script killed
// by the test's end, whoever kills it.
func deathWrapper(t *testing.T, prog string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), filepath.Base(prog))
	script := fmt.Sprintf("#!/bin/sh\nexec /usr/bin/setpriv --pdeathsig KILL %s \"$@\"\n", strconv.Quote(prog))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// contractProfile is the chromium profile directory the contract script
// uses with DevTools port port.
func contractProfile(port int) string {
	return fmt.Sprintf("/tmp/uicontract-chromium-%d", port)
}

// contractPort returns a port for the contract script's chromium (one the
// kernel hands out in this test's namespace, so that runs at the same time
// are unlikely to share a profile), with its profile directory cleared of
// what a killed run left there, and removed again when the test ends.
func contractPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	clearProfile(t, contractProfile(port))
	t.Cleanup(func() { os.RemoveAll(contractProfile(port)) })
	return port
}

// clearProfile removes a chromium profile directory a killed run left: a
// chromium that finds another's lock in its profile, the other still
// running, aborts ("Failed to create a ProcessSingleton for your profile
// directory"). A chromium that still runs keeps the directory it opened,
// unlinked, and the next one makes a new one.
func clearProfile(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("remove the stale chromium profile: %v", err)
	}
}
