package netstack

import (
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/tun"
)

// TestRecoveryAfterOutageBothWays checks glassnet patches 27 and 29 in
// third_party/gvisor (PATCHES.md there): a bulk echo, data both ways and
// the echo side's receive window closed while it waits to write, loses
// every packet for two seconds. Once the link is back, the transfer must
// recover within a few round trips: the retransmission timer, backed off
// to 1.6 s by then, fires about a second after the link comes back, and
// 8 MiB more take a tenth of a second after that, with no more timeouts.
//
// Patch 27: upstream counted every segment sent before the retransmission
// timeout as in flight, though RACK had marked them lost, and sent two
// segments per timeout: 14 KB/s for minutes. Patch 29, over the pipe with
// offloads, where the write list holds 64 KB segments: the part of a lost
// segment left after a retransmission cut one MSS off its front was no
// longer marked lost and counted as some 40 segments in flight against a
// window of 5, and recovery again sent two segments per timeout.
func TestRecoveryAfterOutageBothWays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		offload bool
	}{
		{"per-packet", false},
		{"offload", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recoverAfterOutage(t, tun.PipeOptions{Offload: tc.offload})
		})
	}
}

// recoverAfterOutage runs the echo of TestRecoveryAfterOutageBothWays
// over a pipe made with popts.
func recoverAfterOutage(t *testing.T, popts tun.PipeOptions) {
	var outage atomic.Bool
	a, b := newPair(t, popts, func(_ string, o *Options) { o.Egress = hook.NewChain(blackhole(&outage, true)) })
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	go func() { // the echo: it reads only while its writes get through
		buf := make([]byte, 256<<10)
		for {
			n, err := server.Read(buf)
			if _, werr := server.Write(buf[:n]); err != nil || werr != nil {
				return
			}
		}
	}()
	go func() {
		block := make([]byte, 64<<10)
		for {
			if _, err := client.Write(block); err != nil {
				return
			}
		}
	}()
	var got atomic.Int64
	go io.Copy(counter{&got}, client)
	timeouts := func() uint64 {
		return a.Stack().Stats().TCP.Timeouts.Value() + b.Stack().Stats().TCP.Timeouts.Value()
	}
	// waitBytes waits until n bytes have been echoed, failing if that takes
	// more than maxTimeouts retransmission timeouts from now (both stacks
	// together), or more than a generous time on the clock (a hang).
	waitBytes := func(what string, n int64, maxTimeouts uint64) {
		t.Helper()
		first := timeouts()
		deadline := time.Now().Add(2 * time.Minute)
		for got.Load() < n {
			if more := timeouts() - first; more > maxTimeouts {
				t.Fatalf("%s: %d bytes echoed, want %d within %d retransmission timeouts; %d fired", what, got.Load(), n, maxTimeouts, more)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d bytes echoed, want %d; no progress for 2 minutes (%d timeouts)", what, got.Load(), n, timeouts()-first)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitBytes("before the outages", 8<<20, 20)
	// Without patch 29 about one outage in three stalled over the pipe
	// with offloads; three outages make a stall likely (the offload
	// case failed in 6 runs of 10).
	for i := 1; i <= 3; i++ {
		outage.Store(true)
		time.Sleep(2 * time.Second)
		outage.Store(false)
		after := got.Load()
		// The timer backed off during the outage fires once after it
		// (Linux's backs off the same way) and the transfer goes on at
		// its rate: a timeout or two on each side. At the rate of either
		// stall, two segments a timeout, 8 MiB takes thousands. The
		// bound counts timeouts, not seconds, so a slow machine (the race
		// detector, other work) does not fail it.
		waitBytes(fmt.Sprintf("after outage %d", i), after+8<<20, 10)
	}
	client.Close()
	server.Close()
}

// counter counts what is written to it.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }
