package ws

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    Header
		size int
	}{
		{"empty", Header{Fin: true, Opcode: OpText}, 2},
		{"125", Header{Fin: true, Opcode: OpBinary, Length: 125}, 2},
		{"126 uses 16 bits", Header{Opcode: OpText, Length: 126}, 4},
		{"65535 uses 16 bits", Header{Fin: true, Opcode: OpBinary, Length: 0xffff}, 4},
		{"65536 uses 64 bits", Header{Fin: true, Opcode: OpBinary, Length: 0x10000}, 10},
		{"largest", Header{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1}, 10},
		{"masked", Header{Fin: true, Opcode: OpPing, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 5}, 6},
		{"masked 64", Header{Opcode: OpContinuation, Masked: true, Mask: [4]byte{9, 8, 7, 6}, Length: 1 << 40}, 14},
		{"rsv", Header{Fin: true, Rsv: Rsv1 | Rsv3, Opcode: OpText, Length: 3}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := AppendHeader(nil, tt.h)
			if len(b) != tt.size || tt.h.Size() != tt.size {
				t.Fatalf("encoded size %d (Size %d), want %d", len(b), tt.h.Size(), tt.size)
			}
			got, n, err := ParseHeader(b)
			if err != nil || n != tt.size || got != tt.h {
				t.Fatalf("ParseHeader = %+v, %d, %v; want %+v, %d", got, n, err, tt.h, tt.size)
			}
			got, err = ReadHeader(bytes.NewReader(b))
			if err != nil || got != tt.h {
				t.Fatalf("ReadHeader = %+v, %v", got, err)
			}
			for i := range len(b) {
				if _, need, err := ParseHeader(b[:i]); !errors.Is(err, ErrShortHeader) || need <= i {
					t.Fatalf("ParseHeader(%d of %d bytes) = need %d, %v", i, len(b), need, err)
				}
			}
		})
	}
}

func TestRawHeaderAccessors(t *testing.T) {
	t.Parallel()
	// RFC 6455 §5.7: a masked "Hello" from a client.
	b := RawHeader{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}
	if !b.Fin() || b.Rsv() != 0 || b.Opcode() != OpText || !b.Masked() || b.Length7() != 5 ||
		b.Size() != 6 || b.PayloadLength() != 5 || b.MaskingKey() != [4]byte{0x37, 0xfa, 0x21, 0x3d} {
		t.Fatalf("accessors disagree with RFC 6455 §5.7")
	}
}

