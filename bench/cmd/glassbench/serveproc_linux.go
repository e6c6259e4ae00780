package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The serve section's TUN and addresses, inside the child's namespace.
const (
	serveTUN   = "gbs0"
	serveAddr  = "10.205.0.2/24"
	serveStack = "10.205.0.2"
)

// serveChild is the serve section's namespace child: it starts glassnet
// serve and the kernel's servers, each a process of its own, and runs the
// transfers.
func serveChild(params []byte) (any, error) {
	var p serveParams
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, err
	}
	if err := nsSetup(); err != nil {
		return nil, err
	}
	// The client's sockets and the kernel servers' listeners (which their
	// connections take it from) get -tun-cc, as in the TUN rows; the
	// namespace's default could be set only to one of the host's allowed
	// algorithms.
	kernelCC = p.CC
	os.Setenv(envTCPCC, p.CC)
	sv, err := startServe(p.Binary)
	if err != nil {
		return nil, err
	}
	defer sv.stop()

	type target struct {
		row           int
		echo, discard string // host:port
		cpu           func() (time.Duration, error)
		pids          []int // the server's processes, whose system calls are counted
	}
	targets := []target{{0, serveStack + ":7", serveStack + ":9", sv.cpu, []int{sv.cmd.Process.Pid}}}
	// The kernel's servers: on loopback, and behind a relay (the echo
	// and the discard each in a relay process of its own, on a relay
	// network of its own).
	var relayProcs []*serverProc
	for i, apps := range [][2]string{{"tcp-echo", "tcp-discard"}, {"copy-echo", "copy-discard"}, {"tcp-echo", "tcp-discard"}} {
		relayed := i == 2
		var procs [2]*serverProc
		for j, app := range apps {
			spec := serverSpec{Net: "kernel", App: app}
			if relayed {
				spec = serverSpec{Net: "relay", App: app, Relay: j}
			}
			sp, err := startServer(spec)
			if err != nil {
				return nil, err
			}
			defer sp.stop()
			procs[j] = sp
			if relayed {
				relayProcs = append(relayProcs, sp)
			}
		}
		targets = append(targets, target{i + 1, procs[0].addr, procs[1].addr, func() (time.Duration, error) {
			a, err := procs[0].cpu()
			if err != nil {
				return 0, err
			}
			b, err := procs[1].cpu()
			return a + b, err
		}, []int{procs[0].pid(), procs[1].pid()}})
	}
	// System calls and context switches, counted when perf events can be
	// opened; the row says why not otherwise.
	counters := make([][]*perfSet, len(targets))
	var sysErr string
	for i, t := range targets {
		for _, pid := range t.pids {
			ps, err := openPerf(pid)
			if err != nil {
				sysErr = err.Error()
				break
			}
			defer ps.Close()
			counters[i] = append(counters[i], ps)
		}
	}
	count := func(i int) (perfCounts, bool) {
		var sum perfCounts
		if sysErr != "" {
			return sum, false
		}
		for _, ps := range counters[i] {
			c, err := ps.Read()
			if err != nil {
				return sum, false
			}
			sum = addCounts(sum, c)
		}
		return sum, true
	}
	rows := make([]serveRow, len(serveRows))
	for i := range rows {
		rows[i].Name, rows[i].SysErr = serveRows[i], sysErr
	}
	d := net.Dialer{Control: setKernelCC}
	for range p.Rounds {
		for _, echo := range []bool{true, false} {
			for ti, t := range targets {
				addr := t.discard
				if echo {
					addr = t.echo
				}
				before, err := t.cpu()
				if err != nil {
					return nil, err
				}
				sys0, counted := count(ti)
				v, err := bulkToEOF(func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, p.Total, echo)
				after, cerr := t.cpu()
				if cerr != nil {
					return nil, cerr
				}
				sys1, counted1 := count(ti)
				r := &rows[t.row]
				if err != nil {
					r.Failed++
					if r.FirstErr == "" {
						r.FirstErr = err.Error()
					}
					continue
				}
				var sys perfCounts
				if counted && counted1 {
					sys = sys1.Sub(sys0)
				}
				if echo {
					r.Echo, r.EchoCPU, r.EchoN = append(r.Echo, v), r.EchoCPU+after-before, r.EchoN+p.Total
					r.EchoSys = addCounts(r.EchoSys, sys)
				} else {
					r.Discard, r.DiscCPU, r.DiscN = append(r.Discard, v), r.DiscCPU+after-before, r.DiscN+p.Total
					r.DiscSys = addCounts(r.DiscSys, sys)
				}
			}
		}
	}
	// Every byte of the relay's transfers went through it: were its
	// servers reachable another way, the row would measure that way.
	r := &rows[len(rows)-1]
	if sent := r.EchoN + r.DiscN; sent > 0 {
		var got int64
		for _, sp := range relayProcs {
			n, err := sp.relayed()
			if err != nil {
				return nil, err
			}
			got += n
		}
		if err := relayedAll(got, sent); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// bulkToEOF is bulk for a server that says nothing back: the transfer
// ends when the client has read the echo (echo) or the server's FIN
// (discard; any bytes before it are read and ignored). It returns MB/s.
func bulkToEOF(dial func(ctx context.Context) (net.Conn, error), total int64, echo bool) (float64, error) {
	v, err := bulkWith(dial, total, func(c net.Conn) error {
		if echo {
			return readEcho(c, total)
		}
		_, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, c, make([]byte, 256<<10))
		return err
	})
	return v / 1e6, err
}

// serveProc is a running glassnet serve.
type serveProc struct {
	cmd  *exec.Cmd
	done chan error
}

// startServe starts bin serve on a TUN in this namespace and waits for
// its ready line.
func startServe(bin string) (*serveProc, error) {
	cmd := exec.Command(bin, "serve", "--tun", serveTUN, "--addr", serveAddr)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &serveProc{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var first string
		for sc.Scan() {
			line := sc.Text()
			if first == "" {
				first = line
				ready <- line
			}
		}
		if first == "" {
			close(ready)
		}
		s.done <- cmd.Wait()
	}()
	select {
	case line, ok := <-ready:
		if ok && strings.HasPrefix(line, "glassnet: serving ") {
			return s, nil
		}
		s.stop()
		if !ok {
			return nil, fmt.Errorf("%s serve exited before it was ready (its error is above)", bin)
		}
		return nil, fmt.Errorf("%s serve: first line %q, want \"glassnet: serving ...\"", bin, line)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s serve: no ready line after 30 s", bin)
	}
}

// cpu is the serve process's CPU time so far, user and system.
func (s *serveProc) cpu() (time.Duration, error) { return procCPU(s.cmd.Process.Pid) }

// stop ends serve with SIGTERM, as a user does, and kills it if it has
// not exited after 10 s.
func (s *serveProc) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// procCPU is process pid's CPU time, user and system, from
// /proc/PID/stat (in clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces: utime and stime are the 12th and 13th.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name in %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 13", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}
