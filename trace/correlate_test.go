package trace

import (
	"slices"
	"strconv"
	"testing"
)

// pkt is a link packet event carrying n payload bytes at stream offset off.
func pkt(node string, dir Dir, conn string, off, n int) Event {
	return Event{Node: node, Layer: LayerLink, Dir: dir, Name: "packet", Conn: conn, Summary: "IP ...",
		Fields: []Field{{"flags", "P."}, {"rel_seq", uint32(off + 1)}, {"payload_len", n}}}
}

// frm is a ws frame event: header of hlen bytes and n payload bytes at
// TCP stream offset off. conn is local->remote, as ws names it.
func frm(node string, dir Dir, conn string, off, hlen, n int) Event {
	return Event{Node: node, Layer: LayerWS, Dir: dir, Name: "frame", Conn: conn, Summary: "FIN text len=" + strconv.Itoa(n),
		Fields: []Field{{"opcode", "text"}, {"len", int64(n)}, {"header_len", hlen}, {"offset", int64(off)}, {"offset_from", "tcp"}}}
}

func ids(v any) []uint64 {
	x, _ := v.([]uint64)
	return x
}

// collect runs events through a correlating tracer and returns what the
// sinks saw.
func collect(t *testing.T, events ...Event) []Event {
	t.Helper()
	ring := NewRing(1024)
	tr := New(ring)
	tr.Correlate()
	for _, e := range events {
		tr.Emit(e)
	}
	return ring.Events()
}

func find(events []Event, name string) []Event {
	var out []Event
	for _, e := range events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func TestCorrelateIngress(t *testing.T) {
	t.Parallel()
	const c2s, s2c = "10.0.0.1:5000->10.0.0.2:80", "10.0.0.2:80->10.0.0.1:5000"
	// Packet 1 carries bytes [100,200): the tail of frame A [50,150) is not
	// in it (A's head came earlier, unseen) but frame B [150,230) starts in
	// it; packet 2 [200,300) has the rest of B and all of C [230,300).
	ev := collect(t,
		pkt("server", In, c2s, 100, 100),            // #1
		pkt("server", In, c2s, 200, 100),            // #2
		frm("server", In, s2c, 150, 6, 74),          // #3: B, in #1 and #2
		frm("server", In, s2c, 230, 6, 64),          // #4: C, in #2
		pkt("client", Out, c2s, 100, 100),           // #5: another node: no join
		frm("server", In, "other->conn", 150, 2, 1), // #6: another connection
	)
	frames := find(ev, "frame")
	if got := ids(frames[0].Field("packets")); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("frame B packets %v, want [1 2]", got)
	}
	if got := ids(frames[1].Field("packets")); !slices.Equal(got, []uint64{2}) {
		t.Errorf("frame C packets %v, want [2]", got)
	}
	if frames[2].Field("packets") != nil {
		t.Errorf("frame of another connection joined %v", frames[2].Field("packets"))
	}
	// Packet 1 ends at 200, inside B: complete once B is seen. Packet 2
	// ends at 300, complete once C is seen, and lists both.
	carried := find(ev, "carried")
	if len(carried) != 2 {
		t.Fatalf("carried events %+v, want 2", carried)
	}
	if carried[0].Field("packet") != uint64(1) || !slices.Equal(ids(carried[0].Field("frames")), []uint64{3}) ||
		carried[0].Layer != LayerLink || carried[0].Conn != c2s || carried[0].Dir != In {
		t.Errorf("first carried %+v", carried[0])
	}
	if carried[1].Field("packet") != uint64(2) || !slices.Equal(ids(carried[1].Field("frames")), []uint64{3, 5}) {
		t.Errorf("second carried %+v", carried[1])
	}
	if carried[0].ID != 4 || carried[1].ID != 6 {
		t.Errorf("carried ids %d %d, want 4 and 6 (right after the frames)", carried[0].ID, carried[1].ID)
	}
	if p := find(ev, "packet"); p[2].Field("frames") != nil {
		t.Errorf("the client's packet joined the server's frames: %+v", p[2])
	}
}

