package ui

import (
	"bytes"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// tcpPacket builds an IPv4 TCP segment with valid checksums.
func tcpPacket(payload string) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+len(payload))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2})})
	t := header.TCP(b[header.IPv4MinimumSize:])
	t.Encode(&header.TCPFields{SrcPort: 4000, DstPort: 80, SeqNum: 100, AckNum: 200, DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagAck | header.TCPFlagPsh, WindowSize: 5000})
	copy(b[header.IPv4MinimumSize+header.TCPMinimumSize:], payload)
	hook.FixChecksums(b)
	return b
}

func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }
func str(v string) *string { return &v }

func TestEditPacket(t *testing.T) {
	t.Parallel()
	pkt := tcpPacket("hello")
	for _, tc := range []struct {
		name    string
		e       Edit
		payload string
		resize  bool
		fix     bool
		err     string
		check   func(t *testing.T, h hook.Headers, tcp header.TCP, out []byte)
	}{
		{name: "window", e: Edit{Window: u16(0)}, fix: true, check: func(t *testing.T, h hook.Headers, tcp header.TCP, out []byte) {
			if tcp.WindowSize() != 0 {
				t.Errorf("window %d", tcp.WindowSize())
			}
		}},
		{name: "flags seq ack", e: Edit{Flags: str("FA"), Seq: u32(7), Ack: u32(9)}, fix: true, check: func(t *testing.T, h hook.Headers, tcp header.TCP, out []byte) {
			if tcp.Flags() != header.TCPFlagFin|header.TCPFlagAck || tcp.SequenceNumber() != 7 || tcp.AckNumber() != 9 {
				t.Errorf("flags %v seq %d ack %d", tcp.Flags(), tcp.SequenceNumber(), tcp.AckNumber())
			}
		}},
		{name: "longer payload", e: Edit{}, payload: "hello, world", resize: true, fix: true, check: func(t *testing.T, h hook.Headers, tcp header.TCP, out []byte) {
			if h.Payload != 12 || !bytes.HasSuffix(out, []byte("hello, world")) || int(header.IPv4(out).TotalLength()) != len(out) {
				t.Errorf("payload %d, total length %d of %d", h.Payload, header.IPv4(out).TotalLength(), len(out))
			}
		}},
		{name: "payload that keeps its length", payload: "HELLO", fix: true},
		{name: "payload may not grow here", payload: "hello!", err: "keeps its length"},
		{name: "bad flag", e: Edit{Flags: str("SX")}, err: "flag 'X'"},
		{name: "checksums left", e: Edit{Window: u16(1)}, fix: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p []byte
			if tc.payload != "" {
				p = []byte(tc.payload)
			}
			out, err := editPacket(pkt, tc.e, p, tc.resize, tc.fix)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fixed := append([]byte(nil), out...)
			hook.FixChecksums(fixed)
			if tc.fix != bytes.Equal(fixed, out) {
				t.Errorf("fix=%v but the checksums were fixed=%v", tc.fix, bytes.Equal(fixed, out))
			}
			if bytes.Equal(pkt, tcpPacket("hello")) == false {
				t.Fatal("the held copy changed")
			}
			h := hook.ParseHeaders(out)
			if tc.check != nil {
				tc.check(t, h, header.TCP(out[h.L4:]), out)
			}
		})
	}
}

// TestEditRefused: the fields a held unit shows but cannot change, and a
// frame opcode that is none, are refused with the reason.
func TestEditRefused(t *testing.T) {
	t.Parallel()
	n := 3
	for _, tc := range []struct {
		name       string
		point      string
		compressed bool
		e          Edit
		err        string
	}{
		{"a packet's len", PointLinkEgress, false, Edit{Len: &n}, "ui: len cannot be edited: it follows payload_hex"},
		{"a send's fd", PointSocketSend, false, Edit{FD: &n}, "ui: fd cannot be edited"},
		{"a frame's opcode", PointWSOut, false, Edit{Opcode: opcode("99")}, `ui: opcode "99": an opcode is continuation, text, binary, close, ping, pong or a number from 0 to 15`},
		{"a frame's seq", PointWSIn, false, Edit{Seq: u32(1)}, "ui: flags, seq, ack and window are a packet's"},
		{"a compressed frame's payload", PointWSIn, true, Edit{PayloadHex: str("48454c4c4f")}, "ui: this frame is part of a compressed message (permessage-deflate, RSV1 on its first frame)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := &held{point: tc.point, data: tcpPacket("hi"), compressed: tc.compressed}
			var d decision
			if err := u.apply(tc.e, true, &d); err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if d.edited || d.data != nil {
				t.Fatalf("refused, yet edited: %+v", d)
			}
		})
	}
}

