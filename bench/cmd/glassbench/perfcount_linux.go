package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// perfCounts is what a perfSet has counted: system calls entered, context
// switches, and one count per named syscall tracepoint (for example
// "sys_enter_write").
type perfCounts struct {
	Syscalls    uint64
	CtxSwitches uint64
	Named       map[string]uint64
}

// Sub returns c minus o, counter by counter.
func (c perfCounts) Sub(o perfCounts) perfCounts {
	d := perfCounts{Syscalls: c.Syscalls - o.Syscalls, CtxSwitches: c.CtxSwitches - o.CtxSwitches, Named: map[string]uint64{}}
	for k, v := range c.Named {
		d.Named[k] = v - o.Named[k]
	}
	return d
}

// Add returns c plus o, counter by counter.
func (c perfCounts) Add(o perfCounts) perfCounts {
	d := perfCounts{Syscalls: c.Syscalls + o.Syscalls, CtxSwitches: c.CtxSwitches + o.CtxSwitches, Named: map[string]uint64{}}
	for k, v := range c.Named {
		d.Named[k] = v
	}
	for k, v := range o.Named {
		d.Named[k] += v
	}
	return d
}

// perfSet counts, with Linux perf events, the system calls and context
// switches of every thread of one process, and of every thread those
// threads start later (the counters are inherited), the way `perf stat -p`
// does. It needs root (or a low perf_event_paranoid) and tracefs, which it
// mounts at /sys/kernel/tracing when it is missing.
type perfSet struct {
	names  []string // named tracepoints, in the order of fds[2:]
	events []perfEvent
	fds    [][]int // per event, one per thread
}

type perfEvent struct {
	typ    uint32
	config uint64
}

// openPerf starts counting for process pid (0: this process). names are
// syscall tracepoints under events/syscalls, such as "sys_enter_read".
func openPerf(pid int, names ...string) (*perfSet, error) {
	if pid == 0 {
		pid = os.Getpid()
	}
	events := []perfEvent{{typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_CONTEXT_SWITCHES}}
	raw, err := tracepointID("raw_syscalls/sys_enter")
	if err != nil {
		return nil, err
	}
	events = append([]perfEvent{{typ: unix.PERF_TYPE_TRACEPOINT, config: raw}}, events...)
	for _, n := range names {
		id, err := tracepointID("syscalls/" + n)
		if err != nil {
			return nil, err
		}
		events = append(events, perfEvent{typ: unix.PERF_TYPE_TRACEPOINT, config: id})
	}
	ps := &perfSet{names: names, events: events, fds: make([][]int, len(events))}
	// A thread started between listing the threads and opening the
	// counters of its parent would be missed: list again until no new
	// thread turns up.
	seen := map[int]bool{}
	for {
		tids, err := threads(pid)
		if err != nil {
			ps.Close()
			return nil, err
		}
		added := false
		for _, tid := range tids {
			if seen[tid] {
				continue
			}
			seen[tid] = true
			added = true
			for i, ev := range events {
				attr := unix.PerfEventAttr{
					Type:   ev.typ,
					Config: ev.config,
					Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
					Bits:   unix.PerfBitInherit,
				}
				fd, err := unix.PerfEventOpen(&attr, tid, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
				if errors.Is(err, unix.ESRCH) {
					break // the thread has exited
				}
				if err != nil {
					ps.Close()
					return nil, fmt.Errorf("perf_event_open: %w", err)
				}
				ps.fds[i] = append(ps.fds[i], fd)
			}
		}
		if !added {
			return ps, nil
		}
	}
}

// Read returns the counts so far, summed over the threads.
func (ps *perfSet) Read() (perfCounts, error) {
	sums := make([]uint64, len(ps.fds))
	var b [8]byte
	for i, fds := range ps.fds {
		for _, fd := range fds {
			if _, err := unix.Read(fd, b[:]); err != nil {
				return perfCounts{}, fmt.Errorf("reading a perf counter: %w", err)
			}
			sums[i] += binary.NativeEndian.Uint64(b[:])
		}
	}
	c := perfCounts{Syscalls: sums[0], CtxSwitches: sums[1], Named: map[string]uint64{}}
	for i, n := range ps.names {
		c.Named[n] = sums[2+i]
	}
	return c, nil
}

// Close releases the counters.
func (ps *perfSet) Close() error {
	for _, fds := range ps.fds {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	ps.fds = nil
	return nil
}

func threads(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if t, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, t)
		}
	}
	return tids, nil
}

// tracepointID reads the id of a tracepoint ("raw_syscalls/sys_enter"),
// mounting tracefs first when no tracing directory has events.
func tracepointID(name string) (uint64, error) {
	dir, err := tracingDir()
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "events", name, "id"))
	if err != nil {
		return 0, fmt.Errorf("tracepoint %s: %w", name, err)
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func tracingDir() (string, error) {
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "events")); err == nil {
			return d, nil
		}
	}
	const d = "/sys/kernel/tracing"
	if err := unix.Mount("nodev", d, "tracefs", 0, ""); err != nil {
		return "", fmt.Errorf("no tracefs, and mounting it at %s: %w", d, err)
	}
	return d, nil
}
