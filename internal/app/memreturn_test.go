package app

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryReturnerTick: memory goes back only when the stack is quiet
// and the process keeps more than it did after the last return; a busy
// stack, or one that keeps what its open connections need, is left alone.
func TestMemoryReturnerTick(t *testing.T) {
	const mib = 1 << 20
	m := &memoryReturner{quietBytes: 4 * mib, growth: 32 * mib, floor: 20 * mib}
	steps := []struct {
		name        string
		moved, kept uint64
		want        bool
	}{
		{"a load starts", 100 * mib, 60 * mib, false},
		{"the load goes on", 300 * mib, 150 * mib, false},
		{"it is over: quiet, 130 MiB more than at the start", 301 * mib, 150 * mib, true},
	}
	for _, s := range steps {
		if got := m.tick(s.moved, s.kept); got != s.want {
			t.Fatalf("%s: tick(%d MiB moved, %d MiB kept) = %v, want %v", s.name, s.moved/mib, s.kept/mib, got, s.want)
		}
	}
	m.returned(45 * mib) // what idle connections still hold
	for _, s := range []struct {
		name        string
		moved, kept uint64
		want        bool
	}{
		{"quiet, keeping what is left", 302 * mib, 45 * mib, false},
		{"quiet, a little more", 303 * mib, 70 * mib, false},
		{"a second load", 500 * mib, 120 * mib, false},
		{"over again", 500 * mib, 120 * mib, true},
	} {
		if got := m.tick(s.moved, s.kept); got != s.want {
			t.Fatalf("%s: tick(%d MiB moved, %d MiB kept) = %v, want %v", s.name, s.moved/mib, s.kept/mib, got, s.want)
		}
	}
}

// memorySink keeps what TestReturnMemory allocates reachable until the
// test lets it go.
var memorySink [][]byte

// TestReturnMemory: 96 MiB allocated during a load and let go (and no
// collection since), half of it left in a sync.Pool, is handed back to the
// kernel at the first quiet tick after the load, not minutes later.
func TestReturnMemory(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var busy atomic.Bool
	var moved atomic.Uint64
	busy.Store(true)
	first := make(chan struct{})
	returned := make(chan uint64, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		returnMemory(ctx, 10*time.Millisecond, func() uint64 {
			select {
			case <-first:
			default:
				close(first) // returnMemory starts: its floor comes next
			}
			// while the load runs, the stack moves 8 MiB a tick
			if busy.Load() {
				return moved.Add(8 << 20)
			}
			return moved.Load()
		}, func() {
			select {
			case returned <- keptMemory():
			default:
			}
		})
	}()
	<-first
	// Half of it in a sync.Pool, as gVisor keeps its packet buffers: a
	// pool's objects go only at the second collection after they were put.
	// No collection during the load, as there is none when a stack's
	// load leaves nothing to collect until it ends.
	gc := debug.SetGCPercent(-1)
	var pool sync.Pool
	for i := 0; i < 96; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1 // touched: the pages are the process's
		}
		if i%2 == 0 {
			pool.Put(&b)
		} else {
			memorySink = append(memorySink, b)
		}
	}
	before := keptMemory()
	memorySink = nil
	debug.SetGCPercent(gc)
	busy.Store(false)
	select {
	case after := <-returned:
		if after+80<<20 > before {
			t.Errorf("kept %d MiB with the load's memory and %d MiB after the return, want 80 MiB or more of its 96 back", before>>20, after>>20)
		}
	case <-time.After(time.Minute):
		t.Fatalf("no return of memory in a minute (kept %d MiB with the load's memory, %d MiB now)", before>>20, keptMemory()>>20)
	}
	cancel()
	<-done
}
