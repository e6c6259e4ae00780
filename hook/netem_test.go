package hook

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"testing"
	"time"
)

// The built-in actions against the netem semantics they follow (tc-netem(8)
// and net/sched/sch_netem.c). Every test is seeded, so each run makes the
// same decisions; the bounds are five standard deviations wide, so that a
// correct action passes them with any seed.

// chainOf parses rules into a chain.
func chainOf(t *testing.T, rules ...string) *Chain {
	t.Helper()
	c, err := ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// binomial fails unless k successes of n trials are within five standard
// deviations of a probability p.
func binomial(t *testing.T, what string, k, n int, p float64) {
	t.Helper()
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	if math.Abs(float64(k)-mean) > 5*sd {
		t.Errorf("%s: %d of %d, want %.0f ± %.0f (p = %g)", what, k, n, mean, 5*sd, p)
	}
}

// Independent loss, duplication and corruption come up at their
// percentage, as netem's loss random, duplicate and corrupt do.
func TestNetemPercentages(t *testing.T) {
	t.Parallel()
	const n = 100_000
	for _, tc := range []struct {
		rule   string
		action Action
		p      float64
	}{
		{"loss 10%", Drop, 0.10},
		{"loss 10.5% seed 3", Drop, 0.105},
		{"loss random 0.1%", Drop, 0.001},
		{"loss 100%", Drop, 1},
		{"loss 0%", Drop, 0},
		{"duplicate 5%", Duplicate, 0.05},
		{"duplicate 100%", Duplicate, 1},
		{"corrupt 1%", Modify, 0.01},
		{"reorder 25%", Delay, 0.25},
	} {
		vs := run(t, tc.rule, n)
		binomial(t, tc.rule, count(vs, tc.action), n, tc.p)
		if k := n - count(vs, tc.action) - count(vs, Pass); k != 0 {
			t.Errorf("%s: %d verdicts neither pass nor %v", tc.rule, k, tc.action)
		}
	}
	for _, v := range run(t, "duplicate 50%", 1000) {
		if v.Action == Duplicate && v.Copies != 1 {
			t.Fatalf("duplicate: %d copies, want one more, as netem sends", v.Copies)
		}
	}
}

// loss gemodel is a two-state Markov chain, as netem's: the share of
// packets in the bad state is p/(p+r), a run of bad packets lasts 1/r
// packets on average, a run of good ones 1/p, and 1-H and 1-K are the loss
// in the bad and the good state.
func TestNetemGilbertElliott(t *testing.T) {
	t.Parallel()
	const n = 200_000
	for _, tc := range []struct {
		rule             string
		p, r, bad, good  float64
		checkBurstLength bool
	}{
		{"loss gemodel 1% 10%", 0.01, 0.10, 1, 0, true},
		{"loss gemodel 5% 50% seed 2", 0.05, 0.50, 1, 0, true},
		{"loss gemodel 1% 10% 70%", 0.01, 0.10, 0.70, 0, false},
		{"loss gemodel 1% 10% 70% 2%", 0.01, 0.10, 0.70, 0.02, false},
	} {
		vs := run(t, tc.rule, n)
		piBad := tc.p / (tc.p + tc.r)
		want := piBad*tc.bad + (1-piBad)*tc.good
		// Consecutive packets are correlated: the variance of the count
		// is larger than a binomial's by about (1+ρ)/(1-ρ), ρ = 1-p-r.
		rho := 1 - tc.p - tc.r
		k := count(vs, Drop)
		sd := math.Sqrt(float64(n)*want*(1-want)*(1+rho)/(1-rho)) + 1
		if math.Abs(float64(k)-want*n) > 5*sd {
			t.Errorf("%s: %d lost of %d, want %.0f ± %.0f", tc.rule, k, n, want*n, 5*sd)
		}
		if !tc.checkBurstLength {
			continue
		}
		// With 1-H = 100% and 1-K = 0% the bursts of loss are the bad
		// runs: geometric, mean 1/r, standard deviation √(1-r)/r.
		var bursts []int
		run := 0
		for _, v := range vs {
			if v.Action == Drop {
				run++
				continue
			}
			if run > 0 {
				bursts = append(bursts, run)
			}
			run = 0
		}
		sum := 0
		for _, b := range bursts {
			sum += b
		}
		mean := float64(sum) / float64(len(bursts))
		se := math.Sqrt(1-tc.r) / tc.r / math.Sqrt(float64(len(bursts)))
		if math.Abs(mean-1/tc.r) > 5*se {
			t.Errorf("%s: %d bursts of %.2f packets on average, want %.2f ± %.2f", tc.rule, len(bursts), mean, 1/tc.r, 5*se)
		}
		gaps := float64(n-sum) / float64(len(bursts))
		if se := math.Sqrt(1-tc.p) / tc.p / math.Sqrt(float64(len(bursts))); math.Abs(gaps-1/tc.p) > 5*se {
			t.Errorf("%s: %.1f packets between bursts on average, want %.1f ± %.1f", tc.rule, gaps, 1/tc.p, 5*se)
		}
	}
}

// delay D jitter J: uniform in [D-J, D+J) as netem's default (table-less)
// distribution, or normal with standard deviation J, cut at 3J.
func TestNetemJitterSpread(t *testing.T) {
	t.Parallel()
	const n = 100_000
	d, j := 50*time.Millisecond, 10*time.Millisecond
	for _, tc := range []struct {
		rule     string
		sd, most float64 // in units of J
	}{
		{"delay 50ms jitter 10ms", 1 / math.Sqrt(3), 1},
		// A normal clamped at ±3σ keeps 99.75% of its standard
		// deviation: E[min(|Z|,3)²] = 0.9950.
		{"delay 50ms jitter 10ms distribution normal", 0.9975, 3},
	} {
		var sum, sq float64
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		for _, v := range run(t, tc.rule, n) {
			x := float64(v.Delay-d) / float64(j)
			sum += x
			sq += x * x
			lo, hi = min(lo, v.Delay), max(hi, v.Delay)
		}
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		if math.Abs(mean) > 5*tc.sd/math.Sqrt(n) {
			t.Errorf("%s: mean %v, want %v", tc.rule, d+time.Duration(mean*float64(j)), d)
		}
		if math.Abs(sd-tc.sd) > 0.01 {
			t.Errorf("%s: standard deviation %.3f J, want %.3f J", tc.rule, sd, tc.sd)
		}
		most := time.Duration(tc.most * float64(j))
		if lo < d-most || hi > d+most {
			t.Errorf("%s: delays from %v to %v, want within %v ± %v", tc.rule, lo, hi, d, most)
		}
	}
}

// departures runs n packets, one every gap, through chain and returns
// when each leaves (arrival plus delay; -1 for a drop) in the order they
// came.
func departures(chain *Chain, n int, gap time.Duration, size int) []time.Duration {
	t0 := time.Unix(1000, 0)
	out := make([]time.Duration, n)
	for i := range n {
		at := time.Duration(i) * gap
		v := chain.Decide(&Packet{Data: segment(FlagACK, size), Time: t0.Add(at)})
		out[i] = at + v.Delay
		if v.Action == Drop {
			out[i] = -1
		}
	}
	return out
}

// overtaken counts the packets that leave before one that came before
// them.
func overtaken(dep []time.Duration) int {
	k := 0
	var latest time.Duration
	for _, d := range dep {
		if d < latest {
			k++
		}
		latest = max(latest, d)
	}
	return k
}

// With jitter, packets closer together than the jitter's reach overtake
// each other, as netem's tfifo sorts them by time to send; packets spaced
// wider than 2J never do.
func TestNetemJitterReorders(t *testing.T) {
	t.Parallel()
	c := chainOf(t, "delay 50ms jitter 10ms")
	if k := overtaken(departures(c, 10_000, time.Millisecond, 100)); k == 0 {
		t.Error("1 ms apart with 10 ms of jitter: no packet overtaken, want reordering as netem's")
	}
	c = chainOf(t, "delay 50ms jitter 10ms")
	if k := overtaken(departures(c, 10_000, 20*time.Millisecond, 100)); k != 0 {
		t.Errorf("20 ms apart with 10 ms of jitter: %d packets overtaken, want none", k)
	}
}

// serial is netem's rate (burst 0): a packet leaves once the ones before
// it have, plus the time its bytes take at the rate:
// max(arrival, previous departure) + size/rate.
func serial(arrivals []time.Duration, size int, rate uint64) []time.Duration {
	out := make([]time.Duration, len(arrivals))
	var free time.Duration
	for i, a := range arrivals {
		free = max(free, a) + bitsTime(size, rate)
		out[i] = free
	}
	return out
}

// rate R serializes each packet's bytes at R behind the ones before it,
// as netem's rate does (for the IP packet: the hooks see no link header).
func TestNetemRateSerializes(t *testing.T) {
	t.Parallel()
	const n, size = 400, 1460 // a 1500-byte IP packet
	for _, tc := range []struct {
		rule string
		rate uint64
		gap  time.Duration
	}{
		{"rate 1mbit limit 1mb", 1e6, 5 * time.Millisecond}, // 12 ms a packet: a queue builds
		{"rate 1mbit", 1e6, 20 * time.Millisecond},          // faster than offered: each waits its own 12 ms
		{"rate 100mbit", 100e6, 100 * time.Microsecond},
	} {
		got := departures(chainOf(t, tc.rule), n, tc.gap, size)
		arr := make([]time.Duration, n)
		for i := range arr {
			arr[i] = time.Duration(i) * tc.gap
		}
		want := serial(arr, size+40, tc.rate)
		for i := range got {
			if d := got[i] - want[i]; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("%s, one every %v: packet %d leaves at %v, want %v", tc.rule, tc.gap, i, got[i], want[i])
			}
		}
	}
}

