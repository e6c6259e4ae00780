// Copyright 2018 The gVisor Authors.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package tcp

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

type timerState int

const (
	// The timer has not been initialized yet or has been cleaned up.
	timerUninitialized timerState = iota
	// The timer is disabled.
	timerStateDisabled
	// The timer is enabled, but the clock timer may be set to an earlier
	// expiration time due to a previous orphaned state.
	timerStateEnabled
	// The timer is disabled, but the clock timer is enabled, which means that
	// it will cause a spurious wakeup unless the timer is enabled before the
	// clock timer fires.
	timerStateOrphaned
)

// timer is a timer implementation that reduces the interactions with the
// clock timer infrastructure by letting timers run (and potentially
// eventually expire) even if they are stopped. It makes it cheaper to
// disable/reenable timers at the expense of spurious wakes. This is useful for
// cases when the same timer is disabled/reenabled repeatedly with relatively
// long timeouts farther into the future.
//
// TCP retransmit timers benefit from this because they the timeouts are long
// (currently at least 200ms), and get disabled when acks are received, and
// reenabled when new pending segments are sent.
//
// It is advantageous to avoid interacting with the clock because it acquires
// a global mutex and performs O(log n) operations, where n is the global number
// of timers, whenever a timer is enabled or disabled, and may make a syscall.
//
// This struct is thread-compatible.
type timer struct {
	state timerState

	clock tcpip.Clock

	// target is the expiration time of the current timer. It is only
	// meaningful in the enabled state.
	target tcpip.MonotonicTime

	// clockTarget is the expiration time of the clock timer. It is
	// meaningful in the enabled and orphaned states.
	clockTarget tcpip.MonotonicTime

	// timer is the clock timer used to wait on.
	timer tcpip.Timer

	// ep is the endpoint whose timer this is, and expired what its
	// expiry does, run as timerHandler runs a handler (with
	// segmentsFirst, as the function of that name does). The clock
	// timer's function is made from them when the timer is first
	// enabled (glassnet patch 38).
	ep            *Endpoint
	expired       func(*Endpoint) tcpip.Error
	segmentsFirst bool
}

// init initializes the timer. Once it expires, expired is called for ep,
// with ep.mu held, as timerHandler calls a handler; with segmentsFirst, after
// the segments queued for ep, as the function segmentsFirst does.
//
// Upstream took the function to call, a closure made by timerHandler around
// a method value: two allocations for each of an endpoint's six timers,
// three for the two with segmentsFirst, whether or not the timer was ever
// enabled. expired is a function of the endpoint, not a closure, and the
// clock timer's function is one allocation, made when the timer is first
// enabled; most connections enable three of the six (glassnet patch 38).
func (t *timer) init(clock tcpip.Clock, ep *Endpoint, expired func(*Endpoint) tcpip.Error, segmentsFirst bool) {
	t.state = timerStateDisabled
	t.clock = clock
	t.ep = ep
	t.expired = expired
	t.segmentsFirst = segmentsFirst
}

// callback returns the function the clock timer calls. It holds what it
// needs itself: cleanup clears t while the clock timer may be firing.
func (t *timer) callback() func() {
	e, f := t.ep, t.expired
	if t.segmentsFirst {
		return func() { segmentsFirst(e, f) }
	}
	return func() {
		e.mu.Lock()
		timerDoneLocked(e, f(e))
	}
}

// cleanup frees all resources associated with the timer.
func (t *timer) cleanup() {
	if t.timer == nil {
		// No cleanup needed.
		return
	}
	t.timer.Stop()
	*t = timer{}
}

// isUninitialized returns true if the timer is in the uninitialized state. This
// is only true if init() has never been called or if cleanup has been called.
func (t *timer) isUninitialized() bool {
	return t.state == timerUninitialized
}

// checkExpiration checks if the given timer has actually expired, it should be
// called whenever the callback function is called, and is used to check if it's
// a spurious timer expiration (due to a previously orphaned timer) or a
// legitimate one.
func (t *timer) checkExpiration() bool {
	// Transition to fully disabled state if we're just consuming an
	// orphaned timer.
	if t.state == timerStateOrphaned {
		t.state = timerStateDisabled
		return false
	}

	// The timer is enabled, but it may have expired early. Check if that's
	// the case, and if so, reset the runtime timer to the correct time.
	now := t.clock.NowMonotonic()
	if now.Before(t.target) {
		t.clockTarget = t.target
		t.timer.Reset(t.target.Sub(now))
		return false
	}

	// The timer has actually expired, disable it for now and inform the
	// caller.
	t.state = timerStateDisabled
	return true
}

// disable disables the timer, leaving it in an orphaned state if it wasn't
// already disabled.
func (t *timer) disable() {
	if t.state != timerStateDisabled {
		t.state = timerStateOrphaned
	}
}

