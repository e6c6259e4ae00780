package hook

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// The built-in actions are ordinary PacketHooks. Those that draw random
// numbers take a seed and keep their own generator, so the same packets in
// the same order meet the same fate in every run. They are safe for use
// by several goroutines.

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// chance is a seeded coin that comes up with probability P (0 to 1).
type chance struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (c *chance) init(seed uint64) { c.r = newRand(seed) }

func (c *chance) hit(p float64) bool {
	if p <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.r.Float64() < p
}

// DropAll drops every packet (the `drop` rule).
func DropAll(reason string) PacketHook {
	return PacketFunc(func(*Packet) Verdict { return Verdict{Action: Drop, Reason: reason} })
}

// Loss drops each packet with probability P, independently (netem's
// `loss random`).
type Loss struct {
	P float64
	chance
}

// NewLoss returns a Loss hook with its own seeded generator.
func NewLoss(p float64, seed uint64) *Loss {
	l := &Loss{P: p}
	l.init(seed)
	return l
}

// Decide implements PacketHook.
func (l *Loss) Decide(*Packet) Verdict {
	if l.hit(l.P) {
		return Verdict{Action: Drop, Reason: "loss"}
	}
	return Verdict{}
}

// GilbertElliott drops packets in bursts (netem's `loss gemodel`): a good
// and a bad state, moving good to bad with probability P and bad to good
// with R after each packet; a packet is lost with probability BadLoss in
// the bad state (1 by default) and GoodLoss in the good state (0).
type GilbertElliott struct {
	P, R, BadLoss, GoodLoss float64

	mu  sync.Mutex
	r   *rand.Rand
	bad bool
}

// NewGilbertElliott returns the model, starting in the good state.
func NewGilbertElliott(p, r, badLoss, goodLoss float64, seed uint64) *GilbertElliott {
	return &GilbertElliott{P: p, R: r, BadLoss: badLoss, GoodLoss: goodLoss, r: newRand(seed)}
}

// Decide implements PacketHook.
func (g *GilbertElliott) Decide(*Packet) Verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.bad {
		if g.r.Float64() < g.R {
			g.bad = false
		}
	} else if g.r.Float64() < g.P {
		g.bad = true
	}
	loss := g.GoodLoss
	if g.bad {
		loss = g.BadLoss
	}
	if g.r.Float64() < loss {
		return Verdict{Action: Drop, Reason: "loss"}
	}
	return Verdict{}
}

// Distribution shapes the jitter of a Latency.
type Distribution uint8

const (
	// Uniform jitter: anywhere in [-Jitter, +Jitter].
	Uniform Distribution = iota
	// Normal jitter: normally distributed with standard deviation Jitter,
	// cut at ±3 Jitter.
	Normal
)

func (d Distribution) String() string {
	if d == Normal {
		return "normal"
	}
	return "uniform"
}

// Latency holds every packet for D plus a jitter drawn from Dist. With
// jitter, packets may overtake each other, as with netem.
type Latency struct {
	D, Jitter time.Duration
	Dist      Distribution

	mu sync.Mutex
	r  *rand.Rand
}

// NewLatency returns a Latency hook with its own seeded generator.
func NewLatency(d, jitter time.Duration, dist Distribution, seed uint64) *Latency {
	return &Latency{D: d, Jitter: jitter, Dist: dist, r: newRand(seed)}
}

// Decide implements PacketHook.
func (d *Latency) Decide(*Packet) Verdict {
	delay := d.D
	if d.Jitter > 0 {
		d.mu.Lock()
		var j float64
		if d.Dist == Normal {
			j = math.Max(-3, math.Min(3, d.r.NormFloat64()))
		} else {
			j = 2*d.r.Float64() - 1
		}
		d.mu.Unlock()
		delay += time.Duration(j * float64(d.Jitter))
	}
	if delay <= 0 {
		return Verdict{}
	}
	return Verdict{Action: Delay, Reason: "delay", Delay: delay}
}

