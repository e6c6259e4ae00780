package ui

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// Edit is the "edit" of POST /api/holds/ID: the fields to change.
type Edit struct {
	Flags      *string `json:"flags,omitempty"`
	Seq        *uint32 `json:"seq,omitempty"`
	Ack        *uint32 `json:"ack,omitempty"`
	Window     *uint16 `json:"window,omitempty"`
	PayloadHex *string `json:"payload_hex,omitempty"`
	Opcode     *Opcode `json:"opcode,omitempty"`
	Fin        *bool   `json:"fin,omitempty"`
	// Len (a packet's) and FD (a send's) are shown with a held unit but
	// follow from it: an edit that sets them is refused, saying why.
	Len *int `json:"len,omitempty"`
	FD  *int `json:"fd,omitempty"`
}

// Opcode is a frame opcode in an Edit: its name ("text") or its number, in
// a JSON string ("1", "0x1") or as a JSON number (1).
type Opcode string

// UnmarshalJSON takes a string or a whole number.
func (o *Opcode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*o = Opcode(s)
		return nil
	}
	var n uint8
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("ui: edit.opcode %s: an opcode is continuation, text, binary, close, ping, pong or a number from 0 to 15", b)
	}
	*o = Opcode(strconv.Itoa(int(n)))
	return nil
}

