package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// In the ws section every WebSocket server on kernel sockets runs in a
// child process of its own (glassbench started again with envWSChild naming
// the server), driven by the one client in this process, as a load
// generator of one's own would drive it: the client and the server do not
// share a Go runtime, a heap or a scheduler, and the server's CPU time,
// system calls and context switches are counted apart from the client's.
//
// The child listens on 127.0.0.1, prints "addr HOST:PORT", then answers
// commands, one a line, on its standard input:
//
//	cpu                 its CPU time so far, user + system, in ns
//	gc                  the garbage collections it has finished so far
//	cpuprofile FILE     start a CPU profile into FILE; "ok"
//	stopprofile         end it; "ok"
//
// It exits when its standard input ends. With envWSProfile naming a
// directory, the ws section profiles each server over its measurements
// into DIR/SERVER-SIZE-CONNS.pprof (the last round's).
const (
	envWSChild   = "GLASSBENCH_WS_SERVER"
	envWSProfile = "GLASSBENCH_WS_PROFILE"
)

// wsChild is the child process: it serves the server named in envWSChild
// until its standard input ends.
func wsChild() {
	name := os.Getenv(envWSChild)
	var k *serverKind
	for i := range serverKinds {
		if serverKinds[i].name == name && !serverKinds[i].user {
			k = &serverKinds[i]
		}
	}
	if k == nil {
		fmt.Fprintf(os.Stderr, "glassbench: no WebSocket server on kernel sockets named %q\n", name)
		os.Exit(2)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "glassbench:", err)
		os.Exit(1)
	}
	serveHTTP(l, k.handler)
	fmt.Println(wsReadyMsg, l.Addr())
	in := bufio.NewScanner(os.Stdin)
	var prof *os.File
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "cpu":
			fmt.Println(int64(selfCPU()))
		case "gc":
			fmt.Println(gcCycles())
		case "cpuprofile":
			f, err := os.Create(arg)
			if err == nil {
				if err = pprof.StartCPUProfile(f); err != nil {
					f.Close()
				}
			}
			if err != nil {
				fmt.Printf("error %v\n", err)
				continue
			}
			prof = f
			fmt.Println("ok")
		case "stopprofile":
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
				prof = nil
			}
			fmt.Println("ok")
		default:
			fmt.Printf("error unknown command %q\n", cmd)
		}
	}
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
}

// selfCPU is this process's CPU time, user and system, all threads.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gcCycles is how many garbage collections this process has finished.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// wsProc is a WebSocket server running in a child process.
type wsProc struct {
	*childProc
	// perf counts the child's system calls and context switches; nil
	// when they cannot be counted (perfErr says why).
	perf    *perfSet
	perfErr error
}

// wsReadyMsg starts the line a ws server process prints when it listens.
const wsReadyMsg = "addr"

// startWSProc starts the server of kind k in a child process, with env
// added to its environment.
func startWSProc(k serverKind, env ...string) (*wsProc, error) {
	c, err := startChild(k.name+" server process", append([]string{envWSChild + "=" + k.name}, env...), nil, wsReadyMsg)
	if err != nil {
		return nil, err
	}
	p := &wsProc{childProc: c}
	p.perf, p.perfErr = openPerf(c.pid(), wsSyscalls...)
	return p, nil
}

// wsSyscalls are the system calls the ws section counts by name.
var wsSyscalls = []string{"sys_enter_read", "sys_enter_write", "sys_enter_writev"}

// wsSpent is what a server's process has spent so far.
type wsSpent struct {
	at  time.Time
	cpu time.Duration
	gcs int64 // garbage collections finished
	c   perfCounts
}

// snapshot is what the child has spent so far.
func (p *wsProc) snapshot() (s wsSpent, err error) {
	s.at = time.Now()
	if s.cpu, err = p.cpu(); err != nil {
		return s, err
	}
	if s.gcs, err = p.askInt("gc"); err != nil {
		return s, err
	}
	if p.perf != nil {
		if s.c, err = p.perf.Read(); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (p *wsProc) close() {
	if p.perf != nil {
		p.perf.Close()
	}
	p.stop(5 * time.Second)
}

// wsCost is what a server's process spent per message over one
// measurement: CPU time, system calls (all, reads, writes and writevs) and
// context switches; and its garbage collections per second. The counts
// are zero when the process has no perf counters.
type wsCost struct {
	CPU                                float64 // ns
	Syscalls, Reads, Writes, CtxSwitch float64
	GCRate                             float64 // collections per second
}

// costMeter measures a wsProc's cost over spans of messages: the spans
// from each begin to the pause after it, added up.
type costMeter struct {
	p    *wsProc
	prof string // a CPU profile's file, or ""
	// start is the snapshot at the begin of the span under way.
	start wsSpent
	// What the spans so far have spent, and how long they took.
	cpu       time.Duration
	gcs       int64
	c         perfCounts
	el        time.Duration
	profiling bool
	err       error
}

// begin starts a span, and the CPU profile with the first.
func (m *costMeter) begin() {
	if m.err != nil {
		return
	}
	if m.prof != "" && !m.profiling {
		if _, err := m.p.ask("cpuprofile " + m.prof); err != nil {
			m.err = err
			return
		}
		m.profiling = true
	}
	m.start, m.err = m.p.snapshot()
}

// pause ends the span begun last.
func (m *costMeter) pause() {
	if m.err != nil {
		return
	}
	s, err := m.p.snapshot()
	if err != nil {
		m.err = err
		return
	}
	m.cpu += s.cpu - m.start.cpu
	m.gcs += s.gcs - m.start.gcs
	m.c = m.c.Add(s.c.Sub(m.start.c))
	m.el += s.at.Sub(m.start.at)
}

// end stops the CPU profile and returns the cost per message of msgs
// messages over the spans.
func (m *costMeter) end(msgs int) (wsCost, error) {
	err := m.err
	if m.profiling {
		if _, perr := m.p.ask("stopprofile"); err == nil {
			err = perr
		}
		m.profiling = false
	}
	if err != nil || msgs == 0 {
		return wsCost{}, err
	}
	n := float64(msgs)
	return wsCost{
		CPU:       float64(m.cpu) / n,
		Syscalls:  float64(m.c.Syscalls) / n,
		Reads:     float64(m.c.Named["sys_enter_read"]) / n,
		Writes:    float64(m.c.Named["sys_enter_write"]+m.c.Named["sys_enter_writev"]) / n,
		CtxSwitch: float64(m.c.CtxSwitches) / n,
		GCRate:    float64(m.gcs) / m.el.Seconds(),
	}, nil
}
