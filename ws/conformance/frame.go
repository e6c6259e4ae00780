package conformance

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"
)

// Opcodes (RFC 6455 §5.2). The harness writes any 4-bit value.
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Masking says whether the harness masks a frame it writes.
type Masking int

const (
	// MaskAuto masks when the harness plays the client, as RFC 6455 §5.3
	// requires, and not when it plays the server.
	MaskAuto Masking = iota
	// MaskOn always masks.
	MaskOn
	// MaskOff never masks.
	MaskOff
)

// Frame is a frame as the harness writes it: every field may break the
// rules. The zero value of the optional fields gives a well-formed frame.
type Frame struct {
	Fin     bool
	Rsv     byte // RSV1-3 in the low three bits (RSV1 is 4)
	Opcode  byte // any 4-bit value
	Payload []byte

	Mask Masking
	// Key is the masking key; the zero key is replaced with a random one
	// unless KeySet is true.
	Key    [4]byte
	KeySet bool

	// LenBytes forces the size of the length encoding: 1 (7 bits), 2
	// (16 bits) or 8 (64 bits). 0 uses the minimal encoding.
	LenBytes int
	// Length, when LengthSet, is announced instead of len(Payload): a
	// bogus length, or one whose payload the case never sends.
	Length    uint64
	LengthSet bool
}

// Text returns an unfragmented text frame.
func Text(p []byte) Frame { return Frame{Fin: true, Opcode: OpText, Payload: p} }

// Binary returns an unfragmented binary frame.
func Binary(p []byte) Frame { return Frame{Fin: true, Opcode: OpBinary, Payload: p} }

// Ping returns a ping frame.
func Ping(p []byte) Frame { return Frame{Fin: true, Opcode: OpPing, Payload: p} }

// Pong returns a pong frame.
func Pong(p []byte) Frame { return Frame{Fin: true, Opcode: OpPong, Payload: p} }

// Cont returns a continuation frame.
func Cont(fin bool, p []byte) Frame { return Frame{Fin: fin, Opcode: OpContinuation, Payload: p} }

// Frag returns a data frame with the given FIN bit and opcode.
func Frag(fin bool, op byte, p []byte) Frame { return Frame{Fin: fin, Opcode: op, Payload: p} }

// Close returns a close frame carrying code and reason (RFC 6455 §5.5.1).
// A negative code gives an empty payload.
func Close(code int, reason []byte) Frame {
	if code < 0 {
		return Frame{Fin: true, Opcode: OpClose}
	}
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return Frame{Fin: true, Opcode: OpClose, Payload: append(p, reason...)}
}

// Append appends the encoding of f to dst. client says whether the harness
// plays the client, which decides MaskAuto.
func (f Frame) Append(dst []byte, client bool) []byte {
	masked := f.Mask == MaskOn || (f.Mask == MaskAuto && client)
	b0 := f.Opcode&0x0f | (f.Rsv&7)<<4
	if f.Fin {
		b0 |= 0x80
	}
	n := uint64(len(f.Payload))
	if f.LengthSet {
		n = f.Length
	}
	enc := f.LenBytes
	if enc == 0 {
		switch {
		case n > 0xffff:
			enc = 8
		case n >= 126:
			enc = 2
		default:
			enc = 1
		}
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	switch enc {
	case 2:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	case 8:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, n)
	default:
		dst = append(dst, b0, b1|byte(n&0x7f))
	}
	if !masked {
		return append(dst, f.Payload...)
	}
	key := f.Key
	if !f.KeySet && key == ([4]byte{}) {
		binary.LittleEndian.PutUint32(key[:], rand.Uint32()|1)
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	mask(key, dst[start:])
	return dst
}

// mask XORs p with key, eight bytes at a time where it can.
func mask(key [4]byte, p []byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, binary.LittleEndian.Uint64(p)^k64)
		p = p[8:]
	}
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// Encode returns the frames encoded back to back.
func Encode(client bool, frames ...Frame) []byte {
	var b []byte
	for _, f := range frames {
		b = f.Append(b, client)
	}
	return b
}

// ChopWriter writes bytes in pieces: Chop bytes per Write (0: all at
// once), sleeping Delay between pieces, so that a peer sees a header or a
// payload arrive a few bytes at a time.
type ChopWriter struct {
	W     io.Writer
	Chop  int
	Delay time.Duration
}

// Write writes b in chops and returns the bytes written.
func (w ChopWriter) Write(b []byte) (int, error) {
	if w.Chop <= 0 || w.Chop >= len(b) {
		return w.W.Write(b)
	}
	n := 0
	for len(b) > 0 {
		k := min(w.Chop, len(b))
		m, err := w.W.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
		if len(b) > 0 && w.Delay > 0 {
			time.Sleep(w.Delay)
		}
	}
	return n, nil
}

// RawFrame is a frame as read off the wire, payload unmasked.
type RawFrame struct {
	Fin      bool
	Rsv      byte
	Opcode   byte
	Masked   bool
	Key      [4]byte
	LenBytes int // size of the length encoding: 1, 2 or 8
	Length   uint64
	Payload  []byte
}

// errFrameTooLarge stops the reader from allocating for a frame larger
// than any case sends.
var errFrameTooLarge = errors.New("conformance: frame larger than the reader accepts")

// ReadFrame reads one frame from r and unmasks its payload. It checks only
// that the frame can be read: a payload longer than max is an error, and
// so is a stream that ends inside the frame (io.ErrUnexpectedEOF).
func ReadFrame(r *bufio.Reader, max uint64) (RawFrame, error) {
	var hdr [14]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return RawFrame{}, err
	}
	f := RawFrame{
		Fin:    hdr[0]&0x80 != 0,
		Rsv:    hdr[0] >> 4 & 7,
		Opcode: hdr[0] & 0x0f,
		Masked: hdr[1]&0x80 != 0,
		Length: uint64(hdr[1] & 0x7f),
	}
	f.LenBytes = 1
	switch f.Length {
	case 126:
		f.LenBytes = 2
	case 127:
		f.LenBytes = 8
	}
	rest := 0
	if f.LenBytes > 1 {
		rest = f.LenBytes
	}
	if f.Masked {
		rest += 4
	}
	if _, err := io.ReadFull(r, hdr[2:2+rest]); err != nil {
		return f, noEOF(err)
	}
	switch f.LenBytes {
	case 2:
		f.Length = uint64(binary.BigEndian.Uint16(hdr[2:]))
	case 8:
		f.Length = binary.BigEndian.Uint64(hdr[2:])
	}
	if f.Masked {
		copy(f.Key[:], hdr[2+rest-4:])
	}
	if f.Length > max {
		return f, fmt.Errorf("%w: %d bytes", errFrameTooLarge, f.Length)
	}
	f.Payload = make([]byte, f.Length)
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		return f, noEOF(err)
	}
	if f.Masked {
		mask(f.Key, f.Payload)
	}
	return f, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// closeWriter is implemented by connections that can send FIN and go on
// reading: *net.TCPConn and *sockets.Conn.
type closeWriter interface {
	CloseWrite() error
}

var _ closeWriter = (*net.TCPConn)(nil)
