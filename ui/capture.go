package ui

import (
	"bytes"
	"cmp"
	"container/heap"
	"encoding/binary"
	"slices"
	"sort"
	"strings"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// Bounds on what captureFrames reassembles and decodes.
const (
	captureStreamMax = 64 << 20 // bytes of one TCP stream
	captureHeaderMax = 64 << 10 // bytes searched for the end of an HTTP header
)

// tcpPayload returns the TCP payload of an IP packet, or false when the
// packet is not TCP or was captured short of its payload. Bytes after the
// IP packet's length (an Ethernet frame's padding) are not payload.
func tcpPayload(b []byte) ([]byte, bool) {
	h := hook.ParseHeaders(b)
	if h.Proto != hook.ProtoTCP || h.L4 == 0 || h.L4+20 > len(b) {
		return nil, false
	}
	start := h.L4 + int(b[h.L4+12]>>4)*4
	want := ipLen(b, h) - start
	if want < 0 || start+want > len(b) {
		return nil, false
	}
	return b[start : start+want], true
}

// ipLen is the length an IP header gives its packet.
func ipLen(b []byte, h hook.Headers) int {
	if h.Version == 4 {
		return int(binary.BigEndian.Uint16(b[2:4]))
	}
	return 40 + int(binary.BigEndian.Uint16(b[4:6]))
}

// A capStream is one direction of a TCP connection as one node saw it:
// the packets that carried its bytes, and the bytes from the first on,
// as far as they are contiguous.
type capStream struct {
	node, conn string // conn is src->dst as on the packets
	dir        trace.Dir
	buf        []byte
	segs       []capSeg  // the packets with payload, in capture order (see add)
	byStart    []int     // segs' indexes by stream offset (carrying)
	longest    int64     // the longest of segs
	upto       []capUpto // how far buf reached after which packet
	pending    capPieces // payloads after a gap, waiting for it to fill
	got        []capSpan // received (dir In): the bytes some packet brought, sorted
	frames     []capFrame
	// base is the sequence number of the stream's first byte: its SYN's
	// plus one, or, when the capture has no SYN for it, that of the
	// first byte captured; isn is the SYN's (syn false without one).
	base, isn uint32
	syn       bool
	// peer is the other direction of the same connection, when the
	// capture has it.
	peer *capStream
}

type capSeg struct {
	start, end int64
	ev         int // index of the packet event
}

type capUpto struct {
	end int64
	ev  int
}

type capFrame struct {
	hdr   ws.Header
	off   int64 // stream offset of the header's first byte
	hlen  int
	wsOff int64
	segs  []int // indexes into the stream's segs
	// Event indexes: of its first packet, of the packet that completed
	// its header, and of the one that completed it.
	first, head, end int
}

// capSpan is a range of stream offsets, [start, end).
type capSpan struct{ start, end int64 }

// add places a packet's payload at its stream offset. A node that sent
// it carried the bytes out in every copy (a retransmission, a copy a rule
// duplicated): each is one of the segments. One that received it kept, as
// its TCP does, the first copy of each byte: a packet is a segment for
// the bytes that no packet before it brought, and one whose bytes had all
// come is none, as the live trace credits them (trace.Tracer.Correlate).
func (s *capStream) add(ev int, off int64, p []byte) {
	if len(p) == 0 {
		return
	}
	end := off + int64(len(p))
	if s.dir == trace.In {
		for _, r := range s.receive(off, end) {
			s.segs = append(s.segs, capSeg{r.start, r.end, ev})
		}
	} else {
		s.segs = append(s.segs, capSeg{off, end, ev})
	}
	n := int64(len(s.buf))
	if off+int64(len(p)) <= n || n >= captureStreamMax {
		return // nothing new, or no more room
	}
	if off > n {
		// After a gap: it waits for the bytes before it.
		heap.Push(&s.pending, capPiece{off, p})
		return
	}
	s.buf = append(s.buf, p[n-off:]...)
	// The pieces that waited for these bytes follow them, in order of
	// their first byte; those wholly behind are dropped.
	for len(s.pending) > 0 && s.pending[0].off <= int64(len(s.buf)) && len(s.buf) < captureStreamMax {
		q := heap.Pop(&s.pending).(capPiece)
		if n := int64(len(s.buf)); q.off+int64(len(q.b)) > n {
			s.buf = append(s.buf, q.b[n-q.off:]...)
		}
	}
	s.upto = append(s.upto, capUpto{int64(len(s.buf)), ev})
}

// receive adds [start, end) to the bytes received and returns the parts
// of it that are new.
func (s *capStream) receive(start, end int64) []capSpan {
	var fresh []capSpan
	at := start
	i := sort.Search(len(s.got), func(i int) bool { return s.got[i].end >= start })
	j := i
	for ; j < len(s.got) && s.got[j].start <= end; j++ {
		if s.got[j].start > at {
			fresh = append(fresh, capSpan{at, s.got[j].start})
		}
		at = max(at, s.got[j].end)
	}
	if at < end {
		fresh = append(fresh, capSpan{at, end})
	}
	// The spans from i to j touch [start, end): they become one.
	merged := capSpan{start, end}
	if j > i {
		merged = capSpan{min(start, s.got[i].start), max(end, s.got[j-1].end)}
	}
	s.got = slices.Replace(s.got, i, j, merged)
	return fresh
}

// capPiece is a packet's payload that came after a gap in its stream.
type capPiece struct {
	off int64
	b   []byte
}

// capPieces is a min-heap of pieces by stream offset (container/heap).
type capPieces []capPiece

func (h capPieces) Len() int           { return len(h) }
func (h capPieces) Less(i, j int) bool { return h[i].off < h[j].off }
func (h capPieces) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *capPieces) Push(x any)        { *h = append(*h, x.(capPiece)) }
func (h *capPieces) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// carrying returns the segments that carried bytes of [from, to), in
// capture order, one for each packet.
func (s *capStream) carrying(from, to int64) []int {
	if s.byStart == nil {
		s.byStart = make([]int, len(s.segs))
		for i := range s.byStart {
			s.byStart[i] = i
			s.longest = max(s.longest, s.segs[i].end-s.segs[i].start)
		}
		slices.SortStableFunc(s.byStart, func(a, b int) int { return cmp.Compare(s.segs[a].start, s.segs[b].start) })
	}
	// Those that start before to, and not so long before from that
	// they must end before it.
	j := sort.Search(len(s.byStart), func(i int) bool { return s.segs[s.byStart[i]].start >= to })
	var out []int
	for i := j - 1; i >= 0 && s.segs[s.byStart[i]].start+s.longest > from; i-- {
		if s.segs[s.byStart[i]].end > from {
			out = append(out, s.byStart[i])
		}
	}
	slices.Sort(out)
	// A packet with new bytes on both sides of old ones is two
	// segments; in capture order they are next to each other.
	return slices.CompactFunc(out, func(a, b int) bool { return s.segs[a].ev == s.segs[b].ev })
}

