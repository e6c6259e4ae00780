package trace

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net"
	"strconv"
	"strings"
	"time"
)

// Link types ReadPCAPNG knows the packets of.
const (
	pngLinkTypeNull     = 0   // BSD loopback: the address family, host order
	pngLinkTypeEthernet = 1   // with or without 802.1Q tags
	pngLinkTypeLoop     = 108 // OpenBSD loopback: the address family, network order
	pngLinkTypeSLL      = 113 // Linux "cooked" capture (tcpdump -i any)
	pngLinkTypeIPv4     = 228
	pngLinkTypeIPv6     = 229
	pngLinkTypeSLL2     = 276 // Linux "cooked" capture, version 2
)

// maxPCAPNGBlock bounds one block ReadPCAPNG reads.
const maxPCAPNGBlock = 16 << 20

// ReadPCAPNG reads a pcapng capture, as PCAPNG writes it, back into link
// "packet" events: Node is the interface's name (one per node; "if0",
// "if1" for one without), Dir comes from epb_flags (in a capture without
// them, as dumpcap writes it, it is guessed as ReadPCAP guesses it), ID
// from epb_packetid (else the packets are numbered from 1), T is the time
// since the capture's earliest packet (never negative, the capture's
// order kept) and "time" the packet's own stamp, Data the packet's bytes
// (the IP packet; an Ethernet frame's header is left out), and the
// "frames" field lists the ws frames the comment names. Summary and the
// other fields are read from the IP packet by DescribePacket, as the
// stack describes its packets live, with TCP sequence numbers relative to
// the SYNs the interface's packets hold (as ReadPCAP has them).
// Blocks of other types are skipped; both byte orders are read. A capture
// that ends inside a block, or a block that is malformed, stops the
// reading: the packets before it are returned with an error that names
// the block's offset.
func ReadPCAPNG(r io.Reader) ([]Event, error) {
	events, _, err := ReadPCAPNGRange(r, 0, 0)
	return events, err
}

// ReadPCAPNGRange is ReadPCAPNG that leaves out the first skip packets and
// reads at most n after them (all of them when n is 0), and returns, as
// more, how many packets follow them. The packets left out and those that
// follow are counted, not read: a capture of any length costs the memory
// of n packets. Packets numbered in order keep their numbers in the
// capture, and times count from the earliest of the packets read.
func ReadPCAPNGRange(r io.Reader, skip, n int) (events []Event, more int, err error) {
	events, stamps, more, err := readPCAPNG(r, skip, n)
	relativeTimes(events, stamps)
	guessDirections(events)
	return events, more, err
}

func readPCAPNG(r io.Reader, skip, max int) (events []Event, stamps []time.Time, more int, err error) {
	pr := &pngReader{r: r, isns: map[string]captureISNs{}, kept: new(packed)}
	var (
		ifaces []pngIface
		seq    uint64
	)
	for {
		typ, body, err := pr.block()
		if err != nil {
			if err == io.EOF {
				return events, stamps, more, nil
			}
			return events, stamps, more, err
		}
		switch typ {
		case pngSHB:
			ifaces = ifaces[:0] // interface numbers restart per section
		case pngIDB:
			ifc, err := pr.idb(body)
			if err != nil {
				return events, stamps, more, err
			}
			if ifc.name == "" {
				// No if_name: the interface's number names its node.
				ifc.name = "if" + strconv.Itoa(len(ifaces))
			}
			ifaces = append(ifaces, ifc)
		case pngEPB:
			if skip > 0 {
				skip--
				seq++
				continue
			}
			if max > 0 && len(events) == max {
				more++
				continue
			}
			e, ts, err := pr.epb(body, ifaces)
			if err != nil {
				return events, stamps, more, err
			}
			seq++
			if e.ID == 0 {
				e.ID = seq
			}
			events = append(events, e)
			stamps = append(stamps, ts)
		}
	}
}

