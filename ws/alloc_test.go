package ws

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		client.Close()
		t.Fatal(r.err)
	}
	return bounded(t, client, r.c)
}

// bounded returns a and b, which a test (not a benchmark) closes after a
// minute (closeAfter).
func bounded(t testing.TB, a, b net.Conn) (net.Conn, net.Conn) {
	if tt, ok := t.(*testing.T); ok {
		closeAfter(tt, func() {
			a.Close()
			b.Close()
		})
	}
	return a, b
}

var allocTransports = []struct {
	name string
	pair func(testing.TB) (net.Conn, net.Conn)
}{
	{"pipe", func(t testing.TB) (net.Conn, net.Conn) {
		a, b := net.Pipe()
		return bounded(t, a, b)
	}},
	{"tcp", tcpPair},
}

// echoClient returns the client end of a Conn pair over loopback TCP,
// both with cfg, whose server end echoes (echoPeer); both are closed
// when the test ends.
func echoClient(t testing.TB, cfg connConfig) *Conn {
	t.Helper()
	a, s := tcpPair(t)
	cli, srv := newConn(a, nil, true, "", cfg), newConn(s, nil, false, "", cfg)
	done := make(chan struct{})
	go func() {
		echoPeer(srv)
		close(done)
	}()
	t.Cleanup(func() {
		cli.CloseNow()
		srv.CloseNow()
		<-done
	})
	return cli
}

// echoPeer reads every message into a reused buffer and writes it back,
// until an error.
func echoPeer(c *Conn) {
	ctx := context.Background()
	var buf []byte
	for {
		typ, p, err := c.ReadMessageInto(ctx, buf)
		if err != nil {
			return
		}
		buf = p
		if c.WriteMessage(ctx, typ, p) != nil {
			return
		}
	}
}

// TestZeroAllocs checks that a message written with WriteMessage and read
// with ReadMessageInto costs no allocation on either side, once buffers
// have grown to the message size: from the client to an echoing server
// and back, and from the server to an echoing client.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	broken := false
	for _, tr := range allocTransports {
		for _, size := range []int{64, 4 << 10, 1 << 20} {
			for _, typ := range []MessageType{MessageText, MessageBinary} {
				for _, side := range []string{"client", "server"} {
					name := fmt.Sprintf("%s/%d/%v/%s", tr.name, size, typ, side)
					t.Run(name, func(t *testing.T) {
						if broken {
							t.Skip("an earlier round trip failed")
						}
						a, b := tr.pair(t)
						cfg := newConfig(0, time.Second, nil, "")
						cli, srv := newConn(a, nil, true, "", cfg), newConn(b, nil, false, "", cfg)
						defer cli.CloseNow()
						defer srv.CloseNow()
						me, peer := cli, srv
						if side == "server" {
							me, peer = srv, cli
						}
						done := make(chan struct{})
						go func() {
							echoPeer(peer)
							close(done)
						}()
						defer func() {
							me.CloseNow()
							peer.CloseNow()
							<-done
						}()
						msg := bytes.Repeat([]byte("glassnet"), size/8)
						buf := make([]byte, size)
						ctx := context.Background()
						var err error
						roundTrip := func() {
							if err = me.WriteMessage(ctx, typ, msg); err != nil {
								return
							}
							var p []byte
							if _, p, err = me.ReadMessageInto(ctx, buf); err == nil && len(p) != size {
								err = fmt.Errorf("echo of %d bytes, sent %d", len(p), size)
							}
						}
						runs := 200
						if size >= 1<<20 {
							runs = 20
						}
						allocs := testing.AllocsPerRun(runs, roundTrip)
						if err != nil {
							// The connections are broken; the other
							// subtests would wait on theirs as long.
							broken = true
							t.Fatal(err)
						}
						if allocs != 0 {
							t.Errorf("%v allocations per round trip, want 0", allocs)
						}
					})
				}
			}
		}
	}
}