// enabled returns true if the timer is currently enabled, false otherwise.
func (t *timer) enabled() bool {
	return t.state == timerStateEnabled
}

// enable enables the timer, programming the runtime timer if necessary.
func (t *timer) enable(d time.Duration) {
	t.enableAt(t.clock.NowMonotonic(), d)
}

// enableAt is enable for a caller that has just read the clock, now
// (glassnet patch 52): the timer expires d after now.
func (t *timer) enableAt(now tcpip.MonotonicTime, d time.Duration) {
	t.target = now.Add(d)

	// Check if we need to set the runtime timer.
	if t.state == timerStateDisabled || t.target.Before(t.clockTarget) {
		t.clockTarget = t.target
		t.resetOrStart(d)
	}

	t.state = timerStateEnabled
}

// moveAt is enableAt for the delayed-ACK timer, which is armed for nearly
// every segment received and disabled for nearly every segment sent
// (glassnet patch 55). Disabling it leaves the clock timer running, as
// Linux leaves its delack timer (inet_csk_clear_xmit_timer does not stop
// it), and arming it moves the clock timer to the new target, later as
// well as earlier, with one Reset. Upstream's enableAt leaves a clock timer
// due earlier as it is, which would then fire early about once per
// message of a busy connection; stopping the clock timer when the ACK
// goes (patch 9) cost a Stop per segment sent and a Reset per segment
// received. What is left is one spurious expiry when a connection goes
// quiet with the clock timer orphaned, which checkExpiration consumes.
func (t *timer) moveAt(now tcpip.MonotonicTime, d time.Duration) {
	t.target = now.Add(d)
	if t.state == timerStateDisabled || t.target != t.clockTarget {
		t.clockTarget = t.target
		t.resetOrStart(d)
	}
	t.state = timerStateEnabled
}

// resetOrStart creates the timer if it doesn't already exist or resets it with
// the given duration if it does.
func (t *timer) resetOrStart(d time.Duration) {
	if t.timer == nil {
		t.timer = t.clock.AfterFunc(d, t.callback())
	} else {
		t.timer.Reset(d)
	}
}

// segmentsFirst runs the retransmission and tail loss probe timers'
// handlers, f, as timerHandler runs a handler, with segments already queued
// for the endpoint processed before the timer acts (glassnet patch 10). A
// segment waits in the endpoint's queue
// until a processor goroutine comes to it; with many busy endpoints that
// can take longer than the RTO or PTO, and the ACK that makes the timeout
// needless is then already in the queue. Linux processes a socket's backlog
// before the timers it deferred while the socket was owned (release_sock,
// tcp_release_cb); here the timer processes the queue itself. handleConnected
// gives way when another goroutine holds the endpoint (a processor, or the
// application, whose UnlockUser leaves the queue to a processor): the timer
// then waits for the endpoint, as timerHandler would, and tries again.
func segmentsFirst(e *Endpoint, f func(*Endpoint) tcpip.Error) {
	for try := 0; try < 3 && !e.segmentQueue.empty(); try++ {
		if st := e.EndpointState(); !st.connected() || st == StateTimeWait {
			break
		}
		if try > 0 {
			e.mu.Lock()
			e.mu.Unlock()
		}
		handleConnected(e)
	}
	e.mu.Lock()
	timerDoneLocked(e, f(e))
}

// The timers' handlers, as functions of the endpoint (glassnet patch 38).
// Each runs with e.mu held; e.snd is the sender whose timer it is, made
// once per connection (initSender).

func keepaliveExpired(e *Endpoint) tcpip.Error { return e.keepaliveTimerExpired() }
func resendExpired(e *Endpoint) tcpip.Error    { return e.snd.retransmitTimerExpired() }
func reorderExpired(e *Endpoint) tcpip.Error   { return e.snd.rc.reorderTimerExpired() }
func probeExpired(e *Endpoint) tcpip.Error     { return e.snd.probeTimerExpired() }
func corkExpired(e *Endpoint) tcpip.Error      { return e.snd.corkTimerExpired() }
func delAckExpired(e *Endpoint) tcpip.Error    { return e.snd.delAckTimerExpired() }

// initSenderTimers initializes snd's timers for e.
func initSenderTimers(snd *sender, clock tcpip.Clock, e *Endpoint) {
	snd.resendTimer.init(clock, e, resendExpired, true)
	snd.reorderTimer.init(clock, e, reorderExpired, false)
	snd.probeTimer.init(clock, e, probeExpired, true)
	snd.corkTimer.init(clock, e, corkExpired, false)
	snd.delAckTimer.init(clock, e, delAckExpired, false)
}