type pngIface struct {
	name     string
	linkType uint16
	perSec   uint64 // timestamp units per second (if_tsresol)
}

type pngReader struct {
	r     io.Reader
	order binary.ByteOrder
	off   int64 // offset of the next block
	cur   int64 // offset of the block being read
	hdr   [12]byte
	buf   []byte
	isns  map[string]captureISNs // by interface name: a node learns its own, as its stack did
	kept  *packed                // the events' fields and bytes
}

func (pr *pngReader) errorf(format string, args ...any) error {
	return fmt.Errorf("trace: pcapng: block at offset %d: %s", pr.cur, fmt.Sprintf(format, args...))
}

// block reads the next block and returns its type and body (without the
// type, the lengths and the trailing length). io.EOF means a clean end.
func (pr *pngReader) block() (uint32, []byte, error) {
	pr.cur = pr.off
	n, err := io.ReadFull(pr.r, pr.hdr[:8])
	if err == io.EOF {
		return 0, nil, io.EOF
	}
	if err != nil {
		return 0, nil, pr.errorf("cut short after %d bytes", n)
	}
	le := binary.LittleEndian
	if pr.order == nil || le.Uint32(pr.hdr[:4]) == pngSHB {
		if le.Uint32(pr.hdr[:4]) != pngSHB {
			return 0, nil, pr.errorf("not a pcapng file (no section header first)")
		}
		// The byte-order magic follows the length.
		if _, err := io.ReadFull(pr.r, pr.hdr[8:12]); err != nil {
			return 0, nil, pr.errorf("section header cut short")
		}
		switch {
		case le.Uint32(pr.hdr[8:12]) == pngByteOrder:
			pr.order = binary.LittleEndian
		case binary.BigEndian.Uint32(pr.hdr[8:12]) == pngByteOrder:
			pr.order = binary.BigEndian
		default:
			return 0, nil, pr.errorf("bad byte-order magic %x", pr.hdr[8:12])
		}
		return pr.rest(pngSHB, 12)
	}
	return pr.rest(pr.order.Uint32(pr.hdr[:4]), 8)
}

// rest reads the rest of a block whose first have bytes are in pr.hdr.
func (pr *pngReader) rest(typ uint32, have int) (uint32, []byte, error) {
	total := pr.order.Uint32(pr.hdr[4:8])
	if total < 12 || total%4 != 0 || total > maxPCAPNGBlock || int(total) < have+4 {
		return 0, nil, pr.errorf("bad block length %d", total)
	}
	if cap(pr.buf) < int(total) {
		pr.buf = make([]byte, total)
	}
	b := pr.buf[:total]
	copy(b, pr.hdr[:have])
	if n, err := io.ReadFull(pr.r, b[have:]); err != nil {
		return 0, nil, pr.errorf("cut short: %d of %d bytes", have+n, total)
	}
	if trail := pr.order.Uint32(b[total-4:]); trail != total {
		return 0, nil, pr.errorf("trailing length %d differs from %d", trail, total)
	}
	pr.off += int64(total)
	return typ, b[8 : total-4], nil
}

// options calls f for each option in b, up to opt_endofopt.
func (pr *pngReader) options(b []byte, f func(code uint16, v []byte)) error {
	for len(b) >= 4 {
		code, n := pr.order.Uint16(b[:2]), int(pr.order.Uint16(b[2:4]))
		b = b[4:]
		if code == pngOptEnd {
			return nil
		}
		padded := (n + 3) &^ 3
		if padded > len(b) {
			return pr.errorf("option %d of %d bytes runs past the block", code, n)
		}
		f(code, b[:n])
		b = b[padded:]
	}
	return nil
}

