package ws

import (
	"context"
	"errors"
	"testing"
)

// TestBoundContextReused reads and writes many messages with one context
// that can be canceled, as a handler using the request's context does:
// once bound, reusing it costs no allocation; canceling it still ends a
// read that waits; and a new context makes the connection usable again.
func TestBoundContextReused(t *testing.T) {
	srv, cli := tcpConns(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	roundTrip := func() {
		if err := cli.WriteMessage(ctx, MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.ReadMessageInto(ctx, buf); err != nil {
			t.Fatal(err)
		}
		if err := srv.WriteMessage(ctx, MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cli.ReadMessageInto(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	if !raceEnabled {
		if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
			t.Errorf("%v allocations per round trip with one bound context", allocs)
		}
	}
	cancelEndsRead(t, srv, ctx, cancel, buf)
	ctx2 := testContext(t)
	if err := cli.WriteMessage(ctx2, MessageText, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := srv.ReadMessage(ctx2); err != nil || string(p) != "again" {
		t.Fatalf("after a new context: %q, %v", p, err)
	}
}

// listCtx is a context whose type cannot be compared with ==: a slice
// field makes comparing two of them panic.
type listCtx struct {
	context.Context
	tags []string
}

// TestBoundContextOfIncomparableType reads and writes with a context of a
// struct type that == cannot compare: binding it again must not compare
// it (which would panic), and canceling it still ends a waiting read.
func TestBoundContextOfIncomparableType(t *testing.T) {
	srv, cli := tcpConns(t)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx := listCtx{Context: parent, tags: []string{"a"}}
	buf := make([]byte, 64)
	for range 3 {
		if err := cli.WriteMessage(ctx, MessageBinary, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.ReadMessageInto(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
	cancelEndsRead(t, srv, ctx, cancel, buf)
}

// cancelEndsRead starts a read on c with ctx, cancels ctx, and checks that
// the read ends with context.Canceled.
func cancelEndsRead(t *testing.T, c *Conn, ctx context.Context, cancel context.CancelFunc, buf []byte) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessageInto(ctx, buf)
		got <- err
	}()
	cancel()
	if err := await(t, got, "the read to end after its context was canceled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
}

// TestBoundContextAfterAnother reads with a context, then with one that
// cannot end (which unbinds the first), then with the first again: the
// first must be bound anew, so that canceling it ends the read that waits,
// although it is the very context bound two reads before.
func TestBoundContextAfterAnother(t *testing.T) {
	srv, cli := tcpConns(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buf := make([]byte, 64)
	for _, c := range []context.Context{ctx, context.Background(), ctx} {
		if err := cli.WriteMessage(c, MessageBinary, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.ReadMessageInto(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	cancelEndsRead(t, srv, ctx, cancel, buf)
}
