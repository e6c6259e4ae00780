package netstack

import (
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
)

// PausableClock is a tcpip.Clock that follows real time except while it is
// paused: time spent paused never passes for the stacks that use it, so no
// TCP timer (retransmission, keepalive, TIME-WAIT) fires while a person
// reads a paused step. It implements trace.Pauser; give the same clock to
// both stacks of a pair (Options.Clock) so that neither side's time moves
// while the other is held.
//
// It is built on gVisor's faketime.ManualClock, advanced every Tick by the
// real time that passed while running, so timers fire at most a Tick late.
// Now interpolates between ticks and never returns the same time twice:
// gVisor's RACK loss detection declares segments sent in the same instant
// as an acknowledged one lost, and retransmits them. Its time starts at the
// wall clock's.
type PausableClock struct {
	*faketime.ManualClock

	mu     sync.Mutex
	paused int           // nested Pause calls
	last   time.Time     // source time the clock has accounted for
	owed   time.Duration // source time that passed before a Pause, not yet advanced
	prev   time.Time     // the last time Now returned
	now    func() time.Time

	stop chan struct{}
	done chan struct{}
}

var _ tcpip.Clock = (*PausableClock)(nil)

// PausableClockOptions configures NewPausableClock; the zero value follows
// the wall clock, advancing every millisecond.
type PausableClockOptions struct {
	// Tick is how often the clock catches up with its source; 0 means
	// one millisecond.
	Tick time.Duration
	// Source replaces time.Now as the time the clock follows. A test can
	// make a long pause cost no real time with a source it moves itself.
	Source func() time.Time
}

// NewPausableClock returns a running clock. Stop it when the stacks using
// it are closed.
func NewPausableClock(opts PausableClockOptions) *PausableClock {
	if opts.Tick <= 0 {
		opts.Tick = time.Millisecond
	}
	if opts.Source == nil {
		opts.Source = time.Now
	}
	c := &PausableClock{
		ManualClock: faketime.NewManualClock(),
		now:         opts.Source,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	// Start at the wall clock's time, so timestamps read naturally; no
	// timer exists yet, so this fires nothing.
	c.ManualClock.Advance(time.Since(time.Unix(0, 0)))
	c.last = c.now()
	go c.run(opts.Tick)
	return c
}

func (c *PausableClock) run(tick time.Duration) {
	defer close(c.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.catchUp()
		}
	}
}

// catchUp advances the clock by the source time that passed since the last
// call while it was running. Timer callbacks run here, without c.mu held,
// so a callback that blocks (on a paused tracer) cannot block Pause,
// Resume or Now.
func (c *PausableClock) catchUp() {
	c.mu.Lock()
	src := c.now()
	d := c.owed
	if c.paused == 0 {
		d += src.Sub(c.last)
	}
	c.owed = 0
	c.last = src
	c.mu.Unlock()
	if d > 0 {
		c.ManualClock.Advance(d)
	}
}

// Now returns the clock's time: the manual clock's, plus the source time
// not yet advanced, and always later than the time it returned before.
func (c *PausableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.ManualClock.Now().Add(c.owed)
	if c.paused == 0 {
		if d := c.now().Sub(c.last); d > 0 {
			t = t.Add(d)
		}
	}
	if !t.After(c.prev) {
		t = c.prev.Add(time.Nanosecond)
	}
	c.prev = t
	return t
}

// NowMonotonic returns Now as a monotonic time.
func (c *PausableClock) NowMonotonic() tcpip.MonotonicTime {
	var mt tcpip.MonotonicTime
	return mt.Add(c.Now().Sub(time.Unix(0, 0)))
}

// Pause stops the clock until the matching Resume. Calls nest.
func (c *PausableClock) Pause() {
	c.mu.Lock()
	if c.paused == 0 {
		src := c.now()
		if d := src.Sub(c.last); d > 0 {
			c.owed += d
		}
		c.last = src
	}
	c.paused++
	c.mu.Unlock()
}

// Resume undoes one Pause; the time spent paused is skipped.
func (c *PausableClock) Resume() {
	c.mu.Lock()
	if c.paused > 0 {
		c.paused--
	}
	if c.paused == 0 {
		c.last = c.now()
	}
	c.mu.Unlock()
}

// Paused reports whether the clock stands still.
func (c *PausableClock) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused > 0
}

// Stop ends the goroutine that advances the clock; time stands still from
// then on. It is safe to call more than once.
func (c *PausableClock) Stop() {
	c.mu.Lock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.mu.Unlock()
	<-c.done
}
