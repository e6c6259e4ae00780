package netstack

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The tests in this file check glassnet patch 4 in third_party/gvisor
// (PATCHES.md there): gVisor's pooled chunks are no longer cleared when
// they are handed out, and still no stale byte of an earlier user is ever
// readable through a view.

// reuseTries is how many times a test dirties a chunk, gives it back and
// takes one of the same size: sync.Pool may drop what it is given (the
// race detector makes it drop a quarter on purpose), so one round proves
// nothing either way.
const reuseTries = 200

// dirtyChunk takes a view of size bytes, fills it with 0xAA and gives
// its chunk back to the pool.
func dirtyChunk(size int) {
	v := buffer.NewViewSize(size)
	for i := range v.AsSlice() {
		v.AsSlice()[i] = 0xAA
	}
	v.Release()
}

func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

// TestPooledChunkNotCleared shows the change: a chunk comes back from
// the pool as its last user left it (upstream clears every one), which
// GrowUnzeroed exposes on purpose. With upstream's clearing every try
// sees zeros and the test fails.
func TestPooledChunkNotCleared(t *testing.T) {
	const size = 8 << 10
	for range reuseTries {
		dirtyChunk(size)
		v := buffer.NewView(size)
		v.GrowUnzeroed(size)
		dirty := !allZero(v.AsSlice())
		v.Release()
		if dirty {
			return
		}
	}
	t.Fatalf("in %d tries, no chunk came back from the pool uncleared: chunks are cleared when handed out", reuseTries)
}

// TestPooledChunkStaleBytesNeverRead: every way gVisor makes bytes of a
// view readable shows either what was written or zeros, never what an
// earlier user of the chunk left there. Taking the clearing out of
// View.Grow fails the first cases.
func TestPooledChunkStaleBytesNeverRead(t *testing.T) {
	const size = 2048
	data := bytes.Repeat([]byte{1}, 100)
	cases := []struct {
		name string
		get  func() ([]byte, func())
		want func(b []byte) bool
	}{
		{"NewViewSize", func() ([]byte, func()) {
			v := buffer.NewViewSize(size)
			return v.AsSlice(), v.Release
		}, allZero},
		{"NewView then Grow", func() ([]byte, func()) {
			v := buffer.NewView(size)
			v.Grow(size / 2)
			return v.AsSlice(), v.Release
		}, allZero},
		{"Write then Grow", func() ([]byte, func()) {
			v := buffer.NewView(size)
			v.Write(data)
			v.Grow(size / 2)
			return v.AsSlice()[len(data):], v.Release
		}, allZero},
		{"Grow of a clone sharing the chunk", func() ([]byte, func()) {
			v := buffer.NewView(size)
			v.Write(data)
			c := v.Clone()
			c.Grow(size / 2)
			return c.AsSlice()[len(data):], func() { c.Release(); v.Release() }
		}, allZero},
		{"Grow of a shortened clone leaves the original's bytes", func() ([]byte, func()) {
			v := buffer.NewView(size)
			v.Write(data)
			c := v.Clone()
			c.CapLength(len(data) / 2)
			c.Grow(len(data) / 2)
			return append(c.ToSlice(), v.ToSlice()...), func() { c.Release(); v.Release() }
		}, func(b []byte) bool {
			return bytes.Equal(b, append(append(append([]byte(nil), data[:len(data)/2]...), make([]byte, len(data)/2)...), data...))
		}},
		{"NewViewWithData", func() ([]byte, func()) {
			v := buffer.NewViewWithData(data)
			return v.AsSlice(), v.Release
		}, func(b []byte) bool { return bytes.Equal(b, data) }},
		{"Buffer.GrowTo zeroed", func() ([]byte, func()) {
			b := buffer.MakeWithData(data)
			b.GrowTo(size, true)
			return b.Flatten()[len(data):], b.Release
		}, allZero},
		{"PacketBuffer header room", func() ([]byte, func()) {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: size})
			return pkt.TransportHeader().Push(size / 2), pkt.DecRef
		}, allZero},
		{"Write into a fresh view", func() ([]byte, func()) {
			v := buffer.NewView(size)
			v.Write(data)
			return v.AsSlice(), v.Release
		}, func(b []byte) bool { return bytes.Equal(b, data) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range reuseTries {
				dirtyChunk(size)
				b, release := c.get()
				ok := c.want(b)
				if !ok {
					t.Fatalf("try %d: stale bytes readable: % x", i, b[:min(len(b), 16)])
				}
				release()
			}
		})
	}
}

// TestScatterSlotsStaleBytesNeverHandedOver: the scatter read's views are
// not cleared, and what take hands to gVisor is the head and exactly the
// bytes of the tail the packet filled.
func TestScatterSlotsStaleBytesNeverHandedOver(t *testing.T) {
	for i := range reuseTries {
		dirtyChunk(tailSize)
		dirtyChunk(headView)
		s := newScatterSlots(1)
		size := splitHeadOver + 1 + i*97
		for j := range s.heads[0] {
			s.heads[0][j] = 1
		}
		for j := range size - headView {
			s.tails[0][j] = 2
		}
		b := s.take(0, size)
		got := b.Flatten()
		b.Release()
		s.release()
		want := append(bytes.Repeat([]byte{1}, headView), bytes.Repeat([]byte{2}, size-headView)...)
		if !bytes.Equal(got, want) {
			t.Fatalf("try %d: take handed over %d bytes, want %d bytes of the packet only", i, len(got), len(want))
		}
	}
}

// TestScatterSlotsCopyOutExact: a small packet leaves its slot as a copy
// of exactly its bytes, head and tail joined, over views that were not
// cleared; the slot keeps its views.
func TestScatterSlotsCopyOutExact(t *testing.T) {
	for _, size := range []int{1, 20, 52, headView - 1, headView, headView + 1, 1500, splitHeadOver} {
		dirtyChunk(tailSize)
		dirtyChunk(headView)
		s := newScatterSlots(1)
		head, tail := s.headV[0], s.tailV[0]
		want := make([]byte, size)
		for j := range want {
			want[j] = byte(j%251 + 1)
		}
		n := copy(s.heads[0], want)
		copy(s.tails[0], want[n:])
		b := s.payload(0, size)
		got := b.Flatten()
		b.Release()
		if s.headV[0] != head || s.tailV[0] != tail {
			t.Errorf("size %d: the slot's views were handed over", size)
		}
		s.release()
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: payload is %d bytes, want the packet's %d", size, len(got), len(want))
		}
	}
}
