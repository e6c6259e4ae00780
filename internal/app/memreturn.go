package app

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// After a load the Go runtime keeps what it took for minutes: it collects
// only when the heap grows or every two minutes (so the load's buffers stay
// live until then), what sync.Pool holds goes only at the second collection
// after, and its scavenger hands freed pages back to the kernel a little
// at a time. A serve that echoed 3,000 connections of 256 KiB each held
// 155 MB of RSS for two minutes after the last one closed, and went back
// near its 14 MB after four to five. The kernel frees a socket's memory
// when it closes. memoryReturner does what the runtime would do minutes
// later as soon as the stack has gone quiet: two collections, then every
// free page back to the kernel.
type memoryReturner struct {
	// quietBytes is the most the stack may move (in and out, per tick)
	// and still be quiet.
	quietBytes uint64
	// growth is how far the memory the process keeps must have grown
	// since the last return (or the start) before another is worth its
	// two collections: a stack that holds 5,000 idle connections keeps
	// what they need, and returns once, not at every tick.
	growth uint64

	moved uint64 // the stack's bytes at the last tick
	floor uint64 // the memory kept after the last return, or at the start
}

// Defaults: a tick every 5 s; quiet under 4 MiB moved in one (0.8 MB/s);
// a return once 32 MiB more is kept than after the last.
const (
	memoryTick       = 5 * time.Second
	memoryQuietBytes = 4 << 20
	memoryGrowth     = 32 << 20
)

// tick takes the stack's bytes moved so far and the memory the process
// keeps now, and says whether to return memory.
func (m *memoryReturner) tick(moved, kept uint64) bool {
	delta := moved - m.moved
	m.moved = moved
	return delta < m.quietBytes && kept > m.floor+m.growth
}

// returned records what the process keeps after a return.
func (m *memoryReturner) returned(kept uint64) { m.floor = kept }

// keptMemory is the memory the Go runtime has from the kernel and has not
// given back: what RSS counts of the heap, stacks and the runtime's own.
func keptMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// returnMemory gives memory back once a load is over (see
// memoryReturner), checking every tick until ctx is done. moved reports
// the stack's bytes in and out so far; returns counts the returns.
func returnMemory(ctx context.Context, tick time.Duration, moved func() uint64, returns func()) {
	m := &memoryReturner{quietBytes: memoryQuietBytes, growth: memoryGrowth, moved: moved(), floor: keptMemory()}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.tick(moved(), keptMemory()) {
			continue
		}
		// The first collection frees what the load left and moves what
		// sync.Pools hold aside; the second frees that, and returns
		// every free page.
		runtime.GC()
		debug.FreeOSMemory()
		m.returned(keptMemory())
		if returns != nil {
			returns()
		}
	}
}
