package netstack

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/tun"
)

// TestTailLossProbeSlack checks glassnet patch 6 in third_party/gvisor
// (PATCHES.md there): with more than one segment outstanding, a tail loss
// probe waits twice the SRTT plus 2 ms, as Linux's does, not twice the
// SRTT alone. Over the in-memory pair the SRTT is microseconds, and
// upstream's probe went out well under a millisecond after the segments
// it probes for, before the peer's ACK could be scheduled.
//
// b stops answering; a sends three segments, and the test measures how
// long after the last of them a sends any segment a second time, against
// the SRTT the probe was scheduled with. Delays only lengthen that gap, so
// a loaded machine cannot fail the test.
func TestTailLossProbeSlack(t *testing.T) {
	t.Parallel()
	var silent atomic.Bool
	var (
		mu      sync.Mutex
		sentAt  = map[uint32]time.Time{} // first transmission of each data segment, by SEQ
		lastNew time.Time                // the latest first transmission
		gap     time.Duration            // from lastNew to the first retransmission
	)
	resent := make(chan struct{})
	watch := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		h := p.Headers()
		if h.Proto != 6 || h.Payload == 0 || !silent.Load() {
			return hook.Verdict{}
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if _, seen := sentAt[h.Seq]; !seen {
			sentAt[h.Seq] = now
			lastNew = now
		} else if gap == 0 {
			gap = now.Sub(lastNew)
			close(resent)
		}
		return hook.Verdict{}
	})
	mute := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		if silent.Load() {
			return hook.Verdict{Action: hook.Drop, Reason: "silent"}
		}
		return hook.Verdict{}
	})
	a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
		if which == "a" {
			o.Egress = hook.NewChain(watch)
		} else {
			o.Egress = hook.NewChain(mute)
		}
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := server.Read(buf); err != nil {
				return
			}
		}
	}()
	// Round trips on the lossless pair: an SRTT of microseconds.
	for range 50 {
		if _, err := client.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	silent.Store(true)
	// Three segments in one write: more than one outstanding.
	if _, err := client.Write(make([]byte, 3*1400)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resent:
	case <-time.After(10 * time.Second):
		t.Fatal("a sent nothing a second time in 10 s while b was silent")
	}
	// No ACK has reached a since b went silent: the SRTT now is the one
	// the probe was scheduled with.
	srtt := clientSRTT(t, a)
	mu.Lock()
	defer mu.Unlock()
	if want := 2*srtt + 2*time.Millisecond; gap < want {
		t.Errorf("a sent a segment again %v after its last new one, with an SRTT of %v; a tail loss probe waits at least 2 x SRTT + 2 ms = %v", gap, srtt, want)
	}
	t.Logf("first retransmission %v after the last new segment; SRTT %v", gap, srtt)
}

// clientSRTT returns the smoothed RTT of a's one connected TCP endpoint.
func clientSRTT(t *testing.T, a *Stack) time.Duration {
	t.Helper()
	var info tcpip.TCPInfoOption
	if err := clientEndpoint(t, a).GetSockOpt(&info); err != nil {
		t.Fatalf("TCPInfoOption: %v", err)
	}
	return info.RTT
}

// clientEndpoint returns a's one connected TCP endpoint.
func clientEndpoint(t *testing.T, a *Stack) *tcp.Endpoint {
	t.Helper()
	for _, ep := range a.Stack().RegisteredEndpoints() {
		if te, ok := ep.(*tcp.Endpoint); ok && te.EndpointState() == tcp.StateEstablished {
			return te
		}
	}
	t.Fatal("a has no established TCP endpoint")
	return nil
}
