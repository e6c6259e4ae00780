package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Magic numbers of a classic pcap file (microsecond and nanosecond
// timestamps), as read in the file's own byte order.
const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
)

// IsPCAP reports whether head, a file's first four bytes, starts a classic
// pcap capture (either byte order, either timestamp resolution).
func IsPCAP(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	for _, m := range []uint32{binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)} {
		if m == pcapMagicMicro || m == pcapMagicNano {
			return true
		}
	}
	return false
}

// maxPCAPRecord bounds one packet ReadPCAP reads.
const maxPCAPRecord = 16 << 20

// ReadPCAP reads a classic pcap capture, as glassnet serve and lab write
// them with --pcap (one stack, LINKTYPE_RAW or LINKTYPE_ETHERNET), into
// link "packet" events of node, numbered from 1 and described as
// ReadPCAPNG describes them: as the stack traced them, with TCP sequence
// numbers relative from the SYNs the capture holds (a direction whose SYN
// is not in it counts, as Wireshark does, from its first packet). The
// format keeps no direction: on a connection whose SYN (without ACK) is
// in the capture, a packet from the end the SYN was sent to is the
// stack's own, going out, and every other packet comes in; elsewhere, a
// packet from an address some SYN was sent to goes out, and in a capture
// with no SYN at all one from the lower of its two ports (a server's,
// most likely). So a capture of a server (serve, lab)
// reads the right way round, and so does one on loopback, where both ends
// are this host's. T is the time since the capture's earliest packet, and
// the "time" field the packet's own stamp. A capture that ends inside a
// packet stops the reading: the packets before it are returned with an
// error.
func ReadPCAP(r io.Reader, node string) ([]Event, error) {
	events, _, err := ReadPCAPRange(r, node, 0, 0)
	return events, err
}

// ReadPCAPRange is ReadPCAP that leaves out the first skip packets and
// reads at most limit after them (all of them when limit is 0), and
// returns, as more, how many packets follow them. The packets left out
// and those that follow are counted, not read: a capture of any length
// costs the memory of limit packets. The packets keep their numbers in
// the capture, and times count from the earliest of the packets read.
func ReadPCAPRange(r io.Reader, node string, skip, limit int) (events []Event, more int, err error) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("trace: pcap: the file header: %w", noEOF(err))
	}
	var order binary.ByteOrder = binary.LittleEndian
	magic := order.Uint32(hdr[0:4])
	if magic != pcapMagicMicro && magic != pcapMagicNano {
		order = binary.BigEndian
		magic = order.Uint32(hdr[0:4])
	}
	if magic != pcapMagicMicro && magic != pcapMagicNano {
		return nil, 0, errors.New("trace: pcap: not a pcap file")
	}
	perSec := uint64(1e6)
	if magic == pcapMagicNano {
		perSec = 1e9
	}
	linkType := order.Uint32(hdr[20:24]) & 0x0fffffff
	var stamps []time.Time
	isns := captureISNs{}
	kept := new(packed)
	var rec [16]byte
	var skipped []byte // the bytes of a packet counted, not read
	for n := uint64(1); ; n++ {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if err == io.EOF {
				break
			}
			return finishPCAP(events, stamps), more, fmt.Errorf("trace: pcap: packet %d: %w", n, noEOF(err))
		}
		capLen := order.Uint32(rec[8:12])
		if capLen > maxPCAPRecord {
			return finishPCAP(events, stamps), more, fmt.Errorf("trace: pcap: packet %d: %d bytes captured, more than a packet can be", n, capLen)
		}
		if uint64(skip) >= n || limit > 0 && len(events) == limit {
			if cap(skipped) < int(capLen) {
				skipped = make([]byte, capLen)
			}
			if _, err := io.ReadFull(r, skipped[:capLen]); err != nil {
				return finishPCAP(events, stamps), more, fmt.Errorf("trace: pcap: packet %d: %w", n, noEOF(err))
			}
			if uint64(skip) < n {
				more++
			}
			continue
		}
		data := kept.bytes(int(capLen))
		if _, err := io.ReadFull(r, data); err != nil {
			return finishPCAP(events, stamps), more, fmt.Errorf("trace: pcap: packet %d: %w", n, noEOF(err))
		}
		frac := uint64(order.Uint32(rec[4:8]))
		ts := time.Unix(int64(order.Uint32(rec[0:4])), int64(frac*1e9/perSec))
		e := Event{ID: n, Node: node, Layer: LayerLink, Name: "packet"}
		describeCaptured(&e, linkType, data, int(order.Uint32(rec[12:16])), ts, isns, kept, nil, "")
		events = append(events, e)
		stamps = append(stamps, ts)
	}
	return finishPCAP(events, stamps), more, nil
}

