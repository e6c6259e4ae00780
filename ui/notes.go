package ui

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// TCP analysis notes: what Wireshark's Info column puts in brackets on a
// TCP packet ("[TCP Dup ACK 12#1]", "[TCP Previous segment not
// captured]"), worked out the way Wireshark's packet-tcp.c
// (tcp_analyze_sequence_number) does, in its order and on its relative
// sequence numbers, each stack's packets taken as one capture. The page
// works out the same in static/expert.js to draw them; this one is the
// breakpoints' ("analysis dup-ack"). Both are held to tshark's notes for
// the same captures (TestTCPNotesAsTshark here, TestUIExpertNotesAsTshark
// in interop).

// The notes, by the names breakpoints give them.
const (
	noteRetransmission = 1 << iota
	noteFastRetransmission
	noteSpuriousRetransmission
	noteOutOfOrder
	noteLostSegment
	noteACKLostSegment
	noteWindowUpdate
	noteWindowFull
	noteZeroWindow
	noteZeroWindowProbe
	noteZeroWindowProbeACK
	noteKeepAlive
	noteKeepAliveACK
	noteDupACK
)

// noteNames are the notes' names in breakpoints, each with Wireshark's
// filter field (tcp.analysis.NAME) and its words in the Info column.
var noteNames = []struct {
	bit         int
	name, field string
	text        string
}{
	{noteRetransmission, "retransmission", "retransmission", "TCP Retransmission"},
	{noteFastRetransmission, "fast-retransmission", "fast_retransmission", "TCP Fast Retransmission"},
	{noteSpuriousRetransmission, "spurious-retransmission", "spurious_retransmission", "TCP Spurious Retransmission"},
	{noteOutOfOrder, "out-of-order", "out_of_order", "TCP Out-Of-Order"},
	{noteLostSegment, "lost-segment", "lost_segment", "TCP Previous segment not captured"},
	{noteACKLostSegment, "ack-lost-segment", "ack_lost_segment", "TCP ACKed unseen segment"},
	{noteWindowUpdate, "window-update", "window_update", "TCP Window Update"},
	{noteWindowFull, "window-full", "window_full", "TCP Window Full"},
	{noteZeroWindow, "zero-window", "zero_window", "TCP ZeroWindow"},
	{noteZeroWindowProbe, "zero-window-probe", "zero_window_probe", "TCP ZeroWindowProbe"},
	{noteZeroWindowProbeACK, "zero-window-probe-ack", "zero_window_probe_ack", "TCP ZeroWindowProbeAck"},
	{noteKeepAlive, "keep-alive", "keep_alive", "TCP Keep-Alive"},
	{noteKeepAliveACK, "keep-alive-ack", "keep_alive_ack", "TCP Keep-Alive ACK"},
	{noteDupACK, "dup-ack", "duplicate_ack", "TCP Dup ACK"},
}

// noteBits returns the note a breakpoint names: its name here
// ("dup-ack"), or Wireshark's field (tcp.analysis.duplicate_ack, or
// tcp.analysis.flags for any note).
func noteBits(name string) (int, bool) {
	n := strings.ToLower(name)
	if n == "tcp.analysis.flags" || n == "any" {
		return 1<<len(noteNames) - 1, true
	}
	for _, x := range noteNames {
		if n == x.name || n == "tcp.analysis."+x.field || strings.ReplaceAll(n, "_", "-") == x.name {
			return x.bit, true
		}
	}
	return 0, false
}

// noteList names the notes for an error message.
func noteList() string {
	s := make([]string, len(noteNames))
	for i, x := range noteNames {
		s[i] = x.name
	}
	return strings.Join(s, ", ")
}

// TCP flags as packet-tcp.c tests them.
const (
	thSYN = 1 << iota
	thFIN
	thRST
	thACK
)

// tcpHalf is one direction of one connection at one capture point.
type tcpHalf struct {
	base                     uint32
	baseSet                  bool
	nextseq, maxseqtobeacked uint32
	nextseqTime, lastackTime time.Duration
	lastack                  uint32
	dupacknum                int
	window                   int64 // scaled; -1 until a segment is seen
	winScale                 int   // its SYN's; -1 unknown, -2 none
	lastNotes                int
}