func TestCorrelateEgressAndRetransmission(t *testing.T) {
	t.Parallel()
	const c2s = "10.0.0.1:5000->10.0.0.2:80"
	ev := collect(t,
		frm("client", Out, c2s, 151, 6, 3000), // #1: [151,3157)
		pkt("client", Out, c2s, 151, 1420),    // #2
		pkt("client", Out, c2s, 1571, 1420),   // #3
		pkt("client", Out, c2s, 2991, 166),    // #4 completes the frame: carried #5
		pkt("client", Out, c2s, 1571, 1420),   // #6: a retransmission: carried #7
	)
	p := find(ev, "packet")
	for i, e := range p {
		if got := ids(e.Field("frames")); !slices.Equal(got, []uint64{1}) {
			t.Errorf("packet %d frames %v, want [1]", i, got)
		}
	}
	c := find(ev, "carried")
	if len(c) != 2 {
		t.Fatalf("carried %+v, want 2", c)
	}
	if c[0].Layer != LayerWS || c[0].Field("frame") != uint64(1) || !slices.Equal(ids(c[0].Field("packets")), []uint64{2, 3, 4}) {
		t.Errorf("carried %+v", c[0])
	}
	if !slices.Equal(ids(c[1].Field("packets")), []uint64{2, 3, 4, 6}) {
		t.Errorf("after the retransmission, carried %+v", c[1])
	}
}

func TestCorrelateSkipsUnknownOffsetsAndEmptyPackets(t *testing.T) {
	t.Parallel()
	const c2s = "a:1->b:2"
	f := frm("server", Out, c2s, 0, 2, 10)
	f.Fields[4] = Field{"offset_from", "handshake"}
	ev := collect(t,
		f,
		pkt("server", Out, c2s, 0, 12),
		pkt("server", Out, c2s, 12, 0),
	)
	for _, e := range ev {
		if e.Field("frames") != nil || e.Field("packets") != nil || e.Name == "carried" {
			t.Errorf("joined without stream offsets: %+v", e)
		}
	}
}

func TestCorrelateWraps32Bits(t *testing.T) {
	t.Parallel()
	const c2s = "a:1->b:2"
	// The stream passed 4 GiB: relative sequence numbers wrap, while ws
	// offsets are 64-bit.
	base := int64(1)<<32 - 10
	e := pkt("server", In, c2s, 0, 30)
	e.Fields[1] = Field{"rel_seq", uint32(base + 1)}
	f := frm("server", In, "b:2->a:1", 0, 2, 28)
	f.Fields[3] = Field{"offset", base}
	ev := collect(t, pkt("server", In, c2s, int(uint32(base-100)), 100), e, f)
	if got := ids(find(ev, "frame")[0].Field("packets")); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("frame across the wrap joined %v, want [2]", got)
	}
}

func TestCorrelateMemoryIsBounded(t *testing.T) {
	t.Parallel()
	tr := New()
	tr.Correlate()
	for i := range 3 * corrFlows {
		conn := "10.0.0.1:" + strconv.Itoa(i) + "->10.0.0.2:80"
		tr.Emit(pkt("server", In, conn, 0, 10))
	}
	for i := range 4 * corrUnits {
		tr.Emit(pkt("server", In, "x:1->y:2", i*10, 10))
		tr.Emit(frm("server", In, "y:2->x:1", i*10, 2, 8))
	}
	if n := len(tr.corr.flows); n > corrFlows {
		t.Errorf("%d flows kept, bound %d", n, corrFlows)
	}
	f := tr.corr.flows[corrKey{"server", In, "x:1->y:2"}]
	if f == nil || len(f.packets.u) != corrUnits || len(f.frames.u) != corrUnits {
		t.Fatalf("flow rings not at their bound: %+v", f)
	}
}

