package netstack

import (
	"math"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

func TestPausableClock(t *testing.T) {
	t.Parallel()
	var src atomic.Int64   // nanoseconds
	var reads atomic.Int64 // how often the clock has read src
	c := NewPausableClock(PausableClockOptions{Source: func() time.Time {
		reads.Add(1)
		return time.Unix(0, src.Load())
	}})
	defer c.Stop()
	var fired atomic.Bool
	c.AfterFunc(time.Second, func() { fired.Store(true) })
	// tick waits until the clock's goroutine has caught up with src at
	// least once since tick was called: it reads src at the start of each
	// catch-up and fires due timers before the next one, so a second read
	// proves a whole catch-up ran. Only that goroutine reads src while
	// tick waits.
	tick := func() {
		for want := reads.Load() + 2; reads.Load() < want; {
			time.Sleep(100 * time.Microsecond)
		}
	}

	start := c.Now()
	c.Pause()
	src.Add(int64(time.Hour)) // a long pause costs no real time
	tick()
	if fired.Load() {
		t.Fatal("timer fired while paused")
	}
	c.Resume()
	tick()
	if fired.Load() {
		t.Fatal("the paused hour passed after Resume")
	}
	if d := c.Now().Sub(start); d <= 0 || d > time.Millisecond {
		t.Fatalf("clock moved %v over a paused hour", d)
	}
	src.Add(int64(2 * time.Second)) // running: the timer is due
	tick()
	if !fired.Load() {
		t.Fatal("timer did not fire once its time passed while running")
	}
	// Now never repeats, even when the source stands still.
	a, b := c.Now(), c.Now()
	if !b.After(a) {
		t.Fatalf("Now returned %v then %v", a, b)
	}
	if got := time.Since(c.Now()); got > time.Hour || got < -time.Hour {
		t.Fatalf("clock starts %v away from the wall clock", got)
	}
}

// TestMonotonicTimeArithmetic checks tcpip.MonotonicTime's Add and Sub,
// which third_party/gvisor patch 14 computes in integers, against the
// time.Time round trip upstream used, at the edges of int64 where that
// round trip saturates.
func TestMonotonicTimeArithmetic(t *testing.T) {
	t.Parallel()
	// Upstream's definitions.
	refAdd := func(ns int64, d time.Duration) int64 {
		return time.Unix(0, ns).Add(d).Sub(time.Unix(0, 0)).Nanoseconds()
	}
	refSub := func(a, b int64) time.Duration { return time.Unix(0, a).Sub(time.Unix(0, b)) }
	vals := []int64{0, 1, -1, 999_999_999, 1e9, -1e9, 40e6, 1 << 40, -(1 << 40),
		math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - 1e9, math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 1e9,
		math.MaxInt64 / 2, math.MinInt64 / 2}
	at := func(ns int64) tcpip.MonotonicTime { return tcpip.MonotonicTime{}.Add(time.Duration(ns)) }
	for _, a := range vals {
		if got := at(a).Sub(tcpip.MonotonicTime{}); int64(got) != a {
			t.Fatalf("MonotonicTime at %d reads back %d", a, got)
		}
		for _, b := range vals {
			if got, want := at(a).Add(time.Duration(b)).Sub(tcpip.MonotonicTime{}), refAdd(a, time.Duration(b)); int64(got) != want {
				t.Errorf("%d + %d = %d, want %d", a, b, got, want)
			}
			if got, want := at(a).Sub(at(b)), refSub(a, b); got != want {
				t.Errorf("%d - %d = %d, want %d", a, b, got, want)
			}
		}
	}
	if inf := tcpip.MonotonicTimeInfinite(); inf.Add(time.Second) != inf || !at(0).Before(inf.Add(-time.Hour)) {
		t.Errorf("the infinite time moved: %v", inf.Add(time.Second))
	}
}
