package hook

import (
	"bytes"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	cli = netip.MustParseAddr("10.0.0.1")
	srv = netip.MustParseAddr("10.0.0.2")
)

func segment(flags uint8, payload int) []byte {
	b := BuildTCP(cli, srv, 40000, 8080, 1000, 2000, flags, 512, 64)
	if payload > 0 {
		b = append(b, make([]byte, payload)...)
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		_ = FixChecksums(b)
	}
	return b
}

// TestFixChecksumsZeroField: a TCP segment or an IPv6 UDP datagram whose
// checksum field is zero gets its checksum; only IPv4 UDP has a zero that
// means none.
func TestFixChecksumsZeroField(t *testing.T) {
	t.Parallel()
	tcp := segment(FlagACK, 100)
	tcp[36], tcp[37] = 0, 0
	udp6 := make([]byte, 40+8+10)
	udp6[0], udp6[5], udp6[6], udp6[7] = 0x60, 8+10, ProtoUDP, 64
	copy(udp6[8:24], netip.MustParseAddr("fd00::1").AsSlice())
	copy(udp6[24:40], netip.MustParseAddr("fd00::2").AsSlice())
	udp6[40], udp6[41], udp6[42], udp6[43], udp6[45], udp6[48] = 0x9c, 0x40, 0x1f, 0x90, 8+10, 'x'
	for _, tc := range []struct {
		name string
		b    []byte
		sum  int
	}{
		{"tcp", tcp, 36},
		{"udp6", udp6, 46},
	} {
		if err := FixChecksums(tc.b); err != nil {
			t.Fatal(err)
		}
		if tc.b[tc.sum] == 0 && tc.b[tc.sum+1] == 0 || !ChecksumsValid(tc.b) {
			t.Errorf("%s: checksum % x after FixChecksums, want one computed", tc.name, tc.b[tc.sum:tc.sum+2])
		}
	}
}

// TestFixChecksumsZeroSum: a transport sum that comes to zero is sent as
// 0x0000 by TCP, and as 0xffff by UDP, whose zero means "no checksum"
// (RFC 768).
func TestFixChecksumsZeroSum(t *testing.T) {
	t.Parallel()
	udp := make([]byte, 20+8+100)
	udp[0], udp[2], udp[3], udp[8], udp[9] = 0x45, 0, byte(len(udp)), 64, ProtoUDP
	copy(udp[12:16], cli.AsSlice())
	copy(udp[16:20], srv.AsSlice())
	udp[20], udp[21], udp[22], udp[23], udp[25], udp[27] = 0x9c, 0x40, 0x1f, 0x90, 8+100, 1
	for _, tc := range []struct {
		name      string
		b         []byte
		sum, data int // offsets of the checksum and of a payload word
		want      uint16
	}{
		{"tcp", segment(FlagACK, 100), 36, 40, 0},
		{"udp", udp, 26, 28, 0xffff},
	} {
		b := tc.b
		if err := FixChecksums(b); err != nil {
			t.Fatal(err)
		}
		// A payload word equal to the checksum makes the sum all ones,
		// and the checksum, its complement, zero.
		copy(b[tc.data:tc.data+2], b[tc.sum:tc.sum+2])
		if err := FixChecksums(b); err != nil {
			t.Fatal(err)
		}
		if got := uint16(b[tc.sum])<<8 | uint16(b[tc.sum+1]); got != tc.want || !ChecksumsValid(b) {
			t.Errorf("%s: checksum %#04x (valid %v), want %#04x", tc.name, got, ChecksumsValid(b), tc.want)
		}
	}
}

func TestFixChecksums(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{
		segment(FlagACK, 100),
		BuildTCP(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 1, 2, 3, 4, FlagSYN, 5, 6),
	} {
		if !ChecksumsValid(b) {
			t.Fatalf("BuildTCP made bad checksums: % x", b)
		}
		p := &Packet{Data: b}
		if v := (Rewrite{TTL: 3, Window: 7}).Decide(p); v.Action != Modify {
			t.Fatalf("rewrite = %v", v)
		}
		if ChecksumsValid(b) && b[0]>>4 == 4 {
			// (IPv6 has no header checksum, and the hop limit is not in
			// the pseudo-header.)
			t.Fatal("rewritten packet still has valid checksums before the fix")
		}
		if err := FixChecksums(b); err != nil || !ChecksumsValid(b) {
			t.Fatalf("FixChecksums: %v, valid %v", err, ChecksumsValid(b))
		}
	}
	if FixChecksums([]byte{0x20}) != ErrNotIP {
		t.Error("FixChecksums of garbage did not say ErrNotIP")
	}
}

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	h := ParseHeaders(segment(FlagSYN|FlagACK, 10))
	if h.Version != 4 || h.Src != cli || h.Dst != srv || h.Proto != ProtoTCP || h.SrcPort != 40000 ||
		h.DstPort != 8080 || h.Flags != FlagSYN|FlagACK || h.Seq != 1000 || h.Ack != 2000 || h.Payload != 10 || h.TTL != 64 {
		t.Errorf("headers = %+v", h)
	}
	for n := range 41 {
		ParseHeaders(segment(FlagACK, 0)[:n]) // must not panic
	}
}

func FuzzPacket(f *testing.F) {
	f.Add(segment(FlagACK, 10))
	f.Add(BuildTCP(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 1, 2, 3, 4, FlagSYN, 5, 6))
	f.Add([]byte{0x45, 0, 0, 20})
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 0, 64})
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseHeaders(b)
		p := &Packet{Data: append([]byte(nil), b...)}
		for _, h := range []PacketHook{Rewrite{TTL: 1, Window: 2}, NewCorrupt(1, 1), NewRST(1)} {
			h.Decide(p)
			p.Reparse()
		}
		if FixChecksums(p.Data) == nil && ParseHeaders(p.Data).Version != 0 && !ChecksumsValid(p.Data) {
			t.Fatalf("checksums not valid after FixChecksums: % x", p.Data)
		}
	})
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	syn := &Packet{Data: segment(FlagSYN, 0)}
	data := &Packet{Data: segment(FlagACK|FlagPSH, 1000)}
	for _, tc := range []struct {
		filter    string
		syn, data bool
	}{
		{"tcp", true, true},
		{"udp or icmp", false, false},
		{"tcp and port 8080 and syn", true, false},
		{"dst port 8080 and src port 40000", true, true},
		{"src port 8080", false, false},
		{"host 10.0.0.2", true, true},
		{"src host 10.0.0.2", false, false},
		{"net 10.0.0.0/24 and ip", true, true},
		{"ip6", false, false},
		{"len > 100", false, true},
		{"len <= 40", true, false},
		{"not (syn or fin) and psh", false, true},
		{"ack", false, true},
	} {
		f, err := ParseFilter(tc.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
		}
		if got := f.Match(syn); got != tc.syn {
			t.Errorf("%q on a SYN = %v", tc.filter, got)
		}
		if got := f.Match(data); got != tc.data {
			t.Errorf("%q on data = %v", tc.filter, got)
		}
	}
}

// run feeds n packets through a fresh hook of rule and returns the
// verdicts.
func run(t *testing.T, rule string, n int) []Verdict {
	t.Helper()
	r, err := ParseRule(rule)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Hook()
	if err != nil {
		t.Fatal(err)
	}
	// One segment made, copied afresh for each decision (an action may
	// change it): making it is most of the time these runs take.
	seg := segment(FlagACK, 1448)
	data := make([]byte, len(seg))
	vs := make([]Verdict, 0, n)
	now := time.Unix(0, 0)
	for i := range n {
		copy(data, seg)
		vs = append(vs, h.Decide(&Packet{Data: data, Time: now.Add(time.Duration(i) * time.Millisecond)}))
	}
	return vs
}

func count(vs []Verdict, a Action) int {
	n := 0
	for _, v := range vs {
		if v.Action == a {
			n++
		}
	}
	return n
}

func TestActionsReplay(t *testing.T) {
	t.Parallel()
	for _, rule := range []string{"loss 20%", "loss 20% seed 9", "duplicate 5%", "reorder 10%", "delay 50ms jitter 10ms distribution normal", "loss gemodel 1% 10%", "corrupt 3%"} {
		a, b := run(t, rule, 2000), run(t, rule, 2000)
		for i := range a {
			if a[i].Action != b[i].Action || a[i].Delay != b[i].Delay {
				t.Fatalf("%q: packet %d: %v then %v", rule, i, a[i], b[i])
			}
		}
	}
	x, y := run(t, "loss 20% seed 1", 200), run(t, "loss 20% seed 2", 200)
	same := true
	for i := range x {
		same = same && x[i].Action == y[i].Action
	}
	if same {
		t.Error("seeds 1 and 2 lost the same packets")
	}
}

func TestActionRates(t *testing.T) {
	t.Parallel()
	const n = 20000
	within := func(name string, got int, want float64) {
		t.Helper()
		if math.Abs(float64(got)/n-want) > 0.02 {
			t.Errorf("%s: %d of %d, want about %.0f%%", name, got, n, want*100)
		}
	}
	within("loss 20%", count(run(t, "loss 20%", n), Drop), 0.20)
	within("duplicate 5%", count(run(t, "duplicate 5%", n), Duplicate), 0.05)
	within("reorder 10%", count(run(t, "reorder 10%", n), Delay), 0.10)
	within("corrupt 1%", count(run(t, "corrupt 1%", n), Modify), 0.01)
	// Gilbert-Elliott with p=1%, r=10%: a tenth of the time in the bad
	// state (p/(p+r) = 9%), losing everything there.
	within("gemodel", count(run(t, "loss gemodel 1% 10%", n), Drop), 0.01/0.11)

	for _, v := range run(t, "delay 50ms jitter 10ms", 1000) {
		if v.Delay < 40*time.Millisecond || v.Delay > 60*time.Millisecond {
			t.Fatalf("delay %v outside 50ms ± 10ms", v.Delay)
		}
	}
	for _, v := range run(t, "delay 50ms jitter 10ms distribution normal", 1000) {
		if v.Delay < 20*time.Millisecond || v.Delay > 80*time.Millisecond {
			t.Fatalf("delay %v outside 50ms ± 3 × 10ms", v.Delay)
		}
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	// 1 packet of 1488 bytes per millisecond is 11.9 Mbit/s offered to a
	// 1 Mbit/s link with a 32 KiB burst: the first 22 go at once, then
	// each waits longer, until the 64 KiB queue is full.
	vs := run(t, "rate 1mbit burst 32kb limit 64kb", 200)
	if vs[0].Action != Pass || vs[21].Action != Pass || vs[23].Action != Delay {
		t.Fatalf("first verdicts: %v %v %v", vs[0], vs[21], vs[23])
	}
	// Packets leave in the order they came: each is due no sooner than
	// the one before.
	var last time.Duration
	for i, v := range vs {
		if v.Action == Delay {
			due := time.Duration(i)*time.Millisecond + v.Delay
			if due < last {
				t.Fatalf("packet %d is due at %v, before the one before it (%v)", i, due, last)
			}
			last = due
		}
	}
	if count(vs, Drop) == 0 || vs[199].Reason != "queue-full" {
		t.Errorf("no queue-full drops: %v", vs[199])
	}
	// What waits beyond the burst is at most the limit: a packet is
	// delayed by no more than the limit's time plus its own, and packets
	// are dropped only once the limit is nearly full.
	const packet, limit = 1488 * 8 * time.Second / 1e6, 64 << 10 * 8 * time.Second / 1e6
	var most time.Duration
	for _, v := range vs {
		most = max(most, v.Delay)
	}
	if most > limit+packet || most <= limit-packet {
		t.Errorf("longest delay %v, want within one packet's time (%v) of the limit's %v", most, packet, limit)
	}
}

// A packet that the burst covers exactly passes at once; the next one,
// offered at the same time, waits its own time at the rate.
func TestRateBurstEdge(t *testing.T) {
	t.Parallel()
	r := NewRate(8000, 100, 0) // 1000 bytes per second
	now := time.Unix(0, 0)
	if v := r.Decide(&Packet{Data: make([]byte, 100), Time: now}); v.Action != Pass || v.Delay != 0 {
		t.Fatalf("a packet the size of the burst: %+v, want it passed", v)
	}
	if v := r.Decide(&Packet{Data: make([]byte, 100), Time: now}); v.Action != Delay || v.Delay != 100*time.Millisecond {
		t.Fatalf("the packet after the burst: %+v, want a delay of 100ms", v)
	}
}

// A rate rule holds no packet longer than MaxDelay, whatever its queue
// or the packet's size: at the least rate one 1500-byte packet fills the
// minute, and the next, or a larger one, is dropped as the queue's.
func TestRateMaxDelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule string
		size int // of the TCP payload
	}{
		{"rate 200bit", 1460},
		{"rate 200bit burst 40", 1460},
		{"rate 1mbit limit 7000kb", 60000},
		{"rate 8kbit", 60000},
	} {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		h, err := r.Hook()
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(0, 0)
		var drops int
		for i := range 2000 {
			v := h.Decide(&Packet{Data: segment(FlagACK, tc.size), Time: now.Add(time.Duration(i) * time.Millisecond)})
			if v.Delay > MaxDelay {
				t.Fatalf("%q delays packet %d by %v, longer than MaxDelay %v", tc.rule, i, v.Delay, MaxDelay)
			}
			if v.Action == Drop {
				drops++
			}
		}
		if drops == 0 {
			t.Errorf("%q dropped nothing of 2000 packets offered far above its rate", tc.rule)
		}
	}
}

// A burst that would take the rate longer than any Duration to send is
// one that no packet waits for.
func TestRateHugeBurst(t *testing.T) {
	t.Parallel()
	r := NewRate(MinRate, 1<<50, 0)
	now := time.Unix(0, 0)
	for i := range 100 {
		if v := r.Decide(&Packet{Data: segment(FlagACK, 1460), Time: now.Add(time.Duration(i) * time.Millisecond)}); v.Action != Pass {
			t.Fatalf("packet %d of a burst of 1 PiB: %v, want it passed", i, v)
		}
	}
	if d := r.bytesTime(1 << 50); d != math.MaxInt64 {
		t.Errorf("bytesTime(1 PiB) at %d bit/s = %v, want the longest Duration", MinRate, d)
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	delay := PacketFunc(func(*Packet) Verdict { return Verdict{Action: Delay, Reason: "a", Delay: time.Second} })
	dup := PacketFunc(func(*Packet) Verdict { return Verdict{Action: Duplicate, Reason: "b", Copies: 1} })
	ttl := Rewrite{TTL: 9}
	drop := PacketFunc(func(*Packet) Verdict { return Verdict{Action: Drop, Reason: "c"} })
	var seen []string
	p := &Packet{Data: segment(FlagACK, 0)}
	v := NewChain(delay, dup, ttl, delay).Run(p, func(v Verdict) { seen = append(seen, v.Reason) })
	// The chain fixed the checksums of the rewrite for the delay after
	// it, and the layer need not.
	if v.Action != Modify || !v.KeepChecksums || !ChecksumsValid(p.Data) || v.Delay != 2*time.Second || v.Copies != 1 || len(seen) != 4 {
		t.Errorf("combined = %+v, seen %v", v, seen)
	}
	if p.Headers().TTL != 9 {
		t.Error("the hook after the rewrite did not see it")
	}
	if v := NewChain(delay, drop, dup).Decide(p); v.Action != Drop || v.Reason != "c" || v.Delay != 0 {
		t.Errorf("drop in a chain = %+v", v)
	}
	var pt Point
	if pt.Load() != nil {
		t.Error("empty point has a chain")
	}
	pt.Set(NewChain())
	if pt.Load() != nil {
		t.Error("an empty chain was installed")
	}
}

// TestChainLeavesOutNilHooks: an optional hook passed as nil is left out
// when the chain is built, not called at the first packet.
func TestChainLeavesOutNilHooks(t *testing.T) {
	t.Parallel()
	var none PacketHook
	var fn PacketFunc
	drop := PacketFunc(func(*Packet) Verdict { return Verdict{Action: Drop, Reason: "c"} })
	c := NewChain(none, fn, drop)
	c.Add(nil)
	if c.Len() != 1 {
		t.Fatalf("chain has %d hooks, want 1", c.Len())
	}
	if v := c.Decide(&Packet{Data: segment(FlagACK, 0)}); v.Action != Drop {
		t.Errorf("verdict = %+v, want the drop", v)
	}
}

func TestRSTHook(t *testing.T) {
	t.Parallel()
	h := NewRST(3)
	var v Verdict
	for range 3 {
		v = h.Decide(&Packet{Data: segment(FlagACK, 100)})
	}
	if v.Action != Inject || len(v.Inject) != 1 || len(v.Reply) != 1 {
		t.Fatalf("third packet: %+v", v)
	}
	on, back := ParseHeaders(v.Inject[0]), ParseHeaders(v.Reply[0])
	if on.Src != cli || on.Seq != 1100 || on.Flags&FlagRST == 0 || !ChecksumsValid(v.Inject[0]) {
		t.Errorf("onward RST %+v", on)
	}
	if back.Src != srv || back.DstPort != 40000 || back.Seq != 2000 || !ChecksumsValid(v.Reply[0]) {
		t.Errorf("back RST %+v", back)
	}
	if v := h.Decide(&Packet{Data: segment(FlagACK, 100)}); v.Action != Pass {
		t.Errorf("a reset connection was reset again: %+v", v)
	}
	// A new connection on the same ports is counted anew and reset too.
	h.Decide(&Packet{Data: segment(FlagSYN, 0)})
	h.Decide(&Packet{Data: segment(FlagACK, 100)})
	if v := h.Decide(&Packet{Data: segment(FlagACK, 100)}); v.Action != Inject {
		t.Errorf("the third segment of a new connection on the same ports: %+v, want its reset", v)
	}
	// A RST ends the connection: nothing is kept of it.
	h.Decide(&Packet{Data: segment(FlagRST|FlagACK, 0)})
	if n := len(h.count); n != 0 {
		t.Errorf("%d connections remembered after their RST", n)
	}
}

// TestRSTCountsBothDirections: the segments of a connection count
// together whichever way they go, whatever order its addresses and ports
// sort in.
func TestRSTCountsBothDirections(t *testing.T) {
	t.Parallel()
	h := NewRST(3)
	back := func() []byte {
		b := BuildTCP(srv, cli, 8080, 40000, 2000, 1100, FlagACK, 512, 64)
		b = append(b, make([]byte, 100)...)
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		_ = FixChecksums(b)
		return b
	}
	for i, b := range [][]byte{segment(FlagACK, 100), back(), segment(FlagACK, 100)} {
		want := Pass
		if i == 2 {
			want = Inject
		}
		if v := h.Decide(&Packet{Data: b}); v.Action != want {
			t.Fatalf("segment %d of the connection: %v, want %v", i+1, v.Action, want)
		}
	}
}

// TestRSTAfterBytes resets a connection on the segment that carries its
// 250th payload byte (toxiproxy's limit_data).
func TestRSTAfterBytes(t *testing.T) {
	t.Parallel()
	r, err := ParseRule("tcp : rst after 250 bytes")
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Hook()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Action{Pass, Pass, Inject, Pass} {
		if v := h.Decide(&Packet{Data: segment(FlagACK, 100)}); v.Action != want {
			t.Fatalf("segment %d (%d bytes so far): %v, want %v", i+1, (i+1)*100, v.Action, want)
		}
	}
	for src, want := range map[string]string{
		"rst after 64kb":       "rst after 65536 bytes",
		"rst after 1500 bytes": "rst after 1500 bytes",
	} {
		r, err := ParseRule(src)
		if err != nil || r.String() != want {
			t.Errorf("ParseRule(%q) = %v, %v; want %q", src, r, err, want)
		}
	}
	if _, err := ParseRule("rst after lots bytes"); err == nil || !strings.Contains(err.Error(), "byte count") {
		t.Errorf("a bad byte count = %v", err)
	}
}

// BenchmarkPointEmpty is the cost of a hook point with nothing installed.
func BenchmarkPointEmpty(b *testing.B) {
	var pt Point
	n := 0
	for b.Loop() {
		if pt.Load() != nil {
			n++
		}
	}
	_ = n
}

// ip4 and ip6 build a bare packet of protocol proto around payload, with
// no checksums: filters read headers only.
func ip4(src, dst string, proto uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0], b[8], b[9] = 0x45, 64, proto
	b[2], b[3] = byte((20+len(payload))>>8), byte(20+len(payload))
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, payload...)
}

func ip6(src, dst string, next uint8, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0], b[6], b[7] = 0x60, next, 64
	b[4], b[5] = byte(len(payload)>>8), byte(len(payload))
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

// Filters on packets of every protocol they name, and on one (GRE) whose
// first bytes look like ports but are not, at the edges of len.
func TestFilterMatchProtocols(t *testing.T) {
	t.Parallel()
	ports := []byte{0x1f, 0x90, 0x1f, 0x90, 0, 0, 0, 0} // 8080 -> 8080, or not ports at all
	pkts := map[string][]byte{
		"syn":   segment(FlagSYN, 0), // 10.0.0.1:40000 -> 10.0.0.2:8080, 40 bytes
		"udp":   ip4("10.0.0.1", "10.0.0.3", ProtoUDP, []byte{0x14, 0xe9, 0, 53, 0, 8, 0, 0}),
		"icmp":  ip4("10.0.0.3", "10.0.0.1", ProtoICMP, []byte{8, 0, 0, 0, 0, 1, 0, 1}),
		"gre":   ip4("10.0.0.1", "10.0.0.2", 47, ports),
		"icmp6": ip6("fd00::1", "fd00::2", ProtoICMPv6, []byte{128, 0, 0, 0, 0, 1, 0, 1}),
		"udp6":  ip6("fd00::1", "fd00::2", ProtoUDP, ports),
	}
	for _, tc := range []struct {
		filter string
		want   []string // the packets it matches; the others it must not
	}{
		{"icmp", []string{"icmp"}},
		{"icmp6", []string{"icmp6"}},
		{"udp", []string{"udp", "udp6"}},
		{"tcp or udp", []string{"syn", "udp", "udp6"}},
		{"udp or tcp", []string{"syn", "udp", "udp6"}},
		{"port 8080", []string{"syn", "udp6"}},
		{"dst port 53", []string{"udp"}},
		{"src port 53", nil},
		{"port 0", nil}, // only TCP and UDP have ports
		{"dst net 10.0.0.2/32", []string{"syn", "gre"}},
		{"dst host 10.0.0.1", []string{"icmp"}},
		{"src host 10.0.0.3", []string{"icmp"}},
		{"src net fd00::/64", []string{"icmp6", "udp6"}},
		{"len >= 40", []string{"syn", "icmp6", "udp6"}},
		{"len > 40", []string{"icmp6", "udp6"}},
		{"len == 40", []string{"syn"}},
		{"len != 40", []string{"udp", "icmp", "gre", "icmp6", "udp6"}},
		{"len < 40", []string{"udp", "icmp", "gre"}},
		{"less 40", []string{"syn", "udp", "icmp", "gre"}},
		{"greater 48", []string{"icmp6", "udp6"}},
	} {
		f, err := ParseFilter(tc.filter)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.filter, err)
		}
		for name, b := range pkts {
			if got, want := f.Match(&Packet{Data: b}), slices.Contains(tc.want, name); got != want {
				t.Errorf("%q on %s = %v, want %v", tc.filter, name, got, want)
			}
		}
	}
	// An IPv4 network written in IPv6 would never match an IPv4 packet.
	_, err := ParseFilter("net ::ffff:10.0.0.0/104")
	if err == nil || !strings.Contains(err.Error(), "IPv4-mapped network") {
		t.Errorf("ParseFilter of an IPv4-mapped network: %v, want an error", err)
	}
	// A network with host bits is refused, as tcpdump refuses it: which of
	// the two was meant is not known.
	_, err = ParseFilter("net 10.0.0.1/24")
	if want := `at column 5: 10.0.0.1/24 has bits set past its /24: the network is 10.0.0.0/24, the host 10.0.0.1`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ParseFilter of a network with host bits: %v, want an error containing %q", err, want)
	}
	// A filter given alone is called one in its errors, a rule's is not.
	for _, src := range []string{"tcp and and", "tcp port"} {
		if _, err := ParseFilter(src); err == nil || !strings.HasPrefix(err.Error(), `filter "`+src+`": at column`) {
			t.Errorf("ParseFilter(%q): %v, want an error that calls it a filter", src, err)
		}
	}
	if _, err := ParseRule("tcp and and : drop"); err == nil || !strings.HasPrefix(err.Error(), `rule "`) {
		t.Errorf("ParseRule of a bad filter: %v, want an error that calls it a rule", err)
	}
}

// Rewrite sets the IPv4 TTL and the IPv6 hop limit in their own places,
// and the window of every segment but a SYN (whose window is not scaled).
func TestRewriteFields(t *testing.T) {
	t.Parallel()
	v6 := func(flags uint8) []byte {
		return BuildTCP(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), 1, 2, 3, 4, flags, 5, 6)
	}
	for _, tc := range []struct {
		name       string
		b          []byte
		ttl        uint8
		window     uint16
		wantTTL    uint8
		wantWindow uint16
	}{
		{"v4 ack", segment(FlagACK, 10), 3, 700, 3, 700},
		{"v6 ack", v6(FlagACK), 3, 700, 3, 700},
		{"v4 syn", segment(FlagSYN, 0), 0, 700, 64, 512},
		{"v6 syn-ack", v6(FlagSYN | FlagACK), 9, 700, 9, 5},
	} {
		p := &Packet{Data: tc.b}
		Rewrite{TTL: tc.ttl, Window: tc.window}.Decide(p)
		p.Reparse()
		h := p.Headers()
		if h.TTL != tc.wantTTL || h.Version != int(tc.b[0]>>4) || h.Proto != ProtoTCP {
			t.Errorf("%s: TTL %d, version %d, proto %d; want TTL %d and the rest as before", tc.name, h.TTL, h.Version, h.Proto, tc.wantTTL)
		}
		if w := uint16(tc.b[h.L4+14])<<8 | uint16(tc.b[h.L4+15]); w != tc.wantWindow {
			t.Errorf("%s: window %d, want %d", tc.name, w, tc.wantWindow)
		}
	}
}

// The onward RST of a FIN follows the FIN's sequence number, and a
// segment without ACK (a SYN) is never the one reset: the RSTs are made
// from its acknowledgment number, which it does not have.
func TestRSTAfterFINAndSYN(t *testing.T) {
	t.Parallel()
	h := NewRST(2)
	h.Decide(&Packet{Data: segment(FlagACK, 100)})
	v := h.Decide(&Packet{Data: segment(FlagFIN|FlagACK, 0)})
	if v.Action != Inject {
		t.Fatalf("second segment (a FIN): %+v, want the reset", v)
	}
	if on := ParseHeaders(v.Inject[0]); on.Seq != 1001 {
		t.Errorf("onward RST after a FIN at 1000: seq %d, want 1001", on.Seq)
	}
	h = NewRST(1)
	if v := h.Decide(&Packet{Data: segment(FlagSYN, 0)}); v.Action != Pass {
		t.Errorf("a SYN without ACK: %+v, want pass", v)
	}
	if v := h.Decide(&Packet{Data: segment(FlagSYN|FlagACK, 0)}); v.Action != Inject {
		t.Errorf("the SYN-ACK after it: %+v, want the reset", v)
	}
}

// Corrupt flips a bit of a segment's payload, never of the headers in
// front of it, so that the receiver sees a bad checksum and not another
// connection.
func TestCorruptPayloadOnly(t *testing.T) {
	t.Parallel()
	c := NewCorrupt(1, 5)
	orig := segment(FlagACK, 8)
	for i := range 500 {
		b := append([]byte(nil), orig...)
		if v := c.Decide(&Packet{Data: b}); v.Action != Modify || !v.KeepChecksums {
			t.Fatalf("corrupt 100%%: %+v", v)
		}
		if !bytes.Equal(b[:40], orig[:40]) {
			t.Fatalf("try %d: the headers changed:\n% x\n% x", i, b[:40], orig[:40])
		}
		if bytes.Equal(b, orig) {
			t.Fatalf("try %d: nothing changed", i)
		}
	}
}

// A delay of zero, or one that jitter takes below zero, passes the packet
// instead of delaying it by nothing; a reorder without a gap holds the
// packet back for DefaultReorderGap.
func TestZeroDelays(t *testing.T) {
	t.Parallel()
	if v := NewLatency(0, 0, Uniform, 1).Decide(&Packet{}); v.Action != Pass {
		t.Errorf("delay 0: %+v, want pass", v)
	}
	if v := NewReorder(1, 0, 1).Decide(&Packet{}); v.Action != Delay || v.Delay != DefaultReorderGap {
		t.Errorf("reorder 100%% without a gap: %+v, want a delay of %v", v, DefaultReorderGap)
	}
}

// ParseHeaders past the simple cases: TCP options, bytes after the IP
// packet (Ethernet padding), a later IPv4 fragment, IPv6 extension
// headers and a later IPv6 fragment.
func TestParseHeadersCases(t *testing.T) {
	t.Parallel()
	tcp := func(dataOff int, payload int) []byte {
		b := make([]byte, dataOff+payload)
		b[0], b[1], b[2], b[3] = 0x9c, 0x40, 0x1f, 0x90 // 40000 -> 8080
		b[12], b[13] = byte(dataOff/4)<<4, FlagACK
		return b
	}
	padded := append(segment(FlagACK, 10), 0, 0, 0, 0, 0, 0)
	later4 := ip4("10.0.0.1", "10.0.0.2", ProtoTCP, tcp(20, 10))
	later4[7] = 1 // fragment offset 8 bytes
	hopByHop := append([]byte{ProtoTCP, 0, 1, 4, 0, 0, 0, 0}, tcp(20, 10)...)
	frag6 := append([]byte{ProtoTCP, 0, 0, 8, 0, 0, 0, 1}, tcp(20, 10)...) // offset 8 bytes
	for _, tc := range []struct {
		name             string
		b                []byte
		proto            uint8
		l4, payload      int
		srcPort, dstPort uint16
	}{
		{"tcp options", ip4("10.0.0.1", "10.0.0.2", ProtoTCP, tcp(32, 10)), ProtoTCP, 20, 10, 40000, 8080},
		{"ethernet padding", padded, ProtoTCP, 20, 10, 40000, 8080},
		{"later ipv4 fragment", later4, ProtoTCP, 0, 0, 0, 0},
		{"ipv6 hop-by-hop", ip6("fd00::1", "fd00::2", 0, hopByHop), ProtoTCP, 48, 10, 40000, 8080},
		{"later ipv6 fragment", ip6("fd00::1", "fd00::2", 44, frag6), ProtoTCP, 0, 0, 0, 0},
	} {
		h := ParseHeaders(tc.b)
		if h.Proto != tc.proto || h.L4 != tc.l4 || h.Payload != tc.payload || h.SrcPort != tc.srcPort || h.DstPort != tc.dstPort {
			t.Errorf("%s: proto %d, L4 %d, payload %d, ports %d -> %d; want %d, %d, %d, %d -> %d",
				tc.name, h.Proto, h.L4, h.Payload, h.SrcPort, h.DstPort, tc.proto, tc.l4, tc.payload, tc.srcPort, tc.dstPort)
		}
	}
}

// A chain's verdict keeps the checksums as a hook left them only if every
// hook that modified the packet asked for it, and carries what each hook
// injected and replied, in order, and the name of the first hook that
// acted.
func TestChainCombines(t *testing.T) {
	t.Parallel()
	a, b, r := []byte("a"), []byte("b"), []byte("r")
	rewrite := Rewrite{TTL: 9}
	corrupt := PacketFunc(func(*Packet) Verdict { return Verdict{Action: Modify, Reason: "c", KeepChecksums: true} })
	inject := PacketFunc(func(*Packet) Verdict { return Verdict{Action: Inject, Inject: [][]byte{a}, Reply: [][]byte{r}} })
	injectB := PacketFunc(func(*Packet) Verdict { return Verdict{Action: Inject, Inject: [][]byte{b}} })
	v := NewChain(rewrite, corrupt, inject, injectB).Decide(&Packet{Data: segment(FlagACK, 0)})
	if v.Action != Modify || !v.KeepChecksums {
		t.Errorf("rewrite then corrupt: %v, keep checksums %v; want modify with the checksums as the chain left them", v.Action, v.KeepChecksums)
	}
	if v := NewChain(corrupt, rewrite).Decide(&Packet{Data: segment(FlagACK, 0)}); v.Action != Modify || !v.KeepChecksums {
		t.Errorf("corrupt then rewrite: %v, keep checksums %v; want modify with the checksums as the chain left them", v.Action, v.KeepChecksums)
	}
	if v := NewChain(rewrite).Decide(&Packet{Data: segment(FlagACK, 0)}); v.Action != Modify || v.KeepChecksums {
		t.Errorf("rewrite alone: %v, keep checksums %v; want modify with checksums to fix", v.Action, v.KeepChecksums)
	}
	if len(v.Inject) != 2 || !bytes.Equal(v.Inject[0], a) || !bytes.Equal(v.Inject[1], b) || len(v.Reply) != 1 || !bytes.Equal(v.Reply[0], r) {
		t.Errorf("inject %q, reply %q; want [a b] and [r]", v.Inject, v.Reply)
	}
	if v.Reason != "rewrite" {
		t.Errorf("reason %q, want the first hook's, rewrite", v.Reason)
	}
	if v := NewChain(corrupt).Decide(&Packet{Data: segment(FlagACK, 0)}); !v.KeepChecksums {
		t.Error("corrupt alone: checksums fixed, want them kept")
	}
}

