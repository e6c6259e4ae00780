package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
)

// segmentOf is an IPv4 TCP segment with the given header fields and payload.
func segmentOf(seq, ack uint32, flags header.TCPFlags, win uint16, payload string) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+len(payload))
	header.IPv4(b).Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}),
	})
	header.TCP(b[header.IPv4MinimumSize:]).Encode(&header.TCPFields{
		SrcPort: 40000, DstPort: 7, SeqNum: seq, AckNum: ack, DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: win,
	})
	copy(b[header.IPv4MinimumSize+header.TCPMinimumSize:], payload)
	return b
}

// TestDescribeEdit: what an edit of a held packet changed is said in the
// ladder's words; a changed seq or ack also relative to the connection's
// initial sequence numbers, which the ladder and the hold queue show.
func TestDescribeEdit(t *testing.T) {
	isn, irs := uint32(926484243), uint32(2164522866)
	before := segmentOf(isn+1, irs+13, header.TCPFlagPsh|header.TCPFlagAck, 4096, "hello world\n")
	syn := segmentOf(isn, 0, header.TCPFlagSyn, 4096, "")
	for _, c := range []struct {
		name       string
		after      []byte
		seqB, ackB *uint32
		want       string
	}{
		{"window", segmentOf(isn+1, irs+13, header.TCPFlagPsh|header.TCPFlagAck, 0, "hello world\n"), &isn, &irs, "win 4096 → 0"},
		{"payload", segmentOf(isn+1, irs+13, header.TCPFlagPsh|header.TCPFlagAck, 4096, "Jello world\n"), &isn, &irs, "payload 1 of 12 bytes changed"},
		{"seq relative", segmentOf(isn+5, irs+13, header.TCPFlagPsh|header.TCPFlagAck, 4096, "hello world\n"), &isn, &irs, "seq 926484244 → 926484248 (relative 1 → 5)"},
		{"ack relative", segmentOf(isn+1, irs+1, header.TCPFlagPsh|header.TCPFlagAck, 4096, "hello world\n"), &isn, &irs, "ack 2164522879 → 2164522867 (relative 13 → 1)"},
		{"no base", segmentOf(isn+5, irs+13, header.TCPFlagPsh|header.TCPFlagAck, 4096, "hello world\n"), nil, nil, "seq 926484244 → 926484248"},
		// A SYN's seq is the ISN: the trace's summary of the edited SYN
		// says seq 0, and so does the verdict, rather than "relative 0 → 5".
		{"syn seq", segmentOf(isn+5, 0, header.TCPFlagSyn, 4096, ""), &isn, nil, "seq 926484243 → 926484248 (new ISN, +5: still relative 0)"},
		{"syn seq down", segmentOf(isn-2, 0, header.TCPFlagSyn, 4096, ""), &isn, nil, "seq 926484243 → 926484241 (new ISN, -2: still relative 0)"},
		{"flags", segmentOf(isn+1, irs+13, header.TCPFlagFin|header.TCPFlagAck, 4096, "hello world\n"), &isn, &irs, "flags [P.] → [F.]"},
	} {
		b := before
		if c.after[header.IPv4MinimumSize+13]&uint8(header.TCPFlagSyn) != 0 {
			b = syn
		}
		if got := describeEdit(b, c.after, c.seqB, c.ackB); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestHeldStepOfDecidedUnit: a link "held" step stops a free run only
// while the page still holds its packet. The step of a packet the page
// decided before the stack traced it (released while the stack stood
// paused) passes; the step of one still held stops the run.
func TestHeldStepOfDecidedUnit(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Live: true, Run: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pkt := []byte("a packet")
	emit := func(id uint64) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Emit(&trace.Event{ID: id, Node: "client", Layer: trace.LayerLink, Dir: trace.Out, Name: "held", Data: pkt})
		}()
		return done
	}
	select {
	case <-emit(1):
	case <-time.After(10 * time.Second):
		t.Fatal("the step of a packet no longer held stopped the run")
	}
	if st := s.State(); st.Paused {
		t.Fatalf("the run stopped at the step of a packet no longer held: %+v", st)
	}

	u := &held{point: PointLinkEgress, node: "client", data: pkt, decided: make(chan decision, 1)}
	s.hmu.Lock()
	s.held = append(s.held, u)
	s.hmu.Unlock()
	s.heldPending.Add(1)
	done := emit(2)
	for !s.State().Paused {
		select {
		case <-done:
			t.Fatal("the step of a held packet did not stop the run")
		case <-time.After(time.Millisecond):
		}
	}
	if st := s.State(); st.Current != 2 {
		t.Errorf("stopped at %d, want the held step, 2", st.Current)
	}
	s.mu.Lock()
	s.playLocked()
	s.mu.Unlock()
	<-done
}

