package trace

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Bounds of the correlator's memory.
const (
	corrUnits = 256  // packets and frames kept per connection direction
	corrFlows = 1024 // connection directions kept, over all nodes
	corrJoins = 1024 // partner IDs kept per unit
	corrSpans = 256  // spans of received bytes kept per connection direction
)

// corrKey names one direction of one connection as one node sees it. conn
// is the data's direction, "src->dst", as on the packets that carry it.
type corrKey struct {
	node string
	dir  Dir
	conn string
}

// unit is a packet's payload or a frame (header and payload) in the stream:
// the bytes [start, end) at unwrapped stream offsets.
type unit struct {
	id         uint64
	start, end int64
	joins      []uint64
	conn       string // the unit's own event's Conn
	desc       string // frames: "FIN text len=15 masked at offset 151"
	// stale holds, for a packet received, the parts of [start, end) that
	// earlier packets had brought already, in order: TCP kept those bytes
	// from the first copy and threw these away, so the unit is not
	// credited with them. A duplicate's stale is all of it; nil for most.
	stale []span
	// dropped: a hook dropped the packet on its way in, after the link
	// saw it (its verdict event); TCP never had it.
	dropped bool
}

// credits reports whether u is credited with any of the bytes [a, b).
func (u *unit) credits(a, b int64) bool {
	a, b = max(a, u.start), min(b, u.end)
	for _, s := range u.stale {
		if a >= b || a < s.start {
			break
		}
		a = max(a, s.end)
	}
	return a < b
}

// last is the end of the last byte u is credited with, or its start if
// none.
func (u *unit) last() int64 {
	if n := len(u.stale); n > 0 && u.stale[n-1].end >= u.end {
		return u.stale[n-1].start
	}
	return u.end
}

// span is the stream bytes [start, end).
type span struct{ start, end int64 }

// spans is a set of stream bytes: disjoint spans, none touching the next,
// in order.
type spans []span

// add puts [a, b) into s, and appends to stale the parts of it that s
// held already, in order.
func (s spans) add(a, b int64, stale []span) (spans, []span) {
	// s[i:j] are the spans that overlap or touch [a, b).
	i := sort.Search(len(s), func(k int) bool { return s[k].end >= a })
	j := i
	for j < len(s) && s[j].start <= b {
		if x := (span{max(a, s[j].start), min(b, s[j].end)}); x.start < x.end {
			stale = append(stale, x)
		}
		j++
	}
	m := span{a, b}
	if i < j {
		m = span{min(a, s[i].start), max(b, s[j-1].end)}
	}
	return slices.Replace(s, i, j, m), stale
}

// remove takes [a, b) out of s.
func (s spans) remove(a, b int64) spans {
	if a >= b {
		return s
	}
	out := make(spans, 0, len(s)+1)
	for _, x := range s {
		if x.end <= a || b <= x.start {
			out = append(out, x)
			continue
		}
		if x.start < a {
			out = append(out, span{x.start, a})
		}
		if b < x.end {
			out = append(out, span{b, x.end})
		}
	}
	return out
}

// ring keeps the last corrUnits units of one kind, oldest first from head.
type ring struct {
	u    []unit
	out  []bool // u[i] starts before the end of the unit added before it
	head int    // index of the oldest unit once u is full
	// disorder counts the units in u flagged in out: while it is zero the
	// units tile the stream in order, and a search can stop early.
	disorder int
	lastEnd  int64
}

func (r *ring) add(x unit) *unit {
	out := len(r.u) > 0 && x.start < r.lastEnd
	r.lastEnd = x.end
	if out {
		r.disorder++
	}
	if len(r.u) < corrUnits {
		r.u = append(r.u, x)
		r.out = append(r.out, out)
		return &r.u[len(r.u)-1]
	}
	i := r.head
	if r.out[i] {
		r.disorder--
	}
	r.u[i], r.out[i] = x, out
	r.head = (r.head + 1) % corrUnits
	return &r.u[i]
}

// overlapping appends to idx the indexes of the units overlapping
// [start, end), oldest first.
func (r *ring) overlapping(start, end int64, idx []int) []int {
	n := len(r.u)
	if r.disorder == 0 {
		// In order: walk back from the newest until a unit ends before
		// start, then report forwards.
		first := n
		for i := n - 1; i >= 0; i-- {
			y := &r.u[(r.head+i)%n]
			if y.end <= start {
				break
			}
			first = i
		}
		for i := first; i < n; i++ {
			j := (r.head + i) % n
			if y := &r.u[j]; y.start < end && start < y.end {
				idx = append(idx, j)
			}
		}
		return idx
	}
	for i := range n {
		j := (r.head + i) % n
		if y := &r.u[j]; y.start < end && start < y.end {
			idx = append(idx, j)
		}
	}
	return idx
}

type corrFlow struct {
	ref      int64 // the last offset seen, to unwrap 32-bit offsets
	seen     bool
	lastUse  uint64
	packets  ring
	frames   ring
	pktEnd   int64 // the highest packet end seen
	frameEnd int64 // the highest frame end seen
	// got is, for packets received, the bytes they brought: at most
	// corrSpans spans; past that the span above the lowest is forgotten,
	// and a later copy of its bytes is credited again.
	got spans
}

