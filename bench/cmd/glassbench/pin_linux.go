package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// wsPlacement is where -ws-cpus puts the ws section's server processes
// and its client (this process): the CPU each runs on, or ok false to
// leave them to the scheduler.
type wsPlacement struct {
	server, client int
	ok             bool
}

// placeWS chooses the CPUs for -ws-cpus mode ("apart": the servers on
// the second CPU this process may use, the client on the first; "same":
// both on the first; "": none).
func placeWS(mode string) (wsPlacement, error) {
	if mode == "" {
		return wsPlacement{}, nil
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return wsPlacement{}, fmt.Errorf("-ws-cpus: %w", err)
	}
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	switch {
	case mode == "same" && len(cpus) > 0:
		return wsPlacement{server: cpus[0], client: cpus[0], ok: true}, nil
	case mode == "apart" && len(cpus) > 1:
		return wsPlacement{server: cpus[1], client: cpus[0], ok: true}, nil
	case mode == "apart":
		return wsPlacement{}, fmt.Errorf("-ws-cpus apart: this process may run on %d CPU, it needs 2", len(cpus))
	}
	return wsPlacement{}, fmt.Errorf("-ws-cpus %q: want apart or same", mode)
}

// pinProcess keeps every thread of process pid on cpu; threads it starts
// later inherit that. It returns the affinity the process had, for
// unpinProcess.
func pinProcess(pid, cpu int) (unix.CPUSet, error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &old); err != nil {
		return old, err
	}
	set.Set(cpu)
	return old, setAffinity(pid, &set)
}

// unpinProcess gives every thread of pid the affinity set again.
func unpinProcess(pid int, set unix.CPUSet) error { return setAffinity(pid, &set) }

func setAffinity(pid int, set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d of process %d: %w", tid, pid, err)
		}
	}
	return nil
}