func (pr *pngReader) idb(b []byte) (pngIface, error) {
	if len(b) < 8 {
		return pngIface{}, pr.errorf("interface description of %d bytes", len(b))
	}
	ifc := pngIface{linkType: pr.order.Uint16(b[:2]), perSec: 1e6}
	err := pr.options(b[8:], func(code uint16, v []byte) {
		switch code {
		case pngOptIfName:
			ifc.name = string(v)
		case pngOptIfTSResol:
			if len(v) < 1 {
				return
			}
			r := v[0]
			switch {
			case r&0x80 != 0 && r&0x7f < 64:
				ifc.perSec = 1 << (r & 0x7f)
			case r&0x80 == 0 && r <= 19:
				ifc.perSec = 1
				for range r {
					ifc.perSec *= 10
				}
			}
		}
	})
	return ifc, err
}

func (pr *pngReader) epb(b []byte, ifaces []pngIface) (Event, time.Time, error) {
	if len(b) < 20 {
		return Event{}, time.Time{}, pr.errorf("packet block of %d bytes", len(b))
	}
	idx := pr.order.Uint32(b[0:4])
	if int(idx) >= len(ifaces) {
		return Event{}, time.Time{}, pr.errorf("packet on interface %d of %d", idx, len(ifaces))
	}
	ifc := ifaces[idx]
	ts := uint64(pr.order.Uint32(b[4:8]))<<32 | uint64(pr.order.Uint32(b[8:12]))
	capLen := pr.order.Uint32(b[12:16])
	if uint64(capLen) > uint64(len(b)-20) {
		return Event{}, time.Time{}, pr.errorf("captured length %d past the block", capLen)
	}
	data := b[20 : 20+capLen]
	e := Event{Node: ifc.name, Layer: LayerLink, Name: "packet"}
	var comment string
	err := pr.options(b[20+(int(capLen)+3)&^3:], func(code uint16, v []byte) {
		switch code {
		case pngOptEPBFlags:
			if len(v) >= 4 {
				switch pr.order.Uint32(v) & 3 {
				case pngFlagInbound:
					e.Dir = In
				case pngFlagOutbound:
					e.Dir = Out
				}
			}
		case pngOptEPBPacket:
			if len(v) >= 8 {
				e.ID = pr.order.Uint64(v)
			}
		case pngOptComment:
			comment = string(v)
		}
	})
	if err != nil {
		return Event{}, time.Time{}, err
	}
	sec, frac := ts/ifc.perSec, ts%ifc.perSec
	// In whole numbers: a float's rounding made a nanosecond stamp read
	// back one nanosecond early. frac < perSec, so the quotient fits.
	hi, lo := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(hi, lo, ifc.perSec)
	t := time.Unix(int64(sec), int64(ns))

	isns := pr.isns[ifc.name]
	if isns == nil {
		isns = captureISNs{}
		pr.isns[ifc.name] = isns
	}
	kept := pr.kept.bytes(len(data))
	copy(kept, data)
	describeCaptured(&e, uint32(ifc.linkType), kept, int(pr.order.Uint32(b[16:20])), t, isns, pr.kept, commentFrames(comment), commentNotes(comment))
	return e, t, nil
}

