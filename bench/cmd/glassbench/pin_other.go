//go:build !linux

package main

import "errors"

type wsPlacement struct {
	server, client int
	ok             bool
}

func placeWS(mode string) (wsPlacement, error) {
	if mode == "" {
		return wsPlacement{}, nil
	}
	return wsPlacement{}, errors.New("-ws-cpus: CPU affinity is set on Linux only")
}

type cpuSet struct{}

func pinProcess(pid, cpu int) (cpuSet, error) { return cpuSet{}, nil }
func unpinProcess(pid int, set cpuSet) error  { return nil }
