package tun

import (
	"bytes"
	"encoding/binary"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	ipsum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	src4 = tcpip.AddrFrom4([4]byte{10, 200, 0, 2})
	dst4 = tcpip.AddrFrom4([4]byte{10, 200, 0, 1})
	src6 = tcpip.AddrFrom16([16]byte{0xfd, 0, 2, 0, 14: 0, 15: 2})
	dst6 = tcpip.AddrFrom16([16]byte{0xfd, 0, 2, 0, 14: 0, 15: 1})
)

// tcpPacket builds an IPv4 or IPv6 TCP packet with gVisor's encoders and
// complete checksums: the reference the segmenter is held to.
func tcpPacket(v6 bool, id uint16, seq uint32, flags header.TCPFlags, opts, payload []byte) []byte {
	ipLen := header.IPv4MinimumSize
	if v6 {
		ipLen = header.IPv6MinimumSize
	}
	tcpLen := header.TCPMinimumSize + len(opts)
	pkt := make([]byte, ipLen+tcpLen+len(payload))
	src, dst := src4, dst4
	if v6 {
		src, dst = src6, dst6
		header.IPv6(pkt).Encode(&header.IPv6Fields{
			PayloadLength:     uint16(tcpLen + len(payload)),
			TransportProtocol: header.TCPProtocolNumber,
			HopLimit:          64,
			SrcAddr:           src,
			DstAddr:           dst,
		})
	} else {
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(len(pkt)),
			ID:          id,
			Flags:       header.IPv4FlagDontFragment,
			TTL:         64,
			Protocol:    uint8(header.TCPProtocolNumber),
			SrcAddr:     src,
			DstAddr:     dst,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	t := header.TCP(pkt[ipLen:])
	t.Encode(&header.TCPFields{
		SrcPort: 7, DstPort: 40000, SeqNum: seq, AckNum: 1000,
		DataOffset: uint8(tcpLen), Flags: flags, WindowSize: 512,
	})
	copy(t[header.TCPMinimumSize:], opts)
	copy(pkt[ipLen+tcpLen:], payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(tcpLen+len(payload)))
	t.SetChecksum(^ipsum.Checksum(pkt[ipLen:], xsum))
	return pkt
}

// udpPacket builds an IPv4 or IPv6 UDP packet with complete checksums.
func udpPacket(v6 bool, id uint16, payload []byte) []byte {
	ipLen := header.IPv4MinimumSize
	if v6 {
		ipLen = header.IPv6MinimumSize
	}
	ulen := header.UDPMinimumSize + len(payload)
	pkt := make([]byte, ipLen+ulen)
	src, dst := src4, dst4
	if v6 {
		src, dst = src6, dst6
		header.IPv6(pkt).Encode(&header.IPv6Fields{
			PayloadLength: uint16(ulen), TransportProtocol: header.UDPProtocolNumber,
			HopLimit: 64, SrcAddr: src, DstAddr: dst,
		})
	} else {
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(len(pkt)), ID: id, TTL: 64,
			Protocol: uint8(header.UDPProtocolNumber), SrcAddr: src, DstAddr: dst,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	u := header.UDP(pkt[ipLen:])
	u.Encode(&header.UDPFields{SrcPort: 5000, DstPort: 6000, Length: uint16(ulen)})
	copy(u[header.UDPMinimumSize:], payload)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, uint16(ulen))
	c := ^ipsum.Checksum(u, xsum)
	if c == 0 {
		c = 0xffff
	}
	u.SetChecksum(c)
	return pkt
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// TestSegmentTCP cuts TCP super-packets and compares every segment byte
// for byte with a packet built independently.
func TestSegmentTCP(t *testing.T) {
	t.Parallel()
	opts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} // nop, nop, TS
	const mss = 1448
	tests := []struct {
		name    string
		v6      bool
		payload int
		flags   header.TCPFlags
	}{
		{"v4 45 segs", false, 45*mss - 100, header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin | header.TCPFlagCwr},
		{"v4 exact multiple", false, 3 * mss, header.TCPFlagAck | header.TCPFlagPsh},
		{"v4 one segment", false, 10, header.TCPFlagAck | header.TCPFlagPsh},
		{"v4 no payload", false, 0, header.TCPFlagAck | header.TCPFlagFin},
		{"v6 45 segs", true, 45*mss - 1, header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagCwr | header.TCPFlagEce},
		{"v6 two", true, mss + 1, header.TCPFlagAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload := pattern(tt.payload)
			const id, seq = 0xfff0, 0xffffff00 // both wrap around
			super := tcpPacket(tt.v6, id, seq, tt.flags, opts, payload)
			g := GSO{Type: GSOTCPv4, Size: mss}
			if tt.v6 {
				g.Type = GSOTCPv6
			}
			n, reason := g.Segments(super)
			want := max(1, (tt.payload+mss-1)/mss)
			if n != want || reason != "" {
				t.Fatalf("Segments = %d, %q; want %d", n, reason, want)
			}
			dst := make([]byte, 2000)
			for i := range n {
				from, to := i*mss, min((i+1)*mss, tt.payload)
				if tt.payload == 0 {
					from, to = 0, 0
				}
				flags := tt.flags
				if i != n-1 {
					flags &^= header.TCPFlagFin | header.TCPFlagPsh
				}
				if i != 0 {
					flags &^= header.TCPFlagCwr
				}
				ref := tcpPacket(tt.v6, id+uint16(i), seq+uint32(from), flags, opts, payload[from:to])
				m := g.SegmentAt(dst, super, i)
				if !bytes.Equal(dst[:m], ref) {
					t.Fatalf("segment %d:\n got %x\nwant %x", i, dst[:m], ref)
				}
			}
			if m := g.SegmentAt(dst, super, n); m != 0 {
				t.Errorf("SegmentAt(%d) past the end = %d", n, m)
			}
			if m := g.SegmentAt(dst[:10], super, 0); m != 0 {
				t.Errorf("SegmentAt into a short buffer = %d", m)
			}
		})
	}
}