// verdict is a hook's drop verdict on a packet received: n payload bytes
// at stream offset off.
func verdict(node, conn string, off, n int) Event {
	return Event{Node: node, Layer: LayerLink, Dir: In, Name: "verdict", Conn: conn, Summary: "link-ingress: drop",
		Fields: []Field{{"hook", "link-ingress"}, {"action", "drop"}, {"flags", "P."}, {"rel_seq", uint32(off + 1)}, {"payload_len", n}}}
}

// namedAnywhere reports the event IDs that a frames or packets list, of
// an event or a carried event, names.
func namedAnywhere(events []Event) map[uint64]bool {
	named := map[uint64]bool{}
	for _, e := range events {
		for _, k := range []string{"frames", "packets"} {
			for _, id := range ids(e.Field(k)) {
				named[id] = true
			}
		}
	}
	return named
}

func TestCorrelateIngressDuplicates(t *testing.T) {
	t.Parallel()
	const c2s, s2c = "10.0.0.1:5000->10.0.0.2:80", "10.0.0.2:80->10.0.0.1:5000"
	// TCP keeps the first copy of each byte that reaches it and throws the
	// later ones away: only the packet that brought a byte first is
	// credited with the frames of that byte.
	ev := collect(t,
		pkt("server", In, c2s, 0, 100),      // #1
		pkt("server", In, c2s, 0, 100),      // #2: a duplicate of #1
		pkt("server", In, c2s, 200, 100),    // #3: ahead of a hole [100,200)
		pkt("server", In, c2s, 50, 200),     // #4: brings [100,200), the rest it repeats
		pkt("server", In, c2s, 300, 100),    // #5
		pkt("server", In, c2s, 250, 150),    // #6: all already here
		frm("server", In, s2c, 0, 2, 98),    // #7: A [0,100), in #1; #8 carried #1
		frm("server", In, s2c, 100, 2, 98),  // #9: B [100,200), in #4; #10 carried #4
		frm("server", In, s2c, 200, 2, 48),  // #11: C [200,250), in #3 (and repeated by #4)
		frm("server", In, s2c, 250, 2, 148), // #12: D [250,400), in #3 and #5; #13, #14 carried #3, #5
	)
	want := map[uint64][]uint64{7: {1}, 9: {4}, 11: {3}, 12: {3, 5}}
	for _, f := range find(ev, "frame") {
		if got := ids(f.Field("packets")); !slices.Equal(got, want[f.ID]) {
			t.Errorf("frame #%d packets %v, want %v", f.ID, got, want[f.ID])
		}
	}
	carried := find(ev, "carried")
	wantCarried := []struct {
		id, packet uint64
		frames     []uint64
	}{{8, 1, []uint64{7}}, {10, 4, []uint64{9}}, {13, 3, []uint64{11, 12}}, {14, 5, []uint64{12}}}
	if len(carried) != len(wantCarried) {
		t.Fatalf("carried events %+v, want %d", carried, len(wantCarried))
	}
	for i, w := range wantCarried {
		c := carried[i]
		if c.ID != w.id || c.Field("packet") != w.packet || !slices.Equal(ids(c.Field("frames")), w.frames) {
			t.Errorf("carried %+v, want #%d: packet #%d frames %v", c, w.id, w.packet, w.frames)
		}
	}
	named := namedAnywhere(ev)
	for _, dup := range []uint64{2, 6} {
		if named[dup] {
			t.Errorf("packet #%d, whose bytes had all arrived before, is named as a frame's packet", dup)
		}
	}
	for _, p := range find(ev, "packet") {
		if p.Field("frames") != nil && (p.ID == 2 || p.ID == 6) {
			t.Errorf("duplicate packet %+v names frames", p)
		}
	}
}

