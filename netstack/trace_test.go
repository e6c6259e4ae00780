package netstack

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// tracedConn connects a client stack ("client", 10.0.0.1) to a server
// stack ("server", 10.0.0.2) over IPv4, both traced into rec, and returns
// the connection's two ends.
func tracedConn(t *testing.T) (rec *recorder, tr *trace.Tracer, server, client net.Conn) {
	t.Helper()
	rec = &recorder{}
	tr = trace.New(rec)
	a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
		o.Tracer = tr
		o.Node = map[string]string{"a": "client", "b": "server"}[which]
	})
	server, client = connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	return rec, tr, server, client
}

func TestTraceHandshake(t *testing.T) {
	t.Parallel()
	rec, tr, server, client := tracedConn(t)
	exchange(t, client, server, 10000)
	tr.Flush()
	if testing.Verbose() {
		for _, e := range rec.all() {
			if e.Node == "client" {
				t.Logf("%s %s %s %s | %s", e.Layer, e.Dir, e.Name, e.Conn, e.Summary)
			}
		}
	}

	// The client's view of the handshake, in order: SYN out, SYN-ACK in,
	// ACK out, with sequence numbers relative to each side's ISN.
	type step struct {
		dir            trace.Dir
		flags          string
		relSeq, relAck uint32
		hasAck         bool
	}
	want := []step{
		{dir: trace.Out, flags: "S", relSeq: 0},
		{dir: trace.In, flags: "S.", relSeq: 0, relAck: 1, hasAck: true},
		{dir: trace.Out, flags: ".", relSeq: 1, relAck: 1, hasAck: true},
	}
	var got []trace.Event
	for _, e := range rec.all() {
		if e.Node == "client" && e.Layer == trace.LayerLink && e.Name == "packet" && strings.Contains(e.Conn, "10.0.0.2:80") {
			got = append(got, e)
		}
	}
	if len(got) < len(want) {
		t.Fatalf("got %d client TCP packet events, want at least %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Dir != w.dir {
			t.Errorf("event %d: dir %s, want %s (%s)", i, e.Dir, w.dir, e.Summary)
		}
		if f, _ := field(e, "flags"); f != w.flags {
			t.Errorf("event %d: flags %v, want %s (%s)", i, f, w.flags, e.Summary)
		}
		if v, _ := field(e, "rel_seq"); v != w.relSeq {
			t.Errorf("event %d: rel_seq %v, want %d (%s)", i, v, w.relSeq, e.Summary)
		}
		if w.hasAck {
			if v, _ := field(e, "rel_ack"); v != w.relAck {
				t.Errorf("event %d: rel_ack %v, want %d (%s)", i, v, w.relAck, e.Summary)
			}
		}
	}
	if s := got[1].Summary; !strings.HasPrefix(s, "IP 10.0.0.2.80 > 10.0.0.1.") || !strings.Contains(s, ": Flags [S.], seq 0, ack 1, win ") || !strings.HasSuffix(s, ", length 0") {
		t.Errorf("SYN-ACK summary %q", s)
	}
	if s := got[2].Summary; !strings.Contains(s, ": Flags [.], ack 1, win ") {
		t.Errorf("ACK summary %q", s)
	}
	if c := got[0].Conn; !strings.HasPrefix(c, "10.0.0.1:") || !strings.HasSuffix(c, "->10.0.0.2:80") {
		t.Errorf("SYN conn %q", c)
	}

	// Data segments show a relative range like tcpdump's "seq 1:1449".
	var data bool
	for _, e := range got {
		if n, _ := field(e, "payload_len"); n != 0 && strings.Contains(e.Summary, "seq 1:") {
			data = true
			break
		}
	}
	if !data {
		t.Error("no data segment starting at relative seq 1")
	}

	// TCP state events on both sides: each handshake state once, reported
	// with the SYN or SYN-ACK that entered it (dir out), then the states
	// received segments leave (dir in).
	seen := map[string][]string{}
	for _, e := range rec.all() {
		if e.Layer != trace.LayerTCP || e.Name != "state" {
			continue
		}
		s, _ := field(e, "state")
		st := s.(string)
		if l := seen[e.Node]; len(l) == 0 || !strings.HasPrefix(l[len(l)-1], st+" ") {
			seen[e.Node] = append(l, st+" "+string(e.Dir))
		}
		keys := []string{"snd_una", "snd_nxt", "rcv_nxt", "snd_wnd", "rcv_wnd", "cwnd", "srtt", "rel_snd_una", "rel_snd_nxt"}
		if st == "SYN-SENT" {
			// the peer's window is not known before its SYN-ACK
			if _, ok := field(e, "snd_wnd"); ok {
				t.Errorf("SYN-SENT reports a peer's window: %+v", e)
			}
			keys = slices.DeleteFunc(keys, func(k string) bool { return k == "snd_wnd" })
		}
		for _, k := range keys {
			if _, ok := field(e, k); !ok {
				t.Fatalf("state event lacks %s: %+v", k, e)
			}
		}
	}
	for node, want := range map[string][]string{
		"client": {"SYN-SENT out", "ESTABLISHED in"},
		"server": {"SYN-RCVD out", "ESTABLISHED in"},
	} {
		if got := seen[node]; len(got) < 2 || !slices.Equal(got[:2], want) {
			t.Errorf("%s's first TCP states: %q, want %q", node, got, want)
		}
	}
	// ESTABLISHED is reported when the handshake completes (the SYN-ACK,
	// the ACK of it), before any data: both sequence spaces at 1.
	for _, node := range []string{"client", "server"} {
		for _, e := range rec.all() {
			if e.Node != node || e.Layer != trace.LayerTCP || e.Name != "state" {
				continue
			}
			if s, _ := field(e, "state"); s != "ESTABLISHED" {
				continue
			}
			una, _ := field(e, "rel_snd_nxt")
			rnxt, _ := field(e, "rel_rcv_nxt")
			if una != uint32(1) || rnxt != uint32(1) {
				t.Errorf("%s's first ESTABLISHED report: snd_nxt %v rcv_nxt %v, want 1 and 1 (the handshake just done): %s", node, una, rnxt, e.Summary)
			}
			break
		}
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pkt  []byte
		want string
	}{
		{"echo", echoRequest4(peer4, addrA4.Addr(), 7, 3, []byte("abcd")), "IP 10.0.0.9 > 10.0.0.1: ICMP echo request, id 7, seq 3, length 12"},
		{"echo6", echoRequest6(peer6, addrA6.Addr(), 7, 3, []byte("abcd")), "IP6 fd00::9 > fd00::1: ICMP6, echo request, id 7, seq 3, length 12"},
		{"syn", synPacket4(), "IP 10.0.0.9.40000 > 10.0.0.1.80: Flags [S], seq 0, win 65535, length 0"},
		{"garbage", []byte{0x75, 1, 2}, "unknown IP version 7, length 3"},
		{"short", []byte{0x45, 1, 2}, "IP truncated, length 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := trace.DescribePacket(tc.pkt, newFlowTable()).Summary; got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestFlowTableBounded(t *testing.T) {
	t.Parallel()
	f := newFlowTable()
	dst := netip.MustParseAddrPort("10.0.0.2:80")
	for i := range maxFlows + 100 {
		src := flowSrc(i)
		f.relative(src, dst, header.TCPFlagSyn, uint32(i), 0)
		if i%2 == 0 {
			f.relative(src, dst, header.TCPFlagFin|header.TCPFlagAck, uint32(i)+1, 0)
		}
	}
	if n := f.len(); n > maxFlows {
		t.Errorf("flow table holds %d entries, bound is %d", n, maxFlows)
	}
	// The newest flow survives eviction and is still relative.
	last := maxFlows + 99
	if rel, _, ok, _ := f.relative(flowSrc(last), dst, header.TCPFlagAck, uint32(last)+5, 0); !ok || rel != 5 {
		t.Errorf("newest flow: rel %d ok %v", rel, ok)
	}
}

func flowSrc(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
}

// TestTraceStateAfterClose: the TCP state event for the last ACK of a
// connection the server closed second (LAST-ACK to CLOSED) says CLOSED,
// not the state of the listener still open on the same port, which the
// demuxer finds for the connection's addresses once the connection has
// left it.
func TestTraceStateAfterClose(t *testing.T) {
	t.Parallel()
	rec, tr, server, client := tracedConn(t)
	exchange(t, client, server, 1000)
	port := client.LocalAddr().(*net.TCPAddr).Port
	client.Close()
	if _, err := server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read after the client's close: %v, want EOF", err)
	}
	server.Close()
	// the server's end first, as ss names it
	suffix := fmt.Sprintf("10.0.0.2:80->10.0.0.1:%d", port)
	var last string
	waitFor(t, "the server's connection to close (its last state event)", func() bool {
		tr.Flush()
		for _, e := range rec.all() {
			if e.Node == "server" && e.Layer == trace.LayerTCP && e.Name == "state" && strings.HasSuffix(e.Conn, suffix) {
				s, _ := field(e, "state")
				last, _ = s.(string)
			}
		}
		return last == "CLOSED" || last == "LISTEN"
	})
	if last != "CLOSED" {
		t.Errorf("the server's last state event for the connection says %q, want CLOSED", last)
	}
	// The last ACK acknowledged the server's FIN: the CLOSED report has
	// nothing unacknowledged, SND.NXT past the FIN.
	for _, e := range rec.all() {
		if e.Node != "server" || e.Layer != trace.LayerTCP || e.Name != "state" || !strings.HasSuffix(e.Conn, suffix) {
			continue
		}
		if s, _ := field(e, "state"); s != "CLOSED" {
			continue
		}
		una, _ := field(e, "snd_una")
		nxt, _ := field(e, "snd_nxt")
		out, _ := field(e, "outstanding")
		if una != nxt || out != 0 {
			t.Errorf("the CLOSED report after LAST-ACK: snd_una %v snd_nxt %v outstanding %v, want snd_una = snd_nxt and nothing outstanding", una, nxt, out)
		}
	}
	// The states each end entered, in order: those a close enters by
	// sending its FIN are reported with it (dir out).
	for node, want := range map[string][]string{
		// FIN-WAIT2 only when the server's ACK of the FIN came apart
		// from its own FIN
		"client": {"SYN-SENT out", "ESTABLISHED in", "FIN-WAIT1 out", "TIME-WAIT in"},
		"server": {"SYN-RCVD out", "ESTABLISHED in", "CLOSE-WAIT in", "LAST-ACK out", "CLOSED in"},
	} {
		var got []string
		for _, e := range rec.all() {
			if e.Node != node || e.Layer != trace.LayerTCP || e.Name != "state" || !strings.Contains(e.Conn, fmt.Sprintf(":%d", port)) {
				continue
			}
			s, _ := field(e, "state")
			if s == "FIN-WAIT2" {
				continue
			}
			// the report that entered a state, with its direction
			if st := s.(string); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], st+" ") {
				got = append(got, st+" "+string(e.Dir))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s entered %q, want %q", node, got, want)
		}
	}
}

// TestTraceStateAfterReset: a connection that ends in a reset reports the
// state it ends in, CLOSED, at both ends: the end that closed with unread
// data and sent the RST (dir out), and the end that accepted it (dir in),
// whose report after the RST said ESTABLISHED (gVisor patch 34).
func TestTraceStateAfterReset(t *testing.T) {
	t.Parallel()
	rec, tr, server, client := tracedConn(t)
	exchange(t, client, server, 1000)
	port := client.LocalAddr().(*net.TCPAddr).Port
	if _, err := server.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	client.Close() // "b" unread: a RST, as Linux sends
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server read after the client's reset without an error")
	}
	last := func(node string) string {
		var got string
		for _, e := range rec.all() {
			if e.Node == node && e.Layer == trace.LayerTCP && e.Name == "state" && strings.Contains(e.Conn, fmt.Sprintf(":%d", port)) {
				s, _ := field(e, "state")
				got = fmt.Sprint(s) + " " + string(e.Dir)
			}
		}
		return got
	}
	waitFor(t, "both ends to report CLOSED", func() bool {
		tr.Flush()
		return last("client") == "CLOSED out" && last("server") == "CLOSED in"
	})
}
