package ws

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Opcode is the 4-bit frame type (RFC 6455 §5.2, §11.8).
type Opcode byte

// The opcodes RFC 6455 defines; the others are reserved.
const (
	OpContinuation Opcode = 0x0 // a later fragment of a message
	OpText         Opcode = 0x1 // a text message (UTF-8), or its first fragment
	OpBinary       Opcode = 0x2 // a binary message, or its first fragment
	OpClose        Opcode = 0x8 // the close handshake (§5.5.1)
	OpPing         Opcode = 0x9 // a ping, answered with a pong (§5.5.2)
	OpPong         Opcode = 0xA // a pong (§5.5.3)
)

// IsControl reports whether op is a control opcode (RFC 6455 §5.5).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// Known reports whether op is defined by RFC 6455 rather than reserved.
func (op Opcode) Known() bool {
	switch op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return true
	}
	return false
}

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(0x" + strconv.FormatUint(uint64(op), 16) + ")"
}

// ParseOpcode returns the opcode named s ("text", "binary",
// "continuation", "close", "ping", "pong"), as Opcode.String names them,
// or numbered: "3", "0x3", or "opcode(0x3)" as String writes a reserved one.
func ParseOpcode(s string) (Opcode, error) {
	for _, op := range []Opcode{OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong} {
		if strings.EqualFold(s, op.String()) {
			return op, nil
		}
	}
	num := s
	if hex, ok := strings.CutPrefix(strings.ToLower(s), "opcode(0x"); ok {
		if hex, ok = strings.CutSuffix(hex, ")"); ok {
			num = "0x" + hex
		}
	}
	if v, err := strconv.ParseUint(num, 0, 4); err == nil {
		return Opcode(v), nil
	}
	return 0, errors.New("ws: unknown opcode " + strconv.Quote(s))
}

// The reserved bits as they appear in Header.Rsv.
const (
	Rsv1 byte = 0x4
	Rsv2 byte = 0x2
	Rsv3 byte = 0x1
)

const (
	// MinHeaderSize is the size of a header with a 7-bit length and no mask.
	MinHeaderSize = 2
	// MaxHeaderSize is the size of a header with a 64-bit length and a mask.
	MaxHeaderSize = 14
	// MaxControlPayload is the longest payload a control frame may carry
	// (RFC 6455 §5.5).
	MaxControlPayload = 125
)

// Byte offsets and bits of the fixed part of a header (RFC 6455 §5.2).
const (
	flagsOffset  = 0 // FIN, RSV1-3, opcode
	lengthOffset = 1 // MASK, payload length (7 bits)
	extOffset    = 2 // extended payload length, then masking key

	finBit     = 0x80
	rsvMask    = 0x70
	opcodeMask = 0x0f
	maskBit    = 0x80
	len7Mask   = 0x7f

	len16 = 126 // 7-bit length value announcing a 16-bit length
	len64 = 127 // 7-bit length value announcing a 64-bit length
)

// RawHeader is a view of the bytes of an encoded frame header. The accessors
// for the fixed part need len >= MinHeaderSize; PayloadLength and MaskingKey
// need len >= Size().
type RawHeader []byte

// Fin reports the FIN bit: this frame is the last of its message.
func (b RawHeader) Fin() bool { return b[flagsOffset]&finBit != 0 }

// Rsv returns RSV1-3 as the low three bits (RSV1 is 0x4).
func (b RawHeader) Rsv() byte { return (b[flagsOffset] & rsvMask) >> 4 }

// Opcode returns the frame type.
func (b RawHeader) Opcode() Opcode { return Opcode(b[flagsOffset] & opcodeMask) }

// Masked reports the MASK bit.
func (b RawHeader) Masked() bool { return b[lengthOffset]&maskBit != 0 }

// Length7 returns the 7-bit payload length field: the length itself, or 126
// or 127 announcing a 16-bit or 64-bit extended length.
func (b RawHeader) Length7() byte { return b[lengthOffset] & len7Mask }

// extSize returns the size of the extended length field.
func (b RawHeader) extSize() int {
	switch b.Length7() {
	case len16:
		return 2
	case len64:
		return 8
	}
	return 0
}