func TestCorrelateIngressDuplicateBeforeItsFrame(t *testing.T) {
	t.Parallel()
	const c2s, s2c = "a:1->b:2", "b:2->a:1"
	// A big frame's header is parsed before the rest of its bytes arrive:
	// the packets that bring them name it at once, a repeated copy does
	// not, and the frame's carried event lists the first copies only.
	ev := collect(t,
		pkt("server", In, c2s, 0, 100),    // #1
		frm("server", In, s2c, 0, 4, 296), // #2: [0,300), in #1 so far; #3 carried #1
		pkt("server", In, c2s, 0, 100),    // #4: a copy of #1
		pkt("server", In, c2s, 100, 200),  // #5: the rest; #6 carried #2
		pkt("server", In, c2s, 100, 200),  // #7: a copy of #5
	)
	p := find(ev, "packet")
	if p[0].Field("frames") != nil || p[1].Field("frames") != nil || !slices.Equal(ids(p[2].Field("frames")), []uint64{2}) || p[3].Field("frames") != nil {
		t.Errorf("packets' frames %v %v %v %v, want none, none, [2], none",
			p[0].Field("frames"), p[1].Field("frames"), p[2].Field("frames"), p[3].Field("frames"))
	}
	c := find(ev, "carried")
	var last Event
	for _, e := range c {
		if e.Layer == LayerWS {
			last = e
		}
	}
	if !slices.Equal(ids(last.Field("packets")), []uint64{1, 5}) {
		t.Errorf("the frame's last carried event %+v, want packets [1 5]", last)
	}
	if named := namedAnywhere(ev); named[4] || named[7] {
		t.Errorf("a duplicate copy is named: %v", named)
	}
}

func TestCorrelateIngressDropped(t *testing.T) {
	t.Parallel()
	const c2s, s2c = "a:1->b:2", "b:2->a:1"
	// A packet that a hook dropped after the link saw it never reached
	// TCP: the copy that came after it brought the bytes.
	ev := collect(t,
		pkt("server", In, c2s, 0, 100),     // #1
		verdict("server", c2s, 0, 100),     // #2: #1 dropped
		pkt("server", In, c2s, 0, 100),     // #3: brings [0,100)
		pkt("server", In, c2s, 100, 100),   // #4
		pkt("server", In, c2s, 100, 100),   // #5: a copy of #4...
		verdict("server", c2s, 100, 100),   // #6: ...dropped: #4 stays
		frm("server", In, s2c, 200, 4, 96), // #7: E [200,300) before its bytes
		pkt("server", In, c2s, 200, 100),   // #8: joins E; #9 carried E [8]
		verdict("server", c2s, 200, 100),   // #10: #8 dropped
		pkt("server", In, c2s, 200, 100),   // #11: joins E; #12 carried E [11]
		frm("server", In, s2c, 0, 2, 98),   // #13: [0,100), in #3; #14 carried #3
		frm("server", In, s2c, 100, 2, 98), // #15: [100,200), in #4; #16 carried #4
	)
	f := find(ev, "frame")
	if len(f) != 3 || f[1].ID != 13 || f[2].ID != 15 {
		t.Fatalf("frames %+v, want #7, #13 and #15", f)
	}
	if got := ids(f[1].Field("packets")); !slices.Equal(got, []uint64{3}) {
		t.Errorf("frame #13 packets %v, want [3]", got)
	}
	if got := ids(f[2].Field("packets")); !slices.Equal(got, []uint64{4}) {
		t.Errorf("frame #15 packets %v, want [4]", got)
	}
	var last Event
	for _, e := range find(ev, "carried") {
		if e.Layer == LayerWS && e.Field("frame") == uint64(7) {
			last = e
		}
	}
	if got := ids(last.Field("packets")); !slices.Equal(got, []uint64{11}) {
		t.Errorf("frame #7's last carried event names %v, want [11]", got)
	}
	for _, e := range find(ev, "carried") {
		if e.Layer == LayerLink && (e.Field("packet") == uint64(1) || e.Field("packet") == uint64(5) || e.Field("packet") == uint64(8)) {
			t.Errorf("a dropped packet carried frames: %+v", e)
		}
	}
}