type tcpConnNotes struct {
	dirs    map[string]*tcpHalf // "src|sport" -> the direction it sends
	synTime time.Duration
	synSeen bool
	rtt     time.Duration
}

// tcpNotes follows the link packets of a run, stack by stack, and gives
// each TCP one its notes. Its zero value is not ready: init.
type tcpNotes struct {
	conns map[string]*tcpConnNotes
	last  uint64 // the event the last notes are of
	notes int
}

func (a *tcpNotes) init() { a.conns = make(map[string]*tcpConnNotes) }

// of returns the notes of e when it is the packet noted last, else 0.
func (a *tcpNotes) of(e *trace.Event) int {
	if e.ID == 0 || e.ID != a.last {
		return 0
	}
	return a.notes
}

var wscaleRe = regexp.MustCompile(`wscale (\d+)`)

// note looks at a link packet event; s.mu held.
func (a *tcpNotes) note(e *trace.Event) {
	if e.Layer != trace.LayerLink || e.Name != "packet" {
		return
	}
	if proto, _ := e.Field("proto").(string); proto != "tcp" {
		return
	}
	seq0, ok1 := number(e.Field("seq"))
	ack0, ok2 := number(e.Field("ack"))
	sport, ok3 := number(e.Field("sport"))
	dport, ok4 := number(e.Field("dport"))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return
	}
	srcAddr, _ := e.Field("src").(string)
	dstAddr, _ := e.Field("dst").(string)
	src := srcAddr + "|" + strconv.FormatFloat(sport, 'f', -1, 64)
	dst := dstAddr + "|" + strconv.FormatFloat(dport, 'f', -1, 64)
	key := e.Node + " " + min(src, dst) + " " + max(src, dst)
	fs, _ := e.Field("flags").(string)
	var flags int
	for _, x := range []struct {
		c   string
		bit int
	}{{"S", thSYN}, {"F", thFIN}, {"R", thRST}, {".", thACK}} {
		if strings.Contains(fs, x.c) {
			flags |= x.bit
		}
	}
	c := a.conns[key]
	if c != nil && flags&(thSYN|thACK) == thSYN {
		if f := c.dirs[src]; f != nil && f.baseSet && uint32(seq0) != f.base {
			c = nil // the ports used again: a new connection
		}
	}
	if c == nil {
		if len(a.conns) >= 4096 {
			a.init()
		}
		c = &tcpConnNotes{dirs: map[string]*tcpHalf{src: newHalf(), dst: newHalf()}}
		a.conns[key] = c
	}
	fwd, rev := c.dirs[src], c.dirs[dst]
	if fwd == nil || rev == nil { // a packet from the connection to itself
		return
	}
	t := e.T
	var seglen uint32
	if n, ok := number(e.Field("payload_len")); ok && n > 0 && n < 1<<32 {
		seglen = uint32(n)
	}

	if !fwd.baseSet {
		fwd.base = uint32(seq0)
		if flags&thSYN == 0 {
			fwd.base--
		}
		fwd.baseSet = true
	}
	if flags&thACK != 0 && !rev.baseSet {
		rev.base = uint32(ack0) - 1
		rev.baseSet = true
	}
	seq := uint32(seq0) - fwd.base
	var ack uint32
	if flags&thACK != 0 {
		ack = uint32(ack0) - rev.base
	}

	if flags&thSYN != 0 {
		opts, _ := e.Field("options").(string)
		fwd.winScale = -2
		if m := wscaleRe.FindStringSubmatch(opts); m != nil {
			n, _ := strconv.Atoi(m[1])
			fwd.winScale = min(n, 14) // RFC 7323 2.3
		}
		if flags&thACK != 0 && (fwd.winScale == -2 || rev.winScale == -2) {
			fwd.winScale, rev.winScale = -2, -2
		}
		if flags&thACK == 0 {
			c.synTime, c.synSeen = t, true
		}
	} else if c.synSeen && c.rtt == 0 && flags&thACK != 0 && rev.winScale != -1 {
		c.rtt = t - c.synTime
	}
	var window int64
	if w, ok := number(e.Field("win")); ok && w > 0 && w < 1<<16 {
		window = int64(w)
	}
	if flags&thSYN == 0 && fwd.winScale >= 0 && rev.winScale >= 0 {
		window <<= fwd.winScale
	}

	notes := a.analyze(c, fwd, rev, t, seq, ack, seglen, window, flags)
	a.last, a.notes = e.ID, notes
}

