package tun

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	ipsum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// superPacket returns a TCP super-packet of payload bytes with a partial
// checksum, as gVisor hands one down, and its metadata for segments of
// mss bytes.
func superPacket(v6 bool, payload []byte, mss uint16) ([]byte, GSO) {
	pkt := tcpPacket(v6, 1, 1000, header.TCPFlagAck|header.TCPFlagPsh, nil, payload)
	ipLen, src, dst, typ := header.IPv4MinimumSize, src4, dst4, GSOTCPv4
	if v6 {
		ipLen, src, dst, typ = header.IPv6MinimumSize, src6, dst6, GSOTCPv6
	}
	partial := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(pkt)-ipLen))
	binary.BigEndian.PutUint16(pkt[ipLen+header.TCPChecksumOffset:], partial)
	return pkt, GSO{
		Type: typ, HdrLen: uint16(ipLen + header.TCPMinimumSize), Size: mss,
		NeedsCsum: true, CsumStart: uint16(ipLen), CsumOffset: header.TCPChecksumOffset,
	}
}

// tcpValid reports whether seg, an IPv4 or IPv6 TCP packet, has complete
// and correct checksums, and returns its payload.
func tcpValid(seg []byte) ([]byte, bool) {
	var src, dst tcpip.Address
	var l4 []byte
	if header.IPVersion(seg) == 6 {
		ip := header.IPv6(seg)
		src, dst, l4 = ip.SourceAddress(), ip.DestinationAddress(), ip.Payload()
	} else {
		ip := header.IPv4(seg)
		if !ip.IsValid(len(seg)) || !ip.IsChecksumValid() {
			return nil, false
		}
		src, dst, l4 = ip.SourceAddress(), ip.DestinationAddress(), ip.Payload()
	}
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(l4)))
	t := header.TCP(l4)
	return t.Payload(), ipsum.Checksum(l4, xsum) == 0xffff
}

func TestPipeOffloads(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{})
	defer a.Close()
	defer b.Close()
	if a.Offloads() != 0 {
		t.Errorf("pipe without Offload reports %v", a.Offloads())
	}
	pkt, g := superPacket(false, pattern(5000), 1460)
	if _, err := a.WriteGSO([][]byte{pkt}, []GSO{g}); err == nil {
		t.Error("pipe without Offload took a super-packet")
	}
	c, d := Pipe(PipeOptions{Offload: true})
	defer c.Close()
	defer d.Close()
	if want := OffloadCsum | OffloadTSO4 | OffloadTSO6; c.Offloads() != want || d.Offloads() != want {
		t.Errorf("offloads %v, %v; want %v", c.Offloads(), d.Offloads(), want)
	}
}