// FuzzCorrelateIngress feeds the correlator packets received, hooks'
// drops of them and frames, in any order and overlapping at will, and
// checks its credit against a byte-by-byte account: a packet is credited
// with the bytes that no packet TCP kept had brought before it; a frame
// and a packet are joined exactly when the packet brought some of the
// frame's bytes, unless the packet was dropped before the frame came.
func FuzzCorrelateIngress(f *testing.F) {
	f.Add([]byte{0, 0, 25, 0, 0, 25, 2, 0, 30})                      // a duplicate, then a frame
	f.Add([]byte{0, 50, 25, 0, 0, 25, 0, 10, 50, 2, 0, 200})         // a hole filled by a longer copy
	f.Add([]byte{0, 0, 25, 1, 0, 0, 0, 0, 25, 2, 0, 30})             // dropped, then sent again
	f.Add([]byte{2, 0, 200, 0, 0, 25, 0, 0, 25, 1, 1, 0, 0, 25, 60}) // the frame first
	f.Fuzz(func(t *testing.T, ops []byte) {
		const c2s, s2c = "a:1->b:2", "b:2->a:1"
		if len(ops) > 3*200 {
			return
		}
		type packet struct {
			id         uint64
			start, end int64
			fresh      map[int64]bool
			dropped    bool
		}
		type frame struct {
			id         uint64
			start, end int64
			dropped    map[uint64]bool // packets dropped when it came
		}
		var packets []*packet
		var frames []*frame
		got := map[int64]bool{}
		ring := NewRing(4096)
		tr := New(ring)
		tr.Correlate()
		for ; len(ops) >= 3; ops = ops[3:] {
			kind, a, b := ops[0]%3, int64(ops[1])*4, int64(ops[2])
			switch kind {
			case 0:
				n := b%64 + 1
				p := &packet{start: a, end: a + n, fresh: map[int64]bool{}}
				for x := p.start; x < p.end; x++ {
					if !got[x] {
						got[x], p.fresh[x] = true, true
					}
				}
				p.id = tr.Emit(pkt("server", In, c2s, int(a), int(n)))
				packets = append(packets, p)
			case 1:
				if len(packets) == 0 {
					continue
				}
				q := packets[int(ops[1])%len(packets)]
				for i := len(packets) - 1; i >= 0; i-- {
					if p := packets[i]; p.start == q.start && p.end == q.end && !p.dropped {
						p.dropped = true
						for x := range p.fresh {
							delete(got, x)
						}
						break
					}
				}
				tr.Emit(verdict("server", c2s, int(q.start), int(q.end-q.start)))
			case 2:
				fr := &frame{start: a, end: a + 2 + b, dropped: map[uint64]bool{}}
				for _, p := range packets {
					if p.dropped {
						fr.dropped[p.id] = true
					}
				}
				fr.id = tr.Emit(frm("server", In, s2c, int(a), 2, int(b)))
				frames = append(frames, fr)
			}
		}
		// The joins, from both sides.
		joined := map[[2]uint64]bool{} // {packet, frame}
		for _, e := range ring.Events() {
			for _, id := range ids(e.Field("frames")) {
				p := e.ID
				if e.Name == "carried" {
					p = e.Field("packet").(uint64)
				}
				joined[[2]uint64{p, id}] = true
			}
			for _, id := range ids(e.Field("packets")) {
				fr := e.ID
				if e.Name == "carried" {
					fr = e.Field("frame").(uint64)
				}
				joined[[2]uint64{id, fr}] = true
			}
		}
		for _, p := range packets {
			for _, fr := range frames {
				brought := false
				for x := max(p.start, fr.start); x < min(p.end, fr.end); x++ {
					brought = brought || p.fresh[x]
				}
				want := brought && !fr.dropped[p.id]
				if j := joined[[2]uint64{p.id, fr.id}]; j != want {
					t.Errorf("packet #%d [%d,%d) (brought %d bytes first, dropped %v) and frame #%d [%d,%d): joined %v",
						p.id, p.start, p.end, len(p.fresh), p.dropped, fr.id, fr.start, fr.end, j)
				}
			}
		}
		if fl := tr.corr.flows[corrKey{"server", In, c2s}]; fl != nil {
			n := 0
			for i, s := range fl.got {
				if s.start >= s.end || i > 0 && fl.got[i-1].end >= s.start {
					t.Fatalf("received spans %v out of order", fl.got)
				}
				for x := s.start; x < s.end; x++ {
					if !got[x] {
						t.Fatalf("received spans %v hold byte %d, which no packet kept brought", fl.got, x)
					}
					n++
				}
			}
			if n != len(got) {
				t.Fatalf("received spans %v hold %d bytes, want %d", fl.got, n, len(got))
			}
		}
	})
}

