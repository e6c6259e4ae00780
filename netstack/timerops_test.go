package netstack

import (
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// The tests in this file check glassnet patch 55 in third_party/gvisor
// (PATCHES.md there): the delayed-ACK timer, armed when a request arrives
// and disabled when the reply carries the ACK, leaves its clock timer
// running when it is disabled and moves it when it is armed again: one
// clock timer operation per segment received instead of a Reset and a
// Stop, and no early expiry. When the ACKs go must not change
// (delack_test.go holds that; TestDelayedACKAfterQuietTimer below holds it
// across a timer left running).

// timerCountingClock is a tcpip.Clock that counts the operations on its
// timers: the AfterFunc that makes one, Stop, Reset, and expiries.
type timerCountingClock struct {
	tcpip.Clock
	ops, fired atomic.Uint64
}

func (c *timerCountingClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	c.ops.Add(1)
	return countedTimer{c.Clock.AfterFunc(d, func() {
		c.fired.Add(1)
		f()
	}), c}
}

type countedTimer struct {
	tcpip.Timer
	c *timerCountingClock
}

func (t countedTimer) Stop() bool {
	t.c.ops.Add(1)
	return t.Timer.Stop()
}

func (t countedTimer) Reset(d time.Duration) {
	t.c.ops.Add(1)
	t.Timer.Reset(d)
}

// TestTimerOpsPerEcho: an echo of a small message between two stacks, one
// data segment each way with the ACKs on the replies, takes at most
// maxTimerOps clock timer operations over both stacks (2 with the change,
// the delayed-ACK timer moved once on each side; 4 without, a Reset and a
// Stop on each side), and no timer expires.
func TestTimerOpsPerEcho(t *testing.T) {
	t.Parallel()
	base := newEchoClock(t)
	clock := &timerCountingClock{Clock: base}
	got := echoCounts(t, clock, base.step, clock.ops.Load, clock.fired.Load)
	const n = echoCountsN
	per, expired := got[0], uint64(got[1]*n+0.5)
	t.Logf("%.2f timer operations per echo, %d expiries in %d echoes", per, expired, n)
	if per > maxTimerOps {
		t.Errorf("%.2f timer operations per echo, want at most %d", per, maxTimerOps)
	}
	// Each echo takes echoStep of the stacks' time, well under the
	// delayed-ACK timer's 40 ms, however long the machine takes for it.
	if expired != 0 {
		t.Errorf("%d timers expired in %d echoes, want none (a timer due earlier than it was armed for)", expired, n)
	}
}

// maxTimerOps is halfway between the 2 operations an echo takes and the 4
// it took.
const maxTimerOps = 3

// TestDelayedACKAfterQuietTimer: a request answered at once (the reply
// carries the ACK) leaves the delayed-ACK clock timer running; when it
// expires, nothing is sent; a second request arriving before it would
// expire has its ACK delayed by the full wait from its own arrival, not
// sent when the first request's timer would have expired.
func TestDelayedACKAfterQuietTimer(t *testing.T) {
	t.Parallel()
	d := newDelAckConn(t, nil)
	st := d.st.Stack().Stats().TCP
	timeouts := st.DelayedACKTimeouts.Value()

	sent := d.segmentsSent()
	d.request([]byte("ping"))
	d.read()
	d.reply([]byte("pong"))
	if n := d.segmentsSent() - sent; n != 1 {
		t.Fatalf("the stack sent %d segments for request and reply, want 1", n)
	}
	// The first request's timer would expire now; nothing is owed.
	d.clock.Advance(delAckDelay)
	if n := d.segmentsSent() - sent; n != 1 {
		t.Fatalf("the stack sent %d segments after the delay with nothing owed, want 1 (the reply)", n)
	}

	// A request, answered; then, half a delay later, one left unanswered.
	d.request([]byte("ping"))
	d.read()
	d.reply([]byte("pong"))
	sent = d.segmentsSent()
	d.clock.Advance(delAckDelay / 2)
	d.request([]byte("ping"))
	d.clock.Advance(delAckDelay - time.Millisecond)
	if n := d.segmentsSent() - sent; n != 0 {
		t.Fatalf("the stack sent %d segments %v after the request, want 0 (the ACK waits %v from it)", n, delAckDelay-time.Millisecond, delAckDelay)
	}
	d.clock.Advance(time.Millisecond)
	ack := d.p.next()
	if len(ack.Payload()) != 0 || ack.AckNumber() != d.p.sndNxt {
		t.Fatalf("after the delay: got %v ack %d length %d, want a pure ACK of %d", ack.Flags(), ack.AckNumber(), len(ack.Payload()), d.p.sndNxt)
	}
	if got := st.DelayedACKTimeouts.Value() - timeouts; got != 1 {
		t.Errorf("%d delayed-ACK timeouts counted, want 1", got)
	}
}
