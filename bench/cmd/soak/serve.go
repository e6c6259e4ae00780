package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/ctl"
)

// serveProc is the glassnet serve under test: its process, its output
// (kept in a log file and scanned for the ready line, panics and the
// runtime's GC lines) and its control socket.
type serveProc struct {
	name    string // the TUN and the control socket
	cmd     *exec.Cmd
	logPath string
	ready   chan struct{}
	exited  chan struct{}
	waitErr error

	mu      sync.Mutex
	panics  []string  // lines that start a panic or a fatal error
	gcs     int       // GC cycles seen
	heapMB  int       // live heap after the last GC, from gctrace
	lastGC  time.Time // when the last GC line arrived
	outTail []string  // the last lines, for an error message
}

// gcLine matches the runtime's gctrace heap sizes: heap at start -> at end
// -> live after marking, in MB.
var gcLine = regexp.MustCompile(`^gc \d+ @.* (\d+)->(\d+)->(\d+) MB`)

func startServe(cfg config, name string) (*serveProc, error) {
	args := []string{"serve", "--tun", name, "--addr", stackPrefix.String()}
	if cfg.idleTimeout > 0 {
		args = append(args, "--idle-timeout", cfg.idleTimeout.String())
	}
	args = append(args, serveRules()...)
	cmd := exec.Command(cfg.glassnet, args...)
	// gctrace: the live heap after each collection, without profiling.
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logPath := filepath.Join(cfg.logDir, fmt.Sprintf("soak-serve-%d.log", os.Getpid()))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &serveProc{name: name, cmd: cmd, logPath: logPath, ready: make(chan struct{}), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go p.scan(pr, logf)
	go func() {
		p.waitErr = cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	select {
	case <-p.ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("serve exited before it was ready (%v): %s", p.waitErr, p.tail())
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("serve not ready after 30s: %s", p.tail())
	}
}

func (p *serveProc) scan(r io.Reader, logf *os.File) {
	defer logf.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	readyOnce := sync.Once{}
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(logf, line)
		p.mu.Lock()
		if m := gcLine.FindStringSubmatch(line); m != nil {
			p.heapMB, _ = strconv.Atoi(m[3])
			p.gcs++
			p.lastGC = time.Now()
		} else {
			p.outTail = append(p.outTail, line)
			if len(p.outTail) > 20 {
				p.outTail = p.outTail[1:]
			}
		}
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") || strings.Contains(line, "WARNING: DATA RACE") {
			p.panics = append(p.panics, line)
		}
		p.mu.Unlock()
		// Contains, not HasPrefix: the runtime writes a gctrace line
		// in pieces, and serve's line can land inside one.
		if strings.Contains(line, "glassnet: serving ") {
			readyOnce.Do(func() { close(p.ready) })
		}
	}
}

func (p *serveProc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.outTail, " | ")
}

// heap returns the live heap after the last GC in MB, how many GCs there
// were, and when the last one was.
func (p *serveProc) heap() (mb, gcs int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.heapMB, p.gcs, p.lastGC
}

func (p *serveProc) panicLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.panics...)
}

func (p *serveProc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// stop sends SIGTERM and waits for serve to exit; it reports a non-zero
// exit or a serve that does not stop.
func (p *serveProc) stop(timeout time.Duration) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("serve did not exit within %v of SIGTERM", timeout)
	}
	if p.waitErr != nil {
		return fmt.Errorf("serve exited with %v: %s", p.waitErr, p.tail())
	}
	return nil
}

// sample is what soak reads of serve's process at one moment; -1 is
// unknown.
type sample struct {
	heapMB     int // live heap after the last GC (gctrace)
	rssKB      int // VmRSS
	threads    int
	fds        int
	sockets    int // rows of the socket table (ctl)
	goroutines int
	// heapInUseMB is the runtime's HeapInuse (not after a GC), from the
	// control socket.
	heapInUseMB int
	counters    map[string]uint64
}

func (p *serveProc) sample(ctx context.Context) (sample, error) {
	s := sample{heapMB: -1, rssKB: -1, threads: -1, fds: -1, sockets: -1, goroutines: -1, heapInUseMB: -1}
	if mb, gcs, _ := p.heap(); gcs > 0 {
		s.heapMB = mb
	}
	pid := p.cmd.Process.Pid
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "VmRSS:":
				s.rssKB, _ = strconv.Atoi(f[1])
			case "Threads:":
				s.threads, _ = strconv.Atoi(f[1])
			}
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(ents)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t, err := ctl.QueryTable(ctx, p.name)
	if err != nil {
		return s, err
	}
	s.sockets = len(t.Sockets)
	s.counters = t.Counters
	if t.Process != nil {
		s.goroutines = t.Process.Goroutines
		s.heapInUseMB = int(t.Process.HeapInUse >> 20)
	}
	return s, nil
}

// serveHasFlag says whether the glassnet binary's serve takes --flag.
func serveHasFlag(glassnet, flag string) bool {
	out, _ := exec.Command(glassnet, "serve", "--help").CombinedOutput()
	return strings.Contains(string(out), "-"+flag+" ")
}
