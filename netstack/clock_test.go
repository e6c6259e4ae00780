package netstack

import (
	"sync/atomic"
	"testing"
	"time"
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
