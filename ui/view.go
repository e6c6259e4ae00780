package ui

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// Load reads a recorded run into an offline Server's history: JSON lines
// as --trace writes them, or a pcapng capture as glassnet writes it
// (--pcap of demo: one interface per stack, the event ID of each packet
// and the frames it carried in its comment). It returns how many events
// it read.
func (s *Server) Load(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if err != nil && len(head) == 0 {
		return 0, errors.New("ui: the file is empty")
	}
	var evs []trace.Event
	if len(head) == 4 && binary.LittleEndian.Uint32(head) == pcapngSHB {
		evs, err = readPCAPNG(br)
	} else {
		evs, err = readJSONL(br)
	}
	for i := range evs {
		s.noteNode(evs[i].Node)
		s.hist.add(&evs[i])
	}
	return len(evs), err
}

// The event keys every JSON line has; the others are fields.
var baseKeys = map[string]bool{"id": true, "t": true, "node": true, "layer": true, "dir": true, "event": true, "conn": true, "summary": true}

// readJSONL reads events written by trace.NewJSON. A line that is not an
// event is an error naming the line.
func readJSONL(r io.Reader) ([]trace.Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []trace.Event
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		e, err := parseEventJSON(b)
		if err != nil {
			return out, fmt.Errorf("ui: line %d: %w", line, err)
		}
		if n := len(out); n > 0 && e.ID <= out[n-1].ID {
			return out, fmt.Errorf("ui: line %d: event %d after event %d: the IDs must increase", line, e.ID, out[n-1].ID)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("ui: line %d: %w", line+1, err)
	}
	return out, nil
}

// parseEventJSON reads one event object.
func parseEventJSON(b []byte) (trace.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return trace.Event{}, err
	}
	var e trace.Event
	id, ok := m["id"].(json.Number)
	if !ok {
		return e, errors.New("no event id")
	}
	var err error
	if e.ID, err = strconv.ParseUint(id.String(), 10, 64); err != nil || e.ID == 0 {
		return e, fmt.Errorf("event id %s is not a positive whole number", id)
	}
	if t, ok := m["t"].(json.Number); ok {
		ns, err := t.Int64()
		if err != nil {
			return e, fmt.Errorf("t %s is not a number of nanoseconds", t)
		}
		e.T = time.Duration(ns)
	}
	str := func(k string) string { v, _ := m[k].(string); return v }
	e.Node, e.Layer, e.Dir, e.Name, e.Conn, e.Summary = str("node"), trace.Layer(str("layer")), trace.Dir(str("dir")), str("event"), str("conn"), str("summary")
	if e.Name == "" || e.Layer == "" {
		return e, errors.New("an event has a layer and an event name")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !baseKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.Fields = append(e.Fields, trace.Field{Key: k, Value: m[k]})
	}
	return e, nil
}

// pcapng blocks and options, as trace.PCAPNG writes them.
const (
	pcapngSHB      = 0x0A0D0D0A
	pcapngIDB      = 0x00000001
	pcapngEPB      = 0x00000006
	pcapngMagic    = 0x1A2B3C4D
	optEnd         = 0
	optComment     = 1
	optIfName      = 2
	optEPBFlags    = 2
	optEPBPacketID = 5
)

