package ui

import (
	"testing"

	"github.com/glassnet/glassnet/hook"
)

// FuzzEditPacket edits any packet a hold could have taken with any edit
// the API could be sent: editPacket refuses what does not apply with an
// error, never panics, and what it returns is parsed by everything that
// shows it (the summary, the account of the edit).
func FuzzEditPacket(f *testing.F) {
	f.Add(tcpPacket("hello"), "P.", uint32(7), uint32(9), uint16(0), []byte("hi"), uint8(0xff))
	f.Add(tcpPacket(""), "[S.]", uint32(0), uint32(0), uint16(65535), []byte{}, uint8(0x0f))
	f.Add([]byte{0x45, 0, 0, 20}, "F", uint32(1), uint32(1), uint16(1), []byte("x"), uint8(0x1f))
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 6, 64}, "A", uint32(1), uint32(1), uint16(1), []byte("x"), uint8(0x3f))
	f.Fuzz(func(t *testing.T, pkt []byte, flags string, seq, ack uint32, win uint16, payload []byte, mask uint8) {
		var e Edit
		if mask&1 != 0 {
			e.Flags = &flags
		}
		if mask&2 != 0 {
			e.Seq = &seq
		}
		if mask&4 != 0 {
			e.Ack = &ack
		}
		if mask&8 != 0 {
			e.Window = &win
		}
		if mask&16 == 0 {
			payload = nil
		}
		in := append([]byte(nil), pkt...)
		out, err := editPacket(pkt, e, payload, mask&32 != 0, mask&64 != 0)
		if string(in) != string(pkt) {
			t.Fatal("editPacket changed the packet it was given")
		}
		if err != nil {
			if out != nil {
				t.Fatalf("an error (%v) and a packet", err)
			}
			return
		}
		if e.Seq != nil && hook.ParseHeaders(out).Seq != seq {
			t.Errorf("seq %d after an edit to %d", hook.ParseHeaders(out).Seq, seq)
		}
		if payload != nil && len(out) < len(payload) {
			t.Errorf("%d bytes out for a payload of %d", len(out), len(payload))
		}
		base := uint32(3)
		_ = describeEdit(pkt, out, &base, nil)
		_ = describeEdit(out, pkt, nil, &base)
		_ = packetSummary(out)
	})
}
