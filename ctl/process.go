package ctl

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
)

// Process is what the process that runs a stack uses, so that anyone can
// watch whether memory and goroutines come back after load.
type Process struct {
	// HeapInUse is the Go heap in use (runtime.MemStats.HeapInuse);
	// HeapAlloc the bytes of the objects in it, live or garbage not yet
	// swept (HeapAlloc); HeapLive the bytes the last garbage collection
	// found live (runtime/metrics /gc/heap/live:bytes), what stays.
	HeapInUse uint64 `json:"heap_inuse"`
	HeapAlloc uint64 `json:"heap_alloc"`
	HeapLive  uint64 `json:"heap_live"`
	// HeapReleased is heap the runtime has returned to the OS, and
	// HeapIdle heap it holds without objects in it (including
	// HeapReleased): the difference is what RSS keeps for later.
	HeapIdle     uint64 `json:"heap_idle"`
	HeapReleased uint64 `json:"heap_released"`
	// RSS is the resident set size from /proc/self/status; 0 where there
	// is none.
	RSS uint64 `json:"rss"`
	// Goroutines is runtime.NumGoroutine.
	Goroutines int `json:"goroutines"`
	// Sockets is the number of rows in the socket table.
	Sockets int `json:"sockets"`
}

// ReadProcess reports this process's memory and goroutines, with sockets
// as the socket count.
func ReadProcess(sockets int) Process {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	var heapLive uint64
	if live[0].Value.Kind() == metrics.KindUint64 {
		heapLive = live[0].Value.Uint64()
	}
	return Process{
		HeapInUse:    m.HeapInuse,
		HeapAlloc:    m.HeapAlloc,
		HeapLive:     heapLive,
		HeapIdle:     m.HeapIdle,
		HeapReleased: m.HeapReleased,
		RSS:          readRSS(),
		Goroutines:   runtime.NumGoroutine(),
		Sockets:      sockets,
	}
}

// readRSS returns VmRSS from /proc/self/status in bytes, or 0.
func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 3 && string(f[0]) == "VmRSS:" && string(f[2]) == "kB" {
			kb, err := strconv.ParseUint(string(f[1]), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// RenderProcess writes the process line that ss prints under the table:
//
//	Process: heap in use 12.4 MiB (live at the last GC 6.0 MiB, allocated 9.1 MiB, idle 20.0 MiB of which 18.2 MiB returned), RSS 31.0 MiB, 14 goroutines, 7 sockets
func RenderProcess(w io.Writer, p Process) error {
	rss := "RSS unknown"
	if p.RSS != 0 {
		rss = "RSS " + mib(p.RSS)
	}
	_, err := fmt.Fprintf(w, "\nProcess: heap in use %s (live at the last GC %s, allocated %s, idle %s of which %s returned), %s, %d goroutines, %d sockets\n",
		mib(p.HeapInUse), mib(p.HeapLive), mib(p.HeapAlloc), mib(p.HeapIdle), mib(p.HeapReleased), rss, p.Goroutines, p.Sockets)
	return err
}

func mib(n uint64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }
