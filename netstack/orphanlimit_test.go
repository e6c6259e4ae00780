package netstack

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/tun"
)

// TestOrphanLimit: connections closed while the data written to them is
// unacknowledged (orphans still sending) are bounded per stack, in number
// and in the bytes their send queues hold; a close past either bound
// resets the connection at once, counted with its reason, instead of
// leaving it to hold its buffer until TCP gives up on a peer that does
// not read (gVisor patch 64). An orphan whose data and FIN are then
// acknowledged leaves the bound. Without the bound every orphan lingers.
func TestOrphanLimit(t *testing.T) {
	t.Parallel()
	const (
		conns   = 4
		written = 256 << 10 // each; the peer's 4 KiB window takes almost none
	)
	for _, tc := range []struct {
		name       string
		maxOrphans int
		maxBytes   int64
		resets     func(tcpip.TCPStats) uint64 // the reason counted
	}{
		{"count", 2, -1, func(s tcpip.TCPStats) uint64 { return s.OrphanResetsCount.Value() }},
		{"bytes", -1, 600 << 10, func(s tcpip.TCPStats) uint64 { return s.OrphanResetsBytes.Value() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
				if which == "a" {
					// A reader that does not read: a small window that
					// stays small.
					o.TCPReceiveBuffer = BufferSizes{Min: 4 << 10, Default: 4 << 10, Max: 4 << 10}
					o.DisableModerateReceiveBuffer = true
					return
				}
				o.MaxOrphans, o.MaxOrphanBytes = tc.maxOrphans, tc.maxBytes
			})
			servers, clients := connectN(t, a, b, conns)
			for _, c := range servers {
				if _, err := c.Write(make([]byte, written)); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			for _, c := range servers {
				c.Close()
			}
			stats := b.Stack().Stats().TCP
			// Two fit either bound: 2 orphans (2×256 KiB at most), and
			// the third would make 3 (at least 3×252 KiB).
			if got := b.Closing(); got != 2 {
				t.Errorf("%d connections closing, want 2 (the rest reset)", got)
			}
			if got := stats.Orphans.Value(); got != 2 {
				t.Errorf("Orphans = %d, want 2", got)
			}
			if got := tc.resets(stats); got != conns-2 {
				t.Errorf("resets counted for %s = %d, want %d", tc.name, got, conns-2)
			}
			if got, max := stats.OrphanBytes.Value(), uint64(2*written); got == 0 || got > max {
				t.Errorf("OrphanBytes = %d, want the two orphans' send queues (at most %d)", got, max)
			}
			// The peer reads at last: the two orphans deliver everything
			// and their FIN, and leave the bound.
			for _, c := range clients[:2] {
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if n, err := io.Copy(io.Discard, c); err != nil || n != written {
					t.Fatalf("client read %d bytes, %v; want %d and EOF", n, err, written)
				}
			}
			for deadline := time.Now().Add(10 * time.Second); stats.Orphans.Value() != 0 || stats.OrphanBytes.Value() != 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("after their data and FIN were acknowledged: Orphans %d, OrphanBytes %d, want 0",
						stats.Orphans.Value(), stats.OrphanBytes.Value())
				}
			}
		})
	}
}

// TestOrphanLimitOption: Options' zero values give the defaults, and a
// negative value no bound.
func TestOrphanLimitOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		count    int
		bytes    int64
		want     tcpip.TCPOrphanLimitOption
		wantNote string
	}{
		{"zero", 0, 0, tcpip.TCPOrphanLimitOption{Count: DefaultMaxOrphans, Bytes: DefaultMaxOrphanBytes}, "the defaults"},
		{"negative", -1, -1, tcpip.TCPOrphanLimitOption{}, "no bound"},
		{"set", 10, 1 << 20, tcpip.TCPOrphanLimitOption{Count: 10, Bytes: 1 << 20}, "the values set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, _ := newSolo(t, func(o *Options) { o.MaxOrphans, o.MaxOrphanBytes = tc.count, tc.bytes })
			var got tcpip.TCPOrphanLimitOption
			if err := st.Stack().TransportProtocolOption(tcp.ProtocolNumber, &got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("orphan limit %+v, want %+v (%s)", got, tc.want, tc.wantNote)
			}
		})
	}
}

// connectN listens on b at port 80 and dials it n times from a; it
// returns the server's and the client's ends in the same order.
func connectN(t *testing.T, a, b *Stack, n int) (servers, clients []net.Conn) {
	t.Helper()
	ln, err := gonet.ListenTCP(b.Stack(), fullAddr(addrB4, 80), header.IPv4ProtocolNumber)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range n {
		c, err := gonet.DialContextTCP(ctx, a.Stack(), fullAddr(addrB4, 80), header.IPv4ProtocolNumber)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		s, err := ln.Accept()
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		servers, clients = append(servers, s), append(clients, c)
	}
	return servers, clients
}
