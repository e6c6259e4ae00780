package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// The addresses every test uses inside its namespace: glassnet's userspace
// stack on the TUN, and the kernel's own stack on loopback (--kernel).
const (
	tunName    = "glass0"
	stackAddr  = "10.200.0.2"
	stackHTTP  = "http://" + stackAddr + ":8080"
	stackWS    = "ws://" + stackAddr + ":8080"
	kernelAddr = "127.0.0.1:8081"
	kernelWS   = "ws://" + kernelAddr
)

// Debian's programs, by absolute path so that a pyenv python or another
// curl earlier in PATH is not the one tested.
const (
	curlBin     = "/usr/bin/curl"
	pythonBin   = "/usr/bin/python3"
	chromiumBin = "/usr/bin/chromium"
)

// needProgram skips (or fails) the test when path is missing, naming the
// Debian package that provides it.
func needProgram(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		netnstest.SkipOrFail(t, "%s is not installed (apt-get install %s): %v", path, pkg, err)
	}
}

// needPythonWebsockets skips (or fails) the test unless Debian's python3
// imports websockets; it logs the version found.
func needPythonWebsockets(t *testing.T) {
	t.Helper()
	needProgram(t, pythonBin, "python3")
	out, err := exec.Command(pythonBin, "-c", "import websockets; print(websockets.__version__)").CombinedOutput()
	if err != nil {
		msg := strings.Split(strings.TrimSpace(string(out)), "\n")
		netnstest.SkipOrFail(t, "%s cannot import websockets (apt-get install python3-websockets): %v: %s", pythonBin, err, msg[len(msg)-1])
	}
	t.Logf("python3-websockets %s", bytes.TrimSpace(out))
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a running `glassnet serve`.
type server struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // the exit status, once done is closed
}

// startServe starts `glassnet serve --tun glass0 --addr 10.200.0.2/24` with
// the extra arguments and returns once it has printed its ready line. The
// process is interrupted, or killed, when the test ends.
func startServe(t *testing.T, extra ...string) *server {
	t.Helper()
	return startServeArgs(t, append([]string{"serve", "--tun", tunName, "--addr", stackAddr + "/24"}, extra...)...)
}

// startServeArgs is startServe with the whole command line after the
// binary's name.
func startServeArgs(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(glassnetBin, args...), done: make(chan struct{})}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start glassnet serve: %v", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for seen := false; sc.Scan(); {
			line := sc.Text()
			s.out.Write([]byte(line + "\n"))
			if !seen && strings.HasPrefix(line, "glassnet: serving") {
				seen = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stdout)
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				s.cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("glassnet serve output:\n%s", s.out.String())
		}
	})
	select {
	case <-ready:
		t.Logf("glassnet %s", strings.Join(args, " "))
	case <-s.done:
		t.Fatalf("glassnet serve exited before it was ready: %v\n%s", s.err, s.out.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("glassnet serve printed no ready line in 10s:\n%s", s.out.String())
	}
	return s
}

// interrupt sends SIGINT and returns the exit status.
func (s *server) interrupt(t *testing.T) error {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("interrupt glassnet serve: %v", err)
	}
	select {
	case <-s.done:
		return s.err
	case <-time.After(15 * time.Second):
		t.Fatalf("glassnet serve did not exit within 15s of SIGINT:\n%s", s.out.String())
		return nil
	}
}

// run runs a peer program to completion within timeout and returns its
// standard output; a failure or timeout fails the test with both outputs.
func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}
