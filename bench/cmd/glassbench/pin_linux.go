package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
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
