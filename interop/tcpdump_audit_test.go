package interop

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// TestTcpdumpAudit writes a fixed set of packets of many kinds into a
// pcapng with glassnet's capture sink, reads it back with tcpdump, and
// asks that glassnet's line for each packet be the one tcpdump prints:
// with absolute numbers (tcpdump -S) as trace.DescribePacket gives them
// without SeqBases, and with relative ones as trace.ReadPCAPNG gives them
// (but for the SYN, the SYN-ACK and a segment without ACK, which tcpdump
// prints with absolute numbers and glassnet counts from the ISN: the SYN
// is seq 0).
func TestTcpdumpAudit(t *testing.T) {
	needProgram(t, tcpdumpBin, "tcpdump")
	pkts := auditPackets()
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.pcapng")
	var buf bytes.Buffer
	sink := trace.NewPCAPNG(&buf)
	for i, p := range pkts {
		sink.Emit(&trace.Event{ID: uint64(i + 1), Node: "audit", Layer: trace.LayerLink, Dir: trace.Out, Name: "packet", Data: p.b})
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	abs := tcpdumpLines(t, file, "-S")
	if len(abs) != len(pkts) {
		t.Fatalf("tcpdump -S printed %d lines for %d packets:\n%s", len(abs), len(pkts), strings.Join(abs, "\n"))
	}
	for i, p := range pkts {
		if got, want := trace.DescribePacket(p.b, nil).Summary, p.glassnet(abs[i]); got != want {
			t.Errorf("%s:\nglassnet: %s\nwant:     %s", p.name, got, want)
		}
	}

	rel := tcpdumpLines(t, file)
	events, err := trace.ReadPCAPNG(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rel) != len(pkts) || len(events) != len(pkts) {
		t.Fatalf("%d packets, tcpdump printed %d lines, ReadPCAPNG read %d events", len(pkts), len(rel), len(events))
	}
	for i, p := range pkts {
		if p.isn {
			continue
		}
		if got, want := events[i].Summary, p.glassnet(rel[i]); got != want {
			t.Errorf("%s, relative:\nglassnet: %s\nwant:     %s", p.name, got, want)
		}
	}
}

// tcpdumpLines runs tcpdump -n on file, with args, and returns its lines
// without their times.
func tcpdumpLines(t *testing.T, file string, args ...string) []string {
	t.Helper()
	out := run(t, timeoutTcpdump, tcpdumpBin, append([]string{"-n", "-t", "-r", file}, args...)...)
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

const timeoutTcpdump = 20 * time.Second

// auditPacket is one packet of the audit: what it is, its bytes, and
// whether it is a TCP segment whose numbers tcpdump prints as they are
// where glassnet counts them from the ISN: a SYN, a SYN-ACK, or one
// without ACK (tcpdump counts from the ISN only the segments with ACK
// after the SYN-ACK).
type auditPacket struct {
	name string
	b    []byte
	isn  bool
	// What glassnet writes beyond tcpdump: the IPv6 fragment header's
	// identification (as tcpdump -v writes it) and, at the end of an
	// IPv4 fragment after the first, the bytes it holds.
	frag, adds string
}

// glassnet is the line glassnet writes for the packet whose line
// tcpdump writes as line.
func (p auditPacket) glassnet(line string) string {
	if p.frag != "" {
		line = strings.Replace(line, "frag (", "frag ("+p.frag, 1)
	}
	return line + p.adds
}

var (
	auditC4, auditS4 = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	auditC6, auditS6 = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
)

// TCP flags and options as the audit's packets use them.
const (
	aFIN, aSYN, aRST, aPSH, aACK, aURG, aECE, aCWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
)

var (
	optSYN  = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7} // mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7
	optSYNA = []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1, 1, 3, 3, 7}
)

// optTS is nop,nop,TS val v ecr e.
func optTS(v, e uint32) []byte {
	b := []byte{1, 1, 8, 10}
	b = binary.BigEndian.AppendUint32(b, v)
	return binary.BigEndian.AppendUint32(b, e)
}

// optSACK is nop,nop,sack with the blocks given as start, end pairs.
func optSACK(edges ...uint32) []byte {
	b := []byte{1, 1, 5, byte(2 + 4*len(edges))}
	for _, e := range edges {
		b = binary.BigEndian.AppendUint32(b, e)
	}
	return b
}

// tcpSeg is a TCP header and payload; opts must be a multiple of 4 long.
func tcpSeg(sport, dport uint16, seq, ack uint32, flags byte, win, urg uint16, opts []byte, payload int) []byte {
	b := make([]byte, 20, 20+len(opts)+payload)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = byte((20+len(opts))/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], win)
	binary.BigEndian.PutUint16(b[18:], urg)
	b = append(b, opts...)
	return append(b, make([]byte, payload)...)
}

// udpDgram is a UDP header and payload; ulen 0 means the true length.
func udpDgram(sport, dport uint16, payload, ulen int) []byte {
	if ulen == 0 {
		ulen = 8 + payload
	}
	b := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(ulen))
	return b
}

// icmpMsg is an ICMP or ICMPv6 message: type, code, four bytes of rest
// of header, and body.
func icmpMsg(typ, code byte, rest uint32, body []byte) []byte {
	b := []byte{typ, code, 0, 0}
	b = binary.BigEndian.AppendUint32(b, rest)
	return append(b, body...)
}

// ip4 is an IPv4 packet; frag is the flags and fragment offset field,
// total the total length it claims (0: its own).
func ip4(src, dst netip.Addr, proto byte, id, frag uint16, total int, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0], b[8], b[9] = 0x45, 64, proto
	if total == 0 {
		total = 20 + len(payload)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], frag)
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, payload...)
}

// ip6 is an IPv6 packet whose first header after the fixed one is next.
func ip6(src, dst netip.Addr, next byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0], b[6], b[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

// frag6 is an IPv6 fragment header before payload.
func frag6(next byte, off int, more bool, id uint32, payload []byte) []byte {
	fo := uint16(off)
	if more {
		fo |= 1
	}
	b := []byte{next, 0}
	b = binary.BigEndian.AppendUint16(b, fo)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, payload...)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// auditPackets is the audit's fixed set of packets.
func auditPackets() []auditPacket {
	const c, s = 1000000, 2000000 // the ISNs, client and server
	v4 := func(name string, from netip.Addr, proto byte, payload []byte) auditPacket {
		to := auditS4
		if from == auditS4 {
			to = auditC4
		}
		return auditPacket{name: name, b: ip4(from, to, proto, 0, 0x4000, 0, payload)}
	}
	out := func(seq, ack uint32, flags byte, win, urg uint16, opts []byte, n int) []byte {
		return tcpSeg(40000, 7777, seq, ack, flags, win, urg, opts, n)
	}
	in := func(seq, ack uint32, flags byte, win, urg uint16, opts []byte, n int) []byte {
		return tcpSeg(7777, 40000, seq, ack, flags, win, urg, opts, n)
	}
	udpQuote := ip4(auditC4, auditS4, 17, 0, 0x4000, 0, udpDgram(40001, 30000, 0, 0))[:28]
	bigQuote := ip4(auditC4, auditS4, 6, 0, 0x4000, 1500, out(c+1, s+1, aACK, 502, 0, nil, 0))
	pkts := []auditPacket{
		{name: "SYN", b: ip4(auditC4, auditS4, 6, 0, 0x4000, 0, out(c, 0, aSYN|aECE|aCWR, 64240, 0, optSYN, 0)), isn: true},
		{name: "SYN-ACK", b: ip4(auditS4, auditC4, 6, 0, 0x4000, 0, in(s, c+1, aSYN|aACK|aECE, 65160, 0, optSYNA, 0)), isn: true},
		v4("ACK", auditC4, 6, out(c+1, s+1, aACK, 502, 0, optTS(2, 9), 0)),
		v4("data", auditC4, 6, out(c+1, s+1, aPSH|aACK, 502, 0, optTS(3, 9), 100)),
		v4("data after a loss", auditC4, 6, out(c+201, s+1, aPSH|aACK, 502, 0, optTS(4, 9), 100)),
		v4("SACK one block", auditS4, 6, in(s+1, c+101, aACK, 509, 0, cat(optTS(10, 4), optSACK(c+201, c+301)), 0)),
		v4("SACK two blocks", auditS4, 6, in(s+1, c+101, aACK, 509, 0, cat(optTS(10, 4), optSACK(c+401, c+501, c+201, c+301)), 0)),
		v4("zero window", auditS4, 6, in(s+1, c+501, aACK, 0, 0, optTS(11, 4), 0)),
		v4("window update", auditS4, 6, in(s+1, c+501, aACK, 509, 0, optTS(12, 4), 0)),
		v4("ECE", auditS4, 6, in(s+1, c+501, aACK|aECE, 509, 0, nil, 0)),
		v4("CWR with data", auditC4, 6, out(c+501, s+1, aPSH|aACK|aCWR, 502, 0, nil, 10)),
		v4("urgent data", auditC4, 6, out(c+511, s+1, aPSH|aACK|aURG, 502, 3, nil, 10)),
		v4("no flags", auditC4, 6, out(c+521, s+1, 0, 502, 0, nil, 0)),
		{name: "PSH alone with data", b: ip4(auditC4, auditS4, 6, 0, 0x4000, 0, out(c+521, s+1, aPSH, 502, 0, nil, 10)), isn: true},
		v4("fast open cookie", auditC4, 6, out(c+531, s+1, aACK, 502, 0, []byte{34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1}, 0)),
		v4("unknown option", auditC4, 6, out(c+531, s+1, aACK, 502, 0, []byte{1, 1, 99, 4, 0xab, 0xcd, 1, 1}, 0)),
		v4("fast open cookie request", auditC4, 6, out(c+531, s+1, aACK, 502, 0, []byte{34, 2, 1, 1}, 0)),
		v4("end of options", auditC4, 6, out(c+531, s+1, aACK, 502, 0, []byte{1, 0, 0, 0}, 0)),
		v4("FIN", auditC4, 6, out(c+531, s+1, aFIN|aACK, 502, 0, optTS(5, 12), 0)),
		v4("FIN with data", auditS4, 6, in(s+1, c+532, aFIN|aPSH|aACK, 509, 0, optTS(13, 5), 20)),
		v4("RST-ACK", auditS4, 6, in(s+22, c+532, aRST|aACK, 0, 0, nil, 0)),
		{name: "RST", b: ip4(auditC4, auditS4, 6, 0, 0x4000, 0, out(c+532, 0, aRST, 0, 0, nil, 0)), isn: true},
		v4("UDP", auditC4, 17, udpDgram(40001, 30000, 12, 0)),
		v4("ICMP echo request", auditC4, 1, icmpMsg(8, 0, 7<<16|3, make([]byte, 56))),
		v4("ICMP echo reply", auditS4, 1, icmpMsg(0, 0, 7<<16|3, make([]byte, 56))),
		v4("ICMP port unreachable", auditS4, 1, icmpMsg(3, 3, 0, udpQuote)),
		v4("ICMP frag needed", auditS4, 1, icmpMsg(3, 4, 1280, bigQuote)),
		v4("ICMP time exceeded", auditS4, 1, icmpMsg(11, 0, 0, udpQuote)),
		v4("ICMP reassembly time exceeded", auditS4, 1, icmpMsg(11, 1, 0, udpQuote)),
		v4("ICMP protocol unreachable", auditS4, 1, icmpMsg(3, 2, 0, udpQuote)),
		v4("ICMP tcp port unreachable", auditS4, 1, icmpMsg(3, 3, 0, bigQuote[:28])),
		v4("ICMP frag needed without mtu", auditS4, 1, icmpMsg(3, 4, 0, udpQuote)),
		v4("ICMP parameter problem", auditS4, 1, icmpMsg(12, 0, 0x14000000, udpQuote)),
		v4("ICMP source quench", auditS4, 1, icmpMsg(4, 0, 0, udpQuote)),
		v4("ICMP type 42", auditS4, 1, icmpMsg(42, 0, 0, udpQuote)),
		{name: "IPv4 first fragment", b: ip4(auditC4, auditS4, 17, 77, 0x2000, 0, udpDgram(40001, 30000, 1472, 3008))},
		{name: "IPv4 later fragment", b: ip4(auditC4, auditS4, 17, 77, 185, 0, make([]byte, 1528)), adds: " fragment, length 1528"},
		{name: "IPv6 SYN", b: ip6(auditC6, auditS6, 6, out(c, 0, aSYN, 64800, 0, optSYN, 0)), isn: true},
		{name: "IPv6 SYN-ACK", b: ip6(auditS6, auditC6, 6, in(s, c+1, aSYN|aACK, 64260, 0, optSYNA, 0)), isn: true},
		{name: "IPv6 data", b: ip6(auditC6, auditS6, 6, out(c+1, s+1, aPSH|aACK, 507, 0, optTS(2, 9), 100))},
		{name: "IPv6 UDP", b: ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 12, 0))},
		{name: "ICMPv6 echo request", b: ip6(auditC6, auditS6, 58, icmpMsg(128, 0, 7<<16|3, make([]byte, 56)))},
		{name: "ICMPv6 echo reply", b: ip6(auditS6, auditC6, 58, icmpMsg(129, 0, 7<<16|3, make([]byte, 56)))},
		{name: "ICMPv6 port unreachable", b: ip6(auditS6, auditC6, 58, icmpMsg(1, 4, 0, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 packet too big", b: ip6(auditS6, auditC6, 58, icmpMsg(2, 0, 1280, ip6(auditC6, auditS6, 6, out(c+1, s+1, aACK, 502, 0, nil, 0))))},
		{name: "ICMPv6 time exceeded", b: ip6(auditS6, auditC6, 58, icmpMsg(3, 0, 0, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 no route", b: ip6(auditS6, auditC6, 58, icmpMsg(1, 0, 0, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 beyond scope", b: ip6(auditS6, auditC6, 58, icmpMsg(1, 2, 0, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 address unreachable", b: ip6(auditS6, auditC6, 58, icmpMsg(1, 3, 0, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 tcp port unreachable", b: ip6(auditS6, auditC6, 58, icmpMsg(1, 4, 0, ip6(auditC6, auditS6, 6, out(c+1, s+1, aACK, 502, 0, nil, 0))))},
		{name: "ICMPv6 erroneous header", b: ip6(auditS6, auditC6, 58, icmpMsg(4, 0, 6, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 unrecognized option", b: ip6(auditS6, auditC6, 58, icmpMsg(4, 2, 42, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 reassembly time exceeded", b: ip6(auditS6, auditC6, 58, icmpMsg(3, 1, 0, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 parameter problem", b: ip6(auditS6, auditC6, 58, icmpMsg(4, 1, 40, ip6(auditC6, auditS6, 17, udpDgram(40001, 30000, 0, 0))))},
		{name: "ICMPv6 router solicitation", b: ip6(auditC6, auditS6, 58, icmpMsg(133, 0, 0, nil))},
		{name: "ICMPv6 router advertisement", b: ip6(auditS6, auditC6, 58, icmpMsg(134, 0, 64<<24|1800, make([]byte, 8)))},
		{name: "ICMPv6 neighbor solicitation", b: ip6(auditC6, auditS6, 58, icmpMsg(135, 0, 0, auditS6.AsSlice()))},
		{name: "ICMPv6 neighbor advertisement", b: ip6(auditS6, auditC6, 58, icmpMsg(136, 0, 0x60000000, auditS6.AsSlice()))},
		{name: "MLDv2 report after hop-by-hop", b: ip6(auditC6, netip.MustParseAddr("ff02::16"), 0, cat([]byte{58, 0, 5, 2, 0, 0, 1, 0}, icmpMsg(143, 0, 1, cat([]byte{4, 0, 0, 0}, netip.MustParseAddr("ff02::1:ff00:2").AsSlice()))))},
		{name: "IPv6 first fragment", b: ip6(auditC6, auditS6, 44, frag6(17, 0, true, 0xabcd, udpDgram(40001, 30000, 1440, 3008))), frag: "0x0000abcd:"},
		{name: "IPv6 later fragment", b: ip6(auditC6, auditS6, 44, frag6(17, 1448, false, 0xabcd, make([]byte, 1552))), frag: "0x0000abcd:"},
	}
	// Every code of destination unreachable tcpdump words, and one it
	// does not.
	for code := range 17 {
		p := v4("ICMP unreachable code "+strconv.Itoa(code), auditS4, 1, icmpMsg(3, byte(code), 0, udpQuote))
		pkts = append(pkts, p)
	}
	pkts = append(pkts, v4("ICMP redirect to host", auditS4, 1, icmpMsg(5, 1, 0x0a000003, udpQuote)))
	return pkts
}
