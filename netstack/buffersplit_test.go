package netstack

import (
	"bytes"
	"fmt"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
)

// TestBufferSplit checks buffer.Buffer.Split, which glassnet patch 12 in
// third_party/gvisor (PATCHES.md there) adds for the TCP sender's
// splitSeg: at every offset of a buffer made of views of several sizes,
// the two parts hold the bytes before and from the offset, in order, and
// each part's views add up to its size. The sender's use of it is
// covered by the zero-copy echo in the sockets tests (io.Copy between
// sockets over a per-packet link, whose writes are chains of views the
// size of a segment, cut again into segments).
func TestBufferSplit(t *testing.T) {
	t.Parallel()
	sizes := []int{1, 7, 1448, 3, 4096}
	var whole []byte
	for i, n := range sizes {
		whole = append(whole, bytes.Repeat([]byte{byte('a' + i)}, n)...)
	}
	build := func() buffer.Buffer {
		var b buffer.Buffer
		off := 0
		for _, n := range sizes {
			part := buffer.MakeWithData(whole[off : off+n])
			b.Merge(&part) // one view per part
			off += n
		}
		return b
	}
	b := build()
	if views := b.AsViewList(); views.Len() != len(sizes) {
		t.Fatalf("test buffer has %d views, want %d", views.Len(), len(sizes))
	}
	b.Release()
	for off := 0; off <= len(whole)+1; off++ {
		b := build()
		tail := b.Split(int64(off))
		head := min(off, len(whole))
		if err := sameBytes(&b, whole[:head]); err != nil {
			t.Fatalf("split at %d: first part: %v", off, err)
		}
		if err := sameBytes(&tail, whole[head:]); err != nil {
			t.Fatalf("split at %d: second part: %v", off, err)
		}
		// Each part lives on alone: releasing one leaves the other's
		// bytes intact (the view cut in two is shared, by reference).
		b.Release()
		if err := sameBytes(&tail, whole[head:]); err != nil {
			t.Fatalf("split at %d: second part after the first was released: %v", off, err)
		}
		tail.Release()
	}
}

// sameBytes reports how b differs from want, in its bytes or in the size
// it claims against its views' sizes.
func sameBytes(b *buffer.Buffer, want []byte) error {
	sum := 0
	views := b.AsViewList()
	for v := views.Front(); v != nil; v = v.Next() {
		sum += v.Size()
	}
	if int(b.Size()) != sum {
		return fmt.Errorf("Size() %d, views hold %d bytes", b.Size(), sum)
	}
	if got := b.Flatten(); !bytes.Equal(got, want) {
		return fmt.Errorf("holds %q, want %q", trimTo(got, 40), trimTo(want, 40))
	}
	return nil
}

func trimTo(b []byte, n int) []byte { return b[:min(len(b), n)] }
