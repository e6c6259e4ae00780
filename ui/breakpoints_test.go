package ui

import (
	"strings"
	"testing"

	"github.com/glassnet/glassnet/trace"
)

func TestParseBreakpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src string
		err string // empty: valid
	}{
		{"tcp and fin", ""},
		{"ws close", ""},
		{"retransmit", ""},
		{"state TIME-WAIT", ""},
		{"state syn-sent", ""},
		{"state CLOSED", ""},
		{"rcv_wnd == 0", ""},
		{"rcv_wnd == 4294967295", ""},
		{"rto > 1s", ""},
		{"cwnd >= 0", ""},
		{"retransmit now", `ui: retransmit takes no arguments, not "now"`},
		{"retransmit on client", `ui: retransmit takes no arguments, not "on client"`},
		{"state FOO", `ui: state "FOO": the TCP states are LISTEN, SYN-SENT, SYN-RCVD, ESTABLISHED, FIN-WAIT1, FIN-WAIT2, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT, CLOSED`},
		{"state FIN-WAIT-1", ""}, // RFC 9293's spelling
		{"state syn_recv", ""},   // ss's
		{"rcv_wnd==0", ""},
		{"cwnd <4", ""},
		{"srtt>=1ms", ""},
		{"rcv_wnd==-1", "ui: rcv_wnd -1 is out of range (0 to 4294967295)"},
		{"state FIN-WAIT-3", `ui: state "FIN-WAIT-3": the TCP states are`},
		{"state", "ui: state NAME"},
		{"rcv_wnd == -1", "ui: rcv_wnd -1 is out of range (0 to 4294967295)"},
		{"snd_una > 4294967296", "ui: snd_una 4294967296 is out of range (0 to 4294967295)"},
		{"cwnd < -1", "ui: cwnd -1 is out of range: cwnd is never negative"},
		{"rto > -1s", "ui: rto -1s is out of range: rto is never negative"},
		{"srtt != NaN", `ui: "NaN" where a number or a duration belongs`},
		{"cwnd < Inf", `ui: "Inf" where a number or a duration belongs`},
		{"cwnd ~ 3", `ui: "~" after cwnd`},
		{"analysis dup-ack", ""},
		{"analysis any", ""},
		{"analysis zero_window", ""},
		{"tcp.analysis.duplicate_ack", ""},
		{"tcp.analysis.flags", ""},
		{"analysis", "ui: analysis NOTE, where NOTE is one of retransmission, fast-retransmission,"},
		{"analysis dup", `ui: analysis "dup": the notes are retransmission,`},
		{"tcp.analysis.nothing", `ui: analysis "tcp.analysis.nothing": the notes are`},
		{"tcp.analysis.flags now", `ui: tcp.analysis.flags takes no arguments, not "now"`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			b, err := ParseBreakpoint(tc.src)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.err == "" && b.String() != tc.src:
				t.Fatalf("String %q, want %q", b.String(), tc.src)
			case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// TestBreakpointFilterIPOnly: a filter breakpoint reads a link event's
// bytes as an IP packet only when they are one; a frame that holds none
// (ARP, with a link_type) is never matched, whatever its bytes look like.
func TestBreakpointFilterIPOnly(t *testing.T) {
	t.Parallel()
	b, err := ParseBreakpoint("tcp and port 80")
	if err != nil {
		t.Fatal(err)
	}
	pkt := tcpPacket("hello")
	ip := &trace.Event{Layer: trace.LayerLink, Name: "packet", Dir: trace.Out, Data: pkt}
	if !b.match(nil, ip) {
		t.Fatal("the IP packet not matched: the test proves nothing")
	}
	frame := &trace.Event{Layer: trace.LayerLink, Name: "packet", Dir: trace.Out, Data: pkt,
		Fields: []trace.Field{{Key: "link_type", Value: 1}}}
	if b.match(nil, frame) {
		t.Error("a frame with a link_type (no IP packet) matched an IP filter")
	}
}

// TestBreakpointFrameLength: a frame filter on a frame event, which carries
// no payload, reads the length the event gives, however long the frame,
// and finds no bytes in it.
func TestBreakpointFrameLength(t *testing.T) {
	t.Parallel()
	frame := func(n int) *trace.Event {
		return &trace.Event{Layer: trace.LayerWS, Name: "frame", Dir: trace.In,
			Fields: []trace.Field{{Key: "opcode", Value: "binary"}, {Key: "fin", Value: true}, {Key: "masked", Value: true}, {Key: "len", Value: n}}}
	}
	for _, tc := range []struct {
		filter string
		len    int
		want   bool
	}{
		{"ws len > 65536", 1 << 20, true},
		{"ws len == 1048576", 1 << 20, true},
		{"ws len < 100", 1 << 20, false},
		{"ws len == 65537", 65537, true},
		{"ws len == 15", 15, true},
		{"ws len == 0", 0, true},
		{"ws len > 0", 0, false},
		{`ws contains "\x00"`, 1 << 20, false},
	} {
		b, err := ParseBreakpoint(tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.match(nil, frame(tc.len)); got != tc.want {
			t.Errorf("%s on a frame of %d bytes: %v, want %v", tc.filter, tc.len, got, tc.want)
		}
	}
}
