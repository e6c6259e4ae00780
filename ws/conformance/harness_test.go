package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		f        Frame
		client   bool
		lenBytes int
		length   uint64
		masked   bool
	}{
		{"empty text", Text(nil), false, 1, 0, false},
		{"125 masked", Binary(bytes.Repeat([]byte{1}, 125)), true, 1, 125, true},
		{"126 uses 16 bits", Binary(bytes.Repeat([]byte{2}, 126)), false, 2, 126, false},
		{"65536 uses 64 bits", Binary(bytes.Repeat([]byte{3}, 65536)), true, 8, 65536, true},
		{"forced 16 bits", Frame{Fin: true, Opcode: OpText, Payload: []byte("abc"), LenBytes: 2}, false, 2, 3, false},
		{"forced 64 bits", Frame{Fin: true, Opcode: OpText, Payload: []byte("abc"), LenBytes: 8}, true, 8, 3, true},
		{"mask off for a client", Frame{Fin: true, Opcode: OpText, Payload: []byte("abc"), Mask: MaskOff}, true, 1, 3, false},
		{"mask on for a server", Frame{Fin: true, Opcode: OpText, Payload: []byte("abc"), Mask: MaskOn}, false, 1, 3, true},
		{"reserved bits and opcode", Frame{Rsv: 7, Opcode: 0xb, Payload: []byte("x")}, false, 1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.f.Append(nil, tt.client)
			got, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if got.Fin != tt.f.Fin || got.Rsv != tt.f.Rsv || got.Opcode != tt.f.Opcode || got.Masked != tt.masked ||
				got.LenBytes != tt.lenBytes || got.Length != tt.length || !bytes.Equal(got.Payload, tt.f.Payload) {
				t.Fatalf("read back %+v", got)
			}
		})
	}
}

func TestBogusLength(t *testing.T) {
	t.Parallel()
	f := Binary([]byte("abc"))
	f.Length, f.LengthSet = 1<<63|3, true
	b := f.Append(nil, false)
	if len(b) != 2+8+3 || b[1] != 127 || binary.BigEndian.Uint64(b[2:]) != 1<<63|3 {
		t.Fatalf("encoded % x", b)
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), 1<<20); err == nil {
		t.Fatal("ReadFrame took a frame longer than its limit")
	}
}

func TestChopWriter(t *testing.T) {
	t.Parallel()
	var w recordWriter
	ChopWriter{W: &w, Chop: 3}.Write([]byte("abcdefgh"))
	if len(w.writes) != 3 || w.writes[0] != "abc" || w.writes[2] != "gh" {
		t.Fatalf("writes %q", w.writes)
	}
}

type recordWriter struct{ writes []string }

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func TestCaseNumbering(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	autobahn := map[string]int{}
	for _, c := range Cases(Options{}) {
		if seen[c.ID] {
			t.Errorf("case %s appears twice", c.ID)
		}
		seen[c.ID] = true
		if c.Run == nil && c.Handshake == nil {
			t.Errorf("case %s has nothing to run", c.ID)
		}
		if !c.Extra {
			autobahn[c.Group()]++
		}
	}
	// Autobahn's counts for the groups re-created here.
	want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1}
	for g, n := range want {
		if autobahn[g] != n {
			t.Errorf("group %s has %d Autobahn cases, want %d", g, autobahn[g], n)
		}
	}
}

// laxServer is a server that gets the handshake right and then trusts
// everything: it echoes every frame's payload with the same opcode, answers
// pings, echoes close frames verbatim and drops TCP on anything odd. The
// harness must fail it where it is lax.
func laxServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				nc.Write(switchingProtocols(req.Header.Get("Sec-WebSocket-Key")))
				for {
					f, err := ReadFrame(br, 1<<20)
					if err != nil {
						return
					}
					switch f.Opcode {
					case OpPing:
						nc.Write(Encode(false, Pong(f.Payload)))
					case OpClose:
						nc.Write(Encode(false, Frame{Fin: true, Opcode: OpClose, Payload: f.Payload}))
						return
					case OpPong:
					default:
						nc.Write(Encode(false, Frame{Fin: f.Fin, Opcode: f.Opcode, Payload: f.Payload}))
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestHarnessCatchesLaxServer checks the verdicts themselves: a server that
// validates nothing passes the plain echo cases and fails the rest.
func TestHarnessCatchesLaxServer(t *testing.T) {
	t.Parallel()
	addr := laxServer(t)
	var d net.Dialer
	target := Target{Name: "lax", Server: &ServerTarget{
		Dial: func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
		Host: addr, Path: "/",
	}}
	want := map[string]bool{ // case: passes
		"1.1.1": true, "1.2.2": true, "2.2": true, "5.3": true,
		"2.5": false, "3.1": false, "4.1.1": false, "6.3.1": false, "6.4.1": false, "7.9.1": false, "1.4.1": false, "7.3.2": false,
	}
	var only []string
	for id := range want {
		only = append(only, id)
	}
	results, err := Run(context.Background(), target, Options{Only: only, FailTimeout: 500 * time.Millisecond, Quiet: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(want) {
		t.Fatalf("%d results for %d cases", len(results), len(want))
	}
	for _, r := range results {
		t.Log(r)
		if r.Passed() != want[r.Case.ID] {
			t.Errorf("%v: passed %v, want %v", r, r.Passed(), want[r.Case.ID])
		}
	}
}
