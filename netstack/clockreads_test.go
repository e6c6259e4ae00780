package netstack

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/tun"
)

// The test in this file checks glassnet patch 52 in third_party/gvisor
// (PATCHES.md there): TCP reads the clock once for a segment it sends, for
// the segment's transmit time, the sender's last send time and the
// timestamp option, and arms the probe timer from that reading; upstream
// read it for each. What the readings decide is held by the RACK, TLP and
// retransmission tests (rackwalk, tlpspurious, ptoslack, rtoloss). And
// it checks glassnet patch 53: the restart after idle, which sendData
// checks before it sends new data with nothing in flight, reads the clock
// for the first segment it sends too; and glassnet patch 56: an ACK of
// everything sent arms neither the probe nor the retransmission timer
// (each from a reading of its own) before it disables both. Each patch
// takes one reading off each side of the echo.

// countingClock is a tcpip.Clock that counts its readings.
type countingClock struct {
	tcpip.Clock
	reads atomic.Uint64
}

func (c *countingClock) NowMonotonic() tcpip.MonotonicTime {
	c.reads.Add(1)
	return c.Clock.NowMonotonic()
}

func (c *countingClock) Now() time.Time {
	c.reads.Add(1)
	return c.Clock.Now()
}

// TestClockReadsPerEcho: an echo of a small message, one data segment
// each way with the ACKs on the replies, reads the clock at most
// maxReads times over both stacks: 8 with patches 52, 53 and 56, 10
// without 53 or without 56, 24 without any.
func TestClockReadsPerEcho(t *testing.T) {
	t.Parallel()
	base := newEchoClock(t)
	clock := &countingClock{Clock: base}
	per := echoCounts(t, clock, base.step, clock.reads.Load)[0]
	t.Logf("%.2f clock readings per echo", per)
	if per > maxReads {
		t.Errorf("%.2f clock readings per echo, want at most %d", per, maxReads)
	}
}

// echoCountsN is how many echoes echoCounts measures.
const echoCountsN = 1000

// echoCounts connects two stacks on clock, echoes a 64-byte message 100
// times to get past slow start and the quick ACKs, then echoCountsN
// times more, calling step after each echo, and returns how much each of
// counts grew per echo over those.
func echoCounts(t *testing.T, clock tcpip.Clock, step func(), counts ...func() uint64) []float64 {
	t.Helper()
	a, b := newPair(t, tun.PipeOptions{}, func(_ string, o *Options) { o.Clock = clock })
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	msg := make([]byte, 64)
	for range 100 {
		echoBack(t, client, server, msg)
		step()
	}
	before := make([]uint64, len(counts))
	for i, c := range counts {
		before[i] = c()
	}
	for range echoCountsN {
		echoBack(t, client, server, msg)
		step()
	}
	per := make([]float64, len(counts))
	for i, c := range counts {
		per[i] = float64(c()-before[i]) / echoCountsN
	}
	return per
}

// echoClock is a PausableClock whose time moves only when the test moves
// it, echoStep after each echo, so that what echoCounts counts does not
// depend on how fast the machine is. On the wall clock it did: the probe
// timer (about 202 ms), left running when the ACK comes, expired about
// five times a second on each side, so that a loaded machine with the
// race detector, which took 2 to 4 s for the echoes, counted 20 to 46
// expiries; and the readings grow with the time an echo takes (8.2 an
// echo at 100 µs, 8.5 at 250 µs, 9 at 500 µs, 10 at 1 ms).
type echoClock struct {
	*PausableClock
	src atomic.Int64
}

// echoStep is the stacks' time one echo takes, about what it takes on an
// idle machine: the 1,100 echoes take 110 ms, more than twice the
// delayed-ACK timer's 40 ms and less than the probe timer's 202 ms.
const echoStep = 100 * time.Microsecond

func newEchoClock(t *testing.T) *echoClock {
	c := &echoClock{}
	c.src.Store(time.Now().UnixNano())
	// No tick: the time moves in step, between echoes, and nowhere else.
	c.PausableClock = NewPausableClock(PausableClockOptions{Tick: time.Hour, Source: func() time.Time { return time.Unix(0, c.src.Load()) }})
	t.Cleanup(c.Stop)
	return c
}

func (c *echoClock) step() {
	c.src.Add(int64(echoStep))
	c.catchUp()
}

// maxReads is the most clock readings an echo may take: halfway between
// the 8 it takes (8.2 on echoClock) and the 10 it takes without patch 53
// or 56.
const maxReads = 9

// echoBack sends msg from client to server and back.
func echoBack(t testing.TB, client, server net.Conn, msg []byte) {
	t.Helper()
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, msg); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, msg); err != nil {
		t.Fatal(err)
	}
}