// commentFrames reads the frame IDs from a comment PCAPNG wrote:
// "packet #41; ws frame #40 FIN text ...; ws frame #43 ...".
func commentFrames(c string) []uint64 {
	var ids []uint64
	for _, part := range strings.Split(c, "; ")[1:] {
		rest, ok := strings.CutPrefix(part, "ws frame #")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, " ")
		if id, err := strconv.ParseUint(num, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// commentNotes returns what a comment PCAPNG wrote says besides the packet
// and the frames: "held at link-ingress and sent on into the stack",
// "duplicated at link-egress by rule ...", joined by "; ".
func commentNotes(c string) string {
	var notes []string
	parts := strings.Split(c, "; ")
	if !strings.HasPrefix(parts[0], "packet #") {
		return ""
	}
	for _, part := range parts[1:] {
		if !strings.HasPrefix(part, "ws frame #") {
			notes = append(notes, part)
		}
	}
	return strings.Join(notes, "; ")
}

// describeCaptured fills in e from a captured frame of linkType: the IP
// packet's connection, summary and fields (DescribePacket with isns; the
// IP packet is e.Data; the link's header is left out: Ethernet, with its
// VLAN tags (its MACs and ethertype are fields), Linux cooked capture v1
// and v2, BSD loopback), or for a
// frame of another kind, or one that holds no IP packet, its link type
// and length; and in every case the time the capture stamped it with
// ("time"); and, when frames lists some, the ws frames the packet carried
// ("frames", and in the summary), and the rest of its comment ("notes").
// e keeps data; its fields are cut from kept.
func describeCaptured(e *Event, linkType uint32, data []byte, origLen int, stamp time.Time, isns captureISNs, kept *packed, frames []uint64, notes string) {
	at := stamp.UTC().Format(time.RFC3339Nano)
	ip := data
	var etherIP uint16 // the ethertype of an IP packet in an Ethernet frame
	isIP := func(et uint16) bool { return et == 0x0800 || et == 0x86dd }
	switch linkType {
	case pngLinkTypeRaw, pngLinkTypeIPv4, pngLinkTypeIPv6:
	case pngLinkTypeEthernet:
		ip = nil
		off := 12
		for len(data) >= off+2 {
			et := binary.BigEndian.Uint16(data[off : off+2])
			if et == 0x8100 || et == 0x88a8 { // a VLAN tag
				off += 4
				continue
			}
			if isIP(et) {
				ip, etherIP = data[off+2:], et
			}
			break
		}
	case pngLinkTypeSLL:
		if len(data) < 16 || !isIP(binary.BigEndian.Uint16(data[14:16])) {
			ip = nil
		} else {
			ip = data[16:]
		}
	case pngLinkTypeSLL2:
		if len(data) < 20 || !isIP(binary.BigEndian.Uint16(data[0:2])) {
			ip = nil
		} else {
			ip = data[20:]
		}
	case pngLinkTypeNull, pngLinkTypeLoop:
		// The family (AF_INET is 2; AF_INET6 is 10, 24, 28 or 30,
		// depending on the system) in 4 bytes; the version is in the
		// packet.
		if len(data) < 5 || data[4]>>4 != 4 && data[4]>>4 != 6 {
			ip = nil
		} else {
			ip = data[4:]
		}
	default:
		ip = nil
	}
	if ip != nil {
		wire := origLen - (len(data) - len(ip)) // the IP packet's, without the link's header
		p := describeCut(ip, wire, isns)
		if wire > len(ip) {
			// Cut at the capture's snapshot length: the payload's
			// length is the one the IP header gives, as tcpdump says
			// it, and the bytes are those the capture kept.
			p.OrigLen = Some(wire)
			p.Summary += " [|captured " + strconv.Itoa(len(ip)) + " of " + strconv.Itoa(p.OrigLen.V) + " bytes]"
		}
		p.Time, p.Notes = at, notes
		if etherIP != 0 {
			// The frame's MACs, as the stack traces its own: written
			// again (the view's export), it is the frame it was.
			p.SrcMAC = net.HardwareAddr(data[6:12]).String()
			p.DstMAC = net.HardwareAddr(data[0:6]).String()
			p.EtherType = Some(int(etherIP))
		}
		e.Conn, e.Summary, e.Data = p.Conn, p.Summary, ip
		kept.setFields(e, &p.LinkPacket, frames)
		return
	}
	if linkType == pngLinkTypeEthernet {
		// ARP and the like, as the stack traces its own Ethernet
		// frames: MACs and what the frame says.
		p := DescribeFrame(data, nil)
		p.LinkType, p.Time = Some(int(linkType)), at
		e.Summary = p.Summary
		kept.setFields(e, &p.LinkPacket, frames)
	} else {
		e.Summary = "link type " + strconv.Itoa(int(linkType)) + ", length " + strconv.Itoa(len(data))
		kept.setFields(e, &LinkPacket{Len: len(data), LinkType: Some(int(linkType)), Time: at}, frames)
	}
	e.Data = data
}
