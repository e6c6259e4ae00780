package sockets

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/trace"
)

// waker is a waiter.Entry that records which events woke it, so the trace
// can say "woken by EventIn" rather than just "woken".
type waker struct {
	entry waiter.Entry
	ch    chan struct{}
	mask  atomic.Uint64
}

// NotifyEvent implements waiter.EventListener. It runs on the netstack
// goroutine that changed the endpoint's state and must not block.
func (w *waker) NotifyEvent(m waiter.EventMask) {
	w.mask.Or(uint64(m))
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

var wakers = sync.Pool{New: func() any { return &waker{ch: make(chan struct{}, 1)} }}

func getWaker(mask waiter.EventMask) *waker {
	w := wakers.Get().(*waker)
	select {
	case <-w.ch:
	default:
	}
	w.mask.Store(0)
	w.entry.Init(w, mask)
	return w
}

func putWaker(w *waker) { wakers.Put(w) }

// Masks each kind of wait registers for. Errors and hang-ups are always
// included so that a reset or a close wakes every sleeper.
const (
	readMask  = waiter.ReadableEvents | waiter.EventErr | waiter.EventHUp
	writeMask = waiter.WritableEvents | waiter.EventErr | waiter.EventHUp
)

// block calls try until it returns something other than ErrWouldBlock,
// sleeping on so's wait queue in between. It is the kernel's
// prepare_to_wait / re-check / schedule loop: the entry is registered before
// the re-check so that a notification between the check and the sleep is
// not lost. A recv on a socket whose last recv slept registers before its
// first check instead (socket.recvSlept).
//
// A blocking wait ends early when ctx is done (ctx.Err() wrapped), when
// dl passes (os.ErrDeadlineExceeded, for the net.Conn and net.Listener
// deadlines) or when the descriptor is closed (EBADF). dl's channel is
// read again before every sleep, and the entry is registered for
// deadlineEvent too, so that a deadline set while the call sleeps wakes it
// (Conn.SetReadDeadline); a call with neither a context that can end nor a
// deadline sleeps on its entry's channel alone. When nonblock is set, a
// would-block result is returned as ErrWouldBlock for the caller to map.
func (s *Sockets) block(ctx context.Context, dl *deadline, so *socket, op string, mask waiter.EventMask, nonblock bool, cv *CallVerdict, try func() tcpip.Error) (tcpip.Error, error) {
	if so.closed() {
		return nil, syscall.EBADF
	}
	// A recv on a socket whose last recv slept registers before its
	// first try (see socket.recvSlept): one try less per wait.
	early := op == "recv" && !nonblock && so.recvSlept.Load()
	if !early {
		terr := try()
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok || nonblock {
			return terr, nil
		}
	}
	if dl != nil {
		mask |= deadlineEvent
	}
	w := getWaker(mask)
	so.wq.EventRegister(&w.entry)
	defer func() {
		so.wq.EventUnregister(&w.entry)
		putWaker(w)
	}()
	// Close sets the flag and then notifies the queue: either the check
	// sees it, or the notification finds the entry.
	if so.closed() {
		return nil, syscall.EBADF
	}
	slept := false
	for {
		terr := try()
		if _, ok := terr.(*tcpip.ErrWouldBlock); !ok {
			if op == "recv" && slept != early {
				so.recvSlept.Store(slept)
			}
			return terr, nil
		}
		slept = true
		if s.tr.Enabled() {
			s.emit(so, "", dirOf(op), "would-block", op+": "+sleepReason(op)+", going to sleep",
				(&trace.SocketWouldBlock{FD: so.fd, Op: op, Wait: eventString(mask)}).Fields()...)
		}
		// A call hook's verdict (cv) may wake the call without an
		// event, or let a real wake-up arrive late.
		spurious := cv.spurious()
		if !spurious {
			cancel := dl.done()
			if done := ctx.Done(); done == nil && cancel == nil {
				<-w.ch
			} else {
				select {
				case <-w.ch:
				case <-done:
					return nil, ctxErr(ctx, op)
				case <-cancel:
					return nil, os.ErrDeadlineExceeded
				}
			}
			if d := cv.wakeDelay(); d > 0 {
				if err := s.pause(ctx, cancel, so, op, d); err != nil {
					return nil, err
				}
			}
		}
		if so.closed() {
			// Close wakes the queue too; the descriptor is gone
			// whichever wake-up came first.
			return nil, syscall.EBADF
		}
		if s.tr.Enabled() {
			m := waiter.EventMask(w.mask.Swap(0))
			if spurious {
				s.emit(so, "", dirOf(op), "woken", op+": woken"+spuriousNote,
					(&trace.SocketWoken{FD: so.fd, Op: op, Events: "none", Spurious: trace.Some(true)}).Fields()...)
			} else {
				s.emit(so, "", dirOf(op), "woken", op+": woken by "+eventString(m),
					(&trace.SocketWoken{FD: so.fd, Op: op, Events: eventString(m)}).Fields()...)
			}
		}
	}
}

// ctxErr wraps the context's error so that errors.Is(err, context.Canceled)
// and errors.Is(err, context.DeadlineExceeded) hold.
func ctxErr(ctx context.Context, op string) error {
	return fmt.Errorf("sockets: %s: %w", op, ctx.Err())
}

func sleepReason(op string) string {
	switch op {
	case "recv":
		return "nothing to read"
	case "send":
		return "send buffer full"
	case "accept":
		return "accept queue empty"
	default:
		return "not ready"
	}
}

func dirOf(op string) trace.Dir {
	switch op {
	case "send", "sendto", "connect":
		return trace.Out
	default:
		return trace.In
	}
}

// eventString names the bits of m the way poll(2) users know them.
func eventString(m waiter.EventMask) string {
	names := []struct {
		bit  waiter.EventMask
		name string
	}{
		{waiter.EventIn, "EventIn"},
		{waiter.EventOut, "EventOut"},
		{waiter.EventErr, "EventErr"},
		{waiter.EventHUp, "EventHUp"},
		{waiter.EventRdHUp, "EventRdHUp"},
	}
	out := ""
	for _, n := range names {
		if m&n.bit != 0 {
			if out != "" {
				out += "|"
			}
			out += n.name
		}
	}
	if out == "" {
		return "none"
	}
	return out
}