// A verdict on a packet received that is not a drop (a delay, a rewrite)
// leaves the packet credited with its bytes: TCP got them.
func TestCorrelateIngressVerdictNotDrop(t *testing.T) {
	t.Parallel()
	const c2s, s2c = "a:1->b:2", "b:2->a:1"
	delay := verdict("server", c2s, 0, 100)
	delay.Fields[1].Value = "delay"
	ev := collect(t,
		pkt("server", In, c2s, 0, 100),   // #1
		delay,                            // #2: #1 delayed, not dropped
		pkt("server", In, c2s, 0, 100),   // #3: a copy: nothing new
		frm("server", In, s2c, 0, 2, 98), // #4: in #1
	)
	if got := ids(find(ev, "frame")[0].Field("packets")); !slices.Equal(got, []uint64{1}) {
		t.Errorf("frame packets %v, want [1]", got)
	}
}

// A SYN's payload (TCP Fast Open) starts at its own relative sequence
// number, 0: the SYN takes the number before its first byte.
func TestCorrelateSYNPayload(t *testing.T) {
	t.Parallel()
	const c2s, s2c = "a:1->b:2", "b:2->a:1"
	syn := pkt("server", In, c2s, 0, 50)
	syn.Fields[0].Value, syn.Fields[1].Value = "S", uint32(0)
	ev := collect(t,
		syn,                               // #1: [0,50)
		pkt("server", In, c2s, 50, 50),    // #2: [50,100)
		frm("server", In, s2c, 0, 2, 47),  // #3: [0,49), in #1
		frm("server", In, s2c, 49, 2, 49), // #4: [49,100), in #1 and #2
	)
	f := find(ev, "frame")
	if got := ids(f[0].Field("packets")); !slices.Equal(got, []uint64{1}) {
		t.Errorf("first frame packets %v, want [1]", got)
	}
	if got := ids(f[1].Field("packets")); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("second frame packets %v, want [1 2]", got)
	}
}

// Stream offsets wrap at 2^32 (a transfer beyond 4 GiB): a frame that
// spans the wrap joins the packets on both sides of it.
func TestCorrelateOffsetWrap(t *testing.T) {
	t.Parallel()
	const c2s = "a:1->b:2"
	const before = 1<<32 - 100
	ev := collect(t,
		frm("client", Out, c2s, before-1000, 2, 998), // #1: well before the wrap
		frm("client", Out, c2s, before, 2, 198),      // #2: [2^32-100, 2^32+100)
		pkt("client", Out, c2s, before, 100),         // #3
		pkt("client", Out, c2s, 0, 100),              // #4: after the wrap
	)
	p := find(ev, "packet")
	if got := ids(p[1].Field("frames")); !slices.Equal(got, []uint64{2}) {
		t.Errorf("packet after the wrap joined frames %v, want [2]", got)
	}
	c := find(ev, "carried")
	if len(c) != 1 || !slices.Equal(ids(c[0].Field("packets")), []uint64{3, 4}) {
		t.Fatalf("carried %+v, want frame #2 in packets 3 and 4", c)
	}
	if want := "ws frame #2 (FIN text len=198 at offset 4294967196) left in packets #3 #4"; c[0].Summary != want {
		t.Errorf("egress carried summary %q, want %q", c[0].Summary, want)
	}
}

