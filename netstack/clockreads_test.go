package netstack

import (
	"bytes"
	"sync/atomic"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
)

// countingClock is a manual clock that counts how often its monotonic time
// is read.
type countingClock struct {
	*faketime.ManualClock
	reads atomic.Int64
}

func (c *countingClock) NowMonotonic() tcpip.MonotonicTime {
	c.reads.Add(1)
	return c.ManualClock.NowMonotonic()
}

// TestClockReadsPerExchange checks glassnet patch 47 in third_party/gvisor
// (PATCHES.md there): TCP reads the clock once for a segment's processing
// and once for the sending of a reply, as Linux stamps a segment's
// processing and a transmission with tp->tcp_mstamp, rather than at every
// step that asks for the time. A raw peer sends a request that acknowledges
// the stack's last reply (as an interactive client does), the application
// reads it and writes a reply of the same size. Per exchange the stack reads
// the clock when the request arrives (its receive time), when TCP processes
// it (the ACK it carries moves the timers; the request's own ACK is
// delayed) and when the reply goes: three reads. Upstream read it nine
// times: for the request, the timers its ACK moves, the delayed ACK, and
// for the reply the segment made of it, the restart after idle, its
// transmit time and its send time, and the probe timer twice.
func TestClockReadsPerExchange(t *testing.T) {
	t.Parallel()
	clock := &countingClock{ManualClock: faketime.NewManualClock()}
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	// MSS 1460 and window scale 7; no SACK, no timestamps.
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	d := &delAckConn{t: t, st: st, p: p, c: c}

	msg := make([]byte, 64)
	exchange := func() {
		t.Helper()
		d.request(msg) // acknowledges the reply before it
		d.read()
		if n, err := c.Write(bytes.NewReader(msg), tcpip.WriteOptions{}); err != nil || int(n) != len(msg) {
			t.Fatalf("write: %d, %v", n, err)
		}
		// Write returns once the reply is sent and its timers armed.
		// Early in the connection pure ACKs come before it (quickack).
		for s := p.next(); len(s.Payload()) != len(msg); s = p.next() {
			if len(s.Payload()) != 0 {
				t.Fatalf("got %v length %d, want the reply of %d bytes", s.Flags(), len(s.Payload()), len(msg))
			}
		}
	}
	// Past the start of the connection (quickack, the first RTT samples).
	for range 20 {
		exchange()
	}
	const n = 50
	before := clock.reads.Load()
	for range n {
		exchange()
	}
	if per := float64(clock.reads.Load()-before) / n; per > 3 {
		t.Errorf("the stack read the clock %.1f times per request and reply, want at most 3", per)
	}
}
