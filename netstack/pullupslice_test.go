package netstack

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
)

// TestPullUpSlice checks buffer.Buffer.PullUpSlice, which glassnet patch 59
// in third_party/gvisor (PATCHES.md there) adds for a packet's header
// slices, against PullUp and the view's AsSlice, which it replaces: for every
// range of a buffer of five views (the first not at the start of its chunk),
// in it or past its end, the same answer, the same bytes, and the same views
// left in the buffer; and a write through the slice lands in the buffer and
// not in a clone sharing its chunks (PullUp copies a shared chunk before it
// hands out its memory). The change is a cost, held by
// BenchmarkEtherEchoSmall and sockets' BenchmarkConnEchoSmall.
func TestPullUpSlice(t *testing.T) {
	t.Parallel()
	sizes := []int{64, 7, 1448, 3, 20}
	var whole []byte
	for i, n := range sizes {
		whole = append(whole, bytes.Repeat([]byte{byte('a' + i)}, n)...)
	}
	build := func() buffer.Buffer {
		var b buffer.Buffer
		off := 0
		for i, n := range sizes {
			data := whole[off : off+n]
			if i == 0 {
				// The first view starts 2 bytes into its chunk.
				data = append([]byte("zz"), data...)
			}
			part := buffer.MakeWithData(data)
			b.Merge(&part) // one view per part
			off += n
		}
		b.TrimFront(2)
		return b
	}
	for off := 0; off <= len(whole); off += 3 {
		for _, n := range []int{0, 1, 2, 7, 20, 60, 64, 65, 100, 1500, len(whole)} {
			got, want := build(), build()
			s, ok := got.PullUpSlice(off, n)
			v, wantOK := want.PullUp(off, n)
			if ok != wantOK || !bytes.Equal(s, v.AsSlice()) {
				t.Fatalf("PullUpSlice(%d, %d) = %q, %v; PullUp gives %q, %v", off, n, s, ok, v.AsSlice(), wantOK)
			}
			gv, wv := got.AsViewList(), want.AsViewList()
			if g, w := gv.Len(), wv.Len(); g != w {
				t.Fatalf("PullUpSlice(%d, %d) left %d views, PullUp %d", off, n, g, w)
			}
			if err := sameBytes(&got, whole); err != nil {
				t.Fatalf("PullUpSlice(%d, %d): %v", off, n, err)
			}
			if len(s) > 0 {
				s[0] ^= 0xff
				if b := got.Flatten(); b[off] != whole[off]^0xff {
					t.Fatalf("PullUpSlice(%d, %d): a write through the slice is not in the buffer", off, n)
				}
			}
			got.Release()
			want.Release()
		}
	}

	for _, off := range []int{0, 10, 64, 70} {
		b := build()
		c := b.Clone()
		s, ok := b.PullUpSlice(off, 1)
		if !ok {
			t.Fatalf("PullUpSlice(%d, 1) of a shared buffer failed", off)
		}
		s[0] ^= 0xff
		if err := sameBytes(&c, whole); err != nil {
			t.Errorf("a write through PullUpSlice(%d, 1) reached a clone sharing the chunk: %v", off, err)
		}
		if got := b.Flatten()[off]; got != whole[off]^0xff {
			t.Errorf("a write through PullUpSlice(%d, 1) of a shared buffer is not in it", off)
		}
		b.Release()
		c.Release()
	}
}