// ReadGSO returns a super-packet as WriteGSO took it, metadata and
// partial checksum included.
func TestPipeGSOPassesThrough(t *testing.T) {
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		a, b := Pipe(PipeOptions{Offload: true})
		pkt, g := superPacket(v6, pattern(20000), 1400)
		small := tcpPacket(v6, 2, 1, header.TCPFlagAck, nil, nil)
		if n, err := a.WriteGSO([][]byte{pkt, small}, []GSO{g, {}}); n != 2 || err != nil {
			t.Fatalf("WriteGSO = %d, %v", n, err)
		}
		bufs := [][]byte{make([]byte, MaxSuperPacket), make([]byte, MaxSuperPacket)}
		sizes, gso := make([]int, 2), make([]GSO, 2)
		got := 0
		for got < 2 {
			n, err := b.ReadGSO(bufs[got:], sizes[got:], gso[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		if !bytes.Equal(bufs[0][:sizes[0]], pkt) || gso[0] != g {
			t.Errorf("v6=%v: super-packet of %d bytes with %+v arrived as %d bytes with %+v", v6, len(pkt), g, sizes[0], gso[0])
		}
		if !bytes.Equal(bufs[1][:sizes[1]], small) || gso[1] != (GSO{}) {
			t.Errorf("v6=%v: plain packet arrived as %d bytes with %+v", v6, sizes[1], gso[1])
		}
		sa, sb := a.OffloadStats(), b.OffloadStats()
		if sa.GSOOut != 1 || sa.GSOSegmentsOut != 15 || sb.GSOIn != 1 || sb.GSOSegmentsIn != 15 {
			t.Errorf("v6=%v: stats out %+v, in %+v; want one super-packet of 15 segments each way", v6, sa, sb)
		}
		if st := b.Stats(); st.PacketsRead != 2 {
			t.Errorf("v6=%v: %d packets read, want 2", v6, st.PacketsRead)
		}
		a.Close()
		b.Close()
	}
}

// Plain Read on a pipe with offloads keeps Device's contract: packets no
// longer than the MTU, checksums complete.
func TestPipeReadSegments(t *testing.T) {
	t.Parallel()
	const mtu = 1500
	for _, v6 := range []bool{false, true} {
		a, b := Pipe(PipeOptions{MTU: mtu, Offload: true})
		payload := pattern(30000)
		pkt, g := superPacket(v6, payload, 1440)
		partial, pg := superPacket(v6, pattern(700), 1440)
		pg.Type, pg.Size = GSONone, 0
		if n, err := a.WriteGSO([][]byte{pkt, partial}, []GSO{g, pg}); n != 2 || err != nil {
			t.Fatalf("WriteGSO = %d, %v", n, err)
		}
		// Buffers fewer than the segments: the rest wait for the next Read.
		bufs := make([][]byte, 4)
		for i := range bufs {
			bufs[i] = make([]byte, mtu)
		}
		sizes := make([]int, len(bufs))
		var segs [][]byte
		for len(segs) < 22 {
			n, err := b.Read(bufs, sizes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if sizes[i] > mtu {
					t.Fatalf("v6=%v: Read returned %d bytes, MTU %d", v6, sizes[i], mtu)
				}
				segs = append(segs, append([]byte(nil), bufs[i][:sizes[i]]...))
			}
		}
		if len(segs) != 22 {
			t.Fatalf("v6=%v: %d packets, want 21 segments and one packet", v6, len(segs))
		}
		var joined []byte
		for i, s := range segs {
			p, ok := tcpValid(s)
			if !ok {
				t.Errorf("v6=%v: packet %d has a bad checksum", v6, i)
			}
			if i < 21 {
				joined = append(joined, p...)
			}
		}
		if !bytes.Equal(joined, payload) {
			t.Errorf("v6=%v: segments carry %d bytes that differ from the %d sent", v6, len(joined), len(payload))
		}
		if st := b.OffloadStats(); st.Split != 1 || st.Completed != 1 {
			t.Errorf("v6=%v: split %d, completed %d; want 1 and 1", v6, st.Split, st.Completed)
		}
		a.Close()
		b.Close()
	}
}

func TestPipeGSORefuses(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{MTU: 1500, Offload: true})
	defer a.Close()
	defer b.Close()
	pkt, g := superPacket(false, pattern(5000), 1460)
	bigMSS := g
	bigMSS.Size = 1461 // 40 bytes of headers + 1461 > 1500
	udp := GSO{Type: GSOUDP, Size: 1000}
	v6 := g
	v6.Type = GSOTCPv6
	csum := g
	csum.CsumOffset = 60000
	for _, tc := range []struct {
		name string
		pkt  []byte
		g    GSO
	}{
		{"segments beyond the MTU", pkt, bigMSS},
		{"udp not offered", udpPacket(false, 1, pattern(5000)), udp},
		{"type against the IP version", pkt, v6},
		{"checksum outside", pkt, csum},
		{"plain packet beyond the MTU", pkt, GSO{}},
	} {
		if n, err := a.WriteGSO([][]byte{pkt[:0:0], tc.pkt}, []GSO{{}, tc.g}); n != 1 || err == nil {
			t.Errorf("%s: WriteGSO = %d, %v; want 1 and an error", tc.name, n, err)
		}
	}
	if _, err := a.Write([][]byte{pkt}); err == nil {
		t.Error("plain Write took a packet beyond the MTU")
	}
	drops := a.OffloadStats().Drops
	if drops[DropVnetGSOSize] != 1 || drops[DropVnetGSOType] != 1 || drops[DropGSOHeaders] != 1 || drops[DropVnetCsum] != 1 {
		t.Errorf("drops %v", drops)
	}
}

// A super-packet takes one slot of the queue, however many segments it
// carries.
func TestPipeGSOQueueBound(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{QueueLen: 2, Offload: true})
	defer a.Close()
	defer b.Close()
	pkt, g := superPacket(false, pattern(60000), 1460)
	if n, err := a.WriteGSO([][]byte{pkt, pkt}, []GSO{g, g}); n != 2 || err != nil {
		t.Fatalf("WriteGSO = %d, %v", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.WriteGSO([][]byte{pkt}, []GSO{g})
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("write to a full queue did not block")
	case <-time.After(50 * time.Millisecond):
	}
	bufs, sizes, gso := [][]byte{make([]byte, MaxSuperPacket)}, []int{0}, []GSO{{}}
	if n, err := b.ReadGSO(bufs, sizes, gso); n != 1 || err != nil || sizes[0] != len(pkt) {
		t.Fatalf("ReadGSO = %d, %v, size %d", n, err, sizes[0])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, err := a.WriteGSO([][]byte{pkt}, []GSO{g}); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteGSO after Close = %v, want ErrClosed", err)
	}
}

func TestPipeWriteGSOVec(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{Offload: true})
	defer a.Close()
	defer b.Close()
	pkt, g := superPacket(true, pattern(9000), 1400)
	parts := [][]byte{pkt[:40], pkt[40:60], pkt[60:5000], pkt[5000:]}
	if n, err := a.WriteGSOVec([][][]byte{parts}, []GSO{g}); n != 1 || err != nil {
		t.Fatalf("WriteGSOVec = %d, %v", n, err)
	}
	bufs, sizes, gso := [][]byte{make([]byte, MaxSuperPacket)}, []int{0}, []GSO{{}}
	if n, err := b.ReadGSO(bufs, sizes, gso); n != 1 || err != nil {
		t.Fatalf("ReadGSO = %d, %v", n, err)
	}
	if !bytes.Equal(bufs[0][:sizes[0]], pkt) || gso[0] != g {
		t.Errorf("gathered super-packet arrived as %d bytes with %+v", sizes[0], gso[0])
	}
}

