//go:build !linux

package main

import "errors"

func allowedCPUs() ([]int, error) { return nil, errors.New("CPU affinity is set on Linux only") }

type cpuSet struct{}

func pinProcess(pid, cpu int) (cpuSet, error) { return cpuSet{}, nil }
func unpinProcess(pid int, set cpuSet) error  { return nil }
