package trace

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// classicPCAP writes pkts as a classic pcap (LINKTYPE_RAW, nanosecond
// timestamps, 1 ms apart), as glassnet serve's --pcap does.
func classicPCAP(pkts ...[]byte) []byte {
	return linkPCAP(pngLinkTypeRaw, pkts...)
}

// linkPCAP is classicPCAP with frames of another link type.
func linkPCAP(linkType uint32, pkts ...[]byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, pcapMagicNano)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, linkType)
	for i, p := range pkts {
		b = binary.LittleEndian.AppendUint32(b, 1000)
		b = binary.LittleEndian.AppendUint32(b, uint32(i)*1e6)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// TestReadPCAP: a classic capture of a server's handshake and data reads
// back as packets of one node, the server's own going out (it is the
// address the SYN went to), with times and relative sequence numbers.
func TestReadPCAP(t *testing.T) {
	t.Parallel()
	const syn, ack, psh = 0x02, 0x10, 0x08
	in := classicPCAP(
		tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, syn, ""),
		tcpPacket(ipServer, ipClient, 80, 40000, 5000, 1001, syn|ack, ""),
		tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack|psh, "hello"),
	)
	if !IsPCAP(in[:4]) {
		t.Fatal("IsPCAP: false for a pcap header")
	}
	evs, err := ReadPCAP(bytes.NewReader(in), "glassnet")
	if err != nil || len(evs) != 3 {
		t.Fatalf("ReadPCAP: %d events, %v", len(evs), err)
	}
	for i, want := range []struct {
		dir    Dir
		relSeq uint32
	}{{In, 0}, {Out, 0}, {In, 1}} {
		e := evs[i]
		if e.ID != uint64(i+1) || e.Node != "glassnet" || e.Dir != want.dir || e.Field("rel_seq") != want.relSeq || e.T != time.Duration(i)*time.Millisecond {
			t.Errorf("packet %d: id %d node %s dir %s rel_seq %v t %v, want dir %s rel_seq %d", i, e.ID, e.Node, e.Dir, e.Field("rel_seq"), e.T, want.dir, want.relSeq)
		}
	}
	if want := "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:6, ack 1, win 65535, length 5"; evs[2].Summary != want {
		t.Errorf("summary %q", evs[2].Summary)
	}
	// cut inside the last packet: the two before it, and an error
	evs, err = ReadPCAP(bytes.NewReader(in[:len(in)-3]), "glassnet")
	if len(evs) != 2 || err == nil || !strings.Contains(err.Error(), "trace: pcap: packet 3") {
		t.Errorf("cut capture: %d events, %v", len(evs), err)
	}
}

// TestReadPCAPRelative: sequence numbers are relative from the SYN of
// their direction on, as the stack traces them; a direction whose SYN
// the capture does not hold (missed, or not yet seen) counts from its
// first packet, as Wireshark does, and a SYN starts the count again; an
// ack is relative once the other direction has been seen.
func TestReadPCAPRelative(t *testing.T) {
	t.Parallel()
	const syn, ack, psh = 0x02, 0x10, 0x08
	evs, err := ReadPCAP(bytes.NewReader(classicPCAP(
		tcpPacket(ipClient, ipServer, 40001, 80, 7000, 9000, ack|psh, "hi"), // no SYN in the capture
		tcpPacket(ipClient, ipServer, 40000, 80, 900, 0, ack|psh, "old"),    // before its SYN
		tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, syn, ""),
		tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack|psh, "hello"), // the SYN-ACK was missed
		tcpPacket(ipServer, ipClient, 80, 40000, 5001, 1006, ack|psh, "world"),
	)), "glassnet")
	if err != nil || len(evs) != 5 {
		t.Fatalf("ReadPCAP: %d events, %v", len(evs), err)
	}
	for i, want := range []struct {
		summary        string
		relSeq, relAck any
	}{
		{"IP 10.0.0.1.40001 > 10.0.0.2.80: Flags [P.], seq 1:3, ack 9000, win 65535, length 2", uint32(1), nil},
		{"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:4, ack 0, win 65535, length 3", uint32(1), nil},
		{"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 0, win 65535, length 0", uint32(0), nil},
		{"IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:6, ack 5001, win 65535, length 5", uint32(1), nil},
		{"IP 10.0.0.2.80 > 10.0.0.1.40000: Flags [P.], seq 1:6, ack 6, win 65535, length 5", uint32(1), uint32(6)},
	} {
		e := evs[i]
		if e.Summary != want.summary || e.Field("rel_seq") != want.relSeq || e.Field("rel_ack") != want.relAck {
			t.Errorf("packet %d: %q, rel_seq %v, rel_ack %v\nwant %q, %v, %v", i+1, e.Summary, e.Field("rel_seq"), e.Field("rel_ack"), want.summary, want.relSeq, want.relAck)
		}
	}
}