// A rate after a delay with jitter shapes the packets as they leave the
// delay, as netem's "delay D J rate R" does: they leave in order, each at
// least its own time at the rate after the one before.
func TestNetemRateAfterJitter(t *testing.T) {
	t.Parallel()
	const size = 1460
	per := bitsTime(size+40, 1e6)
	for _, rules := range [][]string{
		{"delay 10ms jitter 10ms", "rate 1mbit"},
		{"delay 10ms jitter 10ms distribution normal", "rate 1mbit"},
	} {
		dep := departures(chainOf(t, rules...), 2000, 20*time.Millisecond, size)
		for i := 1; i < len(dep); i++ {
			if dep[i]-dep[i-1] < per-time.Microsecond {
				t.Fatalf("%q: packet %d leaves %v after the one before, want at least %v (1500 bytes at 1mbit)", rules, i, dep[i]-dep[i-1], per)
			}
		}
	}
}

// reorder P% holds P% of the packets back by the gap (netem instead sends
// P% at once and delays the rest: see Reorder); the held ones are
// overtaken by what follows within the gap.
func TestNetemReorderGap(t *testing.T) {
	t.Parallel()
	const n = 10_000
	vs := run(t, "reorder 10% gap 5ms", n)
	for i, v := range vs {
		if v.Action == Delay && v.Delay != 5*time.Millisecond {
			t.Fatalf("packet %d held %v, want the gap, 5ms", i, v.Delay)
		}
	}
	binomial(t, "reorder 10%", count(vs, Delay), n, 0.10)
	dep := departures(chainOf(t, "reorder 10% gap 5ms"), n, time.Millisecond, 100)
	if k := overtaken(dep); k == 0 {
		t.Error("no packet overtook one held back")
	}
}