// TestSegmentUDP cuts UDP super-packets (USO) the same way.
func TestSegmentUDP(t *testing.T) {
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		const size = 1200
		payload := pattern(5*size + 17)
		super := udpPacket(v6, 77, payload)
		g := GSO{Type: GSOUDP, Size: size}
		n, reason := g.Segments(super)
		if n != 6 || reason != "" {
			t.Fatalf("v6=%v: Segments = %d, %q; want 6", v6, n, reason)
		}
		dst := make([]byte, 1500)
		for i := range n {
			ref := udpPacket(v6, 77+uint16(i), payload[i*size:min((i+1)*size, len(payload))])
			m := g.SegmentAt(dst, super, i)
			if !bytes.Equal(dst[:m], ref) {
				t.Fatalf("v6=%v segment %d:\n got %x\nwant %x", v6, i, dst[:m], ref)
			}
		}
	}
}

// TestSegmentRejects checks that packets that do not fit their GSO type
// are refused with a reason, not cut.
func TestSegmentRejects(t *testing.T) {
	t.Parallel()
	v4 := tcpPacket(false, 1, 1, header.TCPFlagAck, nil, pattern(3000))
	v6 := tcpPacket(true, 1, 1, header.TCPFlagAck, nil, pattern(3000))
	udp := udpPacket(false, 1, pattern(3000))
	frag := append([]byte(nil), v4...)
	frag[6] |= 0x20 // more fragments
	short := append([]byte(nil), v4...)
	binary.BigEndian.PutUint16(short[2:], 5000) // total length beyond the bytes
	badOff := append([]byte(nil), v4...)
	badOff[20+12] = 0xf0 // data offset 60, beyond a 3000-byte... header only
	badOff = badOff[:20+40]
	binary.BigEndian.PutUint16(badOff[2:], uint16(len(badOff)))
	tests := []struct {
		name string
		g    GSO
		pkt  []byte
		want DropReason
	}{
		{"tcp4 on v6", GSO{Type: GSOTCPv4, Size: 1000}, v6, DropGSOHeaders},
		{"tcp6 on v4", GSO{Type: GSOTCPv6, Size: 1000}, v4, DropGSOHeaders},
		{"tcp4 on udp", GSO{Type: GSOTCPv4, Size: 1000}, udp, DropGSOHeaders},
		{"udp on tcp", GSO{Type: GSOUDP, Size: 1000}, v4, DropGSOHeaders},
		{"fragment", GSO{Type: GSOTCPv4, Size: 1000}, frag, DropGSOHeaders},
		{"total length", GSO{Type: GSOTCPv4, Size: 1000}, short, DropGSOHeaders},
		{"data offset", GSO{Type: GSOTCPv4, Size: 1000}, badOff, DropGSOHeaders},
		{"size 0", GSO{Type: GSOTCPv4}, v4, DropVnetGSOSize},
		{"none", GSO{}, v4, DropGSOHeaders},
		{"empty", GSO{Type: GSOTCPv4, Size: 1000}, nil, DropGSOHeaders},
	}
	for _, tt := range tests {
		if n, reason := tt.g.Segments(tt.pkt); n != 0 || reason != tt.want {
			t.Errorf("%s: Segments = %d, %q; want 0, %q", tt.name, n, reason, tt.want)
		}
		if m := tt.g.SegmentAt(make([]byte, 2000), tt.pkt, 0); m != 0 {
			t.Errorf("%s: SegmentAt = %d, want 0", tt.name, m)
		}
	}
}

