//go:build !linux

package main

const envTUNChild = "GLASSBENCH_TUN_CHILD"

type tunResult struct {
	MTU           int
	Offloads      string
	Echo          []float64
	Discard       []float64
	KernelEcho    []float64
	KernelDiscard []float64
	Tally         tally
	Err           string
}

func runTUN(mtus []int, rounds int, total int64) ([]tunResult, string) {
	return nil, "skipped: TUN needs Linux"
}

func runTUNEcho(mtus []int, n int, total int64) ([]tunResult, string) {
	return nil, "skipped: TUN needs Linux"
}

func tunChild() {}
