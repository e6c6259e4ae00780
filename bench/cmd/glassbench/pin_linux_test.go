package main

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPlaceWS: -ws-cpus names the CPUs of the servers and the client,
// refuses what it does not know, and pinning this process moves every
// thread and can be undone.
func TestPlaceWS(t *testing.T) {
	if pl, err := placeWS(""); err != nil || pl.ok {
		t.Fatalf(`placeWS("") = %+v, %v; want no placement`, pl, err)
	}
	if _, err := placeWS("near"); err == nil {
		t.Fatal(`placeWS("near"): no error`)
	}
	same, err := placeWS("same")
	if err != nil || !same.ok || same.server != same.client {
		t.Fatalf(`placeWS("same") = %+v, %v; want one CPU for both`, same, err)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() > 1 {
		apart, err := placeWS("apart")
		if err != nil || !apart.ok || apart.server == apart.client {
			t.Fatalf(`placeWS("apart") = %+v, %v; want two CPUs`, apart, err)
		}
	}

	pid := os.Getpid()
	old, err := pinProcess(pid, same.client)
	if err != nil {
		t.Fatal(err)
	}
	defer unpinProcess(pid, old)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var got unix.CPUSet
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedGetaffinity(tid, &got); err != nil {
			continue // the thread has ended
		}
		if got.Count() != 1 || !got.IsSet(same.client) {
			t.Fatalf("thread %d runs on %d CPUs after pinning to CPU %d", tid, got.Count(), same.client)
		}
	}
	if err := unpinProcess(pid, old); err != nil {
		t.Fatal(err)
	}
	if err := unix.SchedGetaffinity(0, &got); err != nil || got != old {
		t.Fatalf("affinity after unpinning: %v (%v), want %v", got, err, old)
	}
}
