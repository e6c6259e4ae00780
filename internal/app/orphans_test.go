package app

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestOrphanReset: a client sends to the TCP echo and never reads, so its
// window closes; serve closes the connection as idle with a megabyte
// still to send, and the client's stack answers every window probe. The
// closed connection is reset once its send queue has stood still for
// orphanStall, not a moment before; gVisor alone probed for ever, holding
// the buffer.
func TestOrphanReset(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "orphan0", ServeConfig{IdleTimeout: 200 * time.Millisecond})
	c := m.dial(t, EchoPort)
	// Less than the client's receive buffer and serve's send buffer
	// hold together: the echo reads it all and has it queued when it
	// closes (with bytes unread it would close with a reset).
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	r := &orphanReaper{st: m.st.Stack()}
	t0 := m.st.Stack().Clock().NowMonotonic()
	ctx := testCtx(t)
	for r.reap(t0); len(r.seen) == 0; r.reap(t0) {
		select {
		case <-ctx.Done():
			t.Fatal("no closed connection with bytes left to send")
		case <-time.After(10 * time.Millisecond):
		}
	}
	var ep *tcp.Endpoint
	for e := range r.seen {
		ep = e
	}
	if n := r.reap(t0.Add(orphanStall - time.Millisecond)); n != 0 || ep.EndpointState() != tcp.StateFinWait1 {
		t.Fatalf("reset %d before orphanStall; the connection is %v, want FIN-WAIT-1", n, ep.EndpointState())
	}
	if n := r.reap(t0.Add(orphanStall)); n != 1 || r.reset.Load() != 1 {
		t.Fatalf("reset %d (counted %d) after orphanStall, want 1", n, r.reset.Load())
	}
	if s := ep.EndpointState(); s != tcp.StateError && s != tcp.StateClose {
		t.Errorf("the reset connection is %v", s)
	}
}
