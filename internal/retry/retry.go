// Package retry is the one answer of glassnet's service loops (accepting
// TCP connections, reading UDP datagrams, the control socket) to an error
// other than their socket's close: count it, pause, and after a run of
// them give up and say so, rather than end without a word or retry for
// ever.
package retry

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
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

	run int
}

// Again reports whether the loop goes on after err: false for the
// socket's close (net.ErrClosed), for the owner's (Stopping), and for the
// MaxErrors-th error in a row; after a pause otherwise.
func (l *Loop) Again(err error) bool {
	if errors.Is(err, net.ErrClosed) || l.Stopping != nil && l.Stopping(err) {
		return false
	}
	if l.Errors != nil {
		l.Errors.Add(1)
	}
	l.run++
	if l.run >= MaxErrors {
		if l.Log != nil {
			fmt.Fprintf(l.Log, "glassnet: %s gives up after %d errors in a row; the last: %v\n", l.What, l.run, err)
		}
		return false
	}
	time.Sleep(min(Pause<<(l.run-1), MaxPause))
	return true
}

// OK ends a run of errors.
func (l *Loop) OK() { l.run = 0 }
