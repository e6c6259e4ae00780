package trace

import (
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pcapng block and option codes (draft-ietf-opsawg-pcapng).
const (
	pngSHB           = 0x0A0D0D0A
	pngIDB           = 0x00000001
	pngEPB           = 0x00000006
	pngByteOrder     = 0x1A2B3C4D
	pngOptEnd        = 0
	pngOptComment    = 1
	pngOptUserAppl   = 4 // shb_userappl
	pngOptIfName     = 2 // if_name
	pngOptIfDesc     = 3 // if_description
	pngOptIfTSResol  = 9 // if_tsresol
	pngOptEPBFlags   = 2 // epb_flags
	pngOptEPBPacket  = 5 // epb_packetid
	pngLinkTypeRaw   = 101
	pngSnapLen       = 262144
	pngFlagInbound   = 1
	pngFlagOutbound  = 2
	pngDefaultWindow = 4096
	pngFrameDescs    = 4096
)

// PCAPNG is a sink that writes the packets of link "packet" events (those
// with Data), and of "continued" ones (a held packet sent on into the
// stack, as it went), as a pcapng capture: one interface per Node, named
// after it (if_name) and described (if_description: the stack, the side
// of its device the packets were seen at, and the device), with
// nanosecond timestamps, raw IP or, for a stack on an Ethernet device
// (its packets carry MACs: the "src_mac" and "dst_mac" fields), Ethernet
// with every frame as it was, ARP included; and for each packet an Enhanced Packet
// Block with the direction in epb_flags, the event ID in epb_packetid, and
// a comment such as
//
//	packet #41; ws frame #40 FIN text len=15 masked at offset 151
//
// naming the frames it carried (from a correlating Tracer's "frames"
// fields and "carried" events; see Tracer.Correlate).
//
// A packet that a link hook acted on says so in its comment, in the words
// of the hook's "verdict" or "held" event, after the frames:
//
//	packet #57; duplicated at link-egress by rule "udp : duplicate 100%"
//	packet #63; dropped at link-ingress by rule "icmp and len >= 100 : drop"
//	packet #70; changed at link-egress (ui-edit: win 4094 → 1000) by rule "ui hold"
//
// The capture sits next to the device, below the link hooks, as tcpdump
// sits below netfilter: an egress packet is written as it left, after the
// hooks (one they dropped never left, and is not written), and an ingress
// packet as it arrived, before them (one they dropped is written, and says
// so). An egress verdict comes before its packet and goes to the next one
// of its node with the same connection, flags, sequence and lengths (a
// held one, to the next of its connection and length, or as the decision
// on it describes it); an ingress verdict comes after its packet, the
// latest of its node, or the latest like it when a step above the link
// about an earlier packet came between them (or, for a held packet, the
// "continued" one that sends it on).
//
// An ingress packet's frames are only known once they have been parsed,
// and its hooks' verdicts once they have run, so the sink holds packets
// back, in order, until the head one is settled (egress; ingress without
// payload, or once its carried event has come; and, for ingress, once its
// node has gone on to the next ingress packet or to a step above the
// link) or Window more events have passed. Close writes what is still
// held. Make one with NewPCAPNG; the zero value has nowhere to write.
type PCAPNG struct {
	// Window is how many events a packet waits for its frames before it
	// is written without them; 0 means 4096.
	Window uint64
	// Start, when set, times each packet at Start + its event's T: a
	// history written after the fact (the view's export) keeps the
	// packets' own times. Zero stamps each packet when it is emitted, as
	// a live capture does. A packet read from a capture (one with a
	// "time" field, see ReadPCAPNG) is stamped with the time it has,
	// whatever Start is, so that a capture written again keeps its
	// packets' times.
	Start time.Time

	mu      sync.Mutex
	w       io.Writer
	err     error
	started bool
	ifaces  map[string]*pngLink
	pending []pngPacket
	frames  map[uint64]string // frame ID -> description
	order   []uint64          // frame IDs in frames, oldest first
	buf     []byte
	// notes are the verdicts waiting for the packets they are about:
	// egress ones for the packet they let leave, ingress decisions on a
	// held packet for the "continued" one that sends it on.
	notes []pngNote
	// holds are the ingress packets held and not yet sent on or dropped.
	holds []pngHold
	// opened counts the pending packets that are open.
	opened int
}

type pngPacket struct {
	id      uint64
	iface   uint32
	dir     Dir
	ts      time.Time
	data    []byte
	frames  []uint64
	settled bool
	sentOn  bool // a held packet sent on into the stack (link "continued")
	// open: an ingress packet whose hooks may still report, until its
	// node goes on to the next ingress packet or a step above the link.
	open bool
	node string
	key  pngKey
	// verdicts says what the link hooks did to it, in the comment's words.
	verdicts []string
}

// pngKey tells the packet a verdict is about: the fields a link packet
// event and a verdict event both carry.
type pngKey struct {
	conn        string
	flags       string
	relSeq      int64 // -1 for none
	payload, ln int64
}

// pngNote is a verdict waiting for its packet.
type pngNote struct {
	id   uint64 // the verdict's event, for Window
	node string
	dir  Dir
	key  pngKey // egress: the packet's; ingress: only conn is compared
	text string
	uses int // packets still to come (a duplicate has copies + 1)
	// held: an egress packet held (link "held"), known by its
	// connection and length alone until a decision on it (a verdict of
	// its rule) says what it leaves as.
	held bool
	rule string
}

// pngHold is an ingress packet held (link "held") until a decision sends
// it on ("continued") or drops it.
type pngHold struct {
	node, conn, rule string
}

// NewPCAPNG returns a PCAPNG sink writing to w. Close it to flush.
func NewPCAPNG(w io.Writer) *PCAPNG {
	return &PCAPNG{w: w, ifaces: make(map[string]*pngLink), frames: make(map[uint64]string)}
}

// Emit implements Sink.
func (p *PCAPNG) Emit(e *Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Dir == In && e.Layer != LayerLink && e.Name != "carried" {
		// The stack above the link has the packet: its hooks are done.
		// (A frame's "carried" event comes with the packet that
		// completed it, before that packet's hooks have run.)
		p.closeIngress(e.Node)
	}
	switch {
	case e.Layer == LayerLink && (e.Name == "packet" || e.Name == "continued") && e.Data != nil:
		if lt, ok := intValue(e.Field("link_type")); ok && lt != pngLinkTypeEthernet {
			break // a frame of a capture's link that is not IP nor Ethernet
		}
		link := p.iface(e)
		data, ok := link.frame(e)
		if !ok {
			break
		}
		frames, _ := e.Field("frames").([]uint64)
		n, _ := intValue(e.Field("payload_len"))
		_, tcp := e.Field("rel_seq").(uint32)
		ts := time.Now()
		if at, ok := capturedAt(e); ok {
			ts = at
		} else if !p.Start.IsZero() {
			ts = p.Start.Add(e.T)
		}
		if e.Dir == In && e.Name == "packet" {
			p.closeIngress(e.Node)
		}
		pk := pngPacket{
			id: e.ID, iface: link.id, dir: e.Dir, ts: ts,
			data:    append([]byte(nil), data...),
			frames:  frames,
			settled: e.Dir == Out || n == 0 || !tcp || e.Name == "continued",
			sentOn:  e.Name == "continued",
			open:    e.Dir == In && e.Name == "packet",
			node:    e.Node,
			key:     keyOf(e),
		}
		p.takeNotes(&pk, e)
		if notes, _ := e.Field("notes").(string); notes != "" {
			// A packet read from a pcapng this sink wrote: its comment
			// as it was.
			for _, n := range strings.Split(notes, "; ") {
				if n == pngSentOn {
					pk.sentOn = true
				} else {
					pk.verdicts = append(pk.verdicts, n)
				}
			}
		}
		if pk.open {
			p.opened++
		}
		p.pending = append(p.pending, pk)
	case e.Layer == LayerLink && (e.Name == "verdict" || e.Name == "held"):
		p.verdict(e)
	case e.Layer == LayerWS && e.Name == "frame":
		desc := e.Summary
		if i := strings.Index(desc, " ["); i >= 0 {
			desc = desc[:i]
		}
		if off, ok := intValue(e.Field("offset")); ok {
			desc += " at offset " + strconv.FormatInt(off, 10)
		}
		p.frames[e.ID] = desc
		p.order = append(p.order, e.ID)
		if len(p.order) > pngFrameDescs {
			delete(p.frames, p.order[0])
			p.order = p.order[1:]
		}
	case e.Layer == LayerLink && e.Name == "carried":
		id, _ := e.Field("packet").(uint64)
		frames, _ := e.Field("frames").([]uint64)
		for i := range p.pending {
			if p.pending[i].id == id {
				p.pending[i].frames = frames
				p.pending[i].settled = true
				if p.pending[i].open {
					p.pending[i].open = false
					p.opened--
				}
				break
			}
		}
	}
	p.flush(e.ID, false)
}

// Close writes the packets still held back. It does not close the writer.
// It returns the first write error.
func (p *PCAPNG) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flush(0, true)
	if !p.started {
		p.header()
	}
	return p.err
}

