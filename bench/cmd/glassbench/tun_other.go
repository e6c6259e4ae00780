//go:build !linux

package main

import "syscall"

const envTUNChild = "GLASSBENCH_TUN_CHILD"

func runTUN(mtus []int, queues, rounds int, total int64, cc string) ([]tunResult, string) {
	return nil, "skipped: TUN needs Linux"
}

func runTUNEcho(mtus []int, n int, total int64) ([]tunResult, string) {
	return nil, "skipped: TUN needs Linux"
}

func tunChild() {}

// setKernelCC sets nothing: -tun-cc applies to the TUN rows alone.
func setKernelCC(_, _ string, _ syscall.RawConn) error { return nil }
