package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

// TestUIScriptGroupKilled checks that what the contract script starts, as
// its chromium, does not outlive the script: a background child of a
// groupCommand is gone when the command's context is cancelled (its time
// limit), when the command has exited and left it behind, and when the
// test that started it ends.
func TestUIScriptGroupKilled(t *testing.T) {
	// sh starts a sleep in the background, as the script starts chromium,
	// and says its process ID.
	const leave = "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!"

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := groupCommand(t, ctx, "/bin/sh", "-c", leave+"; wait")
		child := startReadPID(t, cmd)
		cancel()
		cmd.Wait()
		waitGone(t, child)
	})
	t.Run("exited", func(t *testing.T) {
		cmd := groupCommand(t, context.Background(), "/bin/sh", "-c", leave)
		out, err := runGroup(cmd)
		if err != nil {
			t.Fatalf("sh: %v\n%s", err, out)
		}
		waitGone(t, parsePID(t, string(out)))
	})
	var child proc
	t.Run("test ends", func(t *testing.T) {
		cmd := groupCommand(t, context.Background(), "/bin/sh", "-c", leave+"; wait")
		child = startReadPID(t, cmd)
	})
	if child.pid != 0 {
		waitGone(t, child)
	}
}

// envDieHelper makes TestUIScriptDiesWithTest's test binary the process
// that starts a script and dies.
const envDieHelper = "GLASSNET_INTEROP_DIE_HELPER"

// TestUIScriptDiesWithTest checks that a test process that dies without
// running its cleanups (killed, or at its timeout panic) takes the
// contract script's chromium with it: the test binary, run again, starts a
// script (sh) through groupCommand that starts a program (sleep, standing
// for chromium) through deathWrapper, says the program's process ID, and
// kills itself with SIGKILL; the program must then go.
func TestUIScriptDiesWithTest(t *testing.T) {
	if os.Getenv(envDieHelper) != "" {
		cmd := groupCommand(t, context.Background(), "/bin/sh", "-c",
			`"$0" 1000 </dev/null >/dev/null 2>&1 & echo $!; wait`, deathWrapper(t, "/bin/sleep"))
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the wrapped program runs as itself: a wrapper killed
		// before setpriv set the signal would prove nothing.
		waitExe(t, cmd.Process.Pid, "/bin/sleep")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestUIScriptDiesWithTest$", "-test.count=1")
	cmd.Env = append(os.Environ(), envDieHelper+"=1")
	// The helper in a group of its own, so that nothing else of its is
	// left when the test ends, whatever it proves.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	var stderr strings.Builder
	cmd.Stderr = &stderr
	child := startReadPID(t, cmd)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper test process ended with %v, not killed\n%s", err, stderr.String())
	}
	waitGone(t, child)
}

// TestUIContractStaleProfile checks that the profile directory a killed
// contract run left, its chromium still running, does not keep the next
// run's chromium from starting.
func TestUIContractStaleProfile(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	netnstest.Run(t, func(t *testing.T) {
		port := 20150
		dir := contractProfile(port)
		t.Cleanup(func() { os.RemoveAll(dir) })
		// The killed run's chromium, still running, its profile locked.
		old, _, oldErr := chromiumArgs(t, append(chromiumFlagsIn(dir), "--remote-debugging-port=0", "about:blank")...)
		if err := old.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Lstat(dir + "/SingletonLock"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("chromium locked no profile in %s\n%s", dir, oldErr.String())
			}
		}

		clearProfile(t, dir)
		cmd, stdout, stderr := chromiumArgs(t, append(chromiumFlagsIn(dir), "--dump-dom", "about:blank")...)
		err := cmd.Run()
		if err != nil || !strings.Contains(stdout.String(), "<html") {
			t.Fatalf("chromium beside a stale profile: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
	})
}

// proc names a process by its ID and its start time, which tell it from
// a later one given the same ID.
type proc struct {
	pid   int
	start string
}

// startReadPID starts cmd and reads a process ID from the first line of
// its standard output.
func startReadPID(t *testing.T, cmd *exec.Cmd) proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the child's process ID: %v (%q)", err, line)
	}
	go io.Copy(io.Discard, out)
	return parsePID(t, line)
}

func parsePID(t *testing.T, s string) proc {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("no process ID in %q", s)
	}
	state, start := procStat(pid)
	if state == "" {
		t.Fatalf("process %d ended before the test looked at it", pid)
	}
	return proc{pid, start}
}

// procStat returns the state and start time of process pid from
// /proc/PID/stat, or "" when there is no such process.
func procStat(pid int) (state, start string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", ""
	}
	// pid (comm) state ppid ... with starttime the 22nd field; comm may
	// hold spaces and parentheses, the last ')' ends it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return "", ""
	}
	return f[0], f[19]
}

// waitGone waits until p has ended (gone, or a zombie not yet reaped) and
// fails the test if it still runs after 10 seconds.
func waitGone(t *testing.T, p proc) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		state, start := procStat(p.pid)
		if state == "" || state == "Z" || start != p.start {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(p.pid, syscall.SIGKILL)
			t.Fatalf("process %d (state %s) is still running", p.pid, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitExe waits until a child of process ppid runs exe.
func waitExe(t *testing.T, ppid int, exe string) {
	t.Helper()
	exe, err := filepath.EvalSymlinks(exe)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ppid, ppid))
		for _, k := range strings.Fields(string(kids)) {
			if got, _ := os.Readlink("/proc/" + k + "/exe"); got == exe {
				return
			}
		}
	}
	t.Fatalf("no child of %d runs %s", ppid, exe)
}