func (p *PCAPNG) flush(now uint64, all bool) {
	window := p.Window
	if window == 0 {
		window = pngDefaultWindow
	}
	n := 0
	for _, pk := range p.pending {
		if !all && (!pk.settled || pk.open) && pk.id+window > now {
			break
		}
		if pk.open {
			p.opened--
		}
		p.packet(pk)
		n++
	}
	if n > 0 {
		m := copy(p.pending, p.pending[n:])
		clear(p.pending[m:])
		p.pending = p.pending[:m]
	}
	// Verdicts whose packet did not come in time are let go.
	k := 0
	for _, nt := range p.notes {
		if all || nt.id+window <= now {
			continue
		}
		p.notes[k] = nt
		k++
	}
	clear(p.notes[k:])
	p.notes = p.notes[:k]
}

// keyOf returns the fields of a link packet or verdict event that tell
// which packet it is.
func keyOf(e *Event) pngKey {
	k := pngKey{conn: e.Conn, relSeq: -1}
	k.flags, _ = e.Field("flags").(string)
	if v, ok := intValue(e.Field("rel_seq")); ok {
		k.relSeq = v
	}
	k.payload, _ = intValue(e.Field("payload_len"))
	k.ln, _ = intValue(e.Field("len"))
	return k
}

// closeIngress marks the ingress packets of node as settled as far as
// their hooks go: a new one has come, or the stack above the link has
// one, so theirs have all reported.
func (p *PCAPNG) closeIngress(node string) {
	for i := 0; p.opened > 0 && i < len(p.pending); i++ {
		if p.pending[i].open && p.pending[i].node == node {
			p.pending[i].open = false
			p.opened--
		}
	}
}

