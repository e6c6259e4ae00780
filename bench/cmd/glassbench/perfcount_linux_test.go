package main

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// TestPerfCounts makes a known number of getpid calls, most on threads
// started after the counters were opened, and checks that the counters saw
// at least that many.
func TestPerfCounts(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("GLASSNET_REQUIRE_PRIVILEGED") != "1" {
		t.Skip("perf tracepoints need root")
	}
	ps, err := openPerf(0, "sys_enter_getpid")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	before, err := ps.Read()
	if err != nil {
		t.Fatal(err)
	}
	// Each of k goroutines holds a thread of its own at the same time,
	// so that most run on threads started after the counters were opened,
	// and never unlocks it, so that the thread exits with its counts.
	const k, per = 16, 200
	const n = k * per
	var locked, wg sync.WaitGroup
	locked.Add(k)
	wg.Add(k)
	start := make(chan struct{})
	for range k {
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			locked.Done()
			<-start
			for range per {
				syscall.Getpid()
			}
		}()
	}
	locked.Wait()
	close(start)
	wg.Wait()
	after, err := ps.Read()
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if got := d.Named["sys_enter_getpid"]; got < n {
		t.Errorf("getpid calls counted: %d, want at least %d", got, n)
	}
	if d.Syscalls < n {
		t.Errorf("system calls counted: %d, want at least %d", d.Syscalls, n)
	}
}
