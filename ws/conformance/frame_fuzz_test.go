package conformance

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame reads any bytes as the harness reads a server's frames:
// every frame it returns writes back (same bits, same length encoding,
// same key) as exactly the bytes it took; the stream ends with io.EOF
// only at a frame boundary, io.ErrUnexpectedEOF inside a frame, and a
// length over the limit is refused before anything is allocated for it.
func FuzzReadFrame(f *testing.F) {
	for _, b := range [][]byte{
		{}, {0x81}, {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'},
		Encode(true, Text([]byte("hi")), Close(1000, []byte("bye"))),
		Encode(false, Frame{Fin: true, Opcode: OpBinary, Payload: make([]byte, 200)}),
		Encode(false, Frame{Opcode: 0xf, Rsv: 7, LenBytes: 8, Payload: []byte("x")}),
		Encode(false, Frame{Fin: true, Opcode: OpBinary, Length: 1 << 63, LengthSet: true}),
		Encode(false, Frame{Fin: true, Opcode: OpText, LenBytes: 2, Length: 300, LengthSet: true, Payload: []byte("short")}),
		{0x82, 0xfe, 0x00}, {0x82, 0xff, 0, 0, 0, 0, 0, 0, 0}, {0x82, 0x80, 1, 2},
	} {
		f.Add(b)
	}
	const max = 1 << 12
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		r := bufio.NewReader(src)
		used := 0
		for {
			fr, err := ReadFrame(r, max)
			at := len(data) - src.Len() - r.Buffered()
			if err != nil {
				switch {
				case errors.Is(err, io.EOF):
					if at != used || used != len(data) {
						t.Fatalf("io.EOF at %d of %d, the last frame ended at %d", at, len(data), used)
					}
				case errors.Is(err, io.ErrUnexpectedEOF):
					if at != len(data) || used == len(data) {
						t.Fatalf("io.ErrUnexpectedEOF at %d of %d, the last frame ended at %d", at, len(data), used)
					}
				case errors.Is(err, errFrameTooLarge):
					if fr.Length <= max || fr.Payload != nil {
						t.Fatalf("%d bytes refused as too large, payload %d", fr.Length, len(fr.Payload))
					}
				default:
					t.Fatalf("error %v", err)
				}
				return
			}
			if uint64(len(fr.Payload)) != fr.Length {
				t.Fatalf("payload %d bytes, header says %d", len(fr.Payload), fr.Length)
			}
			m := MaskOff
			if fr.Masked {
				m = MaskOn
			}
			back := Frame{Fin: fr.Fin, Rsv: fr.Rsv, Opcode: fr.Opcode, Payload: fr.Payload, Mask: m, Key: fr.Key, KeySet: true, LenBytes: fr.LenBytes}.Append(nil, false)
			if fr.LenBytes == 1 && fr.Length >= 126 || !bytes.Equal(back, data[used:at]) {
				t.Fatalf("frame %+v read from %x writes back as %x", fr, data[used:at], back)
			}
			used = at
		}
	})
}