// TestReadPCAPLoopback: in a capture on loopback both ends of a
// connection are the same address; the end the SYN went to is the one
// whose packets go out.
func TestReadPCAPLoopback(t *testing.T) {
	t.Parallel()
	const syn, ack, psh = 0x02, 0x10, 0x08
	lo := [4]byte{127, 0, 0, 1}
	evs, err := ReadPCAP(bytes.NewReader(classicPCAP(
		tcpPacket(lo, lo, 40000, 80, 1000, 0, syn, ""),
		tcpPacket(lo, lo, 80, 40000, 5000, 1001, syn|ack, ""),
		tcpPacket(lo, lo, 40000, 80, 1001, 5001, ack|psh, "hello"),
		tcpPacket(lo, lo, 80, 40000, 5001, 1006, ack|psh, "hello"),
	)), "glassnet")
	if err != nil || len(evs) != 4 {
		t.Fatalf("ReadPCAP: %d events, %v", len(evs), err)
	}
	for i, want := range []Dir{In, Out, In, Out} {
		if evs[i].Dir != want {
			t.Errorf("packet %d (%s): %s, want %s", i+1, evs[i].Summary, evs[i].Dir, want)
		}
	}
}

// TestReadPCAPLinkTypes: the IP packet is found behind the link headers
// captures have: Ethernet (with VLAN tags), Linux cooked capture v1 and v2
// (tcpdump -i any), BSD loopback; a frame that holds no IP packet is
// described as the stack describes its Ethernet frames (ARP), or by its
// link type and length.
func TestReadPCAPLinkTypes(t *testing.T) {
	t.Parallel()
	ip := tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, "")
	eth := func(tags ...uint16) []byte {
		b := make([]byte, 12)
		for _, tag := range tags {
			b = binary.BigEndian.AppendUint16(b, tag)
			b = append(b, 0, 7)
		}
		return binary.BigEndian.AppendUint16(b, 0x0800)
	}
	sll := append(make([]byte, 14), 0x08, 0x00)
	sll2 := append([]byte{0x08, 0x00}, make([]byte, 18)...)
	for _, c := range []struct {
		name     string
		linkType uint32
		head     []byte
		isIP     bool
	}{
		{"ethernet", pngLinkTypeEthernet, eth(), true},
		{"802.1Q", pngLinkTypeEthernet, eth(0x8100), true},
		{"QinQ", pngLinkTypeEthernet, eth(0x88a8, 0x8100), true},
		{"sll", pngLinkTypeSLL, sll, true},
		{"sll2", pngLinkTypeSLL2, sll2, true},
		{"null", pngLinkTypeNull, []byte{2, 0, 0, 0}, true},
		{"loop", pngLinkTypeLoop, []byte{0, 0, 0, 2}, true},
		{"arp over ethernet", pngLinkTypeEthernet, append(make([]byte, 12), 0x08, 0x06), false},
		{"sll, not IP", pngLinkTypeSLL, append(make([]byte, 14), 0x88, 0xcc), false},
		{"unknown link type", 147, nil, false},
	} {
		evs, err := ReadPCAP(bytes.NewReader(linkPCAP(c.linkType, append(append([]byte(nil), c.head...), ip...))), "n")
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events, %v", c.name, len(evs), err)
		}
		e := evs[0]
		if got := e.Conn != "" && bytes.Equal(e.Data, ip); got != c.isIP {
			t.Errorf("%s: conn %q, data %d bytes, summary %q", c.name, e.Conn, len(e.Data), e.Summary)
		}
		// An Ethernet frame that is not IP is described as the stack
		// describes its own; a frame of another link type by its type.
		if want := "link type "; !c.isIP && !strings.Contains(e.Summary, want) && !(c.linkType == pngLinkTypeEthernet && strings.Contains(e.Summary, "ARP")) {
			t.Errorf("%s: summary %q", c.name, e.Summary)
		}
	}
}

