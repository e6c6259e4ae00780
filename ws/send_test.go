package ws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// sendPair returns a sender (server) and a reader (client) over memConn
// with room for window unread bytes per direction, like a TCP connection
// whose buffers hold that much.
func sendPair(t *testing.T, window int, cfg connConfig) (sender, reader *Conn) {
	t.Helper()
	a, b := memConnPair(window)
	sender = newConn(b, nil, false, "", cfg)
	reader = newConn(a, nil, true, "", newConfig(0, time.Second, nil, ""))
	t.Cleanup(func() {
		sender.CloseNow()
		reader.CloseNow()
	})
	return sender, reader
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSendFailConnBoundsMemory sends 64 MiB to a peer that reads nothing:
// the sender's heap stays within a few times the queue limit, the Send
// that overflows fails, the drops are counted, and when the peer reads at
// last it finds the messages written before, then close 1008.
func TestSendFailConnBoundsMemory(t *testing.T) {
	const limit = 1 << 20
	var drops atomic.Int64
	tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
		if e.Name == "drop" {
			drops.Add(1)
		}
	}))
	cfg := newConfig(0, time.Second, tr, "sender")
	cfg.writeQueueLimit, cfg.writeQueueFull = limit, QueueFailConn
	sender, reader := sendPair(t, 64<<10, cfg)

	msg := make([]byte, 16<<10)
	before := heapInUse()
	var sendErr error
	sent := 0
	for range (64 << 20) / len(msg) {
		binaryCount(msg, sent)
		if sendErr = sender.Send(MessageBinary, msg); sendErr != nil {
			break
		}
		sent++
	}
	grew := int64(heapInUse()) - int64(before)
	if !errors.Is(sendErr, ErrWriteQueueFull) {
		t.Fatalf("Send after %d messages: %v, want ErrWriteQueueFull", sent, sendErr)
	}
	if grew > 3*limit {
		t.Fatalf("heap grew by %d bytes with a queue limit of %d", grew, limit)
	}
	t.Logf("%d messages queued before the queue was full; heap grew by %d KiB", sent, grew>>10)
	if err := sender.Send(MessageBinary, msg); !errors.Is(err, ErrWriteQueueFull) {
		t.Fatalf("Send after the failure: %v", err)
	}

	// The peer reads at last: messages in order, then close 1008.
	ctx := testContext(t)
	got := 0
	for {
		_, p, err := reader.ReadMessage(ctx)
		if err != nil {
			if CloseStatus(err) != StatusPolicyViolation {
				t.Fatalf("after %d messages: %v, want close 1008", got, err)
			}
			break
		}
		if want := binaryCount(make([]byte, len(msg)), got); !bytes.Equal(p, want) {
			t.Fatalf("message %d out of order or corrupt", got)
		}
		got++
	}
	st := sender.SendStats()
	if st.DroppedQueueFull != 1 || uint64(got)+st.DroppedConnEnded != uint64(sent) || st.Sent != uint64(got) {
		t.Fatalf("stats %+v: %d sent, %d received", st, sent, got)
	}
	if st.Queued != 0 {
		t.Fatalf("%d bytes still queued", st.Queued)
	}
	if uint64(drops.Load()) != st.Dropped() {
		t.Fatalf("%d drop events for %d drops", drops.Load(), st.Dropped())
	}
}

// binaryCount writes n into the start of b, returning b.
func binaryCount(b []byte, n int) []byte {
	copy(b, fmt.Sprintf("%016d", n))
	return b
}

