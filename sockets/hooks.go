package sockets

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// Call is one socket call as a CallHook sees it.
type Call struct {
	// Name is the call: "recv", "recvfrom", "send", "sendto" or "accept".
	Name string
	// Node is the Sockets' node name (Options.Node).
	Node string
	// FD is the descriptor the call is made on.
	FD int
	// Len is the length of the caller's buffer (0 for accept).
	Len int
	// Flags are the MSG_* flags of recv and send.
	Flags int
	// Nonblock is set when the call will not sleep (O_NONBLOCK or
	// MSG_DONTWAIT).
	Nonblock bool
	// Buf is the caller's buffer: the bytes to send, or the space recv
	// will fill. A send hook may change the bytes in place (they are the
	// caller's: the change is seen there too).
	Buf []byte
}

// CallVerdict is a CallHook's answer: a hook.Verdict (Action, Reason,
// Delay, Rule) and the socket-call effects that have no place in it. The
// zero value passes.
type CallVerdict struct {
	hook.Verdict
	// MaxBytes, if positive, caps the bytes a recv returns (a short read)
	// or a send copies (a short write).
	MaxBytes int
	// Err, if not zero, is returned at once without touching the
	// endpoint: syscall.EAGAIN forces a would-block on a socket that has
	// data or room.
	Err syscall.Errno
	// Spurious is how many times a call that sleeps is woken without an
	// event before its real wake-up.
	Spurious int
	// Release ends a Hold: the call waits until it is closed (or until
	// the hook is replaced), then asks the hook again. Nil holds until the
	// hook is replaced or the call is abandoned.
	Release <-chan struct{}
}

// active reports whether v does anything.
func (v *CallVerdict) active() bool {
	return v.Action != hook.Pass || v.MaxBytes > 0 || v.Err != 0 || v.Spurious > 0
}

// action is v's action for the trace: Modify when only the socket fields
// are set.
func (v *CallVerdict) action() hook.Action {
	if v.Action == hook.Pass {
		return hook.Modify
	}
	return v.Action
}

// CallHook decides what a socket call does, the way the packet hooks of
// package netstack decide what happens to a packet: it sees each
// recv, recvfrom, send, sendto and accept (including the ones Conn, Listener
// and everything above them, such as net/http and ws, make) before it
// touches the endpoint, and returns a CallVerdict.
//
// What a verdict does depends on the call:
//
//	verdict                       recv, recvfrom                  send, sendto                 accept
//	MaxBytes n                    short read: at most n bytes     short write: at most n       -
//	Err e (e.g. EAGAIN)           returns -1 e, nothing read      returns -1 e, nothing sent   returns -1 e
//	Spurious n                    n wake-ups with no event while blocked (each re-checks and sleeps again)
//	Action Delay, Delay d         each wake-up of a blocked call  the call waits d, then      like recv
//	                              comes d late (late wake-up)     copies
//	Action Drop                   -                               returns len(b), sends       -
//	                                                              nothing (bytes vanish)
//	Action Hold, Release ch       not read until ch is closed: the receive buffer fills and TCP
//	                              advertises a zero window (nonblocking: EAGAIN); send and accept
//	                              wait the same way
//
// Actions a call has no meaning for are ignored. A Drop on a stream socket
// removes bytes from the middle of the stream: the peer sees the stream
// with a hole, which is the point of the experiment. The forced zero window
// is real: the hook keeps the application from consuming, gVisor's receive
// buffer fills, and the window the endpoint advertises falls to zero; the
// peer's Send-Q grows and its writes block until Release. Poll still
// reports POLLIN for a held socket, as Linux does for data the application
// chooses not to read.
//
// Every verdict other than a plain pass is a "verdict" trace event (layer
// socket) with the fields action, reason, rule, call, fd and effect. When
// no hook is installed a call costs one atomic load more.
//
// CallHook decides what a socket call does. Decide runs on the calling
// goroutine before the call touches the endpoint, once per call (again
// after a Hold is released); it must be safe for concurrent use.
type CallHook interface {
	Decide(c *Call) CallVerdict
}

// CallHookFunc adapts a function to CallHook.
type CallHookFunc func(c *Call) CallVerdict

// Decide implements CallHook.
func (f CallHookFunc) Decide(c *Call) CallVerdict { return f(c) }

// callHooks is the installed hook. changed is closed when it is replaced,
// which makes held calls ask the new hook.
type callHooks struct {
	h       CallHook
	changed chan struct{}
}

// SetCallHook installs h for every later socket call of s, replacing the
// previous hook; nil removes it. Calls held by the previous hook ask h.
func (s *Sockets) SetCallHook(h CallHook) {
	var next *callHooks
	if h != nil {
		next = &callHooks{h: h, changed: make(chan struct{})}
	}
	if old := s.hooks.Swap(next); old != nil {
		close(old.changed)
	}
}