// finishPCAP gives the packets their times and directions (see ReadPCAP).
func finishPCAP(events []Event, stamps []time.Time) []Event {
	relativeTimes(events, stamps)
	guessDirections(events)
	return events
}

// relativeTimes gives each packet of a capture, whose stamps are those
// the capture gave them, its time (T) since the earliest of them.
//
// Wireshark counts from the first packet, and shows one stamped earlier
// (a capture of several interfaces, or of several CPUs' buffers, need not
// be in time order) at a negative time. Here no time is negative, and the
// packets keep the order the capture has (their numbers, what the view
// lists them by), with their true distances in time: in a capture whose
// first packet is its earliest, which most are, the times are Wireshark's.
// Each packet keeps its own stamp in its "time" field, which an export
// writes back (see PCAPNG).
func relativeTimes(events []Event, stamps []time.Time) {
	if len(stamps) == 0 {
		return
	}
	first := slices.MinFunc(stamps, time.Time.Compare)
	for i := range events {
		events[i].T = stamps[i].Sub(first)
	}
}

// guessDirections gives each packet without a direction the one ReadPCAP
// describes, node by node: from the SYNs the capture holds, or from the
// ports when it holds none.
func guessDirections(events []Event) {
	type own struct {
		addr   map[netip.Addr]bool
		end    map[netip.AddrPort]bool // where a SYN went: the accepting end
		opened map[string]bool         // connections whose SYN is in the capture
	}
	nodes := map[string]*own{}
	of := func(node string) *own {
		o := nodes[node]
		if o == nil {
			o = &own{map[netip.Addr]bool{}, map[netip.AddrPort]bool{}, map[string]bool{}}
			nodes[node] = o
		}
		return o
	}
	for i := range events {
		e := &events[i]
		if flags, _ := e.Field("flags").(string); flags == "S" {
			if dst, ok := end(e, "dst", "dport"); ok {
				o := of(e.Node)
				o.addr[dst.Addr()] = true
				o.end[dst] = true
				o.opened[e.Conn] = true
			}
		}
	}
	for i := range events {
		e := &events[i]
		if e.Dir != "" {
			continue // the capture says
		}
		o := of(e.Node)
		e.Dir = In
		src, ok := end(e, "src", "sport")
		switch {
		case !ok:
		case o.opened[e.Conn] || o.opened[reverseConn(e.Conn)]:
			// Both ends may be this host's (a capture on loopback):
			// the end that accepted the connection is the stack's.
			if o.end[src] {
				e.Dir = Out
			}
		case o.addr[src.Addr()]:
			e.Dir = Out
		case len(o.addr) == 0 && src.Port() != 0:
			// No SYN anywhere in the capture: as Wireshark guesses,
			// the lower port is the server's, the stack's own.
			if dst, ok := end(e, "dst", "dport"); ok && src.Port() < dst.Port() {
				e.Dir = Out
			}
		}
	}
}

// end returns the address and port of a packet's source or destination
// (port 0 for a packet without ports).
func end(e *Event, addrKey, portKey string) (netip.AddrPort, bool) {
	s, ok := e.Field(addrKey).(string)
	if !ok {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, false
	}
	port, _ := e.Field(portKey).(int)
	return netip.AddrPortFrom(a, uint16(port)), true
}

// captureISNs is SeqBases for a capture read back: the initial sequence
// number of each direction of each TCP connection, learned from its SYNs
// as the packets are read in order, as a stack learns them from the
// packets it traces. A direction whose SYN the capture does not hold (it
// began after the handshake) counts, as Wireshark does, from the first
// of its packets, whose first byte is 1; a SYN seen later (the ports
// used again) starts the count again.
type captureISNs map[[2]netip.AddrPort]uint32

// SeqBases implements SeqBases.
func (m captureISNs) SeqBases(src, dst netip.AddrPort, flags uint8, seq, _ uint32) (seqBase uint32, seqOK bool, ackBase uint32, ackOK bool) {
	k := [2]netip.AddrPort{src, dst}
	if _, ok := m[k]; flags&tcpSYN != 0 {
		m[k] = seq
	} else if !ok {
		m[k] = seq - 1
	}
	seqBase, seqOK = m[k]
	ackBase, ackOK = m[[2]netip.AddrPort{dst, src}]
	return seqBase, seqOK, ackBase, ackOK
}

// reverseConn returns "b->a" for "a->b".
func reverseConn(conn string) string {
	a, b, _ := strings.Cut(conn, "->")
	return b + "->" + a
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
