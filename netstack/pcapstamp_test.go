package netstack

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// countClock reads a millisecond later each time.
type countClock struct {
	stampClock
	reads int
}

func (c *countClock) Now() time.Time {
	c.reads++
	return c.now.Add(time.Duration(c.reads) * time.Millisecond)
}

// TestPacketEventCaptured: a packet's event carries the time of its record
// in the pcap (Event.Captured), one reading of the clock for both, so a
// capture written from the trace (the view's export) can give its packets
// the pcap's times; without a pcap it carries a reading of its own.
func TestPacketEventCaptured(t *testing.T) {
	t.Parallel()
	for _, withPCAP := range []bool{true, false} {
		var rec recorder
		var capture bytes.Buffer
		clock := &countClock{stampClock: stampClock{time.Unix(1_700_000_000, 0)}}
		o := &observer{tracer: trace.New(&rec), node: "n", flows: newFlowTable(), clock: clock}
		if withPCAP {
			w, err := newPCAPWriter(&capture, pcapLinkTypeRaw)
			if err != nil {
				t.Fatal(err)
			}
			o.pcap = w
		}
		o.packet(trace.In, echoRequest4(addrB4.Addr(), addrA4.Addr(), 1, 1, []byte("in")), tun.GSO{})
		o.packet(trace.Out, echoRequest4(addrA4.Addr(), addrB4.Addr(), 1, 1, []byte("out")), tun.GSO{})
		o.tracer.Flush()
		var got []time.Time
		for _, e := range rec.all() {
			if e.Name == "packet" {
				got = append(got, e.Captured)
			}
		}
		var want []time.Time
		if withPCAP {
			for r := capture.Bytes()[pcapFileHdrLen:]; len(r) >= pcapRecordHdrLen; r = r[pcapRecordHdrLen+binary.LittleEndian.Uint32(r[8:]):] {
				want = append(want, time.Unix(int64(binary.LittleEndian.Uint32(r)), int64(binary.LittleEndian.Uint32(r[4:]))))
			}
		} else {
			want = []time.Time{clock.now.Add(time.Millisecond), clock.now.Add(2 * time.Millisecond)}
		}
		if len(got) != 2 || len(want) != 2 || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) || clock.reads != 2 {
			t.Errorf("pcap %v: packet events captured at %v, want %v (the clock read %d times, want 2)", withPCAP, got, want, clock.reads)
		}
	}
}