// Decision is the body of POST /api/holds/ID.
type Decision struct {
	Action string `json:"action"`
	Edit   *Edit  `json:"edit,omitempty"`
	// FixChecksums, nil meaning true, recomputes the IP and transport
	// checksums of an edited packet.
	FixChecksums *bool `json:"fix_checksums,omitempty"`
	// DelayMS is how long a delayed unit waits.
	DelayMS int64 `json:"delay_ms,omitempty" range:"1 to 3600000"`
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "ui: a hold ID is a number: "+strconv.Quote(r.PathValue("id")))
		return
	}
	var req Decision
	if !readJSON(w, r, &req) {
		return
	}
	out, err := s.Decide(id, req)
	if err != nil {
		code := http.StatusBadRequest
		// A unit decided already is gone from the queue as one never
		// held is: both are a 404, as the API has always answered;
		// the message says which, and how the first ended.
		if errors.Is(err, errNoHold) || errors.Is(err, errDecided) {
			code = http.StatusNotFound
		}
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

var (
	errNoHold  = errors.New("ui: no such held unit")
	errDecided = errors.New("ui: decided already")
)

// Outcome is what POST /api/holds/ID answers.
type Outcome struct {
	ID      uint64 `json:"id"`
	Action  string `json:"action"`
	Edited  bool   `json:"edited"`
	Outcome string `json:"outcome"`
	// Pending is set when the stack, paused at a step, has not taken the
	// packet back yet: it does when it runs.
	Pending bool `json:"pending"`
	// Failed is set when the stack could not take the packet back (it has
	// closed, or the edit made it unsendable): Outcome says why.
	Failed bool `json:"failed"`
}

// continueWait is how long POST /api/holds/ID waits for the stack to take
// a held packet back before it answers that it is pending.
var continueWait = 500 * time.Millisecond

// Decide ends the hold of unit id as POST /api/holds/ID does.
func (s *Server) Decide(id uint64, req Decision) (Outcome, error) {
	s.hmu.Lock()
	var u *held
	for _, h := range s.held {
		if h.id == id {
			u = h
		}
	}
	how, gone := s.decidedHow.how[id]
	s.hmu.Unlock()
	switch {
	case u == nil && gone:
		return Outcome{}, fmt.Errorf("%w: held unit %d was %s", errDecided, id, how)
	case u == nil:
		return Outcome{}, fmt.Errorf("%w %d (GET /api/holds lists those held; one decided long ago is forgotten)", errNoHold, id)
	}
	d := decision{action: req.Action, opcode: u.opcode, fin: u.fin}
	if req.DelayMS != 0 && req.Action != "delay" {
		// a release with a delay is a mistake to say, not one to guess
		return Outcome{}, fmt.Errorf("ui: delay_ms goes with action delay, not %q", req.Action)
	}
	switch req.Action {
	case "release", "drop":
	case "duplicate":
		if u.point == PointSocketSend {
			return Outcome{}, errors.New("ui: a socket send cannot be duplicated: release, drop or delay it")
		}
	case "delay":
		if req.DelayMS <= 0 || req.DelayMS > 3600_000 {
			return Outcome{}, errors.New("ui: delay_ms is from 1 to 3600000")
		}
		d.delay = time.Duration(req.DelayMS) * time.Millisecond
	default:
		return Outcome{}, fmt.Errorf("ui: action %q: release, drop, duplicate or delay", req.Action)
	}
	if req.Edit != nil {
		fix := req.FixChecksums == nil || *req.FixChecksums
		if err := u.apply(*req.Edit, fix, &d); err != nil {
			return Outcome{}, err
		}
		if req.Action == "drop" {
			// Checked like any other, so that a wrong edit is not taken
			// silently, but not made: what is dropped is traced as it
			// was held.
			d = decision{action: req.Action, opcode: u.opcode, fin: u.fin}
		}
	}
	link := u.point == PointLinkEgress || u.point == PointLinkIngress
	if link && d.data != nil && req.Action != "drop" {
		if err := s.fitsLink(u.node, u.point, d.data); err != nil {
			return Outcome{}, err
		}
	}
	if link {
		d.result = make(chan error, 1)
	}
	s.hmu.Lock()
	given := s.give(u, d)
	how = s.decidedHow.how[id]
	s.hmu.Unlock()
	if !given {
		// Another request or page decided it since it was looked up.
		return Outcome{}, fmt.Errorf("%w: held unit %d was %s", errDecided, id, how)
	}
	out := Outcome{ID: id, Action: req.Action, Edited: d.edited}
	if link {
		// The stack checks the packet again as it takes it back; a stack
		// paused at a step takes it when it runs again.
		select {
		case err := <-d.result:
			if err != nil {
				out.Outcome, out.Failed = "not sent on: "+err.Error(), true
				return out, nil
			}
		case <-time.After(continueWait):
			out.Pending = true
		}
	}
	switch req.Action {
	case "release":
		out.Outcome = "released"
	case "drop":
		out.Outcome = "dropped"
	case "duplicate":
		out.Outcome = "sent twice"
	case "delay":
		out.Outcome = "goes on after " + d.delay.String()
	}
	if d.edited {
		out.Outcome += ", edited"
	}
	if out.Pending {
		out.Outcome += "; goes on when the stack runs"
	}
	return out, nil
}

// fitsLink refuses an edit that made a packet one the stack would not
// send on from the hook point: netstack's Stack.CheckContinue, the check
// Continue makes as it takes the packet back (longer than the link's MTU
// without segmentation offload; with it, a super-packet the segmenter
// cannot cut, as one behind IPv6 extension headers). Said before the unit
// is decided, it stays held, as after any other wrong edit, rather than
// being lost. A stack that closed meanwhile is not the edit's fault:
// Continue says so when it is decided.
func (s *Server) fitsLink(node, point string, pkt []byte) error {
	s.nmu.Lock()
	nd := s.nodeLocked(node)
	s.nmu.Unlock()
	if nd == nil || nd.Stack == nil {
		return nil
	}
	dir := trace.Out
	if point == PointLinkIngress {
		dir = trace.In
	}
	err := nd.Stack.CheckContinue(dir, pkt)
	if err == nil || !errors.Is(err, netstack.ErrContinue) {
		return nil
	}
	why := strings.TrimPrefix(err.Error(), netstack.ErrContinue.Error()+": ")
	return fmt.Errorf("ui: the stack would not send the edited packet on (%s), so it stays held", why)
}

// apply checks and makes the edit e on a copy of u's bytes, into d.
func (u *held) apply(e Edit, fix bool, d *decision) error {
	switch {
	case u.compressed && e.PayloadHex != nil:
		return errors.New("ui: this frame is part of a compressed message (permessage-deflate, RSV1 on its first frame): its payload is deflate data, and bytes edited into it would not inflate; change the opcode or FIN, drop or delay it, or run with compression off (serve --no-compress)")
	case e.Len != nil:
		return errors.New("ui: len cannot be edited: it follows payload_hex")
	case e.FD != nil:
		return errors.New("ui: fd cannot be edited: a held send goes out on its own socket")
	}
	var payload []byte
	if e.PayloadHex != nil {
		var err error
		if payload, err = hex.DecodeString(*e.PayloadHex); err != nil {
			return hexError(*e.PayloadHex, err)
		}
	}
	switch u.point {
	case PointLinkEgress, PointLinkIngress:
		if e.Opcode != nil || e.Fin != nil {
			return errors.New("ui: opcode and fin are a frame's: a packet has flags, seq, ack, window and payload_hex")
		}
		out, err := editPacket(u.data, e, payload, u.resize, fix)
		if err != nil {
			return err
		}
		if !bytes.Equal(out, u.data) {
			// An edit that sets each field to what it was changes
			// nothing, and neither the answer nor the trace may say it
			// did.
			d.data, d.edited = out, true
		}
	case PointWSOut, PointWSIn:
		if e.Flags != nil || e.Seq != nil || e.Ack != nil || e.Window != nil {
			return errors.New("ui: flags, seq, ack and window are a packet's: a frame has opcode, fin and payload_hex")
		}
		if e.Opcode != nil {
			op, err := ws.ParseOpcode(string(*e.Opcode))
			if err != nil {
				return fmt.Errorf("ui: opcode %q: an opcode is continuation, text, binary, close, ping, pong or a number from 0 to 15", *e.Opcode)
			}
			d.opcode = op
		}
		if e.Fin != nil {
			d.fin = *e.Fin
		}
		if payload != nil && !bytes.Equal(payload, u.data) {
			d.data = payload
		}
		d.edited = d.data != nil || d.opcode != u.opcode || d.fin != u.fin
	case PointSocketSend:
		if e.Flags != nil || e.Seq != nil || e.Ack != nil || e.Window != nil || e.Opcode != nil || e.Fin != nil {
			return errors.New("ui: a socket send has only payload_hex to edit")
		}
		if payload != nil {
			if len(payload) != len(u.data) {
				return fmt.Errorf("ui: a held send keeps its length: %d bytes, not %d", len(u.data), len(payload))
			}
			if !bytes.Equal(payload, u.data) {
				d.data, d.edited = payload, true
			}
		}
	}
	return nil
}

// editPacket returns a copy of the IP packet pkt with e applied, the
// checksums fixed when fix is set.
func editPacket(pkt []byte, e Edit, payload []byte, resize, fix bool) ([]byte, error) {
	h := hook.ParseHeaders(pkt)
	out := append([]byte(nil), pkt...)
	tcpEdit := e.Flags != nil || e.Seq != nil || e.Ack != nil || e.Window != nil || payload != nil
	if tcpEdit {
		if h.Proto != hook.ProtoTCP || h.L4 == 0 || len(out) < h.L4+header.TCPMinimumSize {
			return nil, errors.New("ui: not a TCP segment: flags, seq, ack, window and payload_hex apply to TCP")
		}
		t := header.TCP(out[h.L4:])
		if e.Flags != nil {
			f, err := parseFlags(*e.Flags)
			if err != nil {
				return nil, err
			}
			t.SetFlags(f)
		}
		if e.Seq != nil {
			t.SetSequenceNumber(*e.Seq)
		}
		if e.Ack != nil {
			t.SetAckNumber(*e.Ack)
		}
		if e.Window != nil {
			t.SetWindowSize(*e.Window)
		}
		if payload != nil {
			if n := int(t.DataOffset()); n < header.TCPMinimumSize {
				return nil, fmt.Errorf("ui: the TCP header says it is %d bytes long, less than 20: there is no payload to replace", n)
			}
			off := h.L4 + int(t.DataOffset())
			if off > len(out) {
				return nil, errors.New("ui: the TCP header is longer than the packet")
			}
			if !resize && len(payload) != len(out)-off {
				return nil, fmt.Errorf("ui: the payload keeps its length at this hold point: %d bytes, not %d", len(out)-off, len(payload))
			}
			if off+len(payload) > 65535 {
				return nil, errors.New("ui: the packet would be longer than 65535 bytes")
			}
			out = append(out[:off], payload...)
			switch h.Version {
			case 4:
				header.IPv4(out).SetTotalLength(uint16(len(out)))
			case 6:
				header.IPv6(out).SetPayloadLength(uint16(len(out) - header.IPv6MinimumSize))
			}
		}
	}
	if fix {
		if err := hook.FixChecksums(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseFlags reads TCP flags as letters: F S R P A (or .) U E C, e.g.
// "SA", "A", "FA", "PA", or "" for none.
func parseFlags(s string) (uint8, error) {
	var f uint8
	for _, c := range strings.ToUpper(s) {
		switch c {
		case 'F':
			f |= hook.FlagFIN
		case 'S':
			f |= hook.FlagSYN
		case 'R':
			f |= hook.FlagRST
		case 'P':
			f |= hook.FlagPSH
		case 'A', '.':
			f |= hook.FlagACK
		case 'U':
			f |= hook.FlagURG
		case 'E':
			f |= 0x40
		case 'C', 'W':
			f |= 0x80
		case ' ', ',', '|', '[', ']':
		default:
			return 0, fmt.Errorf("ui: flag %q: flags are written as tcpdump does, F S R P . (ACK, or A) U E W (CWR, or C), e.g. P. or [S.]", c)
		}
	}
	return f, nil
}

// flagString writes TCP flags as tcpdump does (F S R P . U E W, in that
// order, "." for ACK: "S.", "P.", "FP."), the way the ladder and the trace
// write them; parseFlags reads it back.
func flagString(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{hook.FlagFIN, 'F'}, {hook.FlagSYN, 'S'}, {hook.FlagRST, 'R'}, {hook.FlagPSH, 'P'}, {hook.FlagACK, '.'}, {hook.FlagURG, 'U'}, {0x40, 'E'}, {0x80, 'W'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	return b.String()
}

// packetSummary is a one-line account of an IP packet.
func packetSummary(b []byte) string {
	h := hook.ParseHeaders(b)
	if h.Version == 0 {
		return fmt.Sprintf("%d bytes, not IP", len(b))
	}
	switch h.Proto {
	case hook.ProtoTCP:
		var f uint8
		var win uint16
		if h.L4 > 0 && len(b) >= h.L4+header.TCPMinimumSize {
			t := header.TCP(b[h.L4:])
			f, win = uint8(t.Flags()), t.WindowSize()
		}
		return fmt.Sprintf("%v:%d->%v:%d [%s] seq=%d ack=%d win=%d len=%d", h.Src, h.SrcPort, h.Dst, h.DstPort, flagString(f), h.Seq, h.Ack, win, h.Payload)
	case hook.ProtoUDP:
		return fmt.Sprintf("%v:%d->%v:%d udp len=%d", h.Src, h.SrcPort, h.Dst, h.DstPort, h.Payload)
	}
	return fmt.Sprintf("%v->%v proto %d len=%d", h.Src, h.Dst, h.Proto, h.Len)
}

// baseScan bounds how far back the history is searched for a packet of a
// held segment's connection.
const baseScan = 50000

// tcpBases returns what a TCP segment's seq and ack count from, as the
// stack's packet events before event id on node tell (their rel_seq and
// rel_ack; a SYN is its own base): nil for one it cannot tell.
func (s *Server) tcpBases(node string, data []byte, id uint64) (seqBase, ackBase *uint32) {
	hd := hook.ParseHeaders(data)
	if hd.Proto != hook.ProtoTCP || hd.L4 == 0 || len(data) < hd.L4+header.TCPMinimumSize {
		return nil, nil
	}
	t := header.TCP(data[hd.L4:])
	u32 := func(v uint32) *uint32 { return &v }
	if t.Flags().Contains(header.TCPFlagSyn) {
		seqBase = u32(t.SequenceNumber())
		if t.Flags().Contains(header.TCPFlagAck) {
			ackBase = u32(t.AckNumber() - 1)
		}
		return seqBase, ackBase
	}
	src, dst := netip.AddrPortFrom(hd.Src, hd.SrcPort), netip.AddrPortFrom(hd.Dst, hd.DstPort)
	fwd, back := src.String()+"->"+dst.String(), dst.String()+"->"+src.String()
	s.hist.scanBack(id, baseScan, func(e *trace.Event) bool {
		if e.Node != node || e.Layer != trace.LayerLink || e.Name != "packet" || e.Conn != fwd && e.Conn != back {
			return true
		}
		seq, rseq := e.Field("seq"), e.Field("rel_seq")
		ack, rack := e.Field("ack"), e.Field("rel_ack")
		sb, sok := base(seq, rseq)
		ab, aok := base(ack, rack)
		if e.Conn == back {
			// The other direction: its seq counts what this one acks.
			sb, sok, ab, aok = ab, aok, sb, sok
		}
		if sok && seqBase == nil {
			seqBase = u32(sb)
		}
		if aok && ackBase == nil {
			ackBase = u32(ab)
		}
		return seqBase == nil || ackBase == nil
	})
	return seqBase, ackBase
}

// base is abs - rel when both are a field's uint32.
func base(abs, rel any) (uint32, bool) {
	a, ok1 := abs.(uint32)
	r, ok2 := rel.(uint32)
	return a - r, ok1 && ok2
}

// describeEdit says what an edit changed in a held packet, as tcpdump
// names the fields: "flags [P.] → [F.], win 4096 → 0, payload 3 of 15
// bytes changed"; or how many bytes changed when the packet is not TCP.
//
// seqBase and ackBase, when known, are the initial sequence numbers the
// ladder and the hold queue count from: a changed seq or ack is said as on
// the wire and relative ("seq 926484244 → 926484248 (relative 1 → 5)").
func describeEdit(before, after []byte, seqBase, ackBase *uint32) string {
	a, b := hook.ParseHeaders(before), hook.ParseHeaders(after)
	var parts []string
	add := func(name string, x, y any) {
		if x != y {
			parts = append(parts, fmt.Sprintf("%s %v → %v", name, x, y))
		}
	}
	if a.Version == 0 || b.Version == 0 || a.Proto != hook.ProtoTCP || b.Proto != hook.ProtoTCP {
		return fmt.Sprintf("%d of %d bytes changed", diffBytes(before, after), len(after))
	}
	add("src", a.Src, b.Src)
	add("dst", a.Dst, b.Dst)
	add("ttl", a.TTL, b.TTL)
	add("sport", a.SrcPort, b.SrcPort)
	add("dport", a.DstPort, b.DstPort)
	add("flags", "["+flagString(a.Flags)+"]", "["+flagString(b.Flags)+"]")
	synA, synB := a.Flags&uint8(header.TCPFlagSyn) != 0, b.Flags&uint8(header.TCPFlagSyn) != 0
	addRel := func(name string, x, y uint32, base *uint32) {
		switch {
		case x == y:
		case base == nil:
			add(name, x, y)
		case name == "seq" && synA && synB && *base == x:
			// A SYN's seq is the ISN the relative numbers count from,
			// on the wire as in tcpdump and Wireshark: the edited SYN
			// is relative 0 still, and what follows counts from it.
			parts = append(parts, fmt.Sprintf("seq %d → %d (new ISN, %+d: still relative 0)", x, y, int32(y-x)))
		default:
			parts = append(parts, fmt.Sprintf("%s %d → %d (relative %d → %d)", name, x, y, x-*base, y-*base))
		}
	}
	addRel("seq", a.Seq, b.Seq, seqBase)
	addRel("ack", a.Ack, b.Ack, ackBase)
	if a.L4 > 0 && b.L4 > 0 && len(before) >= a.L4+header.TCPMinimumSize && len(after) >= b.L4+header.TCPMinimumSize {
		ta, tb := header.TCP(before[a.L4:]), header.TCP(after[b.L4:])
		add("win", ta.WindowSize(), tb.WindowSize())
		pa, pb := tcpPayloadOf(before, a), tcpPayloadOf(after, b)
		switch {
		case len(pa) != len(pb):
			parts = append(parts, fmt.Sprintf("payload %d → %d bytes", len(pa), len(pb)))
		case !bytes.Equal(pa, pb):
			parts = append(parts, fmt.Sprintf("payload %d of %d bytes changed", diffBytes(pa, pb), len(pb)))
		}
	}
	if len(parts) == 0 {
		// only what the summary does not name: checksums, options
		return fmt.Sprintf("%d of %d bytes changed", diffBytes(before, after), len(after))
	}
	return strings.Join(parts, ", ")
}

// tcpPayloadOf is the TCP payload of the packet b whose headers are h.
func tcpPayloadOf(b []byte, h hook.Headers) []byte {
	off := h.L4 + int(header.TCP(b[h.L4:]).DataOffset())
	if off > len(b) || h.Payload < 0 || off+h.Payload > len(b) {
		return nil
	}
	return b[off : off+h.Payload]
}

// diffBytes counts the bytes that differ between a and b, each byte that
// only one of them has included.
func diffBytes(a, b []byte) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// hexError says what is wrong with payload_hex h, which hex.DecodeString
// refused with err, in the words of the one who typed it: which character
// is not a hex digit, and where; or that a digit is missing.
func hexError(h string, err error) error {
	var bad hex.InvalidByteError
	if errors.As(err, &bad) {
		for i, r := range []rune(h) {
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return fmt.Errorf("ui: payload_hex: %q at character %d is not a hex digit (0-9, a-f): two digits a byte, nothing between them", r, i+1)
			}
		}
	}
	if errors.Is(err, hex.ErrLength) {
		return fmt.Errorf("ui: payload_hex: %d hex digits, an odd number: each byte is two digits", len(h))
	}
	return fmt.Errorf("ui: payload_hex: %v", err)
}