// Duplicator sends each packet twice with probability P.
type Duplicator struct {
	P float64
	chance
}

// NewDuplicator returns a Duplicator hook with its own seeded generator.
func NewDuplicator(p float64, seed uint64) *Duplicator {
	d := &Duplicator{P: p}
	d.init(seed)
	return d
}

// Decide implements PacketHook.
func (d *Duplicator) Decide(*Packet) Verdict {
	if d.hit(d.P) {
		return Verdict{Action: Duplicate, Reason: "duplicate", Copies: 1}
	}
	return Verdict{}
}

// DefaultReorderGap is how long Reorder holds a packet back when no gap is
// given.
const DefaultReorderGap = 10 * time.Millisecond

// Reorder holds a packet back for Gap with probability P, so that the
// packets after it overtake it. (netem's reorder instead sends the chosen
// packets at once while delaying the rest; with a Latency before it in a
// chain this hook adds to that delay.)
type Reorder struct {
	P   float64
	Gap time.Duration
	chance
}

// NewReorder returns a Reorder hook with its own seeded generator; gap 0
// means DefaultReorderGap.
func NewReorder(p float64, gap time.Duration, seed uint64) *Reorder {
	if gap <= 0 {
		gap = DefaultReorderGap
	}
	r := &Reorder{P: p, Gap: gap}
	r.init(seed)
	return r
}

// Decide implements PacketHook.
func (r *Reorder) Decide(*Packet) Verdict {
	if r.hit(r.P) {
		return Verdict{Action: Delay, Reason: "reorder", Delay: r.Gap}
	}
	return Verdict{}
}

// Corrupt flips one random bit of the transport segment (its payload if it
// has one, else its header) with probability P and leaves the checksums
// wrong, so that the receiver drops the packet as corrupt. A packet with
// no transport segment has a bit of its IP payload flipped.
type Corrupt struct {
	P float64

	mu sync.Mutex
	r  *rand.Rand
}

// NewCorrupt returns a Corrupt hook with its own seeded generator.
func NewCorrupt(p float64, seed uint64) *Corrupt {
	return &Corrupt{P: p, r: newRand(seed)}
}

// Decide implements PacketHook.
func (c *Corrupt) Decide(p *Packet) Verdict {
	if c.P <= 0 {
		return Verdict{}
	}
	h := p.Headers()
	start := h.L4
	if h.L4 > 0 && h.Payload > 0 {
		start = h.Len - h.Payload
	}
	if start <= 0 {
		start = 20
		if h.Version == 6 {
			start = 40
		}
	}
	if start >= len(p.Data) {
		return Verdict{}
	}
	c.mu.Lock()
	hit := c.r.Float64() < c.P
	var bit int
	if hit {
		bit = c.r.IntN((len(p.Data) - start) * 8)
	}
	c.mu.Unlock()
	if !hit {
		return Verdict{}
	}
	p.Data[start+bit/8] ^= 0x80 >> (bit % 8)
	return Verdict{Action: Modify, Reason: "corrupt", KeepChecksums: true}
}

// DefaultRateLimit is how many bytes Rate queues when no limit is given,
// or what the rate sends in MaxDelay if that is less.
const DefaultRateLimit = 1 << 20

// Rate shapes traffic to BitsPerSecond with a token bucket of Burst bytes:
// a packet that finds enough tokens goes at once, others are delayed until
// the bucket has refilled. A packet that would make more than Limit bytes
// wait (as tbf's limit; one that finds nothing waiting is taken whatever
// its size), or that would wait longer than MaxDelay (as tbf's latency),
// is dropped with reason "queue-full". The bytes counted are the IP
// packet's, plus Overhead, then in cells as netem counts them: netem and
// tbf count the link header too (an overhead of 14 is Ethernet's). A
// delayed packet's verdict takes its bytes back (Unsent) when the layer
// has no room to queue it, as netem charges only what it sends; unless
// another packet has been charged since, whose time is then fixed.
type Rate struct {
	BitsPerSecond uint64
	Burst, Limit  int
	// Overhead is added to each packet's length (netem's
	// PACKETOVERHEAD; it may be negative); with a CellSize the length
	// is then rounded up to whole cells of CellSize plus CellOverhead
	// bytes each (netem's CELLSIZE and CELLOVERHEAD).
	Overhead, CellSize, CellOverhead int

	mu  sync.Mutex
	tat time.Time // when the link is free again, with an empty bucket
	now func() time.Time
}

