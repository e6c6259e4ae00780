package ui

import (
	"strings"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// carriedScan bounds how far after an egress frame the history is searched
// for the "carried" event that lists its packets.
const carriedScan = 20000

// frameBytes rebuilds a WebSocket frame as it was on the wire from the
// packets that carried it (a frame event holds no bytes; its packets do),
// and its payload unmasked. ok is false when the frame's offset is not a
// TCP stream offset or the history no longer holds every byte of it.
func (s *Server) frameBytes(e *trace.Event) (wire, payload []byte, ok bool) {
	if from, _ := e.Field("offset_from").(string); from != "tcp" {
		return nil, nil, false
	}
	off, ok1 := number(e.Field("offset"))
	hlen, ok2 := number(e.Field("header_len"))
	plen, ok3 := number(e.Field("len"))
	if !ok1 || !ok2 || !ok3 || hlen < 2 || plen < 0 || hlen+plen > 64<<20 {
		return nil, nil, false
	}
	ids := idList(e.Field("packets"))
	// The correlator's later word on the frame lists all its packets.
	for _, c := range s.hist.rangeOf(nil, e.ID+1, e.ID+carriedScan, carriedScan) {
		if c.Layer == trace.LayerWS && c.Name == "carried" && c.Node == e.Node {
			if f, ok := number(c.Field("frame")); ok && uint64(f) == e.ID {
				ids = append(ids, idList(c.Field("packets"))...)
			}
		}
	}
	start, n := int64(off), int64(hlen+plen)
	wire = make([]byte, n)
	have := make([]bool, n)
	for _, id := range ids {
		p, ok := s.hist.get(id)
		if !ok || len(p.Data) == 0 {
			continue
		}
		rel, ok := number(p.Field("rel_seq"))
		if !ok {
			continue
		}
		data, ok := tcpPayload(p.Data)
		if !ok {
			continue
		}
		at := int64(rel) - 1 // the stream offset of its first byte
		if flags, _ := p.Field("flags").(string); strings.Contains(flags, "S") {
			at++ // data on a SYN (TCP Fast Open) follows the SYN
		}
		for i := range data {
			if k := at + int64(i) - start; k >= 0 && k < n {
				wire[k], have[k] = data[i], true
			}
		}
	}
	for _, b := range have {
		if !b {
			return nil, nil, false
		}
	}
	hd, _, err := ws.ParseHeader(wire)
	if err != nil {
		return nil, nil, false
	}
	payload = append([]byte(nil), wire[int(hlen):]...)
	if hd.Masked {
		for i := range payload {
			payload[i] ^= hd.Mask[i%4]
		}
	}
	return wire, payload, true
}