// takeNotes gives pk, a packet being added, the verdicts waiting for it:
// an egress packet those of its node about a packet like it (the oldest
// first, each as many times as it has copies), a "continued" one the
// decisions on the packet held on its connection.
func (p *PCAPNG) takeNotes(pk *pngPacket, e *Event) {
	if e.Dir == In && e.Name == "continued" {
		for i, h := range p.holds {
			if h.node == e.Node && h.conn == e.Conn {
				p.holds = append(p.holds[:i], p.holds[i+1:]...)
				break
			}
		}
	}
	if e.Dir == In && e.Name == "packet" {
		return
	}
	k := 0
	for _, nt := range p.notes {
		if nt.node == pk.node && nt.dir == e.Dir && (nt.key == pk.key || e.Dir == In && nt.key.conn == pk.key.conn ||
			nt.held && nt.key.conn == pk.key.conn && nt.key.ln == pk.key.ln) {
			pk.verdicts = append(pk.verdicts, nt.text)
			if nt.uses--; nt.uses == 0 {
				continue
			}
		}
		p.notes[k] = nt
		k++
	}
	clear(p.notes[k:])
	p.notes = p.notes[:k]
}

// verdict takes a link "verdict" or "held" event: it goes to the packet it
// is about, now (ingress) or when that packet comes (egress, or the
// packet held coming in), or, for a packet dropped going out, nowhere:
// that packet is not in the capture, and nor is what was said of it.
func (p *PCAPNG) verdict(e *Event) {
	text := verdictNote(e)
	action, _ := e.Field("action").(string)
	rule, _ := e.Field("rule").(string)
	key := keyOf(e)
	// decides says whether nt is an egress hold that this verdict decides.
	decides := func(nt *pngNote) bool {
		return nt.held && nt.node == e.Node && nt.dir == Out && nt.key.conn == e.Conn && nt.rule == rule
	}
	switch {
	case e.Dir == Out && action == "drop":
		k := 0
		for _, nt := range p.notes {
			if nt.node == e.Node && nt.dir == Out && nt.key == key || decides(&nt) {
				continue
			}
			p.notes[k] = nt
			k++
		}
		clear(p.notes[k:])
		p.notes = p.notes[:k]
	case e.Dir == Out && e.Name == "held":
		p.notes = append(p.notes, pngNote{id: e.ID, node: e.Node, dir: Out, key: pngKey{conn: e.Conn, relSeq: -1, ln: key.ln},
			text: text, uses: 1, held: true, rule: rule})
	case e.Dir == Out && e.Name == "verdict":
		for i := range p.notes {
			if decides(&p.notes[i]) {
				// The held packet leaves as this verdict describes it.
				p.notes[i].key, p.notes[i].held = key, false
				break
			}
		}
		copies, _ := intValue(e.Field("copies"))
		p.notes = append(p.notes, pngNote{id: e.ID, node: e.Node, dir: Out, key: key, text: text, uses: 1 + int(max(copies, 0)), rule: rule})
	case e.Dir == In:
		if e.Name == "verdict" {
			for i, h := range p.holds {
				if h.node == e.Node && h.conn == e.Conn && h.rule == rule {
					// A decision on a held packet: for the packet that
					// sends it on, if any.
					if action == "drop" {
						p.holds = append(p.holds[:i], p.holds[i+1:]...)
					} else {
						p.notes = append(p.notes, pngNote{id: e.ID, node: e.Node, dir: In, key: key, text: text, uses: 1})
					}
					return
				}
			}
		}
		pk := p.ingressPacket(e.Node, key)
		if pk == nil {
			return
		}
		pk.verdicts = append(pk.verdicts, text)
		if e.Name == "held" {
			p.holds = append(p.holds, pngHold{node: e.Node, conn: e.Conn, rule: rule})
		}
	}
}