// TestReadPCAPCutAtLinkHeader: a packet the capture cut right after a
// cooked link header that says IP is still an IP packet, of which no
// byte was kept.
func TestReadPCAPCutAtLinkHeader(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		linkType uint32
		head     []byte
	}{
		{"sll", pngLinkTypeSLL, append(make([]byte, 14), 0x08, 0x00)},
		{"sll2", pngLinkTypeSLL2, append([]byte{0x08, 0x00}, make([]byte, 18)...)},
	} {
		in := linkPCAP(c.linkType, c.head)
		binary.LittleEndian.PutUint32(in[24+12:], uint32(len(c.head)+40)) // on the wire: a 40-byte IP packet
		evs, err := ReadPCAP(bytes.NewReader(in), "n")
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events, %v", c.name, len(evs), err)
		}
		if s := evs[0].Summary; !strings.Contains(s, "captured 0 of 40 bytes") {
			t.Errorf("%s: summary %q, want the IP packet's 40 bytes, none captured", c.name, s)
		}
	}
}

func FuzzReadPCAP(f *testing.F) {
	f.Add(classicPCAP(tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, "")))
	f.Add(classicPCAP()[:20])
	// A packet cut at the snapshot length, and IPv6 with extension
	// headers.
	cut := classicPCAP(tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x18, strings.Repeat("x", 100))[:44])
	binary.LittleEndian.PutUint32(cut[24+12:], 140)
	f.Add(cut)
	seg := tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, "")[20:]
	f.Add(classicPCAP(ipv6Packet(protoHopByHop, append(hopByHop(protoFragment), append(fragHeader(protoTCP, 0, false, 1), seg...)...))))
	f.Fuzz(func(t *testing.T, in []byte) {
		evs, err := ReadPCAP(bytes.NewReader(in), "n")
		for _, e := range evs {
			if e.Layer != LayerLink || e.Name != "packet" || (e.Dir != In && e.Dir != Out) {
				t.Fatalf("read %+v", e)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "trace: pcap: ") {
			t.Fatalf("error %v", err)
		}
	})
}

// bareNG writes pkts as a pcapng with what dumpcap writes and no more: one
// interface without a name, and packets without flags or IDs.
func bareNG(pkts ...[]byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, pngSHB)
	b = le.AppendUint32(b, 28)
	b = le.AppendUint32(b, pngByteOrder)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint64(b, ^uint64(0))
	b = le.AppendUint32(b, 28)
	b = le.AppendUint32(b, pngIDB)
	b = le.AppendUint32(b, 20)
	b = le.AppendUint16(b, pngLinkTypeRaw)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 20)
	for i, p := range pkts {
		padded := (len(p) + 3) &^ 3
		b = le.AppendUint32(b, pngEPB)
		b = le.AppendUint32(b, uint32(32+padded))
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(i)*1000)
		b = le.AppendUint32(b, uint32(len(p)))
		b = le.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
		b = append(b, make([]byte, padded-len(p))...)
		b = le.AppendUint32(b, uint32(32+padded))
	}
	return b
}

// TestReadPCAPNGGuessesDirections: a pcapng that gives no directions (as
// dumpcap, tshark and Wireshark write them) has them guessed as a classic
// pcap's are, and an interface without a name is named after its number.
func TestReadPCAPNGGuessesDirections(t *testing.T) {
	t.Parallel()
	const syn, ack, psh = 0x02, 0x10, 0x08
	evs, err := ReadPCAPNG(bytes.NewReader(bareNG(
		tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, syn, ""),
		tcpPacket(ipServer, ipClient, 80, 40000, 5000, 1001, syn|ack, ""),
		tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack|psh, "hello"),
	)))
	if err != nil || len(evs) != 3 {
		t.Fatalf("ReadPCAPNG: %d packets, %v", len(evs), err)
	}
	for i, want := range []Dir{In, Out, In} {
		if evs[i].Dir != want || evs[i].Node != "if0" {
			t.Errorf("packet %d (%s): node %q %s, want if0 %s", i+1, evs[i].Summary, evs[i].Node, evs[i].Dir, want)
		}
	}
}

// TestReadPCAPNoSYN: in a capture with no SYN at all, the lower port of a
// connection is taken for the server's, the stack's own.
func TestReadPCAPNoSYN(t *testing.T) {
	t.Parallel()
	const ack, psh = 0x10, 0x08
	evs, err := ReadPCAP(bytes.NewReader(classicPCAP(
		tcpPacket(ipClient, ipServer, 40000, 8080, 1001, 5001, ack|psh, "hello"),
		tcpPacket(ipServer, ipClient, 8080, 40000, 5001, 1006, ack|psh, "hello"),
	)), "glassnet")
	if err != nil || len(evs) != 2 || evs[0].Dir != In || evs[1].Dir != Out {
		t.Fatalf("ReadPCAP: %d packets, %v, directions %s %s; want in, out", len(evs), err, evs[0].Dir, evs[1].Dir)
	}
}

