package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const goodResponse = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

func TestParseUpgradeResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    int // -1: the whole input
		wantErr string
	}{
		{"complete", goodResponse, -1, ""},
		{"bare status", "HTTP/1.1 101\r\nSec-WebSocket-Accept: " + upgradeAccept + "\r\n\r\n", -1, ""},
		{"header name in any case, value padded", "HTTP/1.1 101 OK\r\nsec-websocket-accept:   " + upgradeAccept + "  \r\n\r\n", -1, ""},
		{"empty", "", 0, ""},
		{"head not ended", goodResponse[:len(goodResponse)-2], 0, ""},
		{"refused", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 0, "not a 101"},
		{"101 of another version", "HTTP/1.0 101 Switching Protocols\r\n\r\n", 0, "not a 101"},
		{"status that starts like 101", "HTTP/1.1 1010 Odd\r\n\r\n", 0, "not a 101"},
		{"wrong accept", "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: AAAA\r\n\r\n", 0, "Sec-WebSocket-Accept"},
		{"no accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 0, "no Sec-WebSocket-Accept"},
		{"header without colon", "HTTP/1.1 101 Switching Protocols\r\nbroken\r\n\r\n", 0, "malformed header"},
		{"too long", strings.Repeat("x", maxResponseHead), 0, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.want
			if want < 0 { // the whole input
				want = len(tt.in)
			}
			n, err := parseUpgradeResponse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseUpgradeResponse = %d, %v; want an error with %q", n, err, tt.wantErr)
				}
				return
			}
			if err != nil || n != want {
				t.Fatalf("parseUpgradeResponse = %d, %v; want %d, nil", n, err, want)
			}
		})
	}
	if _, err := parseUpgradeResponse([]byte("HTTP/1.1 200 OK\r\n\r\n")); !errors.Is(err, errNotUpgraded) {
		t.Errorf("a 200 gives %v, want errNotUpgraded", err)
	}
}

// TestParseUpgradeResponseAfterHead checks that bytes after the head are
// not counted in it (the client refuses them: the server spoke first).
func TestParseUpgradeResponseAfterHead(t *testing.T) {
	t.Parallel()
	n, err := parseUpgradeResponse([]byte(goodResponse + "\x82\x00"))
	if err != nil || n != len(goodResponse) {
		t.Fatalf("parseUpgradeResponse = %d, %v; want %d", n, err, len(goodResponse))
	}
}

func FuzzParseUpgradeResponse(f *testing.F) {
	for _, s := range []string{goodResponse, "", "\r\n\r\n", "HTTP/1.1 101\r\n\r\n", "HTTP/1.1 101 \r\n:\r\n\r\n",
		"HTTP/1.1 101 x\r\nSec-WebSocket-Accept:\r\n\r\n", strings.Repeat("\r\n", 600), goodResponse + goodResponse} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseUpgradeResponse(b)
		if err != nil && n != 0 {
			t.Fatalf("error %v with length %d", err, n)
		}
		if n > 0 {
			if n > len(b) || !bytes.HasSuffix(b[:n], []byte("\r\n\r\n")) {
				t.Fatalf("head length %d does not end a head in %q", n, b)
			}
			if !bytes.HasPrefix(b, []byte("HTTP/1.1 101")) {
				t.Fatalf("accepted %q", b[:n])
			}
		}
	})
}

// TestEchoReply checks the frame the client expects against the masked
// frame it sends: the same payload, unmasked, with the length form RFC
// 6455 5.2 gives each size.
func TestEchoReply(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 64, 125, 126, 4096, 65535} {
		p := messagePayload(size)
		frame := encodeFrame(size)
		key := frame[len(frame)-size-4 : len(frame)-size]
		unmasked := make([]byte, size)
		for i := range size {
			unmasked[i] = frame[len(frame)-size+i] ^ key[i&3]
		}
		if !bytes.Equal(unmasked, p) {
			t.Fatalf("size %d: encodeFrame's payload is not messagePayload", size)
		}
		r := echoReply(p)
		hdr := len(frame) - size - 4
		if !bytes.Equal(r[:hdr], append([]byte{frame[0], frame[1] &^ 0x80}, frame[2:hdr]...)) || !bytes.Equal(r[hdr:], p) {
			t.Fatalf("size %d: reply % x does not match frame header % x", size, r[:hdr], frame[:hdr])
		}
	}
	if echoReply(make([]byte, 1<<16)) != nil {
		t.Error("echoReply of 64 KiB: want nil (the client sends small messages only)")
	}
}