// TestCompletePartialChecksum checks that a partial checksum (the pseudo-header
// sum, as the kernel leaves it with NEEDS_CSUM) is completed to the one a
// full computation gives, for TCP and UDP, IPv4 and IPv6.
func TestCompletePartialChecksum(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		pkt   []byte
		ipLen int
		off   int
		proto tcpip.TransportProtocolNumber
	}{
		{"tcp4", tcpPacket(false, 1, 1, header.TCPFlagAck, nil, pattern(3001)), 20, 16, header.TCPProtocolNumber},
		{"tcp6", tcpPacket(true, 1, 1, header.TCPFlagAck, nil, pattern(64000)), 40, 16, header.TCPProtocolNumber},
		{"udp4", udpPacket(false, 1, pattern(333)), 20, 6, header.UDPProtocolNumber},
		{"udp6", udpPacket(true, 1, pattern(0)), 40, 6, header.UDPProtocolNumber},
	} {
		want := append([]byte(nil), tt.pkt...)
		src, dst := src4, dst4
		if tt.ipLen == 40 {
			src, dst = src6, dst6
		}
		partial := header.PseudoHeaderChecksum(tt.proto, src, dst, uint16(len(tt.pkt)-tt.ipLen))
		binary.BigEndian.PutUint16(tt.pkt[tt.ipLen+tt.off:], partial)
		g := GSO{NeedsCsum: true, CsumStart: uint16(tt.ipLen), CsumOffset: uint16(tt.off)}
		if !CompleteChecksum(tt.pkt, g) {
			t.Fatalf("%s: CompleteChecksum did nothing", tt.name)
		}
		if !bytes.Equal(tt.pkt, want) {
			t.Errorf("%s: checksum %x, want %x", tt.name, tt.pkt[tt.ipLen+tt.off:][:2], want[tt.ipLen+tt.off:][:2])
		}
		if CompleteChecksum(tt.pkt[:tt.ipLen+tt.off+1], g) {
			t.Errorf("%s: completed a checksum field cut short", tt.name)
		}
	}
}

