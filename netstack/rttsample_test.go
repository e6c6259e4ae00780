package netstack

import (
	"bytes"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// tsVal is the TSval of a segment's timestamps option.
func tsVal(t *testing.T, s header.TCP) uint32 {
	t.Helper()
	opts := header.ParseTCPOptions(s.Options())
	if !opts.TS {
		t.Fatalf("a segment without timestamps: %v", s.Flags())
	}
	return opts.TSVal
}

// TestRTTFromSegmentTimes: with timestamps on, as with every Linux peer,
// the RTT samples come from when the acknowledged segment was sent, to the
// microsecond (gVisor patch 68): forty exchanges whose ACKs each come
// 300 µs after the data leave an SRTT of 300 µs. Taken from the
// timestamps, counted in milliseconds, each sample was 0 or 1 ms, and the
// SRTT something between.
func TestRTTFromSegmentTimes(t *testing.T) {
	clock, p, l, ready := synListener(t)
	p.send(header.TCPFlagSyn, p.sndNxt, 0, synOptions(1), nil)
	synack := p.next()
	p.sndNxt++
	p.rcvNxt = synack.SequenceNumber() + 1
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(2, tsVal(t, synack)), nil)
	c := acceptReady(t, l, ready)

	const rtt = 300 * time.Microsecond
	for i := range 40 {
		if _, err := c.Write(bytes.NewReader(make([]byte, 100)), tcpip.WriteOptions{}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		seg := p.next()
		clock.Advance(rtt)
		p.rcvNxt = seg.SequenceNumber() + uint32(len(seg.Payload()))
		p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(uint32(3+i), tsVal(t, seg)), nil)
		waitFor(t, "the stack to take the ACK", func() bool { return queueSize(t, c, tcpip.SendQueueSizeOption) == 0 })
	}
	var info tcpip.TCPInfoOption
	if err := c.GetSockOpt(&info); err != nil {
		t.Fatal(err)
	}
	if d := info.RTT - rtt; d < -10*time.Microsecond || d > 10*time.Microsecond {
		t.Errorf("SRTT %v after forty round trips of %v, want %v", info.RTT, rtt, rtt)
	}
}