// completedBy returns the event index of the packet after which the
// stream held every byte before end.
func (s *capStream) completedBy(end int64) int {
	i := sort.Search(len(s.upto), func(i int) bool { return s.upto[i].end >= end })
	return s.upto[i].ev
}

// upgrade returns the length of the HTTP head at the start of the stream
// when it starts with prefix and asks for (or agrees to) WebSocket, with
// "Upgrade: websocket"; else 0.
func (s *capStream) upgrade(prefix string) int {
	if !bytes.HasPrefix(s.buf, []byte(prefix)) {
		return 0
	}
	i := bytes.Index(s.buf[:min(len(s.buf), captureHeaderMax)], []byte("\r\n\r\n"))
	if i < 0 {
		return 0
	}
	for _, line := range bytes.Split(s.buf[:i], []byte("\r\n"))[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("upgrade")) && bytes.EqualFold(bytes.TrimSpace(value), []byte("websocket")) {
			return i + 4
		}
	}
	return 0
}

// decode reads the frames that follow the HTTP head, as far as the
// stream's bytes go and its frames keep RFC 6455's rules: masked from a
// client and only from a client, a known opcode, a control frame whole
// and at most 125 bytes, a continuation only inside a fragmented message
// and no new message before it ends, RSV1 (permessage-deflate) on the
// first frame of a message alone and RSV2 and RSV3 never. The first frame
// that breaks one, which no endpoint would read, ends the decoding.
func (s *capStream) decode(head int, fromClient bool, budget *int) {
	off := int64(head)
	inMessage := false
	for *budget > 0 {
		rest := s.buf[off:]
		if len(rest) < ws.MinHeaderSize {
			return
		}
		raw := ws.RawHeader(rest)
		hlen := raw.Size()
		if len(rest) < hlen {
			return
		}
		length := raw.PayloadLength()
		if length > captureStreamMax || raw.Masked() != fromClient {
			return
		}
		hdr := ws.Header{Fin: raw.Fin(), Rsv: raw.Rsv(), Opcode: raw.Opcode(), Masked: raw.Masked(), Length: int64(length), Mask: raw.MaskingKey()}
		control := hdr.Opcode.IsControl()
		switch {
		case !hdr.Opcode.Known(), hdr.Rsv&^ws.Rsv1 != 0,
			control && (!hdr.Fin || hdr.Length > ws.MaxControlPayload || hdr.Rsv != 0),
			hdr.Opcode == ws.OpContinuation && (!inMessage || hdr.Rsv != 0),
			!control && hdr.Opcode != ws.OpContinuation && inMessage:
			return
		}
		if !control {
			inMessage = !hdr.Fin
		}
		end := off + int64(hlen) + hdr.Length
		if end > int64(len(s.buf)) {
			return
		}
		f := capFrame{hdr: hdr, off: off, hlen: hlen, wsOff: off - int64(head), head: s.completedBy(off + int64(hlen)), end: s.completedBy(end)}
		f.segs = s.carrying(off, end)
		f.first = s.segs[f.segs[0]].ev
		s.frames = append(s.frames, f)
		*budget--
		off = end
	}
}

