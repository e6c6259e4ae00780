package netstack

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/trace"
)

// TestTimerTakesQueuedACK checks glassnet patch 10 in third_party/gvisor
// (PATCHES.md there): when the retransmission timer or the tail loss probe
// timer expires while the ACK of the outstanding data already waits in the
// endpoint's segment queue, the ACK is processed first and nothing is
// retransmitted. Upstream's timer acted on the state before the queue: with
// many busy endpoints a segment waits for a processor goroutine longer
// than an RTO (100 to 500 ms at 1,000 bulk connections through a TUN), and
// every such timeout retransmitted the whole window from SND.UNA and
// restarted slow start although the peer had acknowledged it all.
//
// The raw peer plays the far end. The stack sends data, the stack's TCP
// processors are paused (gVisor's Stack.Pause), and the peer's ACK of all
// of it goes into the endpoint's queue, where upstream leaves it until the
// processors resume. The test then waits for one of two things: the
// stack sends a segment (upstream: the timer retransmits) or the stack's
// TCP state after a segment shows the data acknowledged (the timer took
// the ACK).
func TestTimerTakesQueuedACK(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		synOpts []byte
		write   int
		held    bool // the application holds the endpoint when the timer fires
	}{
		// MSS 1460 only: no SACK, so no tail loss probe, and the
		// retransmission timer is the one that expires.
		{"retransmission timer", []byte{2, 4, 0x05, 0xb4}, 1000, false},
		// MSS 1460 and SACK permitted: RACK's probe timer (2 x SRTT +
		// 2 ms with three segments out) expires first.
		{"tail loss probe", []byte{2, 4, 0x05, 0xb4, 4, 2, 1, 1}, 3000, false},
		// The ACK arrives while the application holds the endpoint
		// (its UnlockUser leaves the queue to a processor) and the
		// timer fires before it lets go.
		{"retransmission timer, endpoint held", []byte{2, 4, 0x05, 0xb4}, 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			acked := &ackSink{seen: make(chan struct{})}
			// A manual clock: the timers expire when the test
			// advances it, once the ACK is queued, and never before
			// (a probe timeout of 2 x SRTT + 2 ms is shorter than a
			// busy machine takes from the data to the ACK).
			clock := faketime.NewManualClock()
			st, dev := newSolo(t, func(o *Options) {
				o.Tracer = trace.New(acked)
				o.Clock = clock
			})
			p := newRawPeer(t, dev)
			p.window = 65535 // no window scale: the peer takes all the stack sends
			c, _ := rawAccept(t, st, p, tc.synOpts)
			stats := c.Stats().(*tcp.Stats)
			if n, err := c.Write(bytes.NewReader(make([]byte, tc.write)), tcpip.WriteOptions{}); err != nil || int(n) != tc.write {
				t.Fatalf("stack write: %d, %v", n, err)
			}
			end := p.rcvNxt + uint32(tc.write)
			acked.una.Store(end)
			for p.rcvNxt != end {
				p.next()
			}

			st.Stack().Pause()
			resumed := false
			resume := func() {
				if !resumed {
					resumed = true
					st.Stack().Resume()
				}
			}
			defer resume()
			ep, held := c.(*tcp.Endpoint), false
			if tc.held {
				ep.LockUser()
				held = true
				defer func() {
					if held {
						ep.UnlockUser()
					}
				}()
			}
			got := stats.SegmentsReceived.Value()
			p.send(header.TCPFlagAck, p.sndNxt, end, nil, nil)
			waitFor(t, "the ACK in the endpoint's queue", func() bool { return stats.SegmentsReceived.Value() > got })
			// Past every timer the data armed: the probe, or the
			// retransmission timer (its first RTO is at most 1 s).
			// The timers run in Advance; held, the handler waits in
			// it for the endpoint.
			advanced := make(chan struct{})
			go func() {
				defer close(advanced)
				clock.Advance(5 * time.Second)
			}()
			defer func() { <-advanced }()
			if tc.held {
				waitFor(t, "the timer waiting for the endpoint", timerWaitsForEndpoint)
				held = false
				ep.UnlockUser()
			}

			select {
			case <-acked.seen:
			case b := <-p.segs:
				s := header.TCP(b)
				t.Fatalf("while the ACK of all its data waited in its queue, the stack sent %d bytes at %d (%d timeouts)",
					len(s.Payload()), s.SequenceNumber(), stats.SendErrors.Timeouts.Value())
			case <-time.After(10 * time.Second):
				t.Fatalf("the ACK still unprocessed 10 s after it was queued (%d timeouts)", stats.SendErrors.Timeouts.Value())
			}
			<-advanced
			resume()
			if n := stats.SendErrors.Timeouts.Value(); n != 0 {
				t.Errorf("%d retransmission timeouts, want 0", n)
			}
			if n := stats.SendErrors.Retransmits.Value(); n != 0 {
				t.Errorf("%d segments retransmitted, want 0", n)
			}
		})
	}
}