func TestRFCExamples(t *testing.T) {
	t.Parallel()
	// RFC 6455 §5.7.
	tests := []struct {
		name string
		wire []byte
		want Frame
	}{
		{"unmasked Hello", []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f},
			NewFrame(true, OpText, []byte("Hello"))},
		{"masked Hello", []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
			masked(true, OpText, []byte("Hello"))},
		{"fragment Hel", []byte{0x01, 0x03, 0x48, 0x65, 0x6c}, NewFrame(false, OpText, []byte("Hel"))},
		{"fragment lo", []byte{0x80, 0x02, 0x6c, 0x6f}, NewFrame(true, OpContinuation, []byte("lo"))},
		{"ping", []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}, NewFrame(true, OpPing, []byte("Hello"))},
		{"masked pong", []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
			masked(true, OpPong, []byte("Hello"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := ReadFrame(bytes.NewReader(tt.wire))
			if err != nil || f.Header != tt.want.Header || !bytes.Equal(f.Payload, tt.want.Payload) {
				t.Fatalf("ReadFrame = %+v %q, %v", f.Header, f.Payload, err)
			}
			var b bytes.Buffer
			if err := WriteFrame(&b, tt.want); err != nil || !bytes.Equal(b.Bytes(), tt.wire) {
				t.Fatalf("WriteFrame = % x, want % x", b.Bytes(), tt.wire)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    []byte
		err  error
	}{
		{"nothing", nil, ErrShortHeader},
		{"one byte", []byte{0x81}, ErrShortHeader},
		{"16-bit length cut", []byte{0x81, 126, 0}, ErrShortHeader},
		{"mask cut", []byte{0x81, 0x80 | 126, 0, 200, 1, 2, 3}, ErrShortHeader},
		{"64-bit top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, ErrLengthOverflow},
		{"5 in 16 bits", []byte{0x81, 126, 0, 5}, ErrNonMinimalLength},
		{"125 in 16 bits", []byte{0x81, 126, 0, 125}, ErrNonMinimalLength},
		{"65535 in 64 bits", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, ErrNonMinimalLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := ParseHeader(tt.b); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
	if !errors.Is(ErrLengthOverflow, ErrProtocol) {
		t.Fatal("ErrLengthOverflow does not match ErrProtocol")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    Header
		err  error
	}{
		{"text", Header{Fin: true, Opcode: OpText, Length: 1 << 20}, nil},
		{"continuation", Header{Opcode: OpContinuation}, nil},
		{"ping 125", Header{Fin: true, Opcode: OpPing, Length: 125}, nil},
		{"rsv1", Header{Fin: true, Rsv: Rsv1, Opcode: OpText}, ErrReservedBits},
		{"rsv3", Header{Fin: true, Rsv: Rsv3, Opcode: OpBinary}, ErrReservedBits},
		{"opcode 3", Header{Fin: true, Opcode: 3}, ErrUnknownOpcode},
		{"opcode 0xb", Header{Fin: true, Opcode: 0xb}, ErrUnknownOpcode},
		{"fragmented ping", Header{Opcode: OpPing}, ErrFragmentedControl},
		{"close 126", Header{Fin: true, Opcode: OpClose, Length: 126}, ErrControlTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.h.Validate(); err != tt.err {
				t.Fatalf("Validate = %v, want %v", err, tt.err)
			}
			if tt.err != nil && !errors.Is(tt.h.Validate(), ErrProtocol) {
				t.Fatal("not an ErrProtocol")
			}
		})
	}
}

func TestHeaderString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		h    Header
		want string
	}{
		{Header{Fin: true, Opcode: OpText, Masked: true, Length: 5}, "FIN text len=5 masked"},
		{Header{Rsv: Rsv1, Opcode: OpBinary, Length: 70000}, "RSV1 binary len=70000"},
		{Header{Fin: true, Rsv: Rsv2, Opcode: OpPing}, "FIN RSV2 ping len=0"},
		{Header{Rsv: Rsv3, Opcode: OpContinuation, Length: 1}, "RSV3 continuation len=1"},
		{Header{Rsv: Rsv1 | Rsv2 | Rsv3, Opcode: 0xb}, "RSV1 RSV2 RSV3 opcode(0xb) len=0"},
	} {
		if got := tt.h.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}

func TestReadFrameTruncated(t *testing.T) {
	t.Parallel()
	wire := []byte{0x82, 126, 0x01, 0x00, 1, 2, 3}
	if _, err := ReadFrame(bytes.NewReader(wire)); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	// A stream that ends inside a header, also right after its first
	// two bytes or one byte in, ends in the middle of a unit.
	for _, cut := range [][]byte{{0x82}, {0x82, 126}, {0x82, 127, 0, 0}, {0x82, 0x85}, {0x82, 0x85, 1, 2, 3}} {
		if _, err := ReadHeader(bytes.NewReader(cut)); err != io.ErrUnexpectedEOF {
			t.Errorf("ReadHeader(% x) = %v, want io.ErrUnexpectedEOF", cut, err)
		}
		if _, err := ReadFrame(bytes.NewReader(cut)); err != io.ErrUnexpectedEOF {
			t.Errorf("ReadFrame(% x) = %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	// A header that announces 2^62 bytes must not allocate them up front.
	huge := []byte{0x82, 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1}
	if _, err := ReadFrame(bytes.NewReader(huge)); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestParseHeaderAllocs(t *testing.T) {
	b := AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Masked: true, Length: 70000})
	if n := testing.AllocsPerRun(100, func() { ParseHeader(b) }); n != 0 {
		t.Fatalf("ParseHeader allocates %v times", n)
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	// Every length through several rounds of the 64-byte and 8-byte
	// loops and the byte tail, at every key position and every start
	// within a word; the bytes around b stay as they were.
	for n := range 300 {
		for pos := range 4 {
			for start := range 8 {
				buf := make([]byte, start+n+8)
				for i := range buf {
					buf[i] = byte(i * 7)
				}
				want := bytes.Clone(buf)
				for i := range n {
					want[start+i] ^= key[(pos+i)%4]
				}
				b := buf[start : start+n]
				if end := Mask(key, pos, b); end != (pos+n)%4 || !bytes.Equal(buf, want) {
					t.Fatalf("n=%d pos=%d start=%d: end %d, got % x", n, pos, start, end, buf)
				}
			}
		}
	}
	// Masking in pieces equals masking at once.
	whole := bytes.Repeat([]byte("glassnet"), 20)
	pieces := bytes.Clone(whole)
	Mask(key, 0, whole)
	pos := 0
	for _, cut := range [][2]int{{0, 3}, {3, 40}, {40, 41}, {41, 160}} {
		pos = Mask(key, pos, pieces[cut[0]:cut[1]])
	}
	if !bytes.Equal(whole, pieces) {
		t.Fatal("masking in pieces differs")
	}
}

func TestMaskKeys(t *testing.T) {
	t.Parallel()
	var m maskKeys
	seen := map[[4]byte]bool{}
	for i := range 200 {
		k := m.next()
		if k == ([4]byte{}) {
			// A key of zeros masks nothing (and from crypto/rand
			// comes once in 2^32 keys): the buffer was not filled.
			t.Fatalf("key %d is all zeros", i)
		}
		seen[k] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct keys in 200", len(seen))
	}
}

func TestClosePayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		p       []byte
		code    StatusCode
		reason  string
		wantErr error
	}{
		{"empty", nil, StatusNoStatusRcvd, "", nil},
		{"1000", ClosePayload(1000, "bye"), 1000, "bye", nil},
		{"1003", ClosePayload(1003, ""), 1003, "", nil},
		{"1007", ClosePayload(1007, ""), 1007, "", nil},
		{"1011", ClosePayload(1011, ""), 1011, "", nil},
		{"3000", ClosePayload(3000, ""), 3000, "", nil},
		{"4999", ClosePayload(4999, "ünï"), 4999, "ünï", nil},
		{"one byte", []byte{0x03}, 0, "", ErrBadClosePayload},
		{"0", ClosePayload(0, ""), 0, "", ErrBadCloseCode},
		{"999", ClosePayload(999, ""), 0, "", ErrBadCloseCode},
		{"1004", ClosePayload(1004, ""), 0, "", ErrBadCloseCode},
		{"1005 on the wire", []byte{0x03, 0xed}, 0, "", ErrBadCloseCode},
		{"1006", ClosePayload(1006, ""), 0, "", ErrBadCloseCode},
		{"1015", ClosePayload(1015, ""), 0, "", ErrBadCloseCode},
		{"1016", ClosePayload(1016, ""), 0, "", ErrBadCloseCode},
		{"2999", ClosePayload(2999, ""), 0, "", ErrBadCloseCode},
		{"5000", ClosePayload(5000, ""), 0, "", ErrBadCloseCode},
		{"bad reason", append(ClosePayload(1000, ""), 0xff), 0, "", ErrInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, reason, err := ParseClosePayload(tt.p)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if code != tt.code || reason != tt.reason {
				t.Fatalf("got %v %q, want %v %q", code, reason, tt.code, tt.reason)
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	p := make([]byte, 64<<10)
	key := [4]byte{1, 2, 3, 4}
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Mask(key, 1, p)
	}
}

func BenchmarkParseHeader(b *testing.B) {
	h := AppendHeader(nil, Header{Fin: true, Opcode: OpBinary, Masked: true, Length: 70000})
	for b.Loop() {
		ParseHeader(h)
	}
}
