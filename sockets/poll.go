package sockets

import (
	"context"
	"time"

	"gvisor.dev/gvisor/pkg/waiter"
)

// PollFD is one entry of a Poll call, as struct pollfd in poll(2).
type PollFD struct {
	FD      int   // the descriptor to watch; a negative one is ignored, as in poll(2)
	Events  int16 // requested: POLLIN, POLLOUT, POLLRDHUP
	Revents int16 // returned: the requested bits that are ready, plus POLLERR, POLLHUP, POLLNVAL
}

// Poll waits until at least one of fds is ready, like poll(2), and returns
// how many entries have a nonzero Revents. A timeout of 0 checks once
// without waiting; a negative timeout waits without limit. POLLERR and
// POLLHUP are reported whether requested or not, and a descriptor that is
// not open gets POLLNVAL. An entry with a negative FD is skipped: its
// Revents is 0, as poll(2) does to let a caller switch an entry off.
//
// Readiness comes from each endpoint's Readiness and the wait from its
// waiter.Queue: Poll registers one entry per descriptor, all notifying the
// same channel, then re-checks before sleeping so that no event is lost.
// A listener is POLLIN when its accept queue is not empty; a connecting
// stream socket becomes POLLOUT when the handshake finishes (and POLLERR
// too if it failed).
func (s *Sockets) Poll(ctx context.Context, fds []PollFD, timeout time.Duration) (int, error) {
	if !s.logCalls {
		return s.poll(ctx, fds, timeout)
	}
	start := s.callStart()
	args := pollArgs(fds, timeout)
	n, err := s.poll(ctx, fds, timeout)
	s.logCall(start, nil, "poll", args, n, pollOut(fds, n), err)
	return n, err
}

func (s *Sockets) poll(ctx context.Context, fds []PollFD, timeout time.Duration) (int, error) {
	socks := make([]*socket, len(fds))
	for i := range fds {
		socks[i], _ = s.lookup(fds[i].FD)
	}
	if n := pollOnce(fds, socks); n > 0 || timeout == 0 {
		return n, nil
	}

	ch := make(chan struct{}, 1)
	notify := waiter.ChannelNotifier(ch)
	entries := make([]waiter.Entry, len(fds))
	for i, so := range socks {
		if so == nil {
			continue
		}
		entries[i].Init(notify, wakeMask(fds[i].Events))
		so.wq.EventRegister(&entries[i])
	}
	defer func() {
		for i, so := range socks {
			if so != nil {
				so.wq.EventUnregister(&entries[i])
			}
		}
	}()

	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		if n := pollOnce(fds, socks); n > 0 {
			return n, nil
		}
		select {
		case <-ch:
		case <-expired:
			return 0, nil
		case <-ctx.Done():
			return 0, ctxErr(ctx, "poll")
		}
	}
}

// pollOnce fills in Revents and counts the ready entries.
func pollOnce(fds []PollFD, socks []*socket) int {
	n := 0
	for i := range fds {
		so := socks[i]
		switch {
		case fds[i].FD < 0:
			fds[i].Revents = 0
		case so == nil || so.closed():
			fds[i].Revents = POLLNVAL
		default:
			want := waiter.EventMaskFromLinux(uint32(uint16(fds[i].Events))) | waiter.EventErr | waiter.EventHUp
			fds[i].Revents = int16((so.ep.Readiness(wakeMask(fds[i].Events)) & want).ToLinux())
		}
		if fds[i].Revents != 0 {
			n++
		}
	}
	return n
}

// wakeMask is the events a Poll entry sleeps on, and asks Readiness about.
// netstack notifies a FIN as EventIn, never as EventRdHUp, so POLLRDHUP
// asked alone must wake on EventIn too; and a TCP endpoint notifies before
// it records the receive side as shut for EventRdHUp, which its Readiness
// then does only when asked about EventIn as well.
func wakeMask(events int16) waiter.EventMask {
	m := waiter.EventMaskFromLinux(uint32(uint16(events))) | waiter.EventErr | waiter.EventHUp
	if m&waiter.EventRdHUp != 0 {
		m |= waiter.EventIn
	}
	return m
}