// TestReadMessageAllocs reports what ReadMessage costs: the message it
// returns belongs to the caller, so it is one allocation, of the
// message's size, per message (three for a message over 64 KiB).
func TestReadMessageAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	broken := false
	for _, size := range []int{64, 4 << 10, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			if broken {
				t.Skip("an earlier round trip failed")
			}
			cfg := newConfig(0, time.Second, nil, "")
			cli := echoClient(t, cfg)
			msg := make([]byte, size)
			ctx := context.Background()
			var err error
			allocs := testing.AllocsPerRun(20, func() {
				if err = cli.WriteMessage(ctx, MessageBinary, msg); err == nil {
					_, _, err = cli.ReadMessage(ctx)
				}
			})
			if err != nil {
				broken = true
				t.Fatal(err)
			}
			// One allocation: the message. A message larger than
			// 64 KiB grows as it arrives (a header announcing 1 MiB
			// does not reserve it): 64 KiB, 256 KiB, then 1 MiB. At
			// 1 MiB a message also brings a garbage collection every
			// few messages, which empties the buffer pools; refilling
			// them is counted too.
			want := 1.0
			if size >= 1<<20 {
				want = 7
			}
			if allocs > want {
				t.Errorf("ReadMessage of %d bytes: %v allocations per message, want at most %v", size, allocs, want)
			}
			t.Logf("ReadMessage of %d bytes: %v allocations per message", size, allocs)
		})
	}
}

// BenchmarkEcho is one message each way between a client and a server
// Conn over loopback TCP; the server echoes with ReadMessageInto, the
// client reads with ReadMessage ("new") or ReadMessageInto ("into").
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 1 << 20} {
		for _, mode := range []string{"new", "into"} {
			b.Run(fmt.Sprintf("%d/%s", size, mode), func(b *testing.B) {
				cfg := newConfig(-1, time.Second, nil, "")
				cli := echoClient(b, cfg)
				msg := make([]byte, size)
				buf := make([]byte, size)
				ctx := context.Background()
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				for b.Loop() {
					if err := cli.WriteMessage(ctx, MessageBinary, msg); err != nil {
						b.Fatal(err)
					}
					var err error
					if mode == "new" {
						_, _, err = cli.ReadMessage(ctx)
					} else {
						_, buf, err = cli.ReadMessageInto(ctx, buf)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEchoBudget is BenchmarkEcho's "new" mode with both sides
// charging a shared MemoryBudget, as serve's connections do: a 64-byte
// message stays within the allowance and never touches the budget; a
// 16 KiB one is charged as it is read and given back at the next read.
func BenchmarkEchoBudget(b *testing.B) {
	for _, size := range []int{64, 16 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			cfg := newConfig(-1, time.Second, nil, "")
			cfg.budget = NewMemoryBudget(1 << 30)
			cli := echoClient(b, cfg)
			msg := make([]byte, size)
			ctx := context.Background()
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			for b.Loop() {
				if err := cli.WriteMessage(ctx, MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := cli.ReadMessage(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBlockedReadHoldsNoBuffer has 200 server Conns on loopback TCP
// blocked in ReadMessage: the heap they hold is far below one read
// buffer each, because a read on a *net.TCPConn waits for data before it
// takes a buffer.
func TestBlockedReadHoldsNoBuffer(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what the heap holds")
	}
	const conns = 200
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var clients, servers []net.Conn
	defer func() {
		for _, c := range append(clients, servers...) {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		clients, servers = append(clients, c), append(servers, s)
	}
	cfg := newConfig(0, time.Second, nil, "")
	before := heapInUse()
	ended := make(chan error, conns)
	blocked := make([]*Conn, conns)
	for i, s := range servers {
		blocked[i] = newConn(s, nil, false, "", cfg)
		go func() {
			_, _, err := blocked[i].ReadMessage(context.Background())
			ended <- err
		}()
	}
	// Let every reader reach its wait; what is measured is what the
	// waiting readers hold.
	for range 50 {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	per := (int64(heapInUse()) - int64(before)) / conns
	t.Logf("%d bytes of heap per Conn blocked in ReadMessage", per)
	if per >= readBufSize/2 {
		t.Errorf("%d bytes of heap per blocked reader: it holds its read buffer (%d bytes)", per, readBufSize)
	}
	for _, c := range clients {
		c.Close()
	}
	for range conns {
		<-ended
	}
	runtime.KeepAlive(blocked)
}
