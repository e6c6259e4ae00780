package ui

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/glassnet/glassnet/trace"
)

// The event keys every JSON line has; the others are fields.
var baseKeys = map[string]bool{"v": true, "id": true, "t": true, "node": true, "layer": true, "dir": true, "event": true, "conn": true, "summary": true}

// pcapngSHB starts a pcapng file.
const pcapngSHB = 0x0A0D0D0A

// Load reads a recorded run into an offline Server's history: JSON lines
// as --trace writes them (trace.ReadJSONL), a pcapng capture as
// glassnet writes it (trace.ReadPCAPNG: --pcap of demo, one interface per
// stack, the event ID of each packet and the frames it carried in its
// comment), or a classic pcap (trace.ReadPCAP: --pcap of serve and lab,
// one stack, "glassnet"; or tcpdump's, whose stack is "capture"). The
// WebSocket frames a capture's TCP streams carried are added as ws "frame"
// events, put together from the streams of the connections whose server
// answered an upgrade with 101, each frame placed by the packets that
// carried it as the live trace places it. It returns
// how many events it kept: those before a bad line or block, with the
// error that names it, and of a file with more events than the history
// holds the first, with a *TooManyError; a trace of a later schema version
// than this glassnet's reads with a *LaterSchemaError. Events it kept can be viewed
// whatever the error.
func (s *Server) Load(r io.Reader) (int, error) {
	return s.LoadFrom(r, 0)
}

// LoadFrom is Load that leaves out the first skip events of a trace (the
// lines), or packets of a capture: with the history's number of events
// after them it shows a part of a run longer than the history. The
// events left out are counted, not read.
func (s *Server) LoadFrom(r io.Reader, skip int) (int, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if err != nil && len(head) == 0 {
		return 0, errors.New("ui: the file is empty")
	}
	// Of a file with more events than the history holds, the readers
	// read the first and count the rest, so that the memory a load
	// takes is bounded by the history, not by the file. The beginning is
	// what a reader of a file looks for (the handshake); the history of a
	// live run keeps the newest instead.
	max := s.hist.size
	var evs []trace.Event
	var more int
	capture := true
	if len(head) == 4 && (binary.LittleEndian.Uint32(head) == pcapngSHB || binary.BigEndian.Uint32(head) == pcapngSHB) {
		evs, more, err = trace.ReadPCAPNGRange(br, skip, max)
		evs = captureFrames(evs, max)
	} else if trace.IsPCAP(head) {
		hdr, _ := br.Peek(24)
		evs, more, err = trace.ReadPCAPRange(br, pcapNode(hdr), skip, max)
		evs = captureFrames(evs, max)
	} else {
		capture = false
		var v int
		evs, v, more, err = trace.ReadJSONLRange(br, skip, max)
		if v > trace.SchemaVersion && len(evs) > 0 {
			err = errors.Join(err, &LaterSchemaError{Version: v})
		}
	}
	if len(evs) > max || more > 0 {
		// A capture's frames come on top of its packets; skip and more
		// count its packets, not the frames they carry.
		many := &TooManyError{Events: skip + len(evs) + more, Kept: max, Skipped: skip, AtLeast: capture && (more > 0 || skip > 0)}
		evs = evs[:min(len(evs), max)]
		many.Next = skip + len(evs)
		if capture {
			many.Next = skip + packets(evs)
		}
		err = errors.Join(err, many)
	}
	if len(evs) == 0 && skip > 0 && err == nil {
		return 0, fmt.Errorf("ui: no events after the first %d left out", skip)
	}
	n := 0
	var last uint64
	for i := range evs {
		// The history finds events by ID: they must increase.
		if evs[i].ID <= last {
			return n, errors.Join(err, fmt.Errorf("ui: event %d after event %d: the IDs of a recorded run increase", evs[i].ID, last))
		}
		last = evs[i].ID
		if evs[i].Layer == trace.LayerLink && evs[i].Name == "packet" && len(evs[i].Data) > 0 {
			s.capture.Store(true)
		}
		s.noteNode(evs[i].Node)
		s.hist.adopt(&evs[i]) // the readers' own, not shared
		n++
	}
	if err != nil && n > 0 {
		s.notePartial(err)
	}
	if len(evs) >= bigLoad {
		// Reading a large capture needs, for a moment, several times
		// the memory its events keep; give that back now rather than
		// let the process hold it for as long as the view is open.
		evs = nil // the history has them
		debug.FreeOSMemory()
	}
	return n, err
}