// corrupt flips exactly one bit, at an offset spread over the segment
// (netem flips one bit at a random offset of the whole packet; here the
// IP header is spared: see Corrupt), and leaves the checksum wrong.
func TestNetemCorruptOneBit(t *testing.T) {
	t.Parallel()
	c := NewCorrupt(1, 11)
	orig := segment(FlagACK, 100)
	hits := make([]int, len(orig))
	for range 20_000 {
		b := slices.Clone(orig)
		if v := c.Decide(&Packet{Data: b}); v.Action != Modify || !v.KeepChecksums {
			t.Fatalf("corrupt 100%%: %+v", v)
		}
		flipped := 0
		for i := range b {
			if d := bits.OnesCount8(b[i] ^ orig[i]); d > 0 {
				flipped += d
				hits[i]++
			}
		}
		if flipped != 1 {
			t.Fatalf("%d bits flipped, want one", flipped)
		}
		if ChecksumsValid(b) {
			t.Fatal("a corrupted segment with valid checksums")
		}
	}
	// Every payload byte is hit, about equally often.
	for i := 40; i < len(orig); i++ {
		binomial(t, "hits of one byte", hits[i], 20_000, 1.0/100)
	}
}

// A rule given a seed makes the same decisions whatever else the rule
// says and however often its hook is built; without one, the rule's text
// seeds it.
func TestNetemSeedReplays(t *testing.T) {
	t.Parallel()
	trace := func(rule string) []byte {
		t.Helper()
		var b bytes.Buffer
		for _, v := range run(t, rule, 5000) {
			b.WriteByte(byte(v.Action))
			b.WriteString(v.Delay.String())
		}
		return b.Bytes()
	}
	for _, pair := range [][2]string{
		{"loss 10% seed 7", "tcp : loss 10% seed 7"},
		{"loss gemodel 1% 10% seed 7", "ip : loss gemodel 1% 10% seed 7"},
		{"delay 10ms jitter 5ms seed 7", "len > 0 : delay 10ms jitter 5ms seed 7"},
		{"reorder 5% seed 7", "tcp or udp : reorder 5% seed 7"},
		{"duplicate 5% seed 7", "not udp : duplicate 5% seed 7"},
	} {
		if !bytes.Equal(trace(pair[0]), trace(pair[1])) {
			t.Errorf("%q and %q decide differently", pair[0], pair[1])
		}
	}
	if bytes.Equal(trace("loss 10%"), trace("tcp : loss 10%")) {
		t.Error("two rules without a seed drop the same packets: the text does not seed them")
	}
}

