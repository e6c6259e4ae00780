package ws

import (
	"crypto/rand"
	"encoding/binary"
)

// Mask applies the masking key to b in place (RFC 6455 §5.3): byte i of b is
// XORed with key[(pos+i)%4]. It returns the key position after b, so a
// payload can be masked in pieces. Masking and unmasking are the same
// operation. Mask works a 64-bit word at a time where it can.
func Mask(key [4]byte, pos int, b []byte) int {
	pos &= 3
	if len(b) >= 16 {
		var k [8]byte
		for i := range k {
			k[i] = key[(pos+i)&3]
		}
		kw := binary.LittleEndian.Uint64(k[:])
		// 64 bytes per round, one bounds check for the eight words: the
		// loop is what a large payload costs to unmask.
		for len(b) >= 64 {
			w := b[:64:64]
			binary.LittleEndian.PutUint64(w[0:], binary.LittleEndian.Uint64(w[0:])^kw)
			binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(w[8:])^kw)
			binary.LittleEndian.PutUint64(w[16:], binary.LittleEndian.Uint64(w[16:])^kw)
			binary.LittleEndian.PutUint64(w[24:], binary.LittleEndian.Uint64(w[24:])^kw)
			binary.LittleEndian.PutUint64(w[32:], binary.LittleEndian.Uint64(w[32:])^kw)
			binary.LittleEndian.PutUint64(w[40:], binary.LittleEndian.Uint64(w[40:])^kw)
			binary.LittleEndian.PutUint64(w[48:], binary.LittleEndian.Uint64(w[48:])^kw)
			binary.LittleEndian.PutUint64(w[56:], binary.LittleEndian.Uint64(w[56:])^kw)
			b = b[64:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^kw)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[pos]
		pos = (pos + 1) & 3
	}
	return pos
}

// maskKeys hands out masking keys from a buffer of crypto/rand bytes, so
// a client pays one read of the random source per 64 frames rather than
// one per frame. RFC 6455 §5.3 asks for a fresh unpredictable key per
// frame. It is not safe for concurrent use.
type maskKeys struct {
	buf [256]byte
	off int
}

func (m *maskKeys) next() (k [4]byte) {
	if m.off == 0 || m.off >= len(m.buf) {
		rand.Read(m.buf[:])
		m.off = 0
	}
	copy(k[:], m.buf[m.off:])
	m.off += 4
	return k
}