// timerWaitsForEndpoint reports whether a goroutine running a
// retransmission or probe timer's handler waits for an endpoint's lock.
func timerWaitsForEndpoint() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "segmentsFirst") && strings.Contains(g, "Lock") {
			return true
		}
	}
	return false
}

// ackSink closes seen at the first TCP state event (the state after a
// segment was processed) whose SND.UNA is una.
type ackSink struct {
	una  atomic.Uint32
	once sync.Once
	seen chan struct{}
}

func (a *ackSink) Emit(e *trace.Event) {
	if e.Layer != trace.LayerTCP || e.Name != "state" {
		return
	}
	if v, _ := field(*e, "snd_una"); v == a.una.Load() && v != uint32(0) {
		a.once.Do(func() { close(a.seen) })
	}
}

// TestTCPCountersProbesAndQueueDrops checks the two stack-wide counters
// patch 10 adds for glassbench: TCP.TailLossProbes counts a probe that
// retransmits, and TCP.SegmentQueueDropped counts what every endpoint's
// ReceiveErrors.SegmentQueueDropped counts.
func TestTCPCountersProbesAndQueueDrops(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	p := newRawPeer(t, dev)
	p.window = 65535
	// MSS 1460 and SACK permitted, so RACK probes.
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 4, 2, 1, 1})
	tcpStats := st.Stack().Stats().TCP
	if n, err := c.Write(bytes.NewReader(make([]byte, 3000)), tcpip.WriteOptions{}); err != nil || n != 3000 {
		t.Fatalf("stack write: %d, %v", n, err)
	}
	end := p.rcvNxt + 3000
	for p.rcvNxt != end {
		p.next()
	}
	// The peer acknowledges nothing: the probe retransmits the last
	// segment.
	if s := p.next(); len(s.Payload()) == 0 || s.SequenceNumber()+uint32(len(s.Payload())) != end {
		t.Fatalf("want the probe's copy of the last segment, got %d bytes at %d", len(s.Payload()), s.SequenceNumber())
	}
	// The probe counts once it has been written, which the peer can see
	// first.
	waitFor(t, "the probe counted", func() bool { return tcpStats.TailLossProbes.Value() >= 1 })
	if n := tcpStats.TailLossProbes.Value(); n != 1 {
		t.Errorf("TailLossProbes = %d after one probe, want 1", n)
	}
	p.send(header.TCPFlagAck, p.sndNxt, end, nil, nil)

	// With the processors paused and a 4 KiB receive buffer, the
	// endpoint's queue takes segments until its memory is over the buffer
	// size and drops the rest.
	c.SocketOptions().SetReceiveBufferSize(4096, true)
	stats := c.Stats().(*tcp.Stats)
	st.Stack().Pause()
	defer st.Stack().Resume()
	got := stats.SegmentsReceived.Value()
	const sent = 10
	for range sent {
		p.send(header.TCPFlagAck, p.sndNxt, end, nil, make([]byte, 1000))
		p.sndNxt += 1000
	}
	waitFor(t, "the segments at the endpoint", func() bool { return stats.SegmentsReceived.Value() >= got+sent })
	ep, all := stats.ReceiveErrors.SegmentQueueDropped.Value(), tcpStats.SegmentQueueDropped.Value()
	if ep == 0 || ep >= sent || all != ep {
		t.Errorf("endpoint's SegmentQueueDropped %d, stack's %d: want the same, above 0 and below %d", ep, all, sent)
	}
}
