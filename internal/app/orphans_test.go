package app

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/sockets"
)

// TestChatDroppedMembersLeaveNoOrphans: /chat members that stop reading
// are dropped with 1008 once they are the queue limit behind, and serve
// closes them; what their send buffers held (a megabyte each) must go
// with them. Closed with a FIN behind it, each stayed in serve's stack,
// without a descriptor and outside --max-conns, until TCP gave up on the
// peer, about 100 s later. The test looks for them in serve's socket
// table once serve has counted every drop.
func TestChatDroppedMembersLeaveNoOrphans(t *testing.T) {
	t.Parallel()
	const silent = 6
	m := startMemServe(t, "orphans0", ServeConfig{IdleTimeout: -1})
	ports := chatDropSilent(t, m, silent)
	held, bytes := orphansOf(m.server.socks, ports)
	if held != 0 {
		t.Fatalf("serve's stack still holds %d of the %d dropped members' connections, with %d bytes unacknowledged", held, silent, bytes)
	}
}

// BenchmarkChatDropOrphans: 100 silent /chat members dropped on serve's
// own stack, and what the stack still holds for them once serve has
// counted the drops: connections, their Send-Q, and the heap after two
// collections (go test -run - -bench ChatDropOrphans -benchtime 1x
// ./internal/app/).
func BenchmarkChatDropOrphans(b *testing.B) {
	const silent = 100
	for range b.N {
		m := startMemServe(b, "orphansb0", ServeConfig{IdleTimeout: -1})
		ports := chatDropSilent(b, m, silent)
		held, bytes := orphansOf(m.server.socks, ports)
		var ms runtime.MemStats
		runtime.GC() // twice: what sync.Pools kept goes at the second
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(held), "conns-held")
		b.ReportMetric(float64(bytes)/(1<<20), "sendq-MiB")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	}
}

// chatDropSilent joins n members to serve's /chat that read nothing, has
// one more member talk until the room has dropped them all, waits until
// serve has counted every drop (their handlers have ended and closed
// them), and returns the silent members' client ports.
func chatDropSilent(t testing.TB, m *memServe, n int) map[uint16]bool {
	t.Helper()
	// Small receive windows on the client's stack: what a silent member
	// does not read waits in serve's send buffer.
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 16 << 10, Max: 16 << 10}
	moderate := tcpip.TCPModerateReceiveBufferOption(false)
	for _, o := range []tcpip.SettableTransportProtocolOption{&rcv, &moderate} {
		if err := m.clientStack.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := m.server.h
	talker, _, err := m.dialWS(t, "/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	for h.room.size() < 1 {
		time.Sleep(time.Millisecond)
	}
	ports := make(map[uint16]bool, n)
	for range n {
		c, _, err := m.dialWS(t, "/chat", nil)
		if err != nil {
			t.Fatal(err)
		}
		ports[c.LocalAddr().(*net.TCPAddr).AddrPort().Port()] = true
	}
	for h.room.size() < n+1 {
		time.Sleep(time.Millisecond)
	}
	pad := strings.Repeat("x", 16<<10)
	for sent := 0; h.room.size() > 1; sent++ {
		if sent == 5000 {
			t.Fatalf("%d members still in the chat after %d lines", h.room.size(), sent)
		}
		msg := fmt.Sprintf("%d %s", sent, pad)
		say(t, ctx, talker, msg)
	}
	for m.counters()[endBehind] != uint64(n) {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d drops counted", m.counters()[endBehind], n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ports
}

// orphansOf counts the TCP connections in socks' table whose peer is on
// one of ports, and their Send-Q.
func orphansOf(socks *sockets.Sockets, ports map[uint16]bool) (held, sendQ int) {
	for _, row := range socks.Snapshot() {
		if row.Type == sockets.SOCK_STREAM && ports[row.Peer.Port()] {
			held++
			sendQ += row.SendQ
		}
	}
	return held, sendQ
}