// TestVnetHdr round-trips GSO metadata through the virtio header and
// checks malformed headers get their reasons.
func TestVnetHdr(t *testing.T) {
	t.Parallel()
	pkt := make([]byte, 100)
	for _, g := range []GSO{
		{},
		{Type: GSOTCPv4, HdrLen: 52, Size: 1448, NeedsCsum: true, CsumStart: 20, CsumOffset: 16},
		{Type: GSOTCPv6, HdrLen: 72, Size: 1428, NeedsCsum: true, CsumStart: 40, CsumOffset: 16},
		{Type: GSOUDP, HdrLen: 28, Size: 1200, NeedsCsum: true, CsumStart: 20, CsumOffset: 6},
		{DataValid: true},
	} {
		var h, reused [vnetHdrLen]byte
		putVnetHdr(h[:], g)
		got, reason := parseVnetHdr(h[:], pkt)
		if got != g || reason != "" {
			t.Errorf("round trip of %+v = %+v, %q", g, got, reason)
		}
		// A header buffer is reused from packet to packet: nothing of
		// the last one may stay in it.
		for i := range reused {
			reused[i] = 0xff
		}
		if putVnetHdr(reused[:], g); reused != h {
			t.Errorf("header of %+v written over another: % x, want % x", g, reused, h)
		}
	}
	// A size or checksum place that the packet's offloads do not use is
	// zero, as in the headers the kernel writes (virtio_net_hdr_from_skb).
	var h [vnetHdrLen]byte
	putVnetHdr(h[:], GSO{Size: 1448, CsumStart: 20, CsumOffset: 16})
	if v := vnetHdr(h[:]); v.GSOType() != 0 || v.GSOSize() != 0 || v.CsumStart() != 0 || v.CsumOffset() != 0 {
		t.Errorf("header of a plain packet with stale fields: % x, want zeros", h)
	}
	hdr := func(flags, typ uint8, size, start, off uint16) []byte {
		h := vnetHdr(make([]byte, vnetHdrLen))
		h.SetFlags(flags)
		h.SetGSOType(typ)
		h.SetGSOSize(size)
		h.SetCsumStart(start)
		h.SetCsumOffset(off)
		return h
	}
	for _, tt := range []struct {
		h    []byte
		want DropReason
	}{
		{make([]byte, 9), DropVnetShort},
		{hdr(0, vnetGSOUDP, 1000, 0, 0), DropVnetGSOType},
		{hdr(0, 9, 1000, 0, 0), DropVnetGSOType},
		{hdr(0, vnetGSOTCPv4, 0, 0, 0), DropVnetGSOSize},
		{hdr(vnetFlagNeedsCsum, 0, 0, 90, 16), DropVnetCsum},
		{hdr(vnetFlagNeedsCsum, 0, 0, 90, 9), DropVnetCsum}, // the 2-byte field ends at 101
		{hdr(vnetFlagNeedsCsum, 0, 0, 90, 8), ""},           // ... at 100, the packet's end
		{hdr(vnetFlagNeedsCsum, 0, 0, 0xffff, 0xffff), DropVnetCsum},
	} {
		if _, reason := parseVnetHdr(tt.h, pkt); reason != tt.want {
			t.Errorf("parseVnetHdr(%x) reason %q, want %q", tt.h, reason, tt.want)
		}
	}
	// The ECN bit rides on the type and is accepted.
	if g, reason := parseVnetHdr(hdr(0, vnetGSOTCPv4|vnetGSOECN, 1000, 0, 0), pkt); reason != "" || g.Type != GSOTCPv4 {
		t.Errorf("TCPv4|ECN = %+v, %q", g, reason)
	}
}

func TestSegmentAllocs(t *testing.T) {
	super := tcpPacket(false, 1, 1, header.TCPFlagAck, nil, pattern(60000))
	g := GSO{Type: GSOTCPv4, Size: 1448}
	dst := make([]byte, 1500)
	if a := testing.AllocsPerRun(100, func() {
		n, _ := g.Segments(super)
		for i := range n {
			g.SegmentAt(dst, super, i)
		}
	}); a != 0 {
		t.Errorf("segmenting allocates %v times", a)
	}
}

func BenchmarkSegmentTCP(b *testing.B) {
	super := tcpPacket(false, 1, 1, header.TCPFlagAck, nil, pattern(45*1448))
	g := GSO{Type: GSOTCPv4, Size: 1448}
	dst := make([]byte, 1500)
	b.SetBytes(int64(len(super)))
	b.ReportAllocs()
	for range b.N {
		n, _ := g.Segments(super)
		for i := range n {
			g.SegmentAt(dst, super, i)
		}
	}
}

