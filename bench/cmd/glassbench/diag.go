package main

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
)

// startDiagnostics starts a CPU profile written to cpuFile and an
// execution trace written to traceFile, each only when its name is not
// empty, and returns what stops them and closes their files. With a CPU
// profile it also writes, when it stops, the process's allocations
// since it started (the allocs profile: go tool pprof
// -sample_index=alloc_space) next to it, with ".allocs" for its
// extension.
func startDiagnostics(cpuFile, traceFile string) (func(), error) {
	stop := func() {}
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		allocFile := strings.TrimSuffix(cpuFile, filepath.Ext(cpuFile)) + ".allocs"
		stop = func() {
			pprof.StopCPUProfile()
			f.Close()
			if af, err := os.Create(allocFile); err == nil {
				pprof.Lookup("allocs").WriteTo(af, 0)
				af.Close()
			}
		}
	}
	if traceFile != "" {
		f, err := os.Create(traceFile)
		if err != nil {
			stop()
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return nil, err
		}
		prev := stop
		stop = func() { trace.Stop(); f.Close(); prev() }
	}
	return stop, nil
}
