package interop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
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
		v4("UDP length past the packet", auditC4, 17, udpDgram(40001, 30000, 12, 100)),
		v4("UDP length short of its header", auditC4, 17, udpDgram(40001, 30000, 12, 4)),
		{name: "IPv4 total length short of its header", b: ip4(auditC4, auditS4, 17, 0, 0, 10, udpDgram(40001, 30000, 12, 0))},
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
		{name: "ICMPv6 incomplete header chain", b: ip6(auditS6, auditC6, 58, icmpMsg(4, 3, 0, ip6(auditC6, auditS6, 44, nil)))},
		{name: "ICMPv6 redirect", b: ip6(auditS6, auditC6, 58, icmpMsg(137, 0, 0, cat(netip.MustParseAddr("fd00::3").AsSlice(), netip.MustParseAddr("fd00::4").AsSlice())))},
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

// TestTcpdumpAuditServe reads with tcpdump what serve --pcap wrote of a
// run on a TUN with the kernel as the other end, IPv4 and IPv6: pings,
// pings that the kernel sends in fragments, datagrams to a closed port
// (port unreachables), a connection to a closed port (a reset), a TCP
// upload to the discard port with some of its segments lost on the way
// in (SACK blocks), with ECN asked for in the SYN, and an IPv6 TCP echo.
// Each packet's line, as glassnet reads the capture, is the one tcpdump
// prints, but for the differences TestTcpdumpAudit names; and so is each
// packet line of serve's --trace.
func TestTcpdumpAuditServe(t *testing.T) {
	needProgram(t, tcpdumpBin, "tcpdump")
	netnstest.RunTUN(t, func(t *testing.T) {
		const stack6 = "fd00:200::2"
		dir := t.TempDir()
		pcap, jsonl := filepath.Join(dir, "serve.pcap"), filepath.Join(dir, "serve.jsonl")
		// ECN is asked for per network namespace: this one's.
		if err := os.WriteFile("/proc/sys/net/ipv4/tcp_ecn", []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
		s := startServeArgs(t, "serve", "--tun", tunName, "--addr", stackAddr+"/24,"+stack6+"/64", "--no-offload", "--pcap", pcap, "--trace", jsonl,
			"--ingress", "tcp and dst port 9 and greater 1000 : loss 10% seed 3")

		run(t, 20*time.Second, "ping", "-c", "1", "-W", "5", stackAddr)
		run(t, 20*time.Second, "ping", "-c", "1", "-W", "5", "-s", "3000", stackAddr)
		// The kernel's side of the TUN may take a moment to be ready for
		// IPv6 (duplicate address detection): wait for a first answer.
		for deadline := time.Now().Add(20 * time.Second); ; {
			err := exec.Command("ping", "-6", "-c", "1", "-W", "1", stack6).Run()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no answer to ping -6 %s in 20s: %v", stack6, err)
			}
		}
		run(t, 20*time.Second, "ping", "-6", "-c", "1", "-W", "5", "-s", "3000", stack6)
		for _, a := range []string{stackAddr + ":9999", "[" + stack6 + "]:9999"} {
			u, err := net.Dial("udp", a)
			if err != nil {
				t.Fatal(err)
			}
			u.SetDeadline(time.Now().Add(10 * time.Second))
			u.Write([]byte("anyone?"))
			// The port unreachable comes back as an error to a read.
			if _, err := u.Read(make([]byte, 16)); err == nil {
				t.Errorf("udp to %s: a reply from a closed port", a)
			}
			u.Close()
		}
		if c, err := net.DialTimeout("tcp", stackAddr+":9998", 10*time.Second); err == nil {
			c.Close()
			t.Errorf("connected to a closed port")
		}
		c, err := net.DialTimeout("tcp", stackAddr+":9", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(make([]byte, 300<<10)); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c) // until the stack's FIN
		c.Close()
		e, err := net.DialTimeout("tcp", "["+stack6+"]:7", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		e.SetDeadline(time.Now().Add(10 * time.Second))
		e.Write([]byte("hello"))
		if _, err := io.ReadFull(e, make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
		e.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, e)
		e.Close()
		if err := s.interrupt(t); err != nil {
			t.Fatalf("serve: %v", err)
		}

		f, err := os.Open(pcap)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		events, err := trace.ReadPCAP(f, "serve")
		if err != nil {
			t.Fatal(err)
		}
		rel, abs := tcpdumpLines(t, pcap), tcpdumpLines(t, pcap, "-S")
		if len(rel) != len(events) || len(abs) != len(events) {
			t.Fatalf("glassnet read %d packets, tcpdump printed %d lines:\n%s", len(events), len(rel), strings.Join(rel, "\n"))
		}
		all := strings.Join(rel, "\n")
		for _, kind := range []string{"Flags [SEW]", "sack 1 {", "Flags [F.]", "Flags [R.]", "ICMP echo request", "ICMP6, echo reply",
			"ICMP " + stackAddr + " udp port 9999 unreachable", "ICMP6, destination unreachable, unreachable port, " + stack6 + " udp port 9999",
			": ip-proto-1\n", ": frag (", "IP6 "} {
			if !strings.Contains(all, kind) {
				t.Errorf("no %q in the capture", kind)
			}
		}
		// tcpdump counts a connection's numbers from the first segment
		// with ACK it sees of it (the SYN-ACK, or the reset that answers
		// a SYN to a closed port), and prints that one, the SYN and any
		// segment without ACK as they are; glassnet counts from the SYNs
		// (see trace.ReadPCAP).
		counted := map[string]bool{}
		for i, ev := range events {
			got, want := ev.Summary, rel[i]
			p := trace.DescribePacket(ev.Data, nil)
			conn := p.Src + " " + p.Dst + " " + strconv.Itoa(p.Sport.V+p.Dport.V)
			if p.Src > p.Dst {
				conn = p.Dst + " " + p.Src + " " + strconv.Itoa(p.Sport.V+p.Dport.V)
			}
			acked := strings.Contains(p.Flags, ".")
			switch {
			case p.Proto == "tcp" && p.Flags != "" && (strings.Contains(p.Flags, "S") || !acked || !counted[conn]):
				// Numbers tcpdump prints as they are: compare those.
				got, want = p.Summary, abs[i]
				counted[conn] = counted[conn] || acked
			case p.FragID.Set && strings.HasPrefix(p.Summary, "IP6 "):
				want = strings.Replace(want, "frag (", fmt.Sprintf("frag (0x%08x:", p.FragID.V), 1)
			case p.FragOffset.V > 0:
				want += " fragment, length " + strconv.Itoa(p.Len-20)
			}
			if got != want {
				t.Errorf("packet %d:\nglassnet: %s\nwant:     %s", i+1, got, want)
			}
		}
		t.Logf("%d packets compared", len(events))

		// The timeline's own lines, from the stack's ISNs: the same,
		// but for those whose numbers tcpdump prints as they are and
		// the fragments.
		f, err = os.Open(jsonl)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		traced, err := trace.ReadJSONL(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := map[string]bool{}
		for _, l := range rel {
			lines[l] = true
		}
		var packets, compared int
		for _, e := range traced {
			if e.Layer != trace.LayerLink || e.Name != "packet" {
				continue
			}
			packets++
			flags, _ := e.Field("flags").(string)
			if e.Field("frag_id") != nil || strings.ContainsAny(flags, "SR") || flags != "" && !strings.Contains(flags, ".") {
				continue
			}
			compared++
			line, _, _ := strings.Cut(e.Summary, " [frame #")
			if !lines[line] {
				t.Errorf("event #%d: tcpdump printed no line %q", e.ID, line)
			}
		}
		if packets != len(events) || compared < packets/2 {
			t.Errorf("the trace has %d packets (%d compared), the capture %d", packets, compared, len(events))
		}
	})
}
