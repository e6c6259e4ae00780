package app

import (
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// A connection serve has closed (FIN-WAIT-1, CLOSING, LAST-ACK) still
// owns what it had to send, its send buffer, until the peer takes it. A
// peer that stopped reading and keeps its window closed answers every
// window probe, so the stack probes for ever: gVisor gives up only on
// probes that go unanswered. Linux resets such an orphan after
// tcp_orphan_retries backed-off probes (about two minutes); without it a
// client could leave a megabyte behind with every connection it lets
// serve close, outside --max-conns, which counts open connections.
const (
	// orphanStall is how long a closed connection's send queue may stay
	// as it is before serve resets the connection.
	orphanStall = 2 * time.Minute
	// orphanCheck is how often serve looks.
	orphanCheck = 10 * time.Second
)

// orphanReaper resets the connections closed here whose peers took
// nothing of what was left to send for orphanStall.
type orphanReaper struct {
	st   *stack.Stack
	seen map[*tcp.Endpoint]orphanSeen
	// reset counts the connections reset.
	reset atomic.Uint64
}

// orphanSeen is a closed connection's send queue when it was last seen
// to shrink (or first seen).
type orphanSeen struct {
	since  tcpip.MonotonicTime
	queued int
}

// reap looks at the stack's closed connections that still have bytes to
// send, and resets each whose send queue has not shrunk since orphanStall
// before now, on the stack's clock (which stands still while the browser
// view pauses the stack, and the connection with it). It returns how many
// it reset. It is called from one goroutine.
func (r *orphanReaper) reap(now tcpip.MonotonicTime) int {
	next := make(map[*tcp.Endpoint]orphanSeen)
	n := 0
	for _, te := range r.st.RegisteredEndpoints() {
		ep, ok := te.(*tcp.Endpoint)
		if !ok {
			continue
		}
		switch ep.EndpointState() {
		case tcp.StateFinWait1, tcp.StateClosing, tcp.StateLastAck:
		default:
			continue
		}
		q, err := ep.GetSockOptInt(tcpip.SendQueueSizeOption)
		if err != nil || q == 0 {
			continue
		}
		prev, ok := r.seen[ep]
		switch {
		case !ok || q < prev.queued:
			next[ep] = orphanSeen{since: now, queued: q}
		case now.Sub(prev.since) >= orphanStall:
			ep.Abort()
			n++
		default:
			next[ep] = prev
		}
	}
	r.seen = next
	r.reset.Add(uint64(n))
	return n
}

// run reaps every orphanCheck until stop is closed or the stack stops.
func (r *orphanReaper) run(stop, stopped <-chan struct{}) {
	t := time.NewTicker(orphanCheck)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.reap(r.st.Clock().NowMonotonic())
		case <-stop:
			return
		case <-stopped:
			return
		}
	}
}