func FuzzParseBreakpoint(f *testing.F) {
	for _, s := range []string{"tcp and fin", "ws close", "rcv_wnd == 0", "retransmit", "state TIME-WAIT",
		"rto > 1s", "cwnd", "cwnd <", "cwnd ~ 3", "ws", "ws (", "((((", "not not not", "state", "port 99999",
		"ws len > -1", "srtt != 1e400", "len >= 18446744073709551616", "\x00", "ws opcode 99",
		"state FOO", "state syn-sent", "rcv_wnd == -1", "rcv_wnd == 4294967296", "srtt != NaN", "cwnd < Inf",
		"rto > -1s", "retransmit now"} {
		f.Add(s)
	}
	pkt := tcpPacket("hi")
	evs := []trace.Event{
		{ID: 1, Layer: trace.LayerLink, Name: "packet", Dir: trace.Out, Data: pkt, Fields: []trace.Field{{Key: "rel_seq", Value: uint32(1)}, {Key: "payload_len", Value: 2}, {Key: "flags", Value: "P."}}},
		{ID: 2, Layer: trace.LayerWS, Name: "frame", Dir: trace.In, Fields: []trace.Field{{Key: "opcode", Value: "close"}, {Key: "fin", Value: true}, {Key: "len", Value: int64(1 << 40)}}},
		{ID: 3, Layer: trace.LayerTCP, Name: "state", Fields: []trace.Field{{Key: "state", Value: "TIME-WAIT"}, {Key: "rcv_wnd", Value: uint32(0)}}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		b, err := ParseBreakpoint(src)
		if err != nil {
			if b != nil {
				t.Fatal("a breakpoint with an error")
			}
			return
		}
		tr := NewTracker()
		for i := range evs {
			tr.Note(&evs[i])
			b.Match(tr, &evs[i])
		}
		// A state breakpoint names a state as the events spell it, and
		// stops at an event entering it.
		if f := strings.Fields(src); len(f) == 2 && f[0] == "state" {
			name := strings.ToUpper(f[1])
			e := trace.Event{ID: 1 << 40, Node: "fuzz", Layer: trace.LayerTCP, Name: "state", Fields: []trace.Field{{Key: "state", Value: name}}}
			tr.Note(&e)
			if !slices.Contains(tcpStates, name) || !b.Match(tr, &e) {
				t.Fatalf("%q: accepted, but no state event can match it", src)
			}
		}
	})
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"id":1,"t":5,"node":"client","layer":"tcp","event":"segment","seq":1}` + "\n" + `{"id":2,"layer":"ws","event":"frame","frames":[1,2]}`))
	f.Add([]byte(`{"id":0,"layer":"x","event":"y"}`))
	f.Add([]byte(`{"id":2,"layer":"x","event":"y"}` + "\n" + `{"id":1,"layer":"x","event":"y"}`))
	f.Add([]byte("not json"))
	png, _ := hex.DecodeString("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000")
	f.Add(png)
	f.Add(append(png, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff))
	f.Add(append(append([]byte(nil), png...), []byte("\x06\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00")...))
	if ws, err := os.ReadFile("testdata/ws.pcap"); err == nil {
		f.Add(ws) // frames to put back together
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := New(Options{History: 64})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := s.Load(bytes.NewReader(b))
		first, last, total := s.hist.bounds()
		if uint64(n) != total || (n > 0 && (first == 0 || last < first)) {
			t.Fatalf("loaded %d: first %d last %d total %d", n, first, last, total)
		}
		s.WriteJSONL(&bytes.Buffer{})
		s.WritePerfetto(&bytes.Buffer{})
		s.WritePCAPNG(&bytes.Buffer{})
		s.cancel()
	})
}

func opcode(s string) *Opcode { o := Opcode(s); return &o }

// TestFlagsAsTcpdump: a held packet's flags read as the ladder and
// tcpdump write them ("S.", "P.", "FP."), and every such string, or
// the letters the API took before ("PA"), reads back.
func TestFlagsAsTcpdump(t *testing.T) {
	t.Parallel()
	for f := range 256 {
		if got, err := parseFlags(flagString(uint8(f))); err != nil || got != uint8(f) {
			t.Fatalf("flags %#x written %q read back as %#x, %v", f, flagString(uint8(f)), got, err)
		}
	}
	for s, want := range map[string]string{"SA": "S.", "[S.]": "S.", "PA": "P.", "FA": "F.", "R": "R", "A": ".", "CE": "EW"} {
		f, err := parseFlags(s)
		if err != nil || flagString(f) != want {
			t.Errorf("parseFlags(%q) = %q, %v; want %q", s, flagString(f), err, want)
		}
	}
}

// FuzzCaptureFrames reads a capture as the view does and checks what
// captureFrames made of it: IDs that increase, frames that name packets
// there are, and packets that name frames there are.
func FuzzCaptureFrames(f *testing.F) {
	if ws, err := os.ReadFile("testdata/ws.pcap"); err == nil {
		f.Add(ws)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _ := trace.ReadPCAP(bytes.NewReader(b), "n")
		out := captureFrames(evs, 1000)
		byID := map[uint64]*trace.Event{}
		for i := range out {
			if i > 0 && out[i].ID <= out[i-1].ID {
				t.Fatalf("event %d after %d", out[i].ID, out[i-1].ID)
			}
			byID[out[i].ID] = &out[i]
		}
		for _, e := range out {
			key, layer := "packets", trace.LayerLink
			if e.Layer == trace.LayerLink {
				key, layer = "frames", trace.LayerWS
			}
			ids, _ := e.Field(key).([]uint64)
			for _, id := range ids {
				if o := byID[id]; o == nil || o.Layer != layer {
					t.Fatalf("%s names %s #%d, which is not there", e.Summary, key, id)
				}
			}
		}
	})
}
