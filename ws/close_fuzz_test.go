package ws

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzClosePayload reads any close frame body. One that parses encodes
// back to the same bytes and has a code a peer may send; one that does
// not is refused with the error that names what is wrong with it (the
// length, the code by its number, or the reason's UTF-8).
func FuzzClosePayload(f *testing.F) {
	for _, p := range [][]byte{
		nil, {0x03}, {0x03, 0xe8}, {0x03, 0xed}, {0x03, 0xee}, {0x03, 0xf7}, {0x0b, 0xb8}, {0x13, 0x87}, {0x13, 0x88},
		ClosePayload(1000, "bye"), ClosePayload(4999, "ünï"), append(ClosePayload(1000, ""), 0xff),
		append(ClosePayload(1001, "a"), 0xe2, 0x82), append(ClosePayload(1000, ""), 0xed, 0xa0, 0x80),
		ClosePayload(1000, strings.Repeat("x", maxCloseReason+1)),
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ParseClosePayload(p)
		if err != nil {
			if code != 0 || reason != "" {
				t.Fatalf("%x: an error (%v) and %v %q", p, err, code, reason)
			}
			switch {
			case len(p) == 1:
				if !errors.Is(err, ErrBadClosePayload) {
					t.Fatalf("%x: %v, want ErrBadClosePayload", p, err)
				}
			case !StatusCode(uint16(p[0])<<8 | uint16(p[1])).ValidOnWire():
				n := strconv.Itoa(int(p[0])<<8 | int(p[1]))
				if !errors.Is(err, ErrBadCloseCode) || !strings.HasSuffix(err.Error(), " "+n) {
					t.Fatalf("%x: %v, want ErrBadCloseCode naming %s", p, err, n)
				}
			case !errors.Is(err, ErrInvalidUTF8):
				t.Fatalf("%x: %v, want ErrInvalidUTF8", p, err)
			}
			if !strings.HasPrefix(err.Error(), "ws: ") {
				t.Fatalf("error %q does not start \"ws: \"", err)
			}
			return
		}
		if len(p) == 0 {
			if code != StatusNoStatusRcvd {
				t.Fatalf("empty body read as %v", code)
			}
			return
		}
		if !code.ValidOnWire() {
			t.Fatalf("%x: took code %d, which no peer may send", p, code)
		}
		if back := ClosePayload(code, reason); !bytes.Equal(back, p) {
			t.Fatalf("%x read as %v %q, which encodes as %x", p, code, reason, back)
		}
	})
}
