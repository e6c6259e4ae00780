package main

import (
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// startDiagnostics starts a CPU profile written to cpuFile and an
// execution trace written to traceFile, each only when its name is not
// empty, and returns what stops them and closes their files.
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
		stop = func() { pprof.StopCPUProfile(); f.Close() }
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