// reverse returns "b->a" for "a->b".
func reverse(conn string) string {
	a, b, _ := strings.Cut(conn, "->")
	return b + "->" + a
}

// captureFrames adds at most maxFrames ws "frame" events to a capture's
// link "packet" events (trace.ReadPCAP, trace.ReadPCAPNG): it puts each
// node's TCP streams back together by their sequence numbers (a SYN with
// a sequence number not seen before starts a new connection on the same
// ports; a stream whose SYN the capture missed counts from its first
// packet), finds the connections whose server answered an HTTP upgrade to
// WebSocket with 101, and reads the frames that follow on both sides, as
// the live trace records them (opcode, lengths, stream offsets, the
// packets that carried each). A frame a node sent is
// placed before its first packet; one it received, after the packet that
// completed it. A capture glassnet wrote names its frames' IDs in the
// packets' comments ("frames"), and the frames keep them; a capture whose
// packets are simply numbered is numbered again, packets and frames in
// order, and each packet keeps its number in the capture as "pcap_number".
func captureFrames(evs []trace.Event, maxFrames int) []trace.Event {
	streams := map[string]*capStream{}
	var order []*capStream
	for i := range evs {
		e := &evs[i]
		if e.Layer != trace.LayerLink || e.Name != "packet" || e.Conn == "" {
			continue
		}
		seq, ok := e.Field("seq").(uint32)
		flags, _ := e.Field("flags").(string)
		if !ok {
			continue
		}
		k := e.Node + "|" + e.Conn
		s := streams[k]
		syn := strings.Contains(flags, "S")
		if syn && (s == nil || !s.syn || s.isn != seq) || s == nil {
			// A new connection on these ports (a SYN not seen before),
			// or one the capture caught after its SYN.
			s = &capStream{node: e.Node, conn: e.Conn, dir: e.Dir, base: seq, isn: seq, syn: syn}
			if syn {
				s.base = seq + 1
			}
			r := streams[e.Node+"|"+reverse(e.Conn)]
			switch {
			case syn && strings.Contains(flags, "."):
				// The answer to the other direction's SYN.
				s.peer = r
				if r != nil {
					r.peer = s
				}
			case !syn && r != nil && r.peer == nil:
				s.peer, r.peer = r, s
			}
			streams[k] = s
			order = append(order, s)
		}
		p, ok := tcpPayload(e.Data)
		if !ok || len(p) == 0 || e.Dir == trace.In && droppedIn(e) {
			continue
		}
		at := seq - s.base // the payload's stream offset
		if syn {
			at++ // data on a SYN (TCP Fast Open) comes after it
		}
		if at < 1<<31 {
			s.add(i, int64(at), p)
		}
	}
	budget := maxFrames
	found := false
	for _, s := range order {
		head := s.upgrade("HTTP/1.1 101 ")
		fromClient := false
		if head == 0 {
			// A client's stream: the request must have been answered
			// with 101, or the answer must be missing from the capture.
			head = s.upgrade("GET ")
			if head == 0 || s.peer != nil && s.peer.upgrade("HTTP/1.1 101 ") == 0 {
				continue
			}
			fromClient = true
		}
		s.decode(head, fromClient, &budget)
		found = found || len(s.frames) > 0
	}
	for _, s := range order {
		// Decoded: what is left to do needs the frames and the
		// segments, not the bytes.
		s.buf, s.pending, s.upto, s.byStart, s.got = nil, nil, nil, nil, nil
	}
	if !found {
		return evs
	}
	renumber := true
	for i := range evs {
		if evs[i].ID != uint64(i+1) {
			renumber = false
			break
		}
	}
	return placeFrames(evs, order, renumber)
}