func TestPipeReadGSOScatter(t *testing.T) {
	t.Parallel()
	a, b := Pipe(PipeOptions{Offload: true})
	defer a.Close()
	defer b.Close()
	pkt, g := superPacket(false, pattern(40000), 1460)
	small := tcpPacket(false, 2, 1, header.TCPFlagAck, nil, pattern(10))
	if n, err := a.WriteGSO([][]byte{pkt, small}, []GSO{g, {}}); n != 2 || err != nil {
		t.Fatalf("WriteGSO = %d, %v", n, err)
	}
	heads := [][]byte{make([]byte, 128), make([]byte, 128)}
	tails := [][]byte{make([]byte, MaxSuperPacket), make([]byte, MaxSuperPacket)}
	sizes, gso := make([]int, 2), make([]GSO, 2)
	for got := 0; got < 2; {
		n, err := b.ReadGSOScatter(heads[got:], tails[got:], sizes[got:], gso[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	for i, want := range [][]byte{pkt, small} {
		h := min(sizes[i], len(heads[i]))
		joined := append(append([]byte(nil), heads[i][:h]...), tails[i][:sizes[i]-h]...)
		if !bytes.Equal(joined, want) {
			t.Errorf("packet %d of %d bytes arrived as %d bytes, or changed", i, len(want), sizes[i])
		}
	}
	if gso[0] != g || gso[1] != (GSO{}) {
		t.Errorf("metadata %+v, %+v; want %+v and none", gso[0], gso[1], g)
	}
}
