// Package rawws writes WebSocket client frames byte by byte, the way a
// hostile or a careless client would send them, for tests that probe a
// server below any WebSocket library: any opcode, RSV bits and length
// form, minimal or not, always masked with the same key.
package rawws

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
)

// Mask is the masking key of every frame.
var Mask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// ClientFrame encodes a masked client frame with the minimal length.
func ClientFrame(fin bool, rsv, op byte, p []byte) []byte {
	b0 := rsv<<4 | op
	if fin {
		b0 |= 0x80
	}
	form := 7
	switch {
	case len(p) > 0xffff:
		form = 64
	case len(p) > 125:
		form = 16
	}
	return ClientFrameLen(b0, form, p)
}

// ClientFrameLen encodes a masked client frame whose first byte is b0,
// with the length in the given form (7, 16 or 64 bits), minimal or not.
func ClientFrameLen(b0 byte, form int, p []byte) []byte {
	b := []byte{b0}
	switch form {
	case 7:
		b = append(b, 0x80|byte(len(p)))
	case 16:
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(len(p)))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0x80|127), uint64(len(p)))
	}
	b = append(b, Mask[:]...)
	for i, c := range p {
		b = append(b, c^Mask[i%4])
	}
	return b
}

// CloseFrame encodes a masked close frame with code and reason.
func CloseFrame(code uint16, reason string) []byte {
	return ClientFrame(true, 0, 8, append(binary.BigEndian.AppendUint16(nil, code), reason...))
}

// Deflate compresses p as permessage-deflate sends a message: a raw
// DEFLATE stream flushed, without the final 00 00 ff ff (RFC 7692
// §7.2.1).
func Deflate(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}
