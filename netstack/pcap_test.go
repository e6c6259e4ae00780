package netstack

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

func TestPCAP(t *testing.T) {
	t.Parallel()
	var capture bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return capture.Write(p)
	})
	st, dev := newSolo(t, func(o *Options) { o.PCAP = w })
	ping4(t, dev, 1)
	ping4(t, dev, 2)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	b := capture.Bytes()
	mu.Unlock()
	if len(b) < pcapFileHdrLen {
		t.Fatalf("capture of %d bytes", len(b))
	}
	if m := binary.LittleEndian.Uint32(b); m != pcapMagic {
		t.Errorf("magic %#x", m)
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != pcapLinkTypeRaw {
		t.Errorf("link type %d", lt)
	}
	var pkts [][]byte
	for r := b[pcapFileHdrLen:]; len(r) > 0; {
		if len(r) < pcapRecordHdrLen {
			t.Fatalf("short record header: %d bytes", len(r))
		}
		incl, orig := binary.LittleEndian.Uint32(r[8:]), binary.LittleEndian.Uint32(r[12:])
		if incl != orig || int(incl) > len(r)-pcapRecordHdrLen {
			t.Fatalf("record lengths %d/%d with %d bytes left", incl, orig, len(r))
		}
		pkts = append(pkts, r[pcapRecordHdrLen:pcapRecordHdrLen+incl])
		r = r[pcapRecordHdrLen+incl:]
	}
	s := st.Stats()
	if uint64(len(pkts)) != s.PacketsIn+s.PacketsOut {
		t.Errorf("%d records, want %d in + %d out", len(pkts), s.PacketsIn, s.PacketsOut)
	}
	if len(pkts) < 4 || !bytes.Equal(pkts[0], echoRequest4(peer4, addrA4.Addr(), 0x4242, 1, []byte("glassnet ping payload"))) {
		t.Errorf("first record is not the first echo request")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// stampClock reads one time.
type stampClock struct{ now time.Time }

func (c stampClock) Now() time.Time                              { return c.now }
func (c stampClock) NowMonotonic() tcpip.MonotonicTime           { return tcpip.MonotonicTime{} }
func (c stampClock) AfterFunc(time.Duration, func()) tcpip.Timer { panic("stampClock: no timers") }

// gateClock is a clock whose first reading waits, after it is taken, until
// another packet has been captured or a while has passed: the moment
// between a writer's reading of the clock and its record.
type gateClock struct {
	tcpip.Clock
	base    time.Time
	reads   atomic.Int64
	reading chan struct{} // closed when the first reading is taken
	done    chan struct{} // closed when the second packet was captured
}

func (c *gateClock) Now() time.Time {
	n := c.reads.Add(1)
	now := c.base.Add(time.Duration(n) * time.Millisecond)
	if n == 1 {
		close(c.reading)
		select {
		case <-c.done:
		case <-time.After(200 * time.Millisecond):
		}
	}
	return now
}

// TestPCAPTimeOrder: two packets captured at once, from the device's reader
// and from a TCP sender, are written in the order of their times, as a
// capture file's records must be (Wireshark marks a file out of order,
// "Strict time order: False", and shows negative time deltas): the stamp is
// taken when the record is written, not before the writer waits its turn.
func TestPCAPTimeOrder(t *testing.T) {
	t.Parallel()
	var capture bytes.Buffer
	w, err := newPCAPWriter(&capture, pcapLinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	clock := &gateClock{Clock: faketime.NewManualClock(), base: time.Unix(1_700_000_000, 0),
		reading: make(chan struct{}), done: make(chan struct{})}
	o := &observer{node: "n", flows: newFlowTable(), pcap: w, clock: clock}
	var wg sync.WaitGroup
	wg.Go(func() { o.packet(trace.In, []byte{0x45, 1}, tun.GSO{}) })
	<-clock.reading
	wg.Go(func() {
		o.packet(trace.Out, []byte{0x45, 2}, tun.GSO{})
		close(clock.done)
	})
	wg.Wait()
	var last time.Time
	for r := capture.Bytes()[pcapFileHdrLen:]; len(r) >= pcapRecordHdrLen; {
		ts := time.Unix(int64(binary.LittleEndian.Uint32(r)), int64(binary.LittleEndian.Uint32(r[4:])))
		if ts.Before(last) {
			t.Errorf("record of packet %d at %v, after one at %v", r[pcapRecordHdrLen+1], ts, last)
		}
		last = ts
		r = r[pcapRecordHdrLen+binary.LittleEndian.Uint32(r[8:]):]
	}
}