// TestDecidedUnitsBounded: how a held unit was decided is remembered for
// the last maxDecided units, no more.
func TestDecidedUnitsBounded(t *testing.T) {
	var g decidedUnits
	for id := uint64(1); id <= maxDecided+10; id++ {
		g.note(id, decision{action: "release", by: "the last page went away"})
	}
	g.note(maxDecided+11, decision{action: "duplicate"})
	if len(g.how) != maxDecided || len(g.order) != maxDecided {
		t.Fatalf("%d remembered (%d in order), want %d", len(g.how), len(g.order), maxDecided)
	}
	if _, ok := g.how[11]; ok {
		t.Error("unit 11 is still remembered")
	}
	if g.how[12] != "released when the last page went away" || g.how[maxDecided+11] != "duplicated" {
		t.Errorf("remembered %q and %q", g.how[12], g.how[maxDecided+11])
	}
}

// TestHexError: a payload_hex the edit cannot read is said in the words of
// the one who typed it, not in encoding/hex's.
func TestHexError(t *testing.T) {
	u := &held{point: PointWSOut, data: []byte("hi")}
	for _, c := range []struct{ hex, want string }{
		{"6869zz", `ui: payload_hex: 'z' at character 5 is not a hex digit (0-9, a-f): two digits a byte, nothing between them`},
		{"68 69", `ui: payload_hex: ' ' at character 3 is not a hex digit (0-9, a-f): two digits a byte, nothing between them`},
		{"68é9", `ui: payload_hex: 'é' at character 3 is not a hex digit (0-9, a-f): two digits a byte, nothing between them`},
		{"686", `ui: payload_hex: 3 hex digits, an odd number: each byte is two digits`},
	} {
		h := c.hex
		var d decision
		err := u.apply(Edit{PayloadHex: &h}, true, &d)
		if err == nil || err.Error() != c.want {
			t.Errorf("payload_hex %q: %v, want %q", c.hex, err, c.want)
		}
	}
}

// TestDecideOnce: a held unit is decided once. A second decision that
// comes while the waiter has read the first but not yet taken the unit off
// the queue is told how the first ended (404, decided already), not
// answered as if it had been made; so is the release of a page going
// away meanwhile.
func TestDecideOnce(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := &held{id: 7, point: PointWSOut, node: "client", data: []byte("hi"), decided: make(chan decision, 1)}
	s.hmu.Lock()
	s.held = append(s.held, u)
	s.hmu.Unlock()
	if _, err := s.Decide(7, Decision{Action: "drop"}); err != nil {
		t.Fatalf("the first decision: %v", err)
	}
	// The waiter reads the decision; it has not taken the unit off yet.
	if d := <-u.decided; d.action != "drop" {
		t.Fatalf("the waiter read %q, want drop", d.action)
	}
	out, err := s.Decide(7, Decision{Action: "release"})
	if !errors.Is(err, errDecided) || !strings.Contains(err.Error(), "held unit 7 was dropped") {
		t.Errorf("a second decision: %+v, %v; want decided already, dropped", out, err)
	}
	s.releaseAll("the last page went away")
	select {
	case d := <-u.decided:
		t.Errorf("a second decision reached the waiter: %+v", d)
	default:
	}
}