// TestReadPCAPSnapLen: a packet the capture kept only the start of (its
// snapshot length) says so, with its length on the wire, and its payload
// length is the one its IP header gives, as tcpdump says it, but never
// more than the wire held.
func TestReadPCAPSnapLen(t *testing.T) {
	t.Parallel()
	const summary = "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:101, ack 0, win 65535, length 100 [|captured 44 of 140 bytes]"
	p := tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x18, strings.Repeat("x", 100))
	lying := bytes.Clone(p)
	binary.BigEndian.PutUint16(lying[2:], 1500) // more than went by
	v6 := ipv6Packet(6, p[20:])
	for _, c := range []struct {
		name    string
		pkt     []byte
		kept    int
		summary string
		payload int
	}{
		{"ipv4", p, 44, summary, 100},
		{"ipv4 total length past the wire", lying, 44, summary, 100},
		{"ipv6", v6, 64, "IP6 fd00::1.40000 > fd00::2.80: Flags [P.], seq 1:101, ack 0, win 65535, length 100 [|captured 64 of 160 bytes]", 100},
		{"cut inside the TCP header", p, 30, "IP 10.0.0.1 > 10.0.0.2: tcp truncated, length 10 [|captured 30 of 140 bytes]", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := classicPCAP(c.pkt[:c.kept])
			binary.LittleEndian.PutUint32(b[24+12:], uint32(len(c.pkt))) // orig_len
			evs, err := ReadPCAP(bytes.NewReader(b), "n")
			if err != nil || len(evs) != 1 {
				t.Fatalf("ReadPCAP: %d, %v", len(evs), err)
			}
			e := evs[0]
			n, ok := e.Field("payload_len").(int)
			if e.Summary != c.summary || e.Field("orig_len") != len(c.pkt) || e.Field("len") != c.kept || len(e.Data) != c.kept ||
				ok != (c.payload >= 0) || ok && n != c.payload {
				t.Errorf("summary %q\norig_len %v, len %v, %d bytes, payload_len %v\nwant %q\norig_len %d, len %d, payload_len %d",
					e.Summary, e.Field("orig_len"), e.Field("len"), len(e.Data), e.Field("payload_len"), c.summary, len(c.pkt), c.kept, c.payload)
			}
		})
	}
}

// TestReadCaptureTimes: a capture whose packets are not in time order
// (here the second is stamped before the first) reads back in the order
// it has, with no negative time: each packet's t counts from the earliest
// stamp, and its "time" field is its own stamp. Written again as pcapng
// (as the view exports it), the packets keep their stamps.
func TestReadCaptureTimes(t *testing.T) {
	t.Parallel()
	const syn, ack = 0x02, 0x10
	pkts := [][]byte{
		tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, syn, ""),
		tcpPacket(ipServer, ipClient, 80, 40000, 5000, 1001, syn|ack, ""),
		tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, ack, ""),
	}
	stamps := []time.Time{time.Unix(1_700_000_000, 5e6), time.Unix(1_700_000_000, 0), time.Unix(1_700_000_000, 7e6)}
	wantT := []time.Duration{5 * time.Millisecond, 0, 7 * time.Millisecond}

	pcap := classicPCAP(pkts...)
	ng := bareNG(pkts...)
	for i, off, offNG := 0, 24, 28+20; i < len(pkts); i++ {
		binary.LittleEndian.PutUint32(pcap[off:], uint32(stamps[i].Unix()))
		binary.LittleEndian.PutUint32(pcap[off+4:], uint32(stamps[i].Nanosecond()))
		off += 16 + len(pkts[i])
		us := uint64(stamps[i].UnixMicro()) // bareNG's interface counts microseconds
		binary.LittleEndian.PutUint32(ng[offNG+12:], uint32(us>>32))
		binary.LittleEndian.PutUint32(ng[offNG+16:], uint32(us))
		offNG += 32 + (len(pkts[i])+3)&^3
	}
	check := func(what string, evs []Event, err error) {
		t.Helper()
		if err != nil || len(evs) != len(pkts) {
			t.Fatalf("%s: %d packets, %v", what, len(evs), err)
		}
		for i, e := range evs {
			want := DescribePacket(pkts[i], nil)
			if e.ID != uint64(i+1) || e.Field("seq") != want.Seq.V || e.T != wantT[i] || e.Field("time") != stamps[i].UTC().Format(time.RFC3339Nano) {
				t.Errorf("%s: packet %d: id %d seq %v t %v time %v; want id %d seq %d t %v time %s",
					what, i+1, e.ID, e.Field("seq"), e.T, e.Field("time"), i+1, want.Seq.V, wantT[i], stamps[i].UTC().Format(time.RFC3339Nano))
			}
		}
	}
	evs, err := ReadPCAP(bytes.NewReader(pcap), "n")
	check("pcap", evs, err)
	evsNG, err := ReadPCAPNG(bytes.NewReader(ng))
	check("pcapng", evsNG, err)

	var again bytes.Buffer
	w := NewPCAPNG(&again)
	w.Start = time.Unix(1, 0) // as the view's export sets it: not the capture's time
	for i := range evs {
		w.Emit(&evs[i])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs, err = ReadPCAPNG(&again)
	check("pcap written again as pcapng", evs, err)
}

