package sockets

import (
	"context"
	"sync/atomic"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TestRecvRegistersFirstAfterSleeping checks how many times a blocking recv
// looks at its endpoint: a try, a try once registered, a try once woken,
// while the socket's last recv found its data at once; once it has slept,
// the next recv registers first and looks twice per wait. A recv that then
// finds its data at once goes back to trying before registering.
func TestRecvRegistersFirstAfterSleeping(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	c, srv := connectedPair(t, s, AF_INET)
	defer s.Close(c)
	defer s.Close(srv)
	so, err := s.lookup(srv)
	must(t, err)

	var ready atomic.Bool
	// recv runs one blocking wait whose try reports data once ready is
	// set. A try that finds the entry registered and no data makes the
	// data ready and notifies the queue, as a segment arriving would.
	// It returns the tries and whether the first one ran registered.
	recv := func() (tries int, firstRegistered bool) {
		_, err := s.block(context.Background(), nil, so, "recv", readMask, false, nil, func() tcpip.Error {
			tries++
			registered := so.wq.Events()&waiter.EventIn != 0
			if tries == 1 {
				firstRegistered = registered
			}
			if ready.Load() {
				return nil
			}
			if registered {
				go func() {
					ready.Store(true)
					so.wq.Notify(waiter.EventIn)
				}()
			}
			return &tcpip.ErrWouldBlock{}
		})
		must(t, err)
		return tries, firstRegistered
	}

	for i, want := range []struct {
		ready      bool // data there before the call
		tries      int
		registered bool // the first try ran with the entry registered
	}{
		{false, 3, false}, // no recv slept before: try, register, try, sleep, try
		{false, 2, true},  // the last one slept: register, try, sleep, try
		{false, 2, true},
		{true, 1, true},  // data there: register, try
		{true, 1, false}, // the last one did not sleep: try
		{false, 3, false},
	} {
		ready.Store(want.ready)
		tries, registered := recv()
		if tries != want.tries || registered != want.registered {
			t.Errorf("recv %d: %d tries, first registered %v; want %d, %v", i, tries, registered, want.tries, want.registered)
		}
	}
}
