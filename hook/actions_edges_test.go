package hook

import (
	"net/netip"
	"testing"
	"time"
)

// TestLatencyNormalCut: normal jitter is cut at three jitters either way,
// as Latency says and as the rule's MaxDelay bound counts on (D+3J).
func TestLatencyNormalCut(t *testing.T) {
	t.Parallel()
	const d, j = time.Second, 10 * time.Millisecond
	l := NewLatency(d, j, Normal, 1)
	for i := range 20000 {
		v := l.Decide(&Packet{})
		if v.Delay < d-3*j || v.Delay > d+3*j {
			t.Fatalf("packet %d delayed %v, want %v to %v", i, v.Delay, d-3*j, d+3*j)
		}
	}
}

// TestRateDefaultLimit: without a limit, a rate queues DefaultRateLimit
// bytes, or what it sends in MaxDelay if that is less.
func TestRateDefaultLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bits uint64
		want int
	}{
		{1e9, DefaultRateLimit},
		{8000, 8000 / 8 * 60},
	} {
		if got := NewRate(tc.bits, 0, 0).Limit; got != tc.want {
			t.Errorf("NewRate(%d, 0, 0).Limit = %d, want %d", tc.bits, got, tc.want)
		}
	}
}

// TestRateNegativeOverheadCountsNothing: an overhead that takes more than a
// small packet's length counts it as no bytes, never as fewer than none: it
// does not hand the bucket back time the packets before it have taken, and
// so does not leave before them.
func TestRateNegativeOverheadCountsNothing(t *testing.T) {
	t.Parallel()
	for _, cell := range []int{0, 48} {
		r := NewRate(8000, 0, 0) // 1000 bytes a second
		r.Overhead, r.CellSize = -1000, cell
		t0 := time.Unix(1000, 0)
		big := r.Decide(&Packet{Data: make([]byte, 1500), Time: t0})
		small := r.Decide(&Packet{Data: make([]byte, 40), Time: t0})
		if big.Action != Delay || small.Action != Delay || small.Delay < big.Delay {
			t.Errorf("cells of %d: 1500 bytes then 40 bytes at overhead -1000: %v %v, then %v %v; want the second delayed as long as the first",
				cell, big.Action, big.Delay, small.Action, small.Delay)
		}
	}
}

// TestRateLimitCountsBeyondBurst: a packet that finds no more than the
// burst waiting is taken whatever its size (tbf's limit counts what waits
// beyond the bucket), and one behind a queue longer than the limit is
// dropped.
func TestRateLimitCountsBeyondBurst(t *testing.T) {
	t.Parallel()
	r := NewRate(8000, 1000, 1000) // 1000 bytes a second, 1s of burst and of limit
	t0 := time.Unix(1000, 0)
	if v := r.Decide(&Packet{Data: make([]byte, 500), Time: t0}); v.Action != Pass {
		t.Fatalf("500 bytes within the burst: %+v, want it passed", v)
	}
	v := r.Decide(&Packet{Data: make([]byte, 3000), Time: t0})
	if v.Action != Delay || v.Delay != 2500*time.Millisecond {
		t.Fatalf("3000 bytes behind 500, burst 1000: %v %v, want a delay of 2.5s", v.Action, v.Delay)
	}
	if v := r.Decide(&Packet{Data: make([]byte, 100), Time: t0}); v.Action != Drop || v.Reason != "queue-full" {
		t.Errorf("100 bytes behind 2.5s beyond the burst, limit 1s: %v %q, want a queue-full drop", v.Action, v.Reason)
	}
}

// TestRewriteSameTTLPasses: a TTL rewrite that finds the TTL it sets
// changes nothing and says so.
func TestRewriteSameTTLPasses(t *testing.T) {
	t.Parallel()
	b := segment(FlagACK, 10) // TTL 64
	if v := (Rewrite{TTL: 64}).Decide(&Packet{Data: b}); v.Action != Pass {
		t.Errorf("ttl 64 on a packet with TTL 64: %v, want Pass", v.Action)
	}
	if v := (Rewrite{TTL: 3}).Decide(&Packet{Data: b}); v.Action != Modify || b[8] != 3 {
		t.Errorf("ttl 3 on a packet with TTL 64: %v, TTL %d; want Modify to 3", v.Action, b[8])
	}
}