// FuzzSegment feeds the segmenter arbitrary packets and metadata: it must
// never panic, and whatever it cuts must put the payload back together
// with every IPv4 header checksum right.
func FuzzSegment(f *testing.F) {
	f.Add(tcpPacket(false, 1, 1, header.TCPFlagAck|header.TCPFlagFin, nil, pattern(4000)), uint8(GSOTCPv4), uint16(1448))
	f.Add(tcpPacket(true, 1, 1, header.TCPFlagAck, []byte{1, 1, 1, 0}, pattern(3000)), uint8(GSOTCPv6), uint16(1000))
	f.Add(udpPacket(false, 1, pattern(2500)), uint8(GSOUDP), uint16(1200))
	f.Add(udpPacket(true, 1, pattern(10)), uint8(GSOUDP), uint16(1))
	f.Add([]byte{0x45, 0, 0, 20}, uint8(GSOTCPv4), uint16(1))
	f.Add([]byte{0x4f}, uint8(GSOTCPv4), uint16(0))
	f.Add([]byte{0x60, 0, 0, 0, 0xff, 0xff, 6}, uint8(GSOTCPv6), uint16(100))
	f.Fuzz(func(t *testing.T, pkt []byte, typ uint8, size uint16) {
		g := GSO{Type: GSOType(typ % 5), Size: size}
		n, reason := g.Segments(pkt)
		if (n == 0) != (reason != "") {
			t.Fatalf("Segments = %d, %q", n, reason)
		}
		if n == 0 {
			return
		}
		l, _ := g.layout(pkt)
		// A packet read in two parts: the head with every header
		// is enough, and a head without all of them is refused. (The
		// cuts around the headers' end and a few more, not every cut:
		// a loop over every byte made each run so slow that the
		// fuzzer spent its minute minimizing one input.)
		for _, cut := range []int{0, l.hdrLen - 1, l.hdrLen, l.hdrLen + 1, int(size) % (len(pkt) + 1), len(pkt) - 1, len(pkt)} {
			if cut < 0 || cut > len(pkt) {
				continue
			}
			hn, hreason := g.SegmentsOf(pkt[:cut], len(pkt))
			if cut >= l.hdrLen && (hn != n || hreason != "") {
				t.Fatalf("SegmentsOf(head %d bytes) = %d, %q; Segments = %d", cut, hn, hreason, n)
			}
			if cut < l.hdrLen && hreason == "" {
				t.Fatalf("SegmentsOf(head %d bytes, headers %d) accepted", cut, l.hdrLen)
			}
		}
		dst := make([]byte, l.hdrLen+int(size))
		var payload []byte
		for i := range n {
			m := g.SegmentAt(dst, pkt, i)
			if m < l.hdrLen {
				t.Fatalf("segment %d of %d: length %d below the headers %d", i, n, m, l.hdrLen)
			}
			if !l.v6 && ipsum.Checksum(dst[:l.ipLen], 0) != 0xffff {
				t.Fatalf("segment %d: IPv4 header checksum wrong", i)
			}
			payload = append(payload, dst[l.hdrLen:m]...)
		}
		if !bytes.Equal(payload, pkt[l.hdrLen:l.end]) {
			t.Fatalf("segments carry %d bytes that differ from the %d of the super-packet", len(payload), l.end-l.hdrLen)
		}
	})
}

// FuzzVnetHdr parses arbitrary virtio headers against arbitrary packets:
// no panic, and a header that parses fits its packet.
func FuzzVnetHdr(f *testing.F) {
	var h [vnetHdrLen]byte
	putVnetHdr(h[:], GSO{Type: GSOTCPv4, HdrLen: 52, Size: 1448, NeedsCsum: true, CsumStart: 20, CsumOffset: 16})
	f.Add(h[:], tcpPacket(false, 1, 1, header.TCPFlagAck, nil, pattern(3000)))
	f.Add([]byte{1, 0x85, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, []byte{0x60})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, h, pkt []byte) {
		g, reason := parseVnetHdr(h, pkt)
		if reason != "" {
			return
		}
		if g.NeedsCsum && int(g.CsumStart)+int(g.CsumOffset)+2 > len(pkt) {
			t.Fatalf("accepted a checksum field beyond the packet: %+v, %d bytes", g, len(pkt))
		}
		c := append([]byte(nil), pkt...)
		CompleteChecksum(c, g)
		if g.Type != GSONone {
			if n, _ := g.Segments(pkt); n > 0 {
				g.SegmentAt(make([]byte, MaxSuperPacket), pkt, n-1)
			}
		}
	})
}