// finish does what a layer does with a chain's verdict on p: it fixes the
// checksums of a modified packet unless the verdict keeps them.
func finish(c *Chain, p *Packet) Verdict {
	v := c.Decide(p)
	if v.Action == Modify && !v.KeepChecksums {
		_ = FixChecksums(p.Data)
	}
	return v
}

// A corrupted packet stays one the receiver drops when a rewrite shares
// its chain, before or after it, as it does behind a router that updates
// the checksums of the fields it changes: fixing the checksums for the
// rewrite must not make the flipped bit pass.
func TestCorruptSurvivesRewrite(t *testing.T) {
	t.Parallel()
	for _, rules := range [][]string{
		{"window 1000", "corrupt 100%"},
		{"corrupt 100%", "window 1000"},
		{"ttl 5", "corrupt 100%", "window 1000"},
		{"corrupt 100%", "ttl 5"},
		{"corrupt 100%", "corrupt 100% seed 1", "ttl 5"},
	} {
		c := chainOf(t, rules...)
		for i := range 200 {
			orig := segment(FlagACK, 100+i)
			p := &Packet{Data: slices.Clone(orig)}
			if v := finish(c, p); v.Action != Modify {
				t.Fatalf("%q: %v, want modify", rules, v)
			}
			h := p.Headers()
			win := binary.BigEndian.Uint16(p.Data[h.L4+14:])
			if win != 1000 && slices.Contains(rules, "window 1000") || h.TTL != 5 && slices.Contains(rules, "ttl 5") {
				t.Fatalf("%q: window %d, ttl %d: a rewrite is lost", rules, win, h.TTL)
			}
			if ChecksumsValid(p.Data) {
				t.Fatalf("%q: packet %d corrupted with valid checksums: the receiver takes the flipped bit as data", rules, i)
			}
			// Undo the flip: what is left is the rewrite, with
			// checksums right.
			fixed := slices.Clone(p.Data)
			_ = FixChecksums(fixed)
			diff := 0
			for j := range fixed {
				diff += bits.OnesCount8(fixed[j] ^ p.Data[j])
			}
			if diff == 0 {
				t.Fatalf("%q: packet %d: checksums valid after all", rules, i)
			}
		}
	}
	// A rewrite alone still has its checksums fixed.
	p := &Packet{Data: segment(FlagACK, 10)}
	if finish(chainOf(t, "ttl 5", "window 1000"), p); !ChecksumsValid(p.Data) {
		t.Error("ttl and window: checksums left wrong")
	}
}