// droppedIn says whether a packet received was dropped by a link hook, as
// the comment of a pcapng glassnet wrote says ("notes"): its TCP never had
// it, so it brought no bytes, and the next copy of them does (as the live
// trace credits them, trace.Tracer.Correlate).
func droppedIn(e *trace.Event) bool {
	notes, _ := e.Field("notes").(string)
	return strings.Contains(notes, "dropped at link-ingress")
}

// A placed frame: where it goes, before (-1) or after (+1) the event at
// index at, and its ID.
type placed struct {
	at, side int
	id       uint64
	f        *capFrame
	s        *capStream
}

// placeFrames merges the decoded frames into the events, giving them IDs
// (see captureFrames).
func placeFrames(evs []trace.Event, streams []*capStream, renumber bool) []trace.Event {
	var frames []*placed
	for _, s := range streams {
		for i := range s.frames {
			f := &s.frames[i]
			p := &placed{at: f.end, side: 1, f: f, s: s}
			if s.dir == trace.Out {
				p.at, p.side = f.first, -1
			}
			frames = append(frames, p)
		}
	}
	sort.SliceStable(frames, func(i, j int) bool {
		if frames[i].at != frames[j].at {
			return frames[i].at < frames[j].at
		}
		return frames[i].side < frames[j].side
	})
	if !renumber {
		if out, ok := mergeFrames(evs, frames, false); ok {
			return out
		}
	}
	out, _ := mergeFrames(evs, frames, true)
	return out
}

// mergeFrames merges frames into evs. Numbered again, the frames go where
// placeFrames put them and every event gets the next ID; otherwise the
// frames get the IDs frameIDs finds and go where those put them, and ok is
// false when some frame finds none. Once it has merged them, evs is out's:
// the fields of a packet it gave new ones are cleared in evs.
func mergeFrames(evs []trace.Event, frames []*placed, renumber bool) (out []trace.Event, ok bool) {
	if !renumber && !frameIDs(evs, frames) {
		return nil, false
	}
	// Each packet's ID in out, and numbered again the frames' too: the
	// next ID in the order the events go out in.
	idOf := make([]uint64, len(evs))
	if renumber {
		id, k := uint64(0), 0
		for i := range evs {
			for ; k < len(frames) && frames[k].at == i && frames[k].side < 0; k++ {
				id++
				frames[k].id = id
			}
			id++
			idOf[i] = id
			for ; k < len(frames) && frames[k].at == i; k++ {
				id++
				frames[k].id = id
			}
		}
	} else {
		for i := range evs {
			idOf[i] = evs[i].ID
		}
	}
	// The frames name their packets and the packets their frames.
	packets := make([][]uint64, len(frames))
	carried := make([][]uint64, len(evs)) // by packet's index in evs: frame IDs
	for k, p := range frames {
		var ids []uint64
		if len(p.f.segs) > 0 {
			ids = make([]uint64, 0, len(p.f.segs))
		}
		for _, si := range p.f.segs {
			e := p.s.segs[si].ev
			ids = append(ids, idOf[e])
			carried[e] = append(carried[e], p.id)
		}
		packets[k] = ids
	}
	// The fields of the events made or changed here are cut to their
	// length from shared chunks (see history.adopt); a packet's old
	// fields are let go as soon as it has its new ones.
	var kept packer
	var scratch []trace.Field
	packet := func(i int) trace.Event {
		e := evs[i]
		e.ID = idOf[i]
		if e.Layer != trace.LayerLink || e.Name != "packet" || !renumber && carried[i] == nil {
			return e
		}
		fields := scratch[:0]
		for _, f := range e.Fields {
			if f.Key != "frames" || carried[i] == nil {
				fields = append(fields, f)
			}
		}
		if renumber {
			fields = append(fields, trace.Field{Key: "pcap_number", Value: evs[i].ID})
		}
		if ids := carried[i]; ids != nil {
			fields = append(fields, trace.Field{Key: "frames", Value: ids})
			if j := strings.Index(e.Summary, " [frame"); j >= 0 {
				e.Summary = e.Summary[:j]
			}
			e.Summary += " [" + trace.IDList("frame", ids) + "]"
		}
		e.Fields = kept.keepFields(fields)
		clear(fields)
		scratch = fields[:0]
		evs[i].Fields = nil
		return e
	}
	out = make([]trace.Event, 0, len(evs)+len(frames))
	if renumber {
		k := 0
		for i := range evs {
			for ; k < len(frames) && frames[k].at == i && frames[k].side < 0; k++ {
				out = append(out, frameEvent(evs, frames[k], packets[k], &kept))
			}
			out = append(out, packet(i))
			for ; k < len(frames) && frames[k].at == i; k++ {
				out = append(out, frameEvent(evs, frames[k], packets[k], &kept))
			}
		}
		return out, true
	}
	for i := range evs {
		out = append(out, packet(i))
	}
	for k, p := range frames {
		out = append(out, frameEvent(evs, p, packets[k], &kept))
	}
	slices.SortStableFunc(out, func(a, b trace.Event) int { return cmp.Compare(a.ID, b.ID) })
	// A frame read some time after its packet came is timed no
	// earlier than the event before it.
	for i := 1; i < len(out); i++ {
		if out[i].Layer == trace.LayerWS && out[i].T < out[i-1].T {
			out[i].T = out[i-1].T
		}
	}
	return out, true
}