// TestRSTSameAddress: a connection between two ports of one address (over
// loopback) counts as one connection in both directions.
func TestRSTSameAddress(t *testing.T) {
	t.Parallel()
	lo := netip.MustParseAddr("127.0.0.1")
	h := NewRST(2)
	out := BuildTCP(lo, lo, 40000, 8080, 1000, 2000, FlagACK, 512, 64)
	back := BuildTCP(lo, lo, 8080, 40000, 2000, 1000, FlagACK, 512, 64)
	if v := h.Decide(&Packet{Data: out}); v.Action != Pass {
		t.Fatalf("first segment: %v", v.Action)
	}
	if v := h.Decide(&Packet{Data: back}); v.Action != Inject {
		t.Errorf("second segment, the other way: %v, want the reset", v.Action)
	}
}

// TestRSTOnce: a connection is reset once, also when every segment would
// reach the count.
func TestRSTOnce(t *testing.T) {
	t.Parallel()
	h := NewRST(1)
	if v := h.Decide(&Packet{Data: segment(FlagACK, 100)}); v.Action != Inject {
		t.Fatalf("first segment: %v, want the reset", v.Action)
	}
	for i := range 3 {
		if v := h.Decide(&Packet{Data: segment(FlagACK, 100)}); v.Action != Pass {
			t.Errorf("segment %d after the reset: %v, want Pass", i+2, v.Action)
		}
	}
}

// TestRSTSequenceNumbers: the two RSTs sit where each receiver expects
// them: onward at the sequence number after the segment, acknowledging
// what it acknowledged; back at its acknowledged sequence number,
// acknowledging the segment.
func TestRSTSequenceNumbers(t *testing.T) {
	t.Parallel()
	v := NewRST(1).Decide(&Packet{Data: segment(FlagACK|FlagPSH, 100)}) // seq 1000, ack 2000
	if v.Action != Inject || len(v.Inject) != 1 || len(v.Reply) != 1 {
		t.Fatalf("%+v, want one RST each way", v)
	}
	on, back := ParseHeaders(v.Inject[0]), ParseHeaders(v.Reply[0])
	if on.Src != cli || on.Dst != srv || on.SrcPort != 40000 || on.DstPort != 8080 || on.Seq != 1100 || on.Ack != 2000 || on.Flags != FlagRST|FlagACK {
		t.Errorf("onward RST %+v, want 10.0.0.1:40000 -> 10.0.0.2:8080 seq 1100 ack 2000 RST|ACK", on)
	}
	if back.Src != srv || back.Dst != cli || back.SrcPort != 8080 || back.DstPort != 40000 || back.Seq != 2000 || back.Ack != 1100 || back.Flags != FlagRST|FlagACK {
		t.Errorf("back RST %+v, want 10.0.0.2:8080 -> 10.0.0.1:40000 seq 2000 ack 1100 RST|ACK", back)
	}
}

// TestRSTKeepsNoOtherFlows: packets that are not TCP leave nothing behind
// in the hook: a UDP flow is no connection to count, and a map of them
// would only grow.
func TestRSTKeepsNoOtherFlows(t *testing.T) {
	t.Parallel()
	h := NewRST(1)
	for port := range 100 {
		udp := ip4("10.0.0.1", "10.0.0.3", ProtoUDP, []byte{0x9c, byte(port), 0, 53, 0, 8, 0, 0})
		if v := h.Decide(&Packet{Data: udp}); v.Action != Pass {
			t.Fatalf("UDP datagram: %v, want Pass", v.Action)
		}
	}
	if n := len(h.count); n != 0 {
		t.Errorf("%d flows remembered after 100 UDP datagrams, want none", n)
	}
}

// TestBuildTCPDontFragment: the segments BuildTCP makes over IPv4 say
// don't fragment, as the stack's own TCP segments do.
func TestBuildTCPDontFragment(t *testing.T) {
	t.Parallel()
	if b := segment(FlagRST, 0); b[6]&0x40 == 0 {
		t.Errorf("IPv4 flags and fragment offset %#x, want DF set", b[6:8])
	}
}