// Two rules with the same text in one chain draw their own numbers, as two
// netem qdiscs in series do: the second corrupt does not flip back the
// bit the first flipped, two jitters add up as independent ones, and two
// duplicates make one copy as often as two.
func TestSameRulesDrawApart(t *testing.T) {
	t.Parallel()
	c := chainOf(t, "corrupt 100%", "corrupt 100%")
	changed := 0
	for range 100 {
		orig := segment(FlagACK, 100)
		p := &Packet{Data: slices.Clone(orig)}
		c.Decide(p)
		if !bytes.Equal(p.Data, orig) {
			changed++
		}
	}
	if changed < 95 {
		t.Errorf("corrupt 100%% twice: %d of 100 packets changed, want nearly all (two bits flipped)", changed)
	}

	const n = 20_000
	j := float64(10 * time.Millisecond)
	var sq float64
	for _, d := range departures(chainOf(t, "delay 20ms jitter 10ms", "delay 20ms jitter 10ms"), n, 0, 10) {
		x := (float64(d) - 2*float64(20*time.Millisecond)) / j
		sq += x * x
	}
	// Two independent uniform jitters: variance 2/3 J²; the same one
	// twice: 4/3 J².
	if sd := math.Sqrt(sq / n); math.Abs(sd-math.Sqrt(2.0/3)) > 0.03 {
		t.Errorf("two jitters of 10ms: standard deviation %.3f J, want %.3f J", sd, math.Sqrt(2.0/3))
	}

	copies := map[int]int{}
	dup := chainOf(t, "duplicate 50%", "duplicate 50%")
	for range n {
		copies[dup.Decide(&Packet{Data: segment(FlagACK, 10)}).Copies]++
	}
	binomial(t, "duplicate 50% twice, one copy", copies[1], n, 0.5)

	// A rule given alone keeps the seed its text gives it.
	one, err := ParseRule("loss 10%")
	if err != nil {
		t.Fatal(err)
	}
	h, err := one.Hook()
	if err != nil {
		t.Fatal(err)
	}
	c = chainOf(t, "loss 10%", "tcp : drop")
	for i := range 2000 {
		a := h.Decide(&Packet{Data: segment(FlagACK, 10)}).Action
		b := c.Decide(&Packet{Data: ip4("10.0.0.1", "10.0.0.2", ProtoUDP, make([]byte, 8))}).Action
		if a != b {
			t.Fatalf("packet %d: %v by the rule alone, %v by the same first rule of a chain", i, a, b)
		}
	}
}

