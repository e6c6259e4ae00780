//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"
	"testing"

	ipsum "gvisor.dev/gvisor/pkg/tcpip/checksum"
)

// FuzzPacketFrame finishes any frame recvmmsg(2) could have put in a
// buffer of any size, with any virtio header the kernel wrote before it:
// the size given is the frame's full length (a truncated frame says so by
// being longer than its buffer); a checksum left to hardware is completed
// only when the frame is whole and the offsets fall inside it, and then
// sums right; otherwise nothing is changed.
func FuzzPacketFrame(f *testing.F) {
	frame := append(make([]byte, 14), tcpPacket(false, 1, 1, 0x10, nil, pattern(100))...)
	var h [vnetHdrLen]byte
	vnetHdr(h[:]).SetFlags(vnetFlagNeedsCsum)
	putVnetHdr(h[:], GSO{NeedsCsum: true, CsumStart: 14 + 20, CsumOffset: 16})
	f.Add(h[:], frame, uint16(len(frame)))
	f.Add(h[:], frame, uint16(10))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, frame, uint16(len(frame)))
	f.Add([]byte{}, []byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, hdr, frame []byte, bufLen uint16) {
		var b mmsgBatch
		buf := make([]byte, int(bufLen))
		b.prepare([][]byte{buf}, false)
		copy(b.vnet[0][:], hdr)
		n := copy(buf, frame)
		b.hdrs[0].Len = uint32(vnetHdrLen + len(frame))
		before := append([]byte(nil), buf...)
		if got := b.finish(0, buf); got != len(frame) {
			t.Fatalf("a frame of %d bytes in a buffer of %d: size %d", len(frame), len(buf), got)
		}
		v := vnetHdr(b.vnet[0][:])
		start, at := int(v.CsumStart()), int(v.CsumStart())+int(v.CsumOffset())
		if v.Flags()&vnetFlagNeedsCsum != 0 && len(frame) <= len(buf) && start < len(frame) && at+2 <= len(frame) {
			// The field held the pseudo-header's sum: with it, the
			// completed checksum sums to all ones (for a field at an
			// even offset, as TCP's and UDP's are).
			pseudo := binary.BigEndian.Uint16(before[at:])
			if v.CsumOffset()%2 == 0 && ipsum.Checksum(buf[start:n], pseudo) != 0xffff {
				t.Fatalf("checksum from %d stored at %d does not sum right", start, at)
			}
			for i := range n {
				if (i < at || i >= at+2) && buf[i] != before[i] {
					t.Fatalf("byte %d changed besides the checksum at %d", i, at)
				}
			}
			return
		}
		if !bytes.Equal(buf, before) {
			t.Fatalf("the frame changed: %+v, %d bytes in a buffer of %d", hdr, len(frame), len(buf))
		}
	})
}