// TestPCAPNGEthernet: an Ethernet capture read back is written again on
// an Ethernet interface, each frame as it was, ARP included, so Wireshark
// sees the MACs and the ARP; a frame that holds no IP packet from a link
// that is not Ethernet (Linux cooked capture) is left out of a pcapng
// whose interface carries raw IP, where Wireshark would read it as a
// broken IP packet, and its IP packets are written.
func TestPCAPNGEthernet(t *testing.T) {
	t.Parallel()
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1}, 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	ip := append([]byte{0x02, 0, 0, 0, 0, 1, 0x46, 0, 0, 0, 0, 2}, 0x08, 0x00)
	ip = append(ip, tcpPacket(ipClient, ipServer, 40000, 80, 1, 0, 0x02, "")...)
	sll := func(proto uint16, b []byte) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[14:], proto)
		return append(h, b...)
	}
	for _, tc := range []struct {
		name     string
		linkType uint32
		frames   [][]byte
		want     uint16
		written  [][]byte
	}{
		{"ethernet", pngLinkTypeEthernet, [][]byte{arp, ip}, pngLinkTypeEthernet, [][]byte{arp, ip}},
		{"cooked", pngLinkTypeSLL, [][]byte{sll(0x0806, arp[14:]), sll(0x0800, ip[14:])}, pngLinkTypeRaw, [][]byte{ip[14:]}},
	} {
		evs, err := ReadPCAP(bytes.NewReader(linkPCAP(tc.linkType, tc.frames...)), "n")
		if err != nil || len(evs) != 2 {
			t.Fatalf("%s: ReadPCAP: %d, %v, %v", tc.name, len(evs), err, evs)
		}
		var buf bytes.Buffer
		png := NewPCAPNG(&buf)
		for i := range evs {
			png.Emit(&evs[i])
		}
		png.Close()
		var written [][]byte
		for _, b := range parsePCAPNG(t, buf.Bytes()) {
			switch b.typ {
			case pngIDB:
				if lt := binary.LittleEndian.Uint16(b.body); lt != tc.want {
					t.Errorf("%s: an interface of link type %d, want %d", tc.name, lt, tc.want)
				}
			case pngEPB:
				written = append(written, b.body[20:20+binary.LittleEndian.Uint32(b.body[12:16])])
			}
		}
		if fmt.Sprintf("%x", written) != fmt.Sprintf("%x", tc.written) {
			t.Errorf("%s: written\n%x\nwant\n%x", tc.name, written, tc.written)
		}
	}
}

// TestReadPCAPNGBinaryResolution: an interface whose if_tsresol has its
// top bit set counts time in negative powers of two (here 2^-10 s).
func TestReadPCAPNGBinaryResolution(t *testing.T) {
	t.Parallel()
	le := binary.LittleEndian
	ng := bareNG(tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, 0x02, ""))
	shb, epb := ng[:28], slices.Clone(ng[48:])
	idb := le.AppendUint32(nil, pngIDB)
	idb = le.AppendUint32(idb, 32)
	idb = le.AppendUint16(idb, pngLinkTypeRaw)
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0)
	idb = le.AppendUint16(idb, pngOptIfTSResol)
	idb = le.AppendUint16(idb, 1)
	idb = append(idb, 0x80|10, 0, 0, 0)
	idb = le.AppendUint32(idb, 0) // opt_endofopt
	idb = le.AppendUint32(idb, 32)
	le.PutUint32(epb[12:], 0)
	le.PutUint32(epb[16:], 3*1024+512) // 3.5 s
	evs, err := ReadPCAPNG(bytes.NewReader(slices.Concat(shb, idb, epb)))
	if err != nil || len(evs) != 1 {
		t.Fatalf("ReadPCAPNG: %d packets, %v", len(evs), err)
	}
	var got any
	for _, f := range evs[0].Fields {
		if f.Key == "time" {
			got = f.Value
		}
	}
	if want := "1970-01-01T00:00:03.5Z"; got != want {
		t.Errorf("time %v, want %s", got, want)
	}
}