// A rate's limit is what may wait, as a tbf's: a packet that would make
// more than the limit wait is dropped, so that none waits longer than the
// limit takes at the rate; only a packet that finds nothing waiting is
// taken whatever its size.
func TestNetemRateLimit(t *testing.T) {
	t.Parallel()
	r := NewRate(8000, 0, 250) // 1000 bytes a second
	now := time.Unix(0, 0)
	var got []Action
	for range 4 {
		got = append(got, r.Decide(&Packet{Data: make([]byte, 100), Time: now}).Action)
	}
	if want := []Action{Delay, Delay, Drop, Drop}; !slices.Equal(got, want) {
		t.Errorf("four 100-byte packets at once into 250 bytes: %v, want %v", got, want)
	}
	if v := NewRate(8000, 0, 250).Decide(&Packet{Data: make([]byte, 1000), Time: now}); v.Action != Delay {
		t.Errorf("a packet larger than the limit into an empty queue: %v, want it taken", v)
	}

	for _, tc := range []struct {
		rule  string
		limit int
		burst int
	}{
		{"rate 1mbit limit 16kb", 16 << 10, 0},
		{"rate 1mbit burst 8kb limit 16kb", 16 << 10, 8 << 10},
		{"rate 10mbit limit 100kb", 100 << 10, 0},
	} {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		most := bitsTime(tc.limit, r.Rate)
		drops := 0
		for i, d := range departures(chainOf(t, tc.rule), 3000, 500*time.Microsecond, 1460) {
			if d < 0 {
				drops++
				continue
			}
			if wait := d - time.Duration(i)*500*time.Microsecond; wait > most {
				t.Fatalf("%s: packet %d waits %v, longer than its limit takes, %v", tc.rule, i, wait, most)
			}
		}
		if drops == 0 {
			t.Errorf("%s: no drops at 23 Mbit/s offered", tc.rule)
		}
	}
}

// A chain that rewrites and corrupts whatever bytes it is given neither
// panics nor leaves a packet it corrupted with valid checksums.
func FuzzChainCorruptRewrite(f *testing.F) {
	f.Add(segment(FlagACK, 10))
	f.Add(segment(FlagSYN, 0))
	f.Add(ip4("10.0.0.1", "10.0.0.2", ProtoUDP, make([]byte, 12)))
	f.Add(ip6("fd00::1", "fd00::2", ProtoUDP, make([]byte, 12)))
	f.Add(ip6("fd00::1", "fd00::2", ProtoICMPv6, make([]byte, 8)))
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, rules := range [][]string{{"ttl 5", "corrupt 100%", "window 1000"}, {"corrupt 100%", "ttl 5"}} {
			p := &Packet{Data: slices.Clone(b)}
			v := finish(chainOf(t, rules...), p)
			if v.Action != Modify || !ChecksumsValid(b) {
				continue // nothing changed, or not a packet whose checksums mean anything
			}
			if f, err := sumFieldsOf(p.Data); err == nil && f.l4 >= 0 && ChecksumsValid(p.Data) {
				t.Fatalf("%q: % x became % x, corrupted with valid checksums", rules, b, p.Data)
			}
		}
	})
}