// Size returns the full size of the header, decided by its first two bytes.
func (b RawHeader) Size() int {
	n := MinHeaderSize + b.extSize()
	if b.Masked() {
		n += 4
	}
	return n
}

// PayloadLength returns the payload length as encoded, which may have the
// most significant bit set (a protocol error).
func (b RawHeader) PayloadLength() uint64 {
	switch b.Length7() {
	case len16:
		return uint64(binary.BigEndian.Uint16(b[extOffset:]))
	case len64:
		return binary.BigEndian.Uint64(b[extOffset:])
	}
	return uint64(b.Length7())
}

// MaskingKey returns the masking key, or zeros when the frame is not masked.
func (b RawHeader) MaskingKey() (key [4]byte) {
	if b.Masked() {
		copy(key[:], b[extOffset+b.extSize():])
	}
	return key
}

// Header is a decoded frame header.
type Header struct {
	Fin    bool    // the last frame of a message (control frames always)
	Rsv    byte    // RSV1-3 in the low three bits: Rsv1|Rsv2|Rsv3
	Opcode Opcode  // what the frame carries
	Masked bool    // the payload is masked with Mask (frames from a client)
	Length int64   // payload length, >= 0
	Mask   [4]byte // the masking key, when Masked
}

// ParseHeader decodes the frame header at the start of b without
// allocating and returns it with its size in bytes. If b is too short it
// returns ErrShortHeader and the number of bytes needed so far (2 until the
// first two bytes are known, then the full size). A 64-bit length with its
// most significant bit set is ErrLengthOverflow, and a length in a longer
// encoding than it needs is ErrNonMinimalLength (RFC 6455 §5.2: "the
// minimal number of bytes MUST be used"). ParseHeader checks only the
// encoding; Validate checks the framing rules.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < MinHeaderSize {
		return Header{}, MinHeaderSize, ErrShortHeader
	}
	raw := RawHeader(b)
	n := raw.Size()
	if len(b) < n {
		return Header{}, n, ErrShortHeader
	}
	length := raw.PayloadLength()
	if length > 1<<63-1 {
		return Header{}, n, ErrLengthOverflow
	}
	if ext := raw.extSize(); ext == 2 && length < len16 || ext == 8 && length <= 0xffff {
		return Header{}, n, ErrNonMinimalLength
	}
	return Header{
		Fin:    raw.Fin(),
		Rsv:    raw.Rsv(),
		Opcode: raw.Opcode(),
		Masked: raw.Masked(),
		Length: int64(length),
		Mask:   raw.MaskingKey(),
	}, n, nil
}

// Validate reports the first rule of RFC 6455 §5 that h breaks on a
// connection without extensions: nonzero RSV bits (§5.2), an unknown opcode
// (§5.2), a fragmented control frame or one longer than 125 bytes (§5.5).
// Masking depends on the direction and is checked by the caller.
func (h Header) Validate() error {
	switch {
	case h.Rsv != 0:
		return ErrReservedBits
	case !h.Opcode.Known():
		return ErrUnknownOpcode
	case h.Opcode.IsControl() && !h.Fin:
		return ErrFragmentedControl
	case h.Opcode.IsControl() && h.Length > MaxControlPayload:
		return ErrControlTooLong
	}
	return nil
}

