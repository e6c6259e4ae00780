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
