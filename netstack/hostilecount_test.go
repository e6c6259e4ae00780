package netstack

import (
	"fmt"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestHostileTCPCounted: each segment a synchronized connection drops as
// Linux does (an ACK field RFC 5961 refuses, gVisor patch 84; PAWS, patch
// 85), and each ACK that answers one or that the rate limit holds back, is
// counted (patch 88), under the counters glassnet ss shows beside Linux's
// nstat names: before, nothing said so. The clock is manual, so an answer
// that is not for data always meets the limit until the clock moves.
func TestHostileTCPCounted(t *testing.T) {
	clock := faketime.NewManualClock()
	// Not at 0: the rate limit takes a last answer at time 0 for none.
	clock.Advance(time.Second)
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	l, ready := rawListen(t, st, rawStackPort)

	// A handshake with timestamps.
	tsVal := uint32(1000)
	p.send(header.TCPFlagSyn, p.sndNxt, 0, synOptions(tsVal), nil)
	synack := p.next()
	if synack.Flags() != header.TCPFlagSyn|header.TCPFlagAck {
		t.Fatalf("got flags %v, want SYN|ACK", synack.Flags())
	}
	ecr := header.ParseSynOptions(synack.Options(), true).TSVal
	p.sndNxt++
	p.rcvNxt = synack.SequenceNumber() + 1
	ts := func() []byte { tsVal++; return tsOption(tsVal, ecr) }
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, ts(), nil)
	acceptReady(t, l, ready)
	una := p.rcvNxt // the stack has sent nothing past its SYN

	tcp := st.Stack().Stats().TCP
	counters := []struct {
		name string
		c    *tcpip.StatCounter
	}{
		{"ack of data never sent", tcp.AckUnsentDropped},
		{"ack too old", tcp.AckTooOldDropped},
		{"paws", tcp.PAWSRejected},
		{"challenge acks", tcp.ChallengeACKs},
		{"syn challenges", tcp.SYNChallenges},
		{"skipped seq", tcp.ACKsSkippedSeq},
		{"skipped paws", tcp.ACKsSkippedPAWS},
		{"skipped challenge", tcp.ACKsSkippedChallenge},
	}
	want := make(map[string]uint64)
	show := func() string {
		s := ""
		for _, c := range counters {
			s += fmt.Sprintf(" %s=%d", c.name, c.c.Value())
		}
		return s
	}
	// step sends one segment and waits until the counters are want
	// plus more; answered says whether an ACK of nothing new must come.
	step := func(what string, more map[string]uint64, answered bool, flags header.TCPFlags, seq, ack uint32, opts, payload []byte) {
		t.Helper()
		for k, v := range more {
			want[k] += v
		}
		p.send(flags, seq, ack, opts, payload)
		if answered {
			if s := p.next(); s.Flags() != header.TCPFlagAck || s.AckNumber() != p.sndNxt || len(s.Payload()) != 0 {
				t.Fatalf("%s: answered %v ack %+d, %d bytes; want an ACK of nothing new", what, s.Flags(), int32(s.AckNumber()-p.sndNxt), len(s.Payload()))
			}
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			ok := true
			for _, c := range counters {
				ok = ok && c.c.Value() == want[c.name]
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: counters%s; want %v", what, show(), want)
			}
		}
	}
	data := []byte("INJECT")
	psh := header.TCPFlagAck | header.TCPFlagPsh
	// A challenge ACK is rate limited for data too, as Linux's is (patch
	// 89): the first goes, the next is held until the clock moves.
	step("data acknowledging bytes never sent", map[string]uint64{"ack of data never sent": 1, "challenge acks": 1}, true,
		psh, p.sndNxt, una+100000, ts(), data)
	step("data with an ACK older than any window, at once", map[string]uint64{"ack too old": 1, "skipped challenge": 1}, false,
		psh, p.sndNxt, una-1<<30, ts(), data)
	clock.Advance(time.Second)
	step("data with an ACK older than any window, a second later", map[string]uint64{"ack too old": 1, "challenge acks": 1}, true,
		psh, p.sndNxt, una-1<<30, ts(), data)
	// Data PAWS rejects is answered whatever the rate limit (as gVisor
	// always did, and Linux does).
	step("data with an old timestamp", map[string]uint64{"paws": 1}, true,
		psh, p.sndNxt, una, tsOption(tsVal-50000, ecr), data)
	// A pure ACK PAWS rejects (not a duplicate ACK: its sequence number is
	// not RCV.NXT): the first answer goes, the next is held.
	clock.Advance(time.Second)
	step("an ACK with an old timestamp", map[string]uint64{"paws": 1}, true,
		header.TCPFlagAck, p.sndNxt+1, una, tsOption(tsVal-50000, ecr), nil)
	step("another", map[string]uint64{"paws": 1, "skipped paws": 1}, false,
		header.TCPFlagAck, p.sndNxt+1, una, tsOption(tsVal-50000, ecr), nil)
	step("a SYN", map[string]uint64{"syn challenges": 1, "skipped challenge": 1}, false,
		header.TCPFlagSyn, p.sndNxt, 0, ts(), nil)
	step("a RST in the window, not at RCV.NXT", map[string]uint64{"skipped challenge": 1}, false,
		header.TCPFlagRst, p.sndNxt+10, 0, nil, nil)
	step("an ACK outside the window", map[string]uint64{"skipped seq": 1}, false,
		header.TCPFlagAck, p.sndNxt+1<<20, una, ts(), nil)
	step("a pure ACK acknowledging bytes never sent", map[string]uint64{"ack of data never sent": 1, "skipped challenge": 1}, false,
		header.TCPFlagAck, p.sndNxt, una+100000, ts(), nil)
	// Past the limit the challenge goes.
	clock.Advance(time.Second)
	step("a SYN a second later", map[string]uint64{"syn challenges": 1, "challenge acks": 1}, true,
		header.TCPFlagSyn, p.sndNxt, 0, ts(), nil)
}
