package netstack

import (
	"testing"

	"github.com/glassnet/glassnet/tun"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TestAcceptQueueOrder: a listener hands out its connections in the order
// their handshakes completed, also when connections come while others
// wait and the queue has to grow (third_party/gvisor patch 45 made the
// queue a ring of endpoints that starts at four and doubles, instead of a
// container/list that allocated for every connection): three queued, one
// accepted, five more queued (the ring wraps, then grows), then the rest
// accepted.
func TestAcceptQueueOrder(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, tun.PipeOptions{}, nil)
	l, _ := rawListen(t, b, 20300)
	opened := b.Stack().Stats().TCP.PassiveConnectionOpenings
	var order []uint16 // the clients' ports, in the order the stack queued them
	connect := func(n int) {
		t.Helper()
		for range n {
			var wq waiter.Queue
			c, terr := a.Stack().NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
			if terr != nil {
				t.Fatal(terr)
			}
			t.Cleanup(c.Close)
			before := opened.Value()
			if terr := c.Connect(fullAddr(addrB4, 20300)); terr != nil {
				if _, ok := terr.(*tcpip.ErrConnectStarted); !ok {
					t.Fatalf("connect: %v", terr)
				}
			}
			// The count goes up with the connection queued, under
			// the lock Accept takes.
			waitFor(t, "the listener to queue the connection", func() bool { return opened.Value() == before+1 })
			addr, terr := c.GetLocalAddress()
			if terr != nil {
				t.Fatal(terr)
			}
			order = append(order, addr.Port)
		}
	}
	accepted := 0
	accept := func(n int) {
		t.Helper()
		for range n {
			var peer tcpip.FullAddress
			c, _, terr := l.Accept(&peer)
			if terr != nil {
				t.Fatalf("accept %d: %v", accepted, terr)
			}
			t.Cleanup(c.Close)
			if peer.Port != order[accepted] {
				t.Errorf("accept %d: the connection from port %d, want %d (queued in the order %v)", accepted, peer.Port, order[accepted], order)
			}
			accepted++
		}
	}
	connect(3)
	accept(1)
	connect(5)
	accept(7)
	if _, _, terr := l.Accept(nil); terr == nil {
		t.Error("an accept after every connection was taken returned one more")
	}
}