// NewRate returns a Rate hook; limit 0 means DefaultRateLimit, or what
// the rate sends in MaxDelay if that is less.
func NewRate(bitsPerSecond uint64, burst, limit int) *Rate {
	if limit <= 0 {
		limit = min(DefaultRateLimit, maxRateLimit(bitsPerSecond))
	}
	return &Rate{BitsPerSecond: bitsPerSecond, Burst: burst, Limit: limit, now: time.Now}
}

// bytesTime is how long the rate takes to send n bytes, at most the
// longest Duration (a burst of a terabyte at 200bit is that: no packet
// waits for it). Converting a float past it to a Duration is not defined.
func (r *Rate) bytesTime(n int) time.Duration {
	return bitsTime(n, r.BitsPerSecond)
}

// wireLen is how many bytes a packet of n bytes counts for at the rate,
// as netem's packet_time_ns counts them.
func (r *Rate) wireLen(n int) int {
	n = max(n+r.Overhead, 0)
	if r.CellSize > 0 {
		cells := (n + r.CellSize - 1) / r.CellSize
		n = cells * max(r.CellSize+r.CellOverhead, 0)
	}
	return n
}

// Decide implements PacketHook.
func (r *Rate) Decide(p *Packet) Verdict {
	if r.BitsPerSecond == 0 {
		return Verdict{}
	}
	now := p.Time
	if now.IsZero() {
		now = r.now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tat.Before(now) {
		r.tat = now
	}
	// What waits beyond the burst before this packet, and with it.
	wait := r.tat.Sub(now) - r.bytesTime(r.Burst)
	tat := r.tat.Add(r.bytesTime(r.wireLen(len(p.Data))))
	due := tat.Sub(now) - r.bytesTime(r.Burst)
	if wait > 0 && due > r.bytesTime(r.Limit) || due > MaxDelay {
		return Verdict{Action: Drop, Reason: "queue-full"}
	}
	prev := r.tat
	r.tat = tat
	if due <= 0 {
		return Verdict{}
	}
	return Verdict{Action: Delay, Reason: "rate", Delay: due, Unsent: func() { r.unsent(prev, tat) }}
}

// unsent takes back the charge that moved tat from prev to tat, if no
// packet has been charged since.
func (r *Rate) unsent(prev, tat time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tat.Equal(tat) {
		r.tat = prev
	}
}

// Rewrite sets the TTL (hop limit) and/or the TCP window of every packet;
// zero leaves a field alone, and ZeroWindow sets the window to zero (a
// receiver that says it has no room). A SYN's window is never changed.
// The layer fixes the checksums afterwards.
type Rewrite struct {
	TTL        uint8
	Window     uint16
	ZeroWindow bool
}

// Decide implements PacketHook.
func (w Rewrite) Decide(p *Packet) Verdict {
	h := p.Headers()
	changed := false
	if w.TTL != 0 && h.Version != 0 && h.TTL != w.TTL {
		if h.Version == 4 {
			p.Data[8] = w.TTL
		} else {
			p.Data[7] = w.TTL
		}
		changed = true
	}
	if (w.Window != 0 || w.ZeroWindow) && h.Proto == ProtoTCP && h.L4 > 0 && h.Flags&FlagSYN == 0 {
		win := w.Window
		if w.ZeroWindow {
			win = 0
		}
		binary.BigEndian.PutUint16(p.Data[h.L4+14:], win)
		changed = true
	}
	if !changed {
		return Verdict{}
	}
	return Verdict{Action: Modify, Reason: "rewrite"}
}

// flowKey names a TCP connection the same way in both directions.
type flowKey struct {
	a, b  netip.AddrPort
	proto uint8
}

func keyOf(h *Headers) flowKey {
	a := netip.AddrPortFrom(h.Src, h.SrcPort)
	b := netip.AddrPortFrom(h.Dst, h.DstPort)
	if b.Addr().Less(a.Addr()) || (a.Addr() == b.Addr() && b.Port() < a.Port()) {
		a, b = b, a
	}
	return flowKey{a: a, b: b, proto: h.Proto}
}

// RST resets TCP connections: on the After-th segment of a connection that
// it sees (counting both directions), once that segment carries an ACK, it
// lets the segment go and injects two RSTs made from it: one onward, to
// where the segment goes (in sequence right after it), and one back, to
// where it came from (at its acknowledged sequence number). At link egress
// the first resets the peer and the second, delivered to the local stack,
// resets the local socket; at link ingress it is the other way round.
// Either way both ends see a reset. Each connection is reset once: a SYN
// without ACK on the same addresses and ports starts a new connection, and
// counts anew, and a connection is forgotten once a RST ends it.
//
// With Bytes set, After counts TCP payload bytes instead of segments: the
// connection is reset on the segment that carries its After-th byte, as
// toxiproxy's limit_data closes a connection after so much data.
type RST struct {
	After int
	Bytes bool

	mu    sync.Mutex
	count map[flowKey]int
}

// NewRST returns a RST hook that fires on the after-th segment (at least 1).
func NewRST(after int) *RST {
	return &RST{After: max(after, 1), count: make(map[flowKey]int)}
}

// Decide implements PacketHook.
func (r *RST) Decide(p *Packet) Verdict {
	h := p.Headers()
	if h.Proto != ProtoTCP || h.L4 == 0 {
		return Verdict{}
	}
	k := keyOf(h)
	r.mu.Lock()
	if h.Flags&FlagRST != 0 {
		// The connection is over, by our reset or another.
		delete(r.count, k)
		r.mu.Unlock()
		return Verdict{}
	}
	n := r.count[k]
	if h.Flags&(FlagSYN|FlagACK) == FlagSYN {
		n = 0 // a new connection on these ports
	}
	if n < 0 {
		r.mu.Unlock()
		return Verdict{}
	}
	if r.Bytes {
		n += h.Payload
	} else {
		n++
	}
	fire := n >= r.After && h.Flags&FlagACK != 0
	if fire {
		n = -1
	}
	r.count[k] = n
	r.mu.Unlock()
	if !fire {
		return Verdict{}
	}
	next := h.Seq + uint32(h.Payload)
	if h.Flags&(FlagSYN|FlagFIN) != 0 {
		next++
	}
	onward := BuildTCP(h.Src, h.Dst, h.SrcPort, h.DstPort, next, h.Ack, FlagRST|FlagACK, 0, 64)
	back := BuildTCP(h.Dst, h.Src, h.DstPort, h.SrcPort, h.Ack, next, FlagRST|FlagACK, 0, 64)
	return Verdict{Action: Inject, Reason: "rst", Inject: [][]byte{onward}, Reply: [][]byte{back}}
}

// BuildTCP returns an IP packet holding a TCP segment without options or
// payload, checksums set.
func BuildTCP(src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags uint8, window uint16, ttl uint8) []byte {
	var b []byte
	var l4 int
	if src.Is4() {
		b = make([]byte, 40)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], 40)
		b[6] = 0x40 // don't fragment
		b[8] = ttl
		b[9] = ProtoTCP
		s, d := src.As4(), dst.As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		l4 = 20
	} else {
		b = make([]byte, 60)
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:], 20)
		b[6] = ProtoTCP
		b[7] = ttl
		s, d := src.As16(), dst.As16()
		copy(b[8:], s[:])
		copy(b[24:], d[:])
		l4 = 40
	}
	t := b[l4:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], window)
	_ = FixChecksums(b)
	return b
}
