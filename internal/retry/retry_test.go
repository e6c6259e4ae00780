package retry

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
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