// unwrap turns a 32-bit stream offset into one on the flow's 64-bit line,
// taking the value nearest to the last one seen.
func (f *corrFlow) unwrap(off uint32) int64 {
	if !f.seen {
		f.seen, f.ref = true, int64(off)
		return f.ref
	}
	x := f.ref + int64(int32(off-uint32(f.ref)))
	f.ref = x
	return x
}

type correlator struct {
	flows map[corrKey]*corrFlow
}

func newCorrelator() *correlator {
	return &correlator{flows: make(map[corrKey]*corrFlow)}
}

func (c *correlator) flow(k corrKey, id uint64) *corrFlow {
	f := c.flows[k]
	if f == nil {
		if len(c.flows) >= corrFlows {
			c.evict()
		}
		f = &corrFlow{}
		c.flows[k] = f
	}
	f.lastUse = id
	return f
}

// evict forgets the least recently used eighth of the flows.
func (c *correlator) evict() {
	n := len(c.flows) / 8
	for ; n > 0; n-- {
		var oldest corrKey
		var min uint64 = ^uint64(0)
		for k, f := range c.flows {
			if f.lastUse < min {
				oldest, min = k, f.lastUse
			}
		}
		delete(c.flows, oldest)
	}
}

// observe joins e with earlier units, adds its "frames" or "packets" field,
// and appends to extra a "carried" event for each earlier unit it
// completed or extended after completion.
func (c *correlator) observe(e *Event, extra []Event) []Event {
	switch {
	case e.Layer == LayerLink && e.Name == "packet":
		return c.packet(e, extra)
	case e.Layer == LayerWS && e.Name == "frame":
		return c.frame(e, extra)
	case e.Name == "verdict" && e.Dir == In && (e.Layer == LayerLink || e.Layer == LayerIP):
		c.verdict(e)
	}
	return extra
}

// payload reads the stream offset of a TCP packet's first payload byte
// (rel_seq minus one, as the SYN takes sequence number 0) and how many
// payload bytes it has, from a packet event or a verdict on one.
func payload(e *Event) (first uint32, n int64, ok bool) {
	relSeq, ok := e.Field("rel_seq").(uint32)
	if !ok {
		return 0, 0, false
	}
	n, _ = intValue(e.Field("payload_len"))
	if n <= 0 {
		return 0, 0, false
	}
	first = relSeq - 1
	if flags, _ := e.Field("flags").(string); strings.Contains(flags, "S") {
		first = relSeq
	}
	return first, n, true
}

func (c *correlator) packet(e *Event, extra []Event) []Event {
	first, n, ok := payload(e)
	if !ok {
		return extra
	}
	f := c.flow(corrKey{e.Node, e.Dir, e.Conn}, e.ID)
	start := f.unwrap(first)
	x := unit{id: e.ID, start: start, end: start + n, conn: e.Conn}
	if e.Dir == In {
		// The receiving TCP keeps the first copy of each byte and throws
		// later ones away: a retransmission of bytes that arrived, or a
		// copy a rule duplicated, is credited only with what is new in it.
		// (A sender's copies all carried the bytes out: on Out every
		// packet is credited, and the view marks the retransmissions.)
		f.got, x.stale = f.got.add(x.start, x.end, nil)
		if len(f.got) > corrSpans {
			f.got = slices.Delete(f.got, 1, 2)
		}
	}
	x.joins, extra = join(&x, f, &f.frames, max(f.pktEnd, x.end), e, extra, LayerWS)
	f.pktEnd = max(f.pktEnd, x.end)
	f.packets.add(x)
	if len(x.joins) > 0 {
		e.Fields = append(e.Fields[:len(e.Fields):len(e.Fields)], Field{Key: "frames", Value: x.joins[:len(x.joins):len(x.joins)]})
		e.Summary += " [" + IDList("frame", x.joins) + "]"
	}
	return extra
}

func (c *correlator) frame(e *Event, extra []Event) []Event {
	if from, _ := e.Field("offset_from").(string); from != "tcp" {
		return extra
	}
	off, ok1 := intValue(e.Field("offset"))
	hlen, ok2 := intValue(e.Field("header_len"))
	plen, ok3 := intValue(e.Field("len"))
	if !ok1 || !ok2 || !ok3 {
		return extra
	}
	conn := e.Conn
	if e.Dir == In {
		// A ws event names the connection local->remote; the bytes of an
		// ingress frame travel remote->local.
		if l, r, ok := strings.Cut(conn, "->"); ok {
			conn = r + "->" + l
		}
	}
	f := c.flow(corrKey{e.Node, e.Dir, conn}, e.ID)
	start := f.unwrap(uint32(off))
	x := unit{id: e.ID, start: start, end: start + hlen + plen, conn: e.Conn,
		desc: e.Summary + " at offset " + strconv.FormatInt(off, 10)}
	x.joins, extra = join(&x, f, &f.packets, max(f.frameEnd, x.end), e, extra, LayerLink)
	f.frameEnd = max(f.frameEnd, x.end)
	f.frames.add(x)
	if len(x.joins) > 0 {
		e.Fields = append(e.Fields[:len(e.Fields):len(e.Fields)], Field{Key: "packets", Value: x.joins[:len(x.joins):len(x.joins)]})
		e.Summary += " [" + IDList("packet", x.joins) + "]"
	}
	return extra
}