func newHalf() *tcpHalf { return &tcpHalf{window: -1, winScale: -1} }

// Sequence arithmetic modulo 2^32.
func seqGT(a, b uint32) bool { return int32(b-a) < 0 }
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// analyze is tcp_analyze_sequence_number's decisions, in its order.
func (a *tcpNotes) analyze(c *tcpConnNotes, fwd, rev *tcpHalf, t time.Duration, seq, ack, seglen uint32, window int64, flags int) int {
	notes := 0
	noSFR := flags&(thSYN|thFIN|thRST) == 0
	func() {
		if seglen == 1 && seq == fwd.nextseq && rev.window == 0 {
			notes |= noteZeroWindowProbe
			return
		}
		if window == 0 && noSFR {
			notes |= noteZeroWindow
		}
		if fwd.nextseq != 0 && seqGT(seq, fwd.nextseq) && flags&thRST == 0 {
			notes |= noteLostSegment
		}
		if seglen <= 1 && seq == fwd.nextseq-1 && noSFR {
			notes |= noteKeepAlive
		}
		if seglen == 0 && window != 0 && window != fwd.window && seq == fwd.nextseq && ack == fwd.lastack && noSFR {
			notes |= noteWindowUpdate
		}
		if seglen > 0 && rev.winScale != -1 && rev.window >= 0 && seq+seglen == rev.lastack+uint32(rev.window) && noSFR {
			notes |= noteWindowFull
		}
		same := seglen == 0 && window == fwd.window && seq == fwd.nextseq && noSFR
		if same && window != 0 && ack == fwd.lastack && rev.lastNotes&noteKeepAlive != 0 {
			notes |= noteKeepAliveACK
			return
		}
		// the answer that takes nothing: Wireshark 4.0 does not call one
		// that takes the probe's byte (ack one more) an answer to it
		if same && window == 0 && ack == fwd.lastack && rev.lastNotes&noteZeroWindowProbe != 0 {
			notes |= noteZeroWindowProbeACK
			return
		}
		if same && window != 0 && ack == fwd.lastack {
			fwd.dupacknum++
			notes |= noteDupACK
		}
	}()
	if ack != fwd.lastack {
		fwd.dupacknum = 0 // a new ACK starts the count again
	}
	if rev.maxseqtobeacked != 0 && seqGT(ack, rev.maxseqtobeacked) && flags&thACK != 0 {
		notes |= noteACKLostSegment
		rev.maxseqtobeacked = ack
	}

	func() {
		if notes&noteKeepAlive != 0 || seglen == 0 && flags&(thSYN|thFIN) == 0 {
			return
		}
		notAdvanced := fwd.nextseq != 0 && seqLT(seq, fwd.nextseq)
		if seglen > 1 && fwd.nextseq-1 == seq {
			notAdvanced = false
		}
		if seglen > 0 && rev.lastack != 0 && seqLE(seq+seglen, rev.lastack) {
			notes |= noteSpuriousRetransmission
			return
		}
		if !notAdvanced {
			return
		}
		if rev.dupacknum >= 2 && rev.lastack == seq && t-rev.lastackTime < 20*time.Millisecond {
			notes |= noteFastRetransmission
			return
		}
		thres := 3 * time.Millisecond
		if c.rtt > 0 {
			thres = c.rtt
		}
		end := seq + seglen
		if flags&(thSYN|thFIN) != 0 {
			end++
		}
		if t-fwd.nextseqTime < thres && fwd.nextseq != end {
			notes |= noteOutOfOrder
			return
		}
		notes |= noteRetransmission
	}()

	zwp := notes&noteZeroWindowProbe != 0
	next := seq + seglen
	if flags&(thSYN|thFIN) != 0 {
		next++
	}
	if (seqGT(next, fwd.nextseq) || fwd.nextseq == 0) && !zwp {
		fwd.nextseq, fwd.nextseqTime = next, t
	}
	if (seq == fwd.maxseqtobeacked || fwd.maxseqtobeacked == 0) && !zwp {
		fwd.maxseqtobeacked = fwd.nextseq
	}
	fwd.window = window
	fwd.lastack = ack
	fwd.lastackTime = t
	fwd.lastNotes = notes
	return notes
}
