package retry

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLoop(t *testing.T) {
	t.Parallel()
	var (
		n   atomic.Uint64
		log strings.Builder
	)
	l := Loop{What: "tcp accept on :7", Errors: &n, Log: &log}
	if l.Again(fmt.Errorf("accept: %w", net.ErrClosed)) || n.Load() != 0 {
		t.Fatal("the close is an error to retry")
	}
	emfile := errors.New("too many open files")
	for i := 1; i < MaxErrors; i++ {
		if !l.Again(emfile) {
			t.Fatalf("gave up after %d errors", i)
		}
	}
	l.OK()
	for i := 1; i < MaxErrors; i++ {
		if !l.Again(emfile) {
			t.Fatalf("gave up after %d errors following a success", i)
		}
	}
	if l.Again(emfile) {
		t.Fatalf("did not give up after %d errors in a row", MaxErrors)
	}
	if n.Load() != 2*MaxErrors-1 || !strings.Contains(log.String(), "tcp accept on :7 gives up after 10 errors in a row; the last: too many open files") {
		t.Errorf("%d errors counted, log %q", n.Load(), log.String())
	}
}

// TestLoopStopping: an error the owner names as its own close ends the
// loop quietly, uncounted, at once; others are retried as before.
func TestLoopStopping(t *testing.T) {
	t.Parallel()
	var (
		n   atomic.Uint64
		log strings.Builder
	)
	gone := errors.New("stack closed")
	l := Loop{What: "udp echo", Errors: &n, Log: &log, Stopping: func(err error) bool { return errors.Is(err, gone) }}
	if !l.Again(errors.New("no buffer space")) {
		t.Fatal("gave up after the first error")
	}
	if l.Again(fmt.Errorf("read: %w", gone)) {
		t.Fatal("the owner's close is an error to retry")
	}
	if n.Load() != 1 || log.Len() != 0 {
		t.Errorf("%d errors counted, log %q; want the one error before the close and no message", n.Load(), log.String())
	}
}

// TestLoopWaitsOutShortage: accept failing with EMFILE (descriptors used
// up by other clients) is waited out, however long it lasts, instead of
// ending the loop for good after MaxErrors; it is counted, said once per
// shortage, and paused on at MaxPause. Other errors still end the loop.
func TestLoopWaitsOutShortage(t *testing.T) {
	t.Parallel()
	var (
		n      atomic.Uint64
		log    strings.Builder
		pauses []time.Duration
	)
	l := Loop{What: "the control socket", Errors: &n, Log: &log, sleepFn: func(d time.Duration) { pauses = append(pauses, d) }}
	emfile := &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	for i := range 3 * MaxErrors {
		if !l.Again(emfile) {
			t.Fatalf("gave up on a shortage after %d errors", i+1)
		}
	}
	if n.Load() != 3*MaxErrors {
		t.Errorf("counted %d errors, want %d", n.Load(), 3*MaxErrors)
	}
	for i, d := range pauses {
		if d != MaxPause {
			t.Fatalf("pause %d is %v, want %v", i, d, MaxPause)
		}
	}
	want := "glassnet: the control socket waits for the shortage to pass, trying again every 100ms: accept unix: accept4: too many open files\n"
	if log.String() != want {
		t.Errorf("logged %q, want once %q", log.String(), want)
	}
	l.OK()
	if !l.Again(emfile) || strings.Count(log.String(), "waits for the shortage") != 2 {
		t.Errorf("a second shortage is not said again: %q", log.String())
	}
	for i := 1; i < MaxErrors; i++ {
		if !l.Again(syscall.EPROTO) {
			t.Fatalf("gave up after %d errors", i)
		}
	}
	if l.Again(syscall.EPROTO) {
		t.Errorf("did not give up after %d errors in a row that are no shortage", MaxErrors)
	}
	for _, err := range []error{syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if !Shortage(fmt.Errorf("read: %w", err)) {
			t.Errorf("%v is no shortage", err)
		}
	}
	if Shortage(syscall.EIO) || Shortage(nil) {
		t.Error("EIO or nil is a shortage")
	}
}
