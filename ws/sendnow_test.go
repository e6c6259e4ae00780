package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// tcpConns returns a server Conn (the sender) and a client Conn on the two
// ends of a loopback TCP connection.
func tcpConns(t *testing.T) (srv, cli *Conn) {
	t.Helper()
	a, b := tcpPair(t)
	cfg := newConfig(-1, time.Second, nil, "")
	cli, srv = newConn(a, nil, true, "", cfg), newConn(b, nil, false, "", cfg)
	t.Cleanup(func() {
		srv.CloseNow()
		cli.CloseNow()
	})
	return srv, cli
}

// TestSendNowNoGoroutine sends messages one at a time over loopback TCP,
// each read by the peer before the next: the kernel takes each at once,
// so Send writes it on the caller's goroutine and starts none, and
// allocates nothing.
func TestSendNowNoGoroutine(t *testing.T) {
	srv, cli := tcpConns(t)
	ctx := testContext(t)
	msg := make([]byte, 4<<10)
	buf := make([]byte, len(msg))
	const n = 200
	before := goroutinesCreated()
	for i := range n {
		binaryCount(msg, i)
		if err := srv.Send(MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		_, p, err := cli.ReadMessageInto(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, msg) {
			t.Fatalf("message %d corrupt", i)
		}
	}
	// Goroutines of other tests or of the runtime may start meanwhile,
	// but far fewer than one per message.
	if started := goroutinesCreated() - before; started > n/10 {
		t.Errorf("%d goroutines started for %d messages sent one at a time", started, n)
	}
	if st := srv.SendStats(); st.Sent != n || st.Queued != 0 || st.Dropped() != 0 {
		t.Fatalf("stats %+v", st)
	}
	if raceEnabled {
		return
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := srv.Send(MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := cli.ReadMessageInto(ctx, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message sent and read", allocs)
	}
}

// TestSendNowFullBuffer sends to a peer that does not read until the
// kernel's send buffer is full, so that a frame is written in part on the
// caller's goroutine and finished by another, and messages queue behind
// it; then the peer reads: every message arrives whole and in order.
func TestSendNowFullBuffer(t *testing.T) {
	t.Parallel()
	srv, cli := tcpConns(t)
	// A small send buffer fills sooner. (A receive buffer below
	// loopback's MSS would make TCP crawl: the window never opens by
	// a segment.)
	srv.nc.(*net.TCPConn).SetWriteBuffer(8 << 10)
	// Sizes that do not divide the buffers, so frames straddle them.
	sizes := []int{4, 100, 3001, 7000}
	const total = 3000
	done := make(chan error, 1)
	go func() {
		for i := range total {
			msg := make([]byte, sizes[i%len(sizes)])
			binary.BigEndian.PutUint32(msg, uint32(i))
			if err := srv.Send(MessageBinary, msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Wait until messages queue: the kernel stopped taking them.
	for srv.SendStats().Queued < 64<<10 {
		select {
		case err := <-done:
			t.Fatalf("all sent (%v) before the send buffer filled", err)
		case <-time.After(time.Millisecond):
		}
	}
	ctx := testContext(t)
	for i := range total {
		_, p, err := cli.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want := make([]byte, sizes[i%len(sizes)])
		binary.BigEndian.PutUint32(want, uint32(i))
		if !bytes.Equal(p, want) {
			t.Fatalf("message %d: %d bytes % x..., want %d bytes % x...", i, len(p), p[:min(8, len(p))], len(want), want[:min(8, len(want))])
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := sentStats(t, srv, total); st.Sent != total || st.Dropped() != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSendNowConcurrent has several goroutines Send over loopback TCP at
// once: each one's messages arrive in its order, none lost.
func TestSendNowConcurrent(t *testing.T) {
	t.Parallel()
	srv, cli := tcpConns(t)
	const senders, each = 4, 500
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				msg := make([]byte, 8+g*50)
				binary.BigEndian.PutUint32(msg, uint32(g))
				binary.BigEndian.PutUint32(msg[4:], uint32(i))
				if err := srv.Send(MessageBinary, msg); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	ctx := testContext(t)
	next := make([]int, senders)
	for range senders * each {
		_, p, err := cli.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		g, i := binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])
		if int(g) >= senders || int(i) != next[g] || len(p) != 8+int(g)*50 {
			t.Fatalf("sender %d message %d (%d bytes), want message %d", g, i, len(p), next[min(int(g), senders-1)])
		}
		next[g]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := sentStats(t, srv, senders*each); st.Sent != senders*each || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// sentStats returns c's send statistics once n messages are counted sent
// or dropped, or after 10 s. The peer may read the last messages before
// the write that carried them returns and they are counted: until then
// they are still Queued, being written.
func sentStats(t *testing.T, c *Conn, n uint64) SendStats {
	t.Helper()
	st := c.SendStats()
	for end := time.Now().Add(10 * time.Second); st.Sent+st.Dropped() < n && time.Now().Before(end); st = c.SendStats() {
		time.Sleep(time.Millisecond)
	}
	return st
}

// TestSendNowPeerReset sends to a peer that resets the connection: Send
// fails once the write fails, and every message it took is counted, sent
// or dropped.
func TestSendNowPeerReset(t *testing.T) {
	t.Parallel()
	srv, cli := tcpConns(t)
	cli.nc.(*net.TCPConn).SetLinger(0)
	cli.CloseNow()
	msg := make([]byte, 1000)
	took := 0
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if err = srv.Send(MessageBinary, msg); err != nil {
			break
		}
		took++
	}
	if err == nil {
		t.Fatal("Send kept succeeding after the peer reset the connection")
	}
	// The drain goroutine, if one ran, may still be counting.
	for {
		st := srv.SendStats()
		if st.Queued == 0 {
			if st.Sent+st.Dropped() != uint64(took) {
				t.Fatalf("stats %+v for %d messages taken", st, took)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err2 := srv.Send(MessageBinary, msg); err2 == nil {
		t.Fatal("Send after the failure succeeded")
	}
	var ne *net.OpError
	if !errors.As(err, &ne) {
		t.Fatalf("Send failed with %v, want the transport's error", err)
	}
}

// TestSendNowHooksAndTrace sends over loopback TCP with a tracer and with a
// frame hook: such messages go through WriteMessage, so the trace shows
// each one and the hook changes it.
func TestSendNowHooksAndTrace(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []string
	tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
		mu.Lock()
		events = append(events, string(e.Dir)+" "+e.Name)
		mu.Unlock()
	}))
	a, b := tcpPair(t)
	cfg := newConfig(-1, time.Second, tr, "sender")
	srv := newConn(b, nil, false, "", cfg)
	cli := newConn(a, nil, true, "", newConfig(-1, time.Second, nil, ""))
	t.Cleanup(func() {
		srv.CloseNow()
		cli.CloseNow()
	})
	ctx := testContext(t)
	if err := srv.Send(MessageText, []byte("traced")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := cli.ReadMessage(ctx); err != nil || string(p) != "traced" {
		t.Fatalf("got %q, %v", p, err)
	}
	mu.Lock()
	got := strings.Join(events, ", ")
	mu.Unlock()
	if !strings.Contains(got, "out message") || !strings.Contains(got, "out frame") {
		t.Fatalf("events %q lack the message and its frame", got)
	}

	hooked, peer := tcpConns(t)
	hooked.SetFrameHook(FrameHookFunc(func(f *HookFrame) FrameVerdict {
		if f.Dir == trace.Out && f.Header.Opcode == OpText {
			f.Payload = bytes.ToUpper(f.Payload)
			return FrameVerdict{Verdict: hook.Verdict{Action: hook.Modify}}
		}
		return FrameVerdict{}
	}))
	if err := hooked.Send(MessageText, []byte("hooked")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := peer.ReadMessage(ctx); err != nil || string(p) != "HOOKED" {
		t.Fatalf("got %q, %v, want the hook's HOOKED", p, err)
	}
}