// readPCAPNG reads the packets of a little-endian pcapng capture written
// by glassnet into link "packet" events.
func readPCAPNG(r io.Reader) ([]trace.Event, error) {
	var out []trace.Event
	var ifaces []string
	var t0 uint64
	var hdr [8]byte
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, fmt.Errorf("ui: pcapng block %d: %w", n, err)
		}
		typ := binary.LittleEndian.Uint32(hdr[0:])
		size := binary.LittleEndian.Uint32(hdr[4:])
		if size < 12 || size%4 != 0 || size > 16<<20 {
			return out, fmt.Errorf("ui: pcapng block %d: bad length %d", n, size)
		}
		body := make([]byte, size-8)
		if _, err := io.ReadFull(r, body); err != nil {
			return out, fmt.Errorf("ui: pcapng block %d: %w", n, err)
		}
		body = body[:len(body)-4] // the trailing length
		switch typ {
		case pcapngSHB:
			if len(body) < 16 || binary.LittleEndian.Uint32(body) != pcapngMagic {
				return out, errors.New("ui: not a little-endian pcapng file as glassnet writes them")
			}
		case pcapngIDB:
			if len(body) < 8 {
				return out, fmt.Errorf("ui: pcapng block %d: short interface block", n)
			}
			name := fmt.Sprintf("if%d", len(ifaces))
			if v, ok := options(body[8:])[optIfName]; ok {
				name = string(v)
			}
			ifaces = append(ifaces, name)
		case pcapngEPB:
			if len(body) < 20 {
				return out, fmt.Errorf("ui: pcapng block %d: short packet block", n)
			}
			iface := binary.LittleEndian.Uint32(body[0:])
			ts := uint64(binary.LittleEndian.Uint32(body[4:]))<<32 | uint64(binary.LittleEndian.Uint32(body[8:]))
			capLen := binary.LittleEndian.Uint32(body[12:])
			if int(iface) >= len(ifaces) || uint64(capLen) > uint64(len(body)-20) {
				return out, fmt.Errorf("ui: pcapng block %d: bad packet block", n)
			}
			data := body[20 : 20+capLen]
			opts := options(body[20+(capLen+3)/4*4:])
			e := trace.Event{Node: ifaces[iface], Layer: trace.LayerLink, Name: "packet", Data: data}
			if v, ok := opts[optEPBPacketID]; ok && len(v) == 8 {
				e.ID = binary.LittleEndian.Uint64(v)
			}
			if e.ID == 0 {
				e.ID = uint64(len(out) + 1)
			}
			if v, ok := opts[optEPBFlags]; ok && len(v) == 4 {
				switch binary.LittleEndian.Uint32(v) & 3 {
				case 1:
					e.Dir = trace.In
				case 2:
					e.Dir = trace.Out
				}
			}
			if t0 == 0 {
				t0 = ts
			}
			e.T = time.Duration(ts - t0)
			describePacket(&e, string(opts[optComment]))
			if n := len(out); n > 0 && e.ID <= out[n-1].ID {
				return out, fmt.Errorf("ui: pcapng block %d: packet %d after packet %d: the IDs must increase", n, e.ID, out[n-1].ID)
			}
			out = append(out, e)
		}
	}
}

// options reads pcapng options into a map by code.
func options(b []byte) map[uint16][]byte {
	m := map[uint16][]byte{}
	for len(b) >= 4 {
		code := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if code == optEnd || 4+n > len(b) {
			break
		}
		m[code] = b[4 : 4+n]
		b = b[4+(n+3)/4*4:]
		if len(b) < 0 {
			break
		}
	}
	return m
}

// describePacket gives a packet read from a capture the fields and summary
// a live packet event has, and its frames from the comment.
func describePacket(e *trace.Event, comment string) {
	h := hook.ParseHeaders(e.Data)
	e.Summary = packetSummary(e.Data)
	if h.Version == 0 {
		return
	}
	f := []trace.Field{{Key: "src", Value: h.Src.String()}, {Key: "dst", Value: h.Dst.String()}, {Key: "len", Value: h.Len}, {Key: "proto", Value: int(h.Proto)}}
	if h.Proto == hook.ProtoTCP || h.Proto == hook.ProtoUDP {
		f = append(f, trace.Field{Key: "sport", Value: h.SrcPort}, trace.Field{Key: "dport", Value: h.DstPort}, trace.Field{Key: "payload_len", Value: h.Payload})
		e.Conn = fmt.Sprintf("%v->%v", netAddr(h.Src.String(), h.SrcPort), netAddr(h.Dst.String(), h.DstPort))
	}
	if h.Proto == hook.ProtoTCP {
		f = append(f, trace.Field{Key: "flags", Value: flagString(h.Flags)}, trace.Field{Key: "seq", Value: h.Seq}, trace.Field{Key: "ack", Value: h.Ack})
	}
	var frames []uint64
	for _, part := range strings.Split(comment, "; ")[1:] {
		rest, ok := strings.CutPrefix(part, "ws frame #")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, " ")
		if id, err := strconv.ParseUint(num, 10, 64); err == nil {
			frames = append(frames, id)
		}
	}
	if frames != nil {
		f = append(f, trace.Field{Key: "frames", Value: frames})
	}
	if comment != "" {
		f = append(f, trace.Field{Key: "comment", Value: comment})
	}
	e.Fields = f
}

func netAddr(ip string, port uint16) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(int(port))
	}
	return ip + ":" + strconv.Itoa(int(port))
}
