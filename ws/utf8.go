package ws

import (
	"encoding/binary"
	"unicode/utf8"
)

// utf8Validator checks UTF-8 (RFC 3629, as required by RFC 6455 §8.1) a
// piece at a time, so that a text message is judged frame by frame and a
// code point may be split between frames. It fails on the first byte that
// cannot begin or continue a valid sequence: overlong forms, surrogates and
// code points above U+10FFFF are rejected as soon as their second byte is
// seen. The zero value is ready for the start of a message.
type utf8Validator struct {
	need   int  // continuation bytes still expected
	lo, hi byte // range allowed for the next continuation byte
	failed bool
}

// write validates p as the continuation of what came before. It returns
// the index in p of the first invalid byte, or -1 if p is fine so far.
func (v *utf8Validator) write(p []byte) int {
	if v.failed {
		return 0
	}
	i := 0
	fast := len(p) >= 64
	for i < len(p) {
		if v.need == 0 {
			if fast {
				// Let the standard library check everything before the
				// last code point, which may continue in the next piece.
				// If it finds a problem, go on byte by byte to find where.
				fast = false
				j := len(p) - 1
				for k := 0; k < 3 && j > i && p[j]&0xc0 == 0x80; k++ {
					j--
				}
				if utf8.Valid(p[i:j]) {
					i = j
				}
			}
			for i+8 <= len(p) && binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i == len(p) {
				break
			}
			c := p[i]
			v.lo, v.hi = 0x80, 0xbf
			switch {
			case c < 0x80:
				i++
				continue
			case c < 0xc2: // continuation byte or overlong 2-byte lead
				v.failed = true
				return i
			case c < 0xe0:
				v.need = 1
			case c == 0xe0: // exclude overlong 3-byte forms
				v.need, v.lo = 2, 0xa0
			case c == 0xed: // exclude surrogates U+D800-U+DFFF
				v.need, v.hi = 2, 0x9f
			case c < 0xf0:
				v.need = 2
			case c == 0xf0: // exclude overlong 4-byte forms
				v.need, v.lo = 3, 0x90
			case c < 0xf4:
				v.need = 3
			case c == 0xf4: // exclude code points above U+10FFFF
				v.need, v.hi = 3, 0x8f
			default:
				v.failed = true
				return i
			}
			i++
			continue
		}
		c := p[i]
		if c < v.lo || c > v.hi {
			v.failed = true
			return i
		}
		v.lo, v.hi = 0x80, 0xbf
		v.need--
		i++
	}
	return -1
}

// complete reports whether everything written so far is valid UTF-8 that
// does not end inside a code point.
func (v *utf8Validator) complete() bool { return !v.failed && v.need == 0 }

// validUTF8 is utf8.Valid by way of the validator.
func validUTF8(p []byte) bool {
	var v utf8Validator
	return v.write(p) < 0 && v.complete()
}