// Size returns the encoded size of h, using the shortest length encoding.
func (h Header) Size() int {
	n := MinHeaderSize
	switch {
	case h.Length > 0xffff:
		n += 8
	case h.Length >= len16:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// PutHeader encodes h into b with the minimal length encoding (RFC 6455
// §5.2) and returns the number of bytes written. It panics if b is shorter
// than h.Size() or h.Length is negative.
func PutHeader(b []byte, h Header) int {
	if h.Length < 0 {
		panic("ws: negative payload length")
	}
	n := h.Size()
	_ = b[n-1]
	b[flagsOffset] = byte(h.Opcode)&opcodeMask | (h.Rsv<<4)&rsvMask
	if h.Fin {
		b[flagsOffset] |= finBit
	}
	i := extOffset
	switch {
	case h.Length > 0xffff:
		b[lengthOffset] = len64
		binary.BigEndian.PutUint64(b[i:], uint64(h.Length))
		i += 8
	case h.Length >= len16:
		b[lengthOffset] = len16
		binary.BigEndian.PutUint16(b[i:], uint16(h.Length))
		i += 2
	default:
		b[lengthOffset] = byte(h.Length)
	}
	if h.Masked {
		b[lengthOffset] |= maskBit
		copy(b[i:], h.Mask[:])
	}
	return n
}

// AppendHeader appends the encoding of h to dst.
func AppendHeader(dst []byte, h Header) []byte {
	var b [MaxHeaderSize]byte
	n := PutHeader(b[:], h)
	return append(dst, b[:n]...)
}

// String returns a one-line account such as "FIN text len=5 masked".
func (h Header) String() string {
	var s strings.Builder
	if h.Fin {
		s.WriteString("FIN ")
	}
	if h.Rsv&Rsv1 != 0 {
		s.WriteString("RSV1 ")
	}
	if h.Rsv&Rsv2 != 0 {
		s.WriteString("RSV2 ")
	}
	if h.Rsv&Rsv3 != 0 {
		s.WriteString("RSV3 ")
	}
	s.WriteString(h.Opcode.String())
	s.WriteString(" len=")
	s.WriteString(strconv.FormatInt(h.Length, 10))
	if h.Masked {
		s.WriteString(" masked")
	}
	return s.String()
}

// ReadHeader reads one frame header from r. A stream that ends before the
// first byte gives io.EOF; one that ends inside the header gives
// io.ErrUnexpectedEOF.
func ReadHeader(r io.Reader) (Header, error) {
	var b [MaxHeaderSize]byte
	if _, err := io.ReadFull(r, b[:MinHeaderSize]); err != nil {
		return Header{}, err
	}
	n := RawHeader(b[:]).Size()
	if _, err := io.ReadFull(r, b[MinHeaderSize:n]); err != nil {
		return Header{}, noEOF(err)
	}
	h, _, err := ParseHeader(b[:n])
	return h, err
}

// WriteHeader writes the encoding of h to w.
func WriteHeader(w io.Writer, h Header) error {
	var b [MaxHeaderSize]byte
	n := PutHeader(b[:], h)
	_, err := w.Write(b[:n])
	return err
}

// Frame is a header with its payload. Payload holds the application data:
// ReadFrame unmasks it and WriteFrame masks a copy of it when
// Header.Masked is set.
type Frame struct {
	Header  Header
	Payload []byte
}

// NewFrame returns an unmasked frame with the given FIN bit, opcode and
// payload.
func NewFrame(fin bool, op Opcode, payload []byte) Frame {
	return Frame{Header: Header{Fin: fin, Opcode: op, Length: int64(len(payload))}, Payload: payload}
}

// readChunk bounds how much ReadFrame allocates ahead of the data that has
// actually arrived, so that a header announcing a huge length costs
// nothing until the bytes exist.
const readChunk = 64 << 10

// ReadFrame reads one frame from r and unmasks its payload. It does not
// apply Validate. A stream that ends inside the frame gives
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (Frame, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return Frame{}, err
	}
	var p []byte
	for int64(len(p)) < h.Length {
		n := int(min(h.Length-int64(len(p)), readChunk))
		p = append(p, make([]byte, n)...)
		if _, err := io.ReadFull(r, p[len(p)-n:]); err != nil {
			return Frame{Header: h}, noEOF(err)
		}
	}
	if h.Masked {
		Mask(h.Mask, 0, p)
	}
	return Frame{Header: h, Payload: p}, nil
}

// WriteFrame writes f to w. Header.Length is taken from len(Payload). When
// Header.Masked is set the payload is masked with Header.Mask into a copy;
// f.Payload is not modified.
func WriteFrame(w io.Writer, f Frame) error {
	h := f.Header
	h.Length = int64(len(f.Payload))
	b := AppendHeader(make([]byte, 0, h.Size()+len(f.Payload)), h)
	start := len(b)
	b = append(b, f.Payload...)
	if h.Masked {
		Mask(h.Mask, 0, b[start:])
	}
	_, err := w.Write(b)
	return err
}

// noEOF turns io.EOF in the middle of a unit into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
