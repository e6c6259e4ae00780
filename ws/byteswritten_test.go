package ws

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// TestBytesWritten checks that every way of writing a data frame counts
// its header and payload in BytesWritten once the transport has taken
// them, and that control frames do not count.
func TestBytesWritten(t *testing.T) {
	t.Parallel()
	for _, keepAlive := range []time.Duration{0, time.Hour} {
		a, b := tcpPair(t)
		cfg := newConfig(0, time.Second, nil, "")
		cfg.keepAlive = keepAlive
		c := newConn(b, nil, false, "", cfg)
		defer c.CloseNow()
		defer a.Close()
		got := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(io.Discard, a)
			got <- n
		}()
		ctx := context.Background()
		var want int64
		check := func(what string) {
			t.Helper()
			if n := c.BytesWritten(); n != want {
				t.Fatalf("keepalive %v: after %s: BytesWritten %d, want %d", keepAlive, what, n, want)
			}
		}
		if err := c.WriteMessage(ctx, MessageText, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		want += 2 + 5
		check("a small message")
		if err := c.WriteMessages(ctx, MessageBinary, []byte("a"), []byte("bc")); err != nil {
			t.Fatal(err)
		}
		want += 3 + 4
		check("two messages in one write")
		big := make([]byte, 200<<10)
		if err := c.WriteMessage(ctx, MessageBinary, big); err != nil {
			t.Fatal(err)
		}
		want += 10 + int64(len(big))
		check("a 200 KiB message")
		if err := c.WriteFragmented(ctx, MessageBinary, []byte("ab"), big); err != nil {
			t.Fatal(err)
		}
		want += 2 + 2 + 10 + int64(len(big))
		check("a fragmented message")
		// The peer never answers: the ping's frame is written, and its
		// wait for a pong ends with the context.
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		if err := c.Ping(pctx, []byte("p")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ping: %v, want the context's deadline", err)
		}
		cancel()
		check("a ping")
		for _, n := range []int{100, 300 << 10} {
			if err := c.Send(MessageBinary, make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			if n < 126 {
				want += 2 + int64(n)
			} else {
				want += 10 + int64(n)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for c.BytesWritten() != want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		check("two queued messages")
		c.CloseNow()
		if n := <-got; n < want {
			t.Errorf("keepalive %v: the peer read %d bytes, fewer than the %d counted", keepAlive, n, want)
		}
	}
}

// TestBytesWrittenQueued: messages that Send queues, and its writer
// flushes in one write, count in BytesWritten once the transport took
// them.
func TestBytesWrittenQueued(t *testing.T) {
	t.Parallel()
	sender, reader := sendPair(t, 1<<20, newConfig(0, time.Second, nil, ""))
	ctx := testContext(t)
	msgs := []string{"a", "bc", "def"}
	var want int64
	for _, m := range msgs {
		if err := sender.Send(MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		want += 2 + int64(len(m))
	}
	for _, m := range msgs {
		if _, p, err := reader.ReadMessage(ctx); err != nil || string(p) != m {
			t.Fatalf("read %q, %v; want %q", p, err, m)
		}
	}
	// The writer counts a write once it has returned, which may be after
	// the reader has the bytes.
	for sender.BytesWritten() != want && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if n := sender.BytesWritten(); n != want {
		t.Fatalf("BytesWritten %d after the queued messages were read, want %d", n, want)
	}
}