func TestSpansRemove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    spans
		a, b int64
		want spans
	}{
		{spans{{0, 100}}, 40, 60, spans{{0, 40}, {60, 100}}},
		{spans{{0, 100}}, 0, 60, spans{{60, 100}}},
		{spans{{0, 100}}, 40, 100, spans{{0, 40}}},
		{spans{{0, 10}, {20, 30}, {40, 50}}, 5, 45, spans{{0, 5}, {45, 50}}},
		{spans{{0, 10}}, 10, 20, spans{{0, 10}}},
		{spans{{0, 10}}, 5, 5, spans{{0, 10}}},
	} {
		if got := slices.Clone(tc.s).remove(tc.a, tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("%v.remove(%d, %d) = %v, want %v", tc.s, tc.a, tc.b, got, tc.want)
		}
	}
}

// TestSpansAdd: spans stay disjoint and apart (touching ones merge), and
// add reports the part of the new span that was held already.
func TestSpansAdd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s         spans
		a, b      int64
		want      spans
		wantStale []span
	}{
		{nil, 0, 10, spans{{0, 10}}, nil},
		{spans{{0, 10}}, 10, 20, spans{{0, 20}}, nil},
		{spans{{10, 20}}, 0, 10, spans{{0, 20}}, nil},
		{spans{{0, 10}, {20, 30}}, 10, 20, spans{{0, 30}}, nil},
		{spans{{0, 10}, {20, 30}}, 12, 18, spans{{0, 10}, {12, 18}, {20, 30}}, nil},
		{spans{{0, 10}, {20, 30}}, 5, 25, spans{{0, 30}}, []span{{5, 10}, {20, 25}}},
		{spans{{0, 30}}, 5, 25, spans{{0, 30}}, []span{{5, 25}}},
	} {
		got, stale := slices.Clone(tc.s).add(tc.a, tc.b, nil)
		if !slices.Equal(got, tc.want) || !slices.Equal(stale, tc.wantStale) {
			t.Errorf("%v.add(%d, %d) = %v, stale %v; want %v, stale %v", tc.s, tc.a, tc.b, got, stale, tc.want, tc.wantStale)
		}
	}
}

// The correlator's memory is bounded: past corrFlows connection
// directions it forgets the least recently used eighth, not all, and a
// flow keeps at most corrSpans spans of received bytes.
func TestCorrelatorBounds(t *testing.T) {
	t.Parallel()
	c := newCorrelator()
	id := uint64(0)
	emit := func(e Event) {
		id++
		e.ID = id
		c.observe(&e, nil)
	}
	for i := range corrFlows + 1 {
		emit(pkt("n", In, "a:"+strconv.Itoa(i)+"->b:2", 0, 10))
	}
	if n := len(c.flows); n != corrFlows+1-corrFlows/8 {
		t.Errorf("%d flows after %d, want %d", n, corrFlows+1, corrFlows+1-corrFlows/8)
	}
	if c.flows[corrKey{"n", In, "a:" + strconv.Itoa(corrFlows) + "->b:2"}] == nil || c.flows[corrKey{"n", In, "a:0->b:2"}] != nil {
		t.Error("eviction kept the oldest flow or dropped the newest")
	}
	for i := range 2 * corrSpans {
		emit(pkt("n", In, "x:1->y:2", 20*i, 10)) // disjoint: one span each
	}
	if f := c.flows[corrKey{"n", In, "x:1->y:2"}]; len(f.got) > corrSpans {
		t.Errorf("%d spans kept, want at most %d", len(f.got), corrSpans)
	}
}
