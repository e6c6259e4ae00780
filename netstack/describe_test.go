package netstack

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// TestCaptureReadsAsTraced: packets the stack traces, written to a capture
// as --pcap writes them and read back as glassnet view reads them
// (trace.ReadPCAP), have the summaries and fields the trace gave them:
// sequence numbers relative from the SYN on, TCP options with SACK edges
// relative, ICMP ids. One packet differs on purpose: one before its
// connection's SYN, which the stack knows nothing of (absolute numbers),
// and which a capture counts from, as Wireshark does (its first byte 1).
func TestCaptureReadsAsTraced(t *testing.T) {
	t.Parallel()
	const syn, ack, psh, fin = header.TCPFlagSyn, header.TCPFlagAck, header.TCPFlagPsh, header.TCPFlagFin
	synOpts := []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1}
	sack := append(bytes.Clone(ts), 1, 1, 5, 10, 0, 0, 0x04, 0xb1, 0, 0, 0x05, 0x15) // 1201 to 1301
	peer, stack := peer4, addrA4.Addr()
	pkts := [][]byte{
		segment4(peer, stack, 99999, 5, ack|psh, nil, []byte("x")), // before the SYN
		segment4(peer, stack, 1000, 0, syn, synOpts, nil),
		segment4(stack, peer, 5000, 1001, syn|ack, synOpts, nil),
		segment4(peer, stack, 1001, 5001, ack, ts, nil),
		segment4(peer, stack, 1001, 5001, ack|psh, ts, make([]byte, 100)),
		segment4(peer, stack, 1201, 5001, ack|psh, ts, make([]byte, 100)), // 1101 to 1201 lost
		segment4(stack, peer, 5001, 1101, ack, sack, nil),
		segment4(stack, peer, 5001, 1101, fin|ack, ts, nil),
		echoRequest4(peer, stack, 7, 3, []byte("abcd")),
	}
	var capture bytes.Buffer
	w, err := newPCAPWriter(&capture, pcapLinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	flows := newFlowTable()
	var traced []trace.Packet
	for i, p := range pkts {
		w.write(stampClock{time.Unix(1_700_000_000, int64(i)*1e6)}, p)
		traced = append(traced, trace.DescribePacket(p, flows))
	}
	if err := w.error(); err != nil {
		t.Fatal(err)
	}
	evs, err := trace.ReadPCAP(&capture, "stack")
	if err != nil || len(evs) != len(pkts) {
		t.Fatalf("ReadPCAP: %d packets, %v", len(evs), err)
	}
	for i, e := range evs[1:] {
		i++
		want := traced[i]
		if e.Conn != want.Conn || e.Summary != want.Summary || !reflect.DeepEqual(withoutTime(e.Fields), want.Fields()) {
			t.Errorf("packet %d read back as\n%q %q %v\ntraced as\n%q %q %v", i+1, e.Conn, e.Summary, e.Fields, want.Conn, want.Summary, want.Fields())
		}
	}
	for i, want := range map[int]string{
		0: "IP 10.0.0.9.40000 > 10.0.0.1.80: Flags [P.], seq 1:2, ack 5, win 502, length 1",
		1: "IP 10.0.0.9.40000 > 10.0.0.1.80: Flags [S], seq 0, win 502, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0",
		4: "IP 10.0.0.9.40000 > 10.0.0.1.80: Flags [P.], seq 1:101, ack 1, win 502, options [nop,nop,TS val 2 ecr 1], length 100",
		6: "IP 10.0.0.1.80 > 10.0.0.9.40000: Flags [.], ack 101, win 502, options [nop,nop,TS val 2 ecr 1,nop,nop,sack 1 {201:301}], length 0",
		8: "IP 10.0.0.9 > 10.0.0.1: ICMP echo request, id 7, seq 3, length 12",
	} {
		if got := evs[i].Summary; got != want {
			t.Errorf("packet %d: got  %q\nwant %q", i+1, got, want)
		}
	}
	if evs[0].Field("rel_seq") != uint32(1) || evs[0].Field("rel_ack") != nil || traced[0].RelSeq.Set {
		t.Errorf("a packet before the SYN: read back with %v, traced with %v; want rel_seq 1 and no rel_ack, and absolute", evs[0].Fields, traced[0].Fields())
	}
}

// TestCaptureOfRunReadsAsTraced: what a stack traced of TCP over IPv4 and
// IPv6 and what its --pcap capture reads back as are the same packets,
// with the same directions, summaries and fields.
func TestCaptureOfRunReadsAsTraced(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	tr := trace.New(rec)
	var capture bytes.Buffer
	pw := &lockedBuffer{b: &capture}
	a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
		o.Tracer = tr
		o.Node = map[string]string{"a": "client", "b": "server"}[which]
		if which == "b" {
			o.PCAP = pw
		}
	})
	for _, c := range []struct {
		srv   netip.Prefix
		proto tcpip.NetworkProtocolNumber
	}{{addrB4, ipv4.ProtocolNumber}, {addrB6, ipv6.ProtocolNumber}} {
		server, client := connect(t, a, b, c.srv, c.proto)
		exchange(t, client, server, 5000)
		client.Close()
		server.Close()
	}
	// Closed, the stacks send nothing more: the capture and the trace
	// hold the same packets.
	a.Close()
	b.Close()
	tr.Flush()
	evs, err := trace.ReadPCAP(bytes.NewReader(pw.bytes()), "server")
	if err != nil {
		t.Fatal(err)
	}
	key := func(e trace.Event) string {
		return fmt.Sprintf("%s %s %q %v", e.Dir, e.Conn, e.Summary, withoutTime(e.Fields))
	}
	traced := map[string]int{}
	n := 0
	for _, e := range rec.all() {
		if e.Node == "server" && e.Layer == trace.LayerLink && e.Name == "packet" {
			traced[key(e)]++
			n++
		}
	}
	if len(evs) != n || n < 10 {
		t.Errorf("the capture holds %d packets, the trace %d", len(evs), n)
	}
	for _, e := range evs {
		if traced[key(e)] == 0 {
			t.Errorf("packet %d of the capture was not traced so: %s", e.ID, key(e))
			continue
		}
		traced[key(e)]--
	}
}

// segment4 builds an IPv4 TCP segment from port 40000 of src to port 80 of
// dst (the other way when src is the stack's address).
func segment4(src, dst netip.Addr, seq, ack uint32, flags header.TCPFlags, opts, payload []byte) []byte {
	sport, dport := uint16(40000), uint16(80)
	if src == addrA4.Addr() {
		sport, dport = dport, sport
	}
	off := header.TCPMinimumSize + len(opts)
	b := make([]byte, header.IPv4MinimumSize+off+len(payload))
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.TCPProtocolNumber),
		SrcAddr:     tcpipAddr(src),
		DstAddr:     tcpipAddr(dst),
	})
	tcp := header.TCP(b[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ack,
		DataOffset: uint8(off), Flags: flags, WindowSize: 502})
	copy(tcp[header.TCPMinimumSize:], opts)
	copy(tcp[off:], payload)
	return b
}

// withoutTime leaves out the "time" field, which a packet read from a
// capture has (the stamp the capture gave it) and a traced one does not.
func withoutTime(fs []trace.Field) []trace.Field {
	var out []trace.Field
	for _, f := range fs {
		if f.Key != "time" {
			out = append(out, f)
		}
	}
	return out
}