// CallHook returns the installed hook, or nil.
func (s *Sockets) CallHook() CallHook {
	if hs := s.hooks.Load(); hs != nil {
		return hs.h
	}
	return nil
}

// calls recycles the Call a hook is shown: hooks must not keep it.
var calls = sync.Pool{New: func() any { return new(Call) }}

// askHook runs the installed hook for c, waiting out Holds, and puts the
// verdict to apply in v. It reports whether there is one (false when there
// is no hook or it passed), or returns the error the call must return. c
// goes back to the pool.
func (s *Sockets) askHook(ctx context.Context, cancel <-chan struct{}, so *socket, c *Call, v *CallVerdict) (bool, error) {
	defer func() {
		*c = Call{}
		calls.Put(c)
	}()
	for {
		hs := s.hooks.Load()
		if hs == nil {
			return false, nil
		}
		*v = hs.h.Decide(c)
		if !v.active() {
			return false, nil
		}
		s.verdicts.Add(hook.VerdictKey{Point: c.Name, Action: v.action(), Reason: v.Reason})
		if s.tr.Enabled() {
			s.traceVerdict(so, c, v)
		}
		if v.Err != 0 {
			return false, v.Err
		}
		if v.Action != hook.Hold {
			return true, nil
		}
		if c.Nonblock {
			return false, syscall.EAGAIN
		}
		select {
		case <-v.Release:
		case <-hs.changed:
		case <-ctx.Done():
			return false, ctxErr(ctx, c.Name)
		case <-cancel:
			return false, os.ErrDeadlineExceeded
		case <-so.doneChan():
			return false, syscall.EBADF
		}
		if s.tr.Enabled() {
			s.emit(so, "", callDir(c.Name), "released", c.Name+": hold released, asking again",
				(&trace.SocketReleased{FD: so.fd, Call: c.Name}).Fields()...)
		}
	}
}

// pause waits d for a delayed send or a late wake-up, or until the call
// is abandoned.
func (s *Sockets) pause(ctx context.Context, cancel <-chan struct{}, so *socket, op string, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx, op)
	case <-cancel:
		return os.ErrDeadlineExceeded
	case <-so.doneChan():
		return syscall.EBADF
	}
}

// spurious takes one spurious wake-up from v, reporting whether there was
// one left. v may be nil.
func (v *CallVerdict) spurious() bool {
	if v == nil || v.Spurious <= 0 {
		return false
	}
	v.Spurious--
	return true
}

// wakeDelay is how late v makes each wake-up. v may be nil.
func (v *CallVerdict) wakeDelay() time.Duration {
	if v == nil || v.Action != hook.Delay {
		return 0
	}
	return v.Delay
}

// newCall fills a pooled Call.
func (s *Sockets) newCall(name string, so *socket, b []byte, flags int, nonblock bool) *Call {
	c := calls.Get().(*Call)
	*c = Call{Name: name, Node: s.node, FD: so.fd, Len: len(b), Flags: flags, Nonblock: nonblock, Buf: b}
	return c
}

// hookRecv asks the hook about a recv into b and returns the buffer to read
// into (shortened for a short read); v receives the verdict for the wait,
// and hooked reports whether there is one.
func (s *Sockets) hookRecv(ctx context.Context, cancel <-chan struct{}, so *socket, b []byte, flags int, nonblock, needAddr bool, v *CallVerdict) (_ []byte, hooked bool, _ error) {
	name := "recv"
	if needAddr {
		name = "recvfrom"
	}
	hooked, err := s.askHook(ctx, cancel, so, s.newCall(name, so, b, flags, nonblock), v)
	if err != nil || !hooked {
		return b, false, err
	}
	if v.MaxBytes > 0 && v.MaxBytes < len(b) {
		b = b[:v.MaxBytes]
	}
	return b, true, nil
}

// hookSend asks the hook about a send of b. done reports that the hook
// decided the outcome (n, err); otherwise the send goes on with b, and v
// holds the verdict for the wait when hooked is set.
func (s *Sockets) hookSend(ctx context.Context, cancel <-chan struct{}, so *socket, b []byte, flags int, nonblock, to bool, v *CallVerdict) (_ []byte, hooked bool, n int, done bool, err error) {
	name := "send"
	if to {
		name = "sendto"
	}
	hooked, err = s.askHook(ctx, cancel, so, s.newCall(name, so, b, flags, nonblock), v)
	if err != nil {
		return b, false, 0, true, err
	}
	if !hooked {
		return b, false, 0, false, nil
	}
	switch v.Action {
	case hook.Drop:
		return b, false, len(b), true, nil
	case hook.Delay:
		if v.Delay > 0 {
			if err := s.pause(ctx, cancel, so, name, v.Delay); err != nil {
				return b, false, 0, true, err
			}
		}
		// The delay was the call's; its wake-ups are not late.
		v.Action = hook.Pass
	}
	if v.MaxBytes > 0 && v.MaxBytes < len(b) {
		b = b[:v.MaxBytes]
	}
	return b, true, 0, false, nil
}