// notePartial keeps, for the page (State.Partial), what a load that kept
// events left out or could not read, in a few words for the status line:
// the part of a run longer than the history it shows, with the --skip
// that shows the next part, and why it stopped reading a file cut short.
func (s *Server) notePartial(err error) {
	var parts []string
	var many *TooManyError
	if errors.As(err, &many) {
		of := strconv.Itoa(many.Events)
		if many.AtLeast {
			of = "at least " + of
		}
		part := fmt.Sprintf("first %d", many.Kept)
		if many.Skipped > 0 {
			part = fmt.Sprintf("%d after the first %d", many.Kept, many.Skipped)
		}
		parts = append(parts, fmt.Sprintf("%s of %s in the file · --skip %d for the next", part, of, many.Next))
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if many != nil && line == many.Error() {
			continue
		}
		parts = append(parts, strings.TrimPrefix(line, "ui: "))
	}
	note := strings.Join(parts, "; ")
	s.partial.Store(&note)
	s.stateVer.Add(1)
}

// packets counts the packets among a capture's events.
func packets(evs []trace.Event) int {
	n := 0
	for i := range evs {
		if evs[i].Layer == trace.LayerLink && evs[i].Name == "packet" {
			n++
		}
	}
	return n
}

// pcapNode names the one stack of a classic pcap. serve and lab write
// theirs with nanosecond times of raw IP packets or Ethernet frames, and
// name their stack "glassnet"; a capture that cannot be theirs (tcpdump
// writes microseconds by default, and Linux cooked headers with -i any)
// is "capture", not a glassnet it was not.
func pcapNode(hdr []byte) string {
	if len(hdr) < 24 {
		return "capture"
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if binary.BigEndian.Uint32(hdr) == 0xa1b23c4d {
		order = binary.BigEndian
	}
	if order.Uint32(hdr) != 0xa1b23c4d {
		return "capture"
	}
	switch order.Uint32(hdr[20:]) & 0x0fffffff { // the low 28 bits are the link type
	case 101, 1: // LINKTYPE_RAW, LINKTYPE_ETHERNET
		return "glassnet"
	}
	return "capture"
}

// bigLoad is the number of events from which Load returns the memory its
// reading needed to the system when it is done.
const bigLoad = 10_000

// TooManyError says that a recorded run held more events than a Server
// keeps: Load kept the first of them, and counted the rest without reading
// them (the lines of a trace, the packets of a capture).
type TooManyError struct {
	Events, Kept int
	// Skipped is how many of the file's first events LoadFrom left out,
	// and Next the skip that shows the part after those kept: events of
	// a trace, packets of a capture (of which the view keeps fewer than
	// Kept, the frames they carry taking the rest).
	Skipped, Next int
	// AtLeast says that Events is a lower bound: the frames of a
	// capture's packets that were counted, not read, are not in it.
	AtLeast bool
}

func (e *TooManyError) Error() string {
	n := strconv.Itoa(e.Events)
	if e.AtLeast {
		n = "at least " + n
	}
	if e.Skipped > 0 {
		return fmt.Sprintf("ui: %s events, more than the view keeps: it shows the %d after the first %d", n, e.Kept, e.Skipped)
	}
	return fmt.Sprintf("ui: %s events, more than the view keeps: it shows the first %d", n, e.Kept)
}

// LaterSchemaError says that a recorded run was written with a later event
// schema than this glassnet's (trace.SchemaVersion): its events are shown,
// but keys this one does not know appear only as fields.
type LaterSchemaError struct {
	Version int
}

func (e *LaterSchemaError) Error() string {
	return fmt.Sprintf("ui: written with event schema v%d, a later one than this glassnet's v%d: what it does not know is shown as plain fields", e.Version, trace.SchemaVersion)
}