// Rules alike in two chains parsed with one RuleSeeds (a stack's egress
// and ingress) draw apart, as netem qdiscs on two interfaces would: the
// same loss each way loses packets each way apart, not the nth of each in
// step. Chains parsed on their own keep the seeds their texts give.
func TestRuleSeedsAcrossChains(t *testing.T) {
	t.Parallel()
	var seeds RuleSeeds
	out, err := seeds.ParseRules([]string{"loss 50%"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := seeds.ParseRules([]string{"loss 50%"})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := ParseRules([]string{"loss 50%"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	same, sameAlone := 0, 0
	for range n {
		a := out.Decide(&Packet{Data: segment(FlagACK, 10)}).Action
		b := in.Decide(&Packet{Data: segment(FlagACK, 10)}).Action
		c := alone.Decide(&Packet{Data: segment(FlagACK, 10)}).Action
		if a == b {
			same++
		}
		if a == c {
			sameAlone++
		}
	}
	// independent: each pair agrees half the time
	binomial(t, "loss 50% each way, the same verdict", same, n, 0.5)
	if sameAlone != n {
		t.Errorf("the first chain and a chain parsed alone agreed on %d of %d packets, want all: the first keeps its text's seed", sameAlone, n)
	}
}

// A rate charges only what is sent: a delayed packet's Unsent takes its
// bytes back, so the next packet waits as if it had not come, unless a
// packet was charged after it (whose time is fixed). In a chain, Unsent
// takes back the charges of every rate the packet met.
func TestRateUnsent(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	r := NewRate(8000, 0, 0) // 100 bytes in 100ms
	pkt := func() *Packet { return &Packet{Data: make([]byte, 100), Time: t0} }
	v1, v2 := r.Decide(pkt()), r.Decide(pkt())
	if v1.Delay != 100*time.Millisecond || v2.Delay != 200*time.Millisecond || v2.Unsent == nil {
		t.Fatalf("two packets at once: delays %v, %v, want 100ms, 200ms and a way to take them back", v1.Delay, v2.Delay)
	}
	v2.Unsent()
	if v := r.Decide(pkt()); v.Delay != 200*time.Millisecond {
		t.Errorf("after the second was not sent, the next waits %v, want 200ms", v.Delay)
	}
	v1.Unsent() // a packet was charged since: its time stands
	if v := r.Decide(pkt()); v.Delay != 300*time.Millisecond {
		t.Errorf("after a taken-back charge with one made since, the next waits %v, want 300ms", v.Delay)
	}

	c := chainOf(t, "rate 8kbit", "rate 8kbit")
	first := c.Decide(pkt())
	v := c.Decide(pkt())
	v.Unsent()
	if again := c.Decide(pkt()); again.Delay != v.Delay || again.Delay <= first.Delay {
		t.Errorf("two rates in a chain: %v, then %v taken back, then %v; want the same again", first.Delay, v.Delay, again.Delay)
	}
}

// A copy shares the fate of the rules after the one that made it, a
// rate's too: the rate charges the packet once and its copy leaves with
// it (netem sends the copy through the qdisc again, so that its rate
// charges it and sends it a packet's time later). The README's table says
// so.
func TestDuplicateThenRate(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	c := chainOf(t, "duplicate 100%", "rate 8kbit") // 100 bytes in 100ms
	for i := range 3 {
		v := c.Decide(&Packet{Data: make([]byte, 100), Time: t0})
		if want := time.Duration(i+1) * 100 * time.Millisecond; v.Copies != 1 || v.Delay != want {
			t.Fatalf("packet %d: %d copies after %v, want 1 after %v (one charge for the two)", i, v.Copies, v.Delay, want)
		}
	}
}

// rate R OVERHEAD CELLSIZE CELLOVERHEAD counts each packet's bytes as
// netem's packet_time_ns does: the IP packet's length plus the overhead
// (14, an Ethernet header, which netem and tbf count on a veth), then in
// whole cells (ATM's: 53 bytes on the wire for each 48 of data).
func TestNetemRateOverhead(t *testing.T) {
	t.Parallel()
	const n, size = 200, 1460 // a 1500-byte IP packet
	for _, tc := range []struct {
		rule string
		wire int // bytes a 1500-byte IP packet counts for
	}{
		{"rate 1mbit", 1500},
		{"rate 1mbit 14", 1514},
		{"rate 1mbit -20", 1480},
		{"rate 1mbit 0 48 5", 32 * 53},  // 1500 bytes in 32 cells (31.25)
		{"rate 1mbit 10 48 5", 32 * 53}, // 1510: still 32 cells
		{"rate 1mbit 40 48 5", 33 * 53}, // 1540: 33
	} {
		arr := make([]time.Duration, n)
		for i := range arr {
			arr[i] = time.Duration(i) * time.Millisecond
		}
		got := departures(chainOf(t, tc.rule), n, time.Millisecond, size)
		want := serial(arr, tc.wire, 1e6)
		for i := range got {
			if d := got[i] - want[i]; d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("%s: packet %d leaves at %v, want %v (%d bytes a packet)", tc.rule, i, got[i], want[i], tc.wire)
			}
		}
	}
}
