// Package retry is the one answer of glassnet's service loops (accepting
// TCP connections, reading UDP datagrams, the control socket) to an error
// other than their socket's close: count it, pause, and after a run of
// them give up and say so, rather than end without a word or retry for
// ever. A shortage of the process's resources (file descriptors, memory,
// buffers) is the exception: it passes when other connections close, so
// the loop waits it out, as net/http's Serve does, instead of giving up
// on a service that would work again a moment later.
package retry

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// The pause starts at Pause and doubles up to MaxPause; MaxErrors errors
// in a row end the loop.
const (
	Pause     = time.Millisecond
	MaxPause  = 100 * time.Millisecond
	MaxErrors = 10
)

// Loop follows one loop's errors. The zero Loop counts nothing and says
// nothing when it gives up.
type Loop struct {
	// What names the loop in the message ("udp echo on 10.0.0.2:8080").
	What string
	// Errors, if set, counts every error but the close.
	Errors *atomic.Uint64
	// Log, if set, is told when the loop gives up.
	Log io.Writer
	// Stopping, if set, reports whether an error is the owner closing
	// under the loop (its stack gone): the loop then ends quietly.
	Stopping func(error) bool

	run     int
	short   bool                // in a shortage, said once
	sleepFn func(time.Duration) // time.Sleep; tests count the pauses
}

// Again reports whether the loop goes on after err: false for the
// socket's close (net.ErrClosed), for the owner's (Stopping), and for the
// MaxErrors-th error in a row; after a pause otherwise. A shortage
// (Shortage) does not count towards MaxErrors: the loop says once that it
// waits, and tries again every MaxPause until it passes.
func (l *Loop) Again(err error) bool {
	if errors.Is(err, net.ErrClosed) || l.Stopping != nil && l.Stopping(err) {
		return false
	}
	if l.Errors != nil {
		l.Errors.Add(1)
	}
	if Shortage(err) {
		if !l.short && l.Log != nil {
			fmt.Fprintf(l.Log, "glassnet: %s waits for the shortage to pass, trying again every %v: %v\n", l.What, MaxPause, err)
		}
		l.short = true
		l.sleep(MaxPause)
		return true
	}
	l.run++
	if l.run >= MaxErrors {
		if l.Log != nil {
			fmt.Fprintf(l.Log, "glassnet: %s gives up after %d errors in a row; the last: %v\n", l.What, l.run, err)
		}
		return false
	}
	l.sleep(min(Pause<<(l.run-1), MaxPause))
	return true
}

func (l *Loop) sleep(d time.Duration) {
	if l.sleepFn != nil {
		l.sleepFn(d)
		return
	}
	time.Sleep(d)
}

// OK ends a run of errors, and a shortage.
func (l *Loop) OK() { l.run, l.short = 0, false }

// Shortage reports whether err is the process or the system running short
// of what a new connection or datagram needs, which another connection's
// close gives back: file descriptors (EMFILE, ENFILE), socket buffers
// (ENOBUFS), kernel memory (ENOMEM).
func Shortage(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