// TestSendBlocks fills the queue of a peer that reads nothing under
// QueueBlock: a Send that does not fit waits, and returns once the peer
// reads; every message arrives, in order.
func TestSendBlocks(t *testing.T) {
	t.Parallel()
	const limit = 256 << 10
	cfg := newConfig(0, time.Second, nil, "")
	cfg.writeQueueLimit = limit
	sender, reader := sendPair(t, 16<<10, cfg)

	msg := make([]byte, 4<<10)
	const total = 1000
	done := make(chan error, 1)
	go func() {
		for i := range total {
			if err := sender.Send(MessageText, binaryCount(msg, i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Wait until a Send is blocked on a full queue (not for a time).
	for st := sender.SendStats(); st.Waiting == 0; st = sender.SendStats() {
		if st.Queued > limit {
			t.Fatalf("%d bytes queued, limit %d", st.Queued, limit)
		}
		runtime.Gosched()
	}
	select {
	case err := <-done:
		t.Fatalf("Send returned (%v) while the queue was full", err)
	default:
	}
	if st := sender.SendStats(); st.Queued > limit || st.Dropped() != 0 {
		t.Fatalf("stats %+v", st)
	}

	ctx := testContext(t)
	for i := range total {
		_, p, err := reader.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, binaryCount(make([]byte, len(msg)), i)) {
			t.Fatalf("message %d out of order or corrupt", i)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := sentStats(t, sender, total); st.Sent != total || st.Dropped() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSendCoalesces checks that queued messages go out together and that
// no goroutine stays once the queue is empty.
func TestSendCoalesces(t *testing.T) {
	t.Parallel()
	for _, client := range []bool{false, true} {
		t.Run(fmt.Sprint("client=", client), func(t *testing.T) {
			t.Parallel()
			a, b := memConnPair(0)
			cfg := newConfig(0, time.Second, nil, "")
			me, peer := newConn(a, nil, client, "", cfg), newConn(b, nil, !client, "", cfg)
			defer me.CloseNow()
			defer peer.CloseNow()
			for i := range 100 {
				if err := me.Send(MessageText, []byte(fmt.Sprint("message ", i))); err != nil {
					t.Fatal(err)
				}
			}
			ctx := testContext(t)
			for i := range 100 {
				_, p, err := peer.ReadMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprint("message ", i); string(p) != want {
					t.Fatalf("got %q, want %q", p, want)
				}
			}
			// The drain goroutine ends once it finds the queue empty.
			for end := time.Now().Add(10 * time.Second); ; {
				me.sendq.mu.Lock()
				draining, bufs := me.sendq.draining, me.sendq.b != nil
				me.sendq.mu.Unlock()
				if !draining && !bufs {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("an empty queue still drains (%v) or holds its arenas (%v)", draining, bufs)
				}
				runtime.Gosched()
			}
			if st := me.SendStats(); st.Sent != 100 || st.Queued != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestSendAfterClose reports the closed connection.
func TestSendAfterClose(t *testing.T) {
	t.Parallel()
	sender, _ := sendPair(t, 0, newConfig(0, time.Second, nil, ""))
	sender.CloseNow()
	if err := sender.Send(MessageText, []byte("late")); err == nil {
		t.Fatal("Send on a closed connection succeeded")
	}
	if err := sender.Send(MessageType(7), nil); err == nil {
		t.Fatal("Send of an invalid type succeeded")
	}
}

// BenchmarkSend sends 64-byte messages from a server Conn to a client
// reading them over loopback TCP, with WriteMessage (one write per
// message) and with Send (queued messages coalesced into one write).
func BenchmarkSend(b *testing.B) {
	for _, mode := range []string{"WriteMessage", "Send"} {
		b.Run(mode, func(b *testing.B) {
			cn, sn := tcpPair(b)
			cfg := newConfig(-1, time.Second, nil, "")
			cli, srv := newConn(cn, nil, true, "", cfg), newConn(sn, nil, false, "", cfg)
			defer cli.CloseNow()
			defer srv.CloseNow()
			msg := make([]byte, 64)
			got := make(chan error, 1)
			n := b.N
			go func() {
				ctx := context.Background()
				buf := make([]byte, 64)
				for range n {
					if _, _, err := cli.ReadMessageInto(ctx, buf); err != nil {
						got <- err
						return
					}
				}
				got <- nil
			}()
			ctx := context.Background()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for range n {
				var err error
				if mode == "Send" {
					err = srv.Send(MessageBinary, msg)
				} else {
					err = srv.WriteMessage(ctx, MessageBinary, msg)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := <-got; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestSendFailConnPeerNeverReads: when the peer reads nothing at all, the
// write under way cannot end and the close frame cannot follow it; the
// trace must say that the write failed and that 1008 was not sent, not
// only that TCP was closed.
func TestSendFailConnPeerNeverReads(t *testing.T) {
	t.Parallel()
	rec, tr, writing := recordWrites()
	opts := &AcceptOptions{ConnOptions: ConnOptions{
		Tracer: tr, Node: "server", CloseTimeout: 100 * time.Millisecond,
		WriteQueueLimit: 64 << 10, WriteQueueFull: QueueFailConn,
	}}
	url, errs := handlerServer(t, opts, func(c *Conn) error {
		// Small buffers on both sides: a 256 KiB message cannot be
		// written whole, so its write is under way when the next
		// message overflows the queue.
		c.NetConn().(*net.TCPConn).SetWriteBuffer(4 << 10)
		msg := make([]byte, 256<<10)
		if err := c.Send(MessageBinary, msg); err != nil {
			return err
		}
		<-writing
		err := c.Send(MessageBinary, msg)
		<-c.closed
		return err
	})
	nc, _ := rawClient(t, url) // and never read
	nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	if err := recvErr(t, errs); !errors.Is(err, ErrWriteQueueFull) {
		t.Fatalf("Send: %v, want ErrWriteQueueFull", err)
	}
	// The close frame's failure is traced by the goroutine that tried to
	// send it, which may come after the connection is closed.
	var why []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		why = why[:0]
		for _, e := range rec.find(trace.Out, "close") {
			why = append(why, e.Summary)
		}
		if len(why) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if len(why) != 3 || !strings.HasPrefix(why[0], "write failed, closing tcp: ") ||
		!strings.HasPrefix(why[1], "tcp reset: ") || !strings.HasPrefix(why[2], `close not sent 1008 (policy violation) "write queue full": `) {
		t.Fatalf("close events out %q, want the failed write, tcp reset, and 1008 not sent", why)
	}
}

// TestSendQueueLimitExact: messages that add up to exactly the queue
// limit fit; one byte more does not.
func TestSendQueueLimitExact(t *testing.T) {
	t.Parallel()
	srv, cli := net.Pipe() // nobody reads: the first write never ends
	defer cli.Close()
	cfg := newConfig(0, time.Second, nil, "")
	cfg.writeQueueLimit, cfg.writeQueueFull = 100, QueueFailConn
	c := newConn(srv, nil, false, "", cfg)
	defer c.CloseNow()
	for _, n := range []int{60, 40} {
		if err := c.Send(MessageBinary, make([]byte, n)); err != nil {
			t.Fatalf("Send(%d bytes) with %d of 100 queued: %v", n, 100-n, err)
		}
	}
	if err := c.Send(MessageBinary, []byte{1}); !errors.Is(err, ErrWriteQueueFull) {
		t.Fatalf("Send(1 byte) with the queue full: %v, want ErrWriteQueueFull", err)
	}
}