// frameIDs gives the frames of a capture glassnet wrote the IDs its
// packets' comments name ("frames"), pairing each packet's frames, in
// stream order, with the IDs it lists. A frame a node sent was traced
// before its first packet, and one it received after the packet that
// completed its header (when it was read, maybe much later): a named ID
// that breaks that is not the frame's. A frame without one gets an ID no event
// has, between those of the events around where placeFrames put it. It
// reports false when some frame gets no ID.
func frameIDs(evs []trace.Event, frames []*placed) bool {
	used := make(map[uint64]bool, len(evs))
	for i := range evs {
		used[evs[i].ID] = true
	}
	perPacket := map[int][]*placed{}
	var order []int
	for _, p := range frames {
		p.id = 0
		for _, si := range p.f.segs {
			ev := p.s.segs[si].ev
			if perPacket[ev] == nil {
				order = append(order, ev)
			}
			perPacket[ev] = append(perPacket[ev], p)
		}
	}
	named := map[*placed]uint64{}
	for _, ev := range order {
		ps := perPacket[ev]
		ids, _ := evs[ev].Field("frames").([]uint64)
		if len(ids) != len(ps) {
			continue
		}
		for i, p := range ps {
			if _, ok := named[p]; !ok {
				named[p] = ids[i]
			}
		}
	}
	for _, p := range frames {
		lo, hi := uint64(0), ^uint64(0)
		if p.side < 0 {
			hi = evs[p.at].ID
			if p.at > 0 {
				lo = evs[p.at-1].ID
			}
		} else {
			lo = evs[p.at].ID
			if p.at+1 < len(evs) {
				hi = evs[p.at+1].ID
			}
		}
		id, ok := named[p]
		if p.side < 0 {
			ok = ok && id < hi
		} else {
			// Read, at the earliest, once its header was in.
			ok = ok && id > evs[p.f.head].ID
		}
		if ok && !used[id] {
			p.id = id
		} else {
			for c := lo + 1; c < hi && c < lo+64; c++ {
				if !used[c] {
					p.id = c
					break
				}
			}
		}
		if p.id == 0 {
			return false
		}
		used[p.id] = true
	}
	return true
}

// frameEvent is the ws "frame" event of a decoded frame, as the node's
// WebSocket layer would have traced it, with the ID frameIDs gave it and
// the packets that carried it (packets), its fields cut from kept.
func frameEvent(evs []trace.Event, p *placed, packets []uint64, kept *packer) trace.Event {
	f, s := p.f, p.s
	conn := s.conn
	if s.dir == trace.In {
		conn = reverse(conn) // ws events name the connection local->remote
	}
	fields := [...]trace.Field{
		{Key: "fin", Value: f.hdr.Fin},
		{Key: "rsv", Value: f.hdr.Rsv},
		{Key: "opcode", Value: f.hdr.Opcode.String()},
		{Key: "masked", Value: f.hdr.Masked},
		{Key: "len", Value: f.hdr.Length},
		{Key: "header_len", Value: f.hlen},
		{Key: "offset", Value: f.off},
		{Key: "offset_from", Value: "tcp"},
		{Key: "ws_offset", Value: f.wsOff},
		{Key: "packets", Value: packets},
	}
	return trace.Event{
		ID: p.id, T: evs[p.at].T, Node: s.node, Layer: trace.LayerWS, Dir: s.dir, Name: "frame", Conn: conn,
		Summary: f.hdr.String() + " [" + trace.IDList("packet", packets) + "]",
		Fields:  kept.keepFields(fields[:]),
	}
}