// ingressPacket returns the packet that an ingress verdict of node about a
// packet like key is about, if it is still held back: the latest open one
// of its connection and length, or, failing that, the latest one of the
// same connection, flags, sequence and lengths. An event above the link
// that its node traced about the packet before it (a wake-up, a state,
// from another goroutine) may have closed it before its verdict came.
func (p *PCAPNG) ingressPacket(node string, key pngKey) *pngPacket {
	for i := len(p.pending) - 1; i >= 0; i-- {
		pk := &p.pending[i]
		if pk.open && pk.node == node && pk.key.conn == key.conn && pk.key.ln == key.ln {
			return pk
		}
	}
	for i := len(p.pending) - 1; i >= 0; i-- {
		pk := &p.pending[i]
		if pk.dir == In && !pk.sentOn && pk.node == node && pk.key == key {
			return pk
		}
	}
	return nil
}

// verdictNote says what a link "verdict" or "held" event did, for a
// packet's comment: "dropped at link-ingress (loss) by rule "loss 20%"".
func verdictNote(e *Event) string {
	hook, _ := e.Field("hook").(string)
	action, _ := e.Field("action").(string)
	reason, _ := e.Field("reason").(string)
	rule, _ := e.Field("rule").(string)
	var s strings.Builder
	switch {
	case e.Name == "held":
		action = "hold"
		s.WriteString("held")
	case action == "drop":
		s.WriteString("dropped")
	case action == "modify":
		s.WriteString("changed")
	case action == "duplicate":
		s.WriteString("duplicated")
	case action == "delay":
		s.WriteString("delayed")
		if d, ok := e.Field("delay").(string); ok && d != "" {
			s.WriteString(" " + d)
		}
	case action == "inject":
		s.WriteString("followed by packets injected")
	default:
		s.WriteString(action)
	}
	s.WriteString(" at " + hook)
	if reason != "" && reason != action {
		s.WriteString(" (" + reason + ")")
	}
	if rule != "" {
		s.WriteString(" by rule " + strconv.Quote(rule))
	}
	return s.String()
}

