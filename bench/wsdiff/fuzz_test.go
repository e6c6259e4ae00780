package wsdiff

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/glassnet/glassnet/internal/rawws"
)

// FuzzAgainstGorilla sends random sequences of frames, each followed by a
// close 1000, to glassnet's server and gorilla's, and checks that both
// answer with the same frames: the same echoes and pongs, and the same
// close code, that is, that they agree on which sequences are valid and
// which fail the connection. The sequences keep to what RFC 6455 decides
// one way and both libraries implement: opcodes, FIN, RSV bits without an
// extension, control frames fragmented or over 125 bytes, continuation
// frames out of place, masking, close codes and close bodies. They leave
// out what the probe table shows the two answer differently for reasons
// of their own (text that is not UTF-8, which gorilla does not check;
// lengths not in their minimal encoding; close bodies of one byte).
func FuzzAgainstGorilla(f *testing.F) {
	var glassnet, gorilla string
	for _, tg := range startTargets(f) {
		switch tg.name {
		case "glassnet":
			glassnet = tg.addr
		case "gorilla":
			gorilla = tg.addr
		}
	}
	for _, seed := range [][]byte{
		{},
		{0x00, 5, 0},                         // text
		{0x08, 1, 0, 0x02, 1, 0},             // fragmented text, then its end
		{0x08, 1, 0, 0x03, 3, 0, 0x02, 0, 0}, // a ping inside it
		{0x0b, 0, 0},                         // a fragmented ping
		{0x03, 126, 0},                       // a ping of 126 bytes
		{0x05, 2, 14},                        // close 999
		{0x05, 2, 19},                        // close 2999
		{0x02, 1, 0},                         // a continuation without a start
		{0x70, 1, 0},                         // RSV bits
		{0x06, 1, 0},                         // opcode 3
		{0x00, 1, 0xc0},                      // unmasked
		{0x08, 1, 0, 0x00, 1, 0},             // a new message inside a fragmented one
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		send := fuzzFrames(data)
		head := request()
		want := framesOf(run(glassnet, head, send, false))
		got := framesOf(run(gorilla, head, send, false))
		if want != got {
			t.Errorf("frames % x\n\tglassnet %s\n\tgorilla  %s", send, want, got)
		}
	})
}

// fuzzCloseCodes are the close codes a fuzzed close frame carries: valid
// ones and ones RFC 6455 §7.4 rules out, all of which gorilla and glassnet
// judge alike.
var fuzzCloseCodes = []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
	0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}

// fuzzFrames turns data into up to 8 frames, three bytes each: the first
// chooses the opcode, FIN and RSV bits, the second the payload length
// (0 to 130, encoded minimally), the third the close code, and whether
// the frame is masked.
func fuzzFrames(data []byte) []byte {
	var out []byte
	for i := 0; len(data) >= 3 && i < 8; i++ {
		a, b, c := data[0], data[1], data[2]
		data = data[3:]
		op := []byte{1, 2, 0, 9, 10, 8, 3, 11}[a&7]
		fin := a&8 == 0
		var rsv byte
		if a&0x70 == 0x70 {
			rsv = a >> 4 & 7 // rarely: all three
		} else if a&0x30 == 0x30 {
			rsv = 4 >> (a >> 6 & 3) & 7
		}
		n := int(b) % 131
		p := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz", 6)[:n])
		if op == 8 {
			if n == 1 {
				n, p = 0, nil
			}
			if n >= 2 {
				binary.BigEndian.PutUint16(p, fuzzCloseCodes[int(c&0x3f)%len(fuzzCloseCodes)])
			}
		}
		f := rawws.ClientFrame(fin, rsv, op, p)
		if c&0xc0 == 0xc0 {
			// unmasked: clear the bit and the key, unmask the payload
			f = unmasked(f)
		}
		out = append(out, f...)
	}
	return append(out, close1000...)
}

// unmasked rewrites a masked client frame as an unmasked one.
func unmasked(f []byte) []byte {
	h := 2
	switch f[1] & 0x7f {
	case 126:
		h = 4
	case 127:
		h = 10
	}
	key := f[h : h+4]
	p := slices.Clone(f[h+4:])
	for i := range p {
		p[i] ^= key[i%4]
	}
	out := append([]byte{f[0], f[1] &^ 0x80}, f[2:h]...)
	return append(out, p...)
}

// framesOf keeps the frames of an outcome, without the close reasons and
// without how TCP ended, which depends on timing with gorilla (an unread
// byte when it closes makes its kernel send a reset).
func framesOf(outcome string) string {
	var keep []string
	for p := range strings.SplitSeq(keyOf(outcome), "; ") {
		if p == "FIN" || p == "RST" || p == "open" || strings.HasSuffix(p, "after the client's close") {
			continue
		}
		keep = append(keep, p)
	}
	return strings.Join(keep, "; ")
}