// verdict takes back the credit of a packet received that a hook dropped
// after the link saw it: TCP never had it, so the next copy of its bytes
// brings them. The verdict follows its packet's event; a copy that came
// after the dropped one, had it come, would be the newest with its bytes.
func (c *correlator) verdict(e *Event) {
	if a, _ := e.Field("action").(string); a != "drop" {
		return
	}
	first, n, ok := payload(e)
	if !ok {
		return
	}
	f := c.flows[corrKey{e.Node, In, e.Conn}]
	if f == nil || !f.seen {
		return
	}
	start := f.unwrap(first)
	r := &f.packets
	for i := len(r.u) - 1; i >= 0; i-- {
		y := &r.u[(r.head+i)%len(r.u)]
		if y.start != start || y.end != start+n || y.dropped {
			continue
		}
		// Forget the bytes it brought; those stale in it came in others.
		at := y.start
		for _, s := range y.stale {
			f.got = f.got.remove(at, s.start)
			at = s.end
		}
		f.got = f.got.remove(at, y.end)
		for _, id := range y.joins {
			for k := range f.frames.u {
				if fr := &f.frames.u[k]; fr.id == id {
					// A copy: events already given out share the array.
					fr.joins = slices.DeleteFunc(slices.Clone(fr.joins), func(p uint64) bool { return p == y.id })
				}
			}
		}
		y.joins, y.stale, y.dropped = nil, []span{{y.start, y.end}}, true
		return
	}
}

// join finds the units of the other kind in r that x shares credited
// bytes with, records the join on both, and appends a carried event for
// each of them that is complete now: its last credited byte is within
// coveredTo, the highest end of x's kind including x. layer is the other
// kind's layer.
func join(x *unit, f *corrFlow, r *ring, coveredTo int64, e *Event, extra []Event, layer Layer) ([]uint64, []Event) {
	var joins []uint64
	var buf [8]int
	// Oldest first, so the lists come out in ID order.
	for _, j := range r.overlapping(x.start, x.end, buf[:0]) {
		y := &r.u[j]
		// Of a packet and a frame, only the packet may have stale bytes.
		if !x.credits(y.start, y.end) || !y.credits(x.start, x.end) {
			continue
		}
		if len(joins) < corrJoins {
			joins = append(joins, y.id)
		}
		if len(y.joins) < corrJoins {
			y.joins = append(y.joins, x.id)
		}
		if y.last() <= coveredTo {
			extra = append(extra, carried(y, x, f, e, layer))
		}
	}
	return joins, extra
}

// carried is the event that completes y's joins; x is the unit that was
// just seen, f their flow.
func carried(y, x *unit, f *corrFlow, e *Event, layer Layer) Event {
	ids := append([]uint64(nil), y.joins...)
	ev := Event{Node: e.Node, Layer: layer, Dir: e.Dir, Name: "carried", Conn: y.conn}
	if layer == LayerLink {
		var b strings.Builder
		b.WriteString("packet #" + strconv.FormatUint(y.id, 10) + " carried ")
		for i, id := range ids {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("ws frame #" + strconv.FormatUint(id, 10))
			if d := frameDesc(id, x, f); d != "" {
				b.WriteString(" (" + d + ")")
			}
		}
		ev.Summary = b.String()
		ev.Fields = (&LinkCarried{Packet: y.id, Frames: ids}).Fields()
	} else {
		verb := " arrived in "
		if e.Dir == Out {
			verb = " left in "
		}
		ev.Summary = "ws frame #" + strconv.FormatUint(y.id, 10) + " (" + y.desc + ")" + verb + IDList("packet", ids)
		ev.Fields = (&WSCarried{Frame: y.id, Packets: ids}).Fields()
	}
	return ev
}

// frameDesc finds the description of frame id: x itself or one f keeps.
func frameDesc(id uint64, x *unit, f *corrFlow) string {
	if x.id == id {
		return x.desc
	}
	for i := range f.frames.u {
		if f.frames.u[i].id == id {
			return f.frames.u[i].desc
		}
	}
	return ""
}

// IDList writes IDs as summaries name them: "frame #3" or "packets #4 #5".
func IDList(what string, ids []uint64) string {
	var b strings.Builder
	b.WriteString(what)
	if len(ids) > 1 {
		b.WriteByte('s')
	}
	for _, id := range ids {
		b.WriteString(" #")
		b.WriteString(strconv.FormatUint(id, 10))
	}
	return b.String()
}

// intValue reads an integer field of any integer type.
func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint:
		return int64(x), true
	}
	return 0, false
}