// hookAccept asks the hook about an accept on the listener so.
func (s *Sockets) hookAccept(ctx context.Context, cancel <-chan struct{}, so *socket, v *CallVerdict) (bool, error) {
	return s.askHook(ctx, cancel, so, s.newCall("accept", so, nil, 0, so.nonblock.Load()), v)
}

// traceVerdict records one verdict that does something.
func (s *Sockets) traceVerdict(so *socket, c *Call, v *CallVerdict) {
	effect := verdictEffect(c, v)
	a := v.action()
	s.emit(so, "", callDir(c.Name), "verdict", fmt.Sprintf("%s(%d): %s: %s", c.Name, c.FD, a, effect),
		(&trace.SocketVerdict{Action: a.String(), Reason: v.Reason, Rule: v.Rule, Call: c.Name, FD: c.FD, Effect: effect}).Fields()...)
}

// verdictEffect says in words what v does to c.
func verdictEffect(c *Call, v *CallVerdict) string {
	var parts []string
	if v.Err != 0 {
		parts = append(parts, "forced "+errnoName(v.Err))
	}
	switch v.Action {
	case hook.Modify:
		// what the hook changed, in its words (a page's edit of a held
		// send: "3 bytes edited")
		if v.Reason != "" {
			parts = append(parts, v.Reason)
		}
	case hook.Hold:
		if c.Name == "recv" || c.Name == "recvfrom" {
			parts = append(parts, "held: not reading (zero window)")
		} else {
			parts = append(parts, "held")
		}
	case hook.Drop:
		if c.Name == "send" || c.Name == "sendto" {
			parts = append(parts, "dropped "+strconv.Itoa(c.Len)+" bytes")
		} else {
			parts = append(parts, "drop ignored: only a send can drop")
		}
	case hook.Delay:
		if c.Name == "send" || c.Name == "sendto" {
			parts = append(parts, "delayed "+v.Delay.String())
		} else {
			parts = append(parts, "wake-ups "+v.Delay.String()+" late")
		}
	}
	if v.MaxBytes > 0 && v.MaxBytes < c.Len {
		kind := "short read"
		if c.Name == "send" || c.Name == "sendto" {
			kind = "short write"
		}
		parts = append(parts, kind+" of at most "+strconv.Itoa(v.MaxBytes)+" bytes")
	}
	if v.Spurious > 0 {
		parts = append(parts, strconv.Itoa(v.Spurious)+" spurious wake-ups")
	}
	if len(parts) == 0 {
		return v.action().String()
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += ", " + p
	}
	return out
}

// ZeroWindow is a CallHook that forces a zero receive window: recv and
// recvfrom on its descriptor (any descriptor when FD is negative) are held
// without reading until Release, so the endpoint's receive buffer fills
// and TCP advertises a zero window to the peer. Other calls pass.
type ZeroWindow struct {
	fd      int
	release chan struct{}
	once    sync.Once
}

// NewZeroWindow returns a ZeroWindow for fd (all descriptors if fd < 0).
func NewZeroWindow(fd int) *ZeroWindow {
	return &ZeroWindow{fd: fd, release: make(chan struct{})}
}

// Decide implements CallHook.
func (z *ZeroWindow) Decide(c *Call) CallVerdict {
	if (c.Name != "recv" && c.Name != "recvfrom") || (z.fd >= 0 && c.FD != z.fd) {
		return CallVerdict{}
	}
	select {
	case <-z.release:
		return CallVerdict{}
	default:
	}
	return CallVerdict{
		Verdict: hook.Verdict{Action: hook.Hold, Reason: "zero window", Rule: "zero-window"},
		Release: z.release,
	}
}

// Release lets the held calls read again, which reopens the window.
func (z *ZeroWindow) Release() { z.once.Do(func() { close(z.release) }) }

// spuriousNote is the summary suffix of a spurious wake-up.
const spuriousNote = " (spurious wake-up: no event)"

// CallVerdicts counts the call-hook verdicts other than a plain pass since
// s was made (a held call that asks again after its release counts
// again), by call (VerdictKey.Point: "recv", "send", ...), action and
// reason.
func (s *Sockets) CallVerdicts() map[hook.VerdictKey]uint64 {
	return s.verdicts.Counts()
}
