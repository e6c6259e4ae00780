//go:build !linux

package main

const envTUNChild = "GLASSBENCH_TUN_CHILD"

func runTUN(mtus []int, queues, rounds int, total int64) ([]tunResult, string) {
	return nil, "skipped: TUN needs Linux"
}

func runTUNEcho(mtus []int, n int, total int64) ([]tunResult, string) {
	return nil, "skipped: TUN needs Linux"
}

func tunChild() {}
