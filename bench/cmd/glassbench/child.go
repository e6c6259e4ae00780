package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// childProc is a server that glassbench runs in a process of its own by
// starting itself again (the ws section's kernel-socket servers, wsChild;
// the many and scale sections' servers, serverMain), so that it shares no
// Go runtime, heap or scheduler with the client and its CPU time and system
// calls are its own. It prints one line when it listens, "PREFIX ADDR",
// then answers one line for each command line it reads (ask); it exits
// when its stdin closes (stop).
type childProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string // where it listens, host:port
}

// startChild starts this executable again with env added to the
// environment (prepare, when not nil, may set more on the command), and
// waits for its first line, ready followed by the address it listens on.
// what names the server in errors.
func startChild(what string, env []string, prepare func(*exec.Cmd), ready string) (*childProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	if prepare != nil {
		prepare(cmd)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &childProc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("%s did not start: %w", what, err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), ready+" ")
	if !ok {
		p.stop(5 * time.Second)
		return nil, fmt.Errorf("%s: first line %q, want %q ADDR", what, line, ready)
	}
	p.addr = addr
	return p, nil
}

func (p *childProc) pid() int { return p.cmd.Process.Pid }

// ask sends one command and returns the answer's line.
func (p *childProc) ask(cmd string) (string, error) { return ask(p.in, p.out, cmd) }

// ask sends one command line to a server process and returns its answer's
// line; an answer "error MSG" is an error.
func ask(in io.Writer, out *bufio.Reader, cmd string) (string, error) {
	if _, err := fmt.Fprintln(in, cmd); err != nil {
		return "", err
	}
	line, err := out.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", errors.New(msg)
	}
	return line, nil
}

// cpu is the process's CPU time so far, user and system (it answers
// "cpu" with selfCPU in nanoseconds).
func (p *childProc) cpu() (time.Duration, error) {
	n, err := p.askInt("cpu")
	return time.Duration(n), err
}

// askInt sends cmd and reads a decimal integer back.
func (p *childProc) askInt(cmd string) (int64, error) {
	s, err := p.ask(cmd)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("server process %s: %q", cmd, s)
	}
	return n, nil
}

// stop closes the process's stdin, on which it exits, and waits for it; a
// process still running after wait is killed.
func (p *childProc) stop(wait time.Duration) error {
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		p.cmd.Process.Kill()
		return errors.Join(errors.New("server did not exit; killed"), <-done)
	}
}