// A corrupt action at 0 changes nothing and at 1 changes every packet,
// by one bit past the IP header.
func TestCorruptEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    float64
		want Action
	}{{0, Pass}, {1, Modify}} {
		c := NewCorrupt(tc.p, 1)
		for i := range 20 {
			b := segment(FlagACK, 100)
			orig := slices.Clone(b)
			v := c.Decide(&Packet{Data: b})
			diff := 0
			for j := range b {
				for x := b[j] ^ orig[j]; x != 0; x &= x - 1 {
					diff++
				}
			}
			if v.Action != tc.want || (tc.want == Modify) != (diff == 1) || !bytes.Equal(b[:20], orig[:20]) {
				t.Fatalf("corrupt %v, packet %d: %v with %d bits changed, want %v", tc.p, i, v.Action, diff, tc.want)
			}
		}
	}
}

// Passed is true of the zero Verdict and of nothing that drops, delays or
// changes the unit.
func TestVerdictPassed(t *testing.T) {
	t.Parallel()
	if !(Verdict{}).Passed() || !(Verdict{Action: Pass}).Passed() {
		t.Error("a pass verdict is not Passed")
	}
	for _, a := range []Action{Drop, Modify, Delay, Inject} {
		if (Verdict{Action: a}).Passed() {
			t.Errorf("a %v verdict is Passed", a)
		}
	}
}

// The urg filter word matches the URG bit of the TCP header (0x20).
func TestFilterURG(t *testing.T) {
	t.Parallel()
	f, err := ParseFilter("tcp and urg")
	if err != nil {
		t.Fatal(err)
	}
	if b := segment(FlagACK|0x20, 0); !f.Match(&Packet{Data: b}) {
		t.Error("urg did not match a segment with the URG bit")
	}
	if b := segment(FlagACK|0x10, 0); f.Match(&Packet{Data: b}) {
		t.Error("urg matched a segment without the URG bit")
	}
}

// A corrupt action leaves the IP header alone: on an IPv6 fragment that
// carries no transport header it changes bits past the 40-byte header
// only.
func TestCorruptIPv6WithoutTransport(t *testing.T) {
	t.Parallel()
	b := make([]byte, 40+60)
	b[0], b[5], b[6], b[7] = 0x60, 60, 44, 64 // a fragment header follows
	b[40], b[43] = ProtoTCP, 0xb8             // a later fragment, at offset 23*8
	copy(b[8:24], netip.MustParseAddr("fd00::1").AsSlice())
	copy(b[24:40], netip.MustParseAddr("fd00::2").AsSlice())
	c := NewCorrupt(1, 7)
	for i := range 50 {
		p := slices.Clone(b)
		if v := c.Decide(&Packet{Data: p}); v.Action != Modify {
			t.Fatalf("packet %d: %v, want modify", i, v.Action)
		}
		if !bytes.Equal(p[:40], b[:40]) {
			t.Fatalf("packet %d: the IPv6 header changed: % x", i, p[:40])
		}
	}
}

// The rule "window 0" shuts the window of every segment but a SYN, as a
// receiver with no room does; a Rewrite's zero Window leaves it alone.
func TestRuleWindowZero(t *testing.T) {
	t.Parallel()
	r, err := ParseRule("window 0")
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != "window 0" {
		t.Errorf("String %q", r.String())
	}
	h, err := r.Hook()
	if err != nil {
		t.Fatal(err)
	}
	window := func(b []byte) uint16 {
		l4 := ParseHeaders(b).L4
		return uint16(b[l4+14])<<8 | uint16(b[l4+15])
	}
	ack := segment(FlagACK, 10)
	if v := h.Decide(&Packet{Data: ack}); v.Action != Modify || window(ack) != 0 {
		t.Errorf("an ACK: %+v, window %d; want it modified to 0", v, window(ack))
	}
	syn := segment(FlagSYN, 0)
	if h.Decide(&Packet{Data: syn}); window(syn) != 512 {
		t.Errorf("a SYN's window became %d", window(syn))
	}
	kept := segment(FlagACK, 10)
	if v := (Rewrite{TTL: 9}).Decide(&Packet{Data: kept}); v.Action != Modify || window(kept) == 0 {
		t.Errorf("a Rewrite without a window shut it: %+v, window %d", v, window(kept))
	}
}