// capturedAt returns the time a packet read from a capture was stamped
// with (its "time" field), if it has one.
func capturedAt(e *Event) (time.Time, bool) {
	s, ok := e.Field("time").(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// header writes the Section Header Block once.
func (p *PCAPNG) header() {
	p.started = true
	b := p.begin(pngSHB)
	b = binary.LittleEndian.AppendUint32(b, pngByteOrder)
	b = binary.LittleEndian.AppendUint16(b, 1) // major
	b = binary.LittleEndian.AppendUint16(b, 0) // minor
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))
	b = option(b, pngOptUserAppl, []byte("glassnet"))
	b = binary.LittleEndian.AppendUint32(b, pngOptEnd)
	p.end(b)
}

// iface returns the interface of e's node, writing its Interface
// Description Block the first time, with e, its first packet, telling
// what the link is (see pngLink).
func (p *PCAPNG) iface(e *Event) *pngLink {
	if l, ok := p.ifaces[e.Node]; ok {
		return l
	}
	if !p.started {
		p.header()
	}
	l := &pngLink{id: uint32(len(p.ifaces)), ethernet: isEthernet(e), heads: map[Dir][2 * macLen]byte{}}
	p.ifaces[e.Node] = l
	linkType := uint16(pngLinkTypeRaw)
	if l.ethernet {
		linkType = pngLinkTypeEthernet
	}
	b := p.begin(pngIDB)
	b = binary.LittleEndian.AppendUint16(b, linkType)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, pngSnapLen)
	node := e.Node
	if node == "" {
		node = "glassnet"
	}
	b = option(b, pngOptIfName, []byte(node))
	b = option(b, pngOptIfDesc, []byte(linkDescription(node, l.ethernet, e)))
	b = option(b, pngOptIfTSResol, []byte{9})
	b = binary.LittleEndian.AppendUint32(b, pngOptEnd)
	p.end(b)
	return l
}

func (p *PCAPNG) packet(pk pngPacket) {
	b := p.begin(pngEPB)
	ns := uint64(pk.ts.UnixNano())
	capLen := min(len(pk.data), pngSnapLen)
	b = binary.LittleEndian.AppendUint32(b, pk.iface)
	b = binary.LittleEndian.AppendUint32(b, uint32(ns>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ns))
	b = binary.LittleEndian.AppendUint32(b, uint32(capLen))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pk.data)))
	b = append(b, pk.data[:capLen]...)
	b = pad(b)

	var flags [4]byte
	if pk.dir == In {
		binary.LittleEndian.PutUint32(flags[:], pngFlagInbound)
	} else if pk.dir == Out {
		binary.LittleEndian.PutUint32(flags[:], pngFlagOutbound)
	}
	b = option(b, pngOptEPBFlags, flags[:])
	var id [8]byte
	binary.LittleEndian.PutUint64(id[:], pk.id)
	b = option(b, pngOptEPBPacket, id[:])
	b = option(b, pngOptComment, []byte(p.comment(pk)))
	b = binary.LittleEndian.AppendUint32(b, pngOptEnd)
	p.end(b)
}

// pngSentOn is what the comment of a held packet sent on into the stack
// says of it.
const pngSentOn = "held at link-ingress and sent on into the stack"

// comment is "packet #41" followed by the frames the packet carried.
func (p *PCAPNG) comment(pk pngPacket) string {
	var s strings.Builder
	s.WriteString("packet #")
	s.WriteString(strconv.FormatUint(pk.id, 10))
	if pk.sentOn {
		s.WriteString("; " + pngSentOn)
	}
	for _, f := range pk.frames {
		s.WriteString("; ws frame #")
		s.WriteString(strconv.FormatUint(f, 10))
		if d, ok := p.frames[f]; ok {
			s.WriteByte(' ')
			s.WriteString(d)
		}
	}
	for _, v := range pk.verdicts {
		s.WriteString("; ")
		s.WriteString(v)
	}
	return s.String()
}

// begin starts a block of type typ in p.buf, leaving room for its length.
func (p *PCAPNG) begin(typ uint32) []byte {
	b := p.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, typ)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// end fills in the block's length at both ends and writes it.
func (p *PCAPNG) end(b []byte) {
	n := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:], n)
	b = binary.LittleEndian.AppendUint32(b, n)
	p.buf = b
	if p.err == nil {
		_, p.err = p.w.Write(b)
	}
}

// option appends one option, padded to 32 bits.
func option(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return pad(b)
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
