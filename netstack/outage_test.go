package netstack

import (
	"io"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/tun"
)

// TestRecoveryAfterOutageBothWays checks glassnet patch 27 in
// third_party/gvisor (PATCHES.md there): a bulk echo, data both ways and
// the echo side's receive window closed while it waits to write, loses
// every packet for two seconds. Once the link is back, the transfer must
// recover within a few round trips. Upstream counted every segment sent
// before the retransmission timeout as in flight, though RACK had marked
// them lost, and sent two segments per timeout: 14 KB/s for minutes.
func TestRecoveryAfterOutageBothWays(t *testing.T) {
	t.Parallel()
	var outage atomic.Bool
	a, b := newPair(t, tun.PipeOptions{}, func(_ string, o *Options) { o.Egress = hook.NewChain(blackhole(&outage, true)) })
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
	waitBytes := func(what string, n int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for got.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d bytes echoed, want %d within %v (timeouts %d)", what, got.Load(), n, within, a.Stack().Stats().TCP.Timeouts.Value())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitBytes("before the outage", 8<<20, 20*time.Second)
	outage.Store(true)
	time.Sleep(2 * time.Second)
	outage.Store(false)
	after := got.Load()
	// At the rate of the stall, 8 MiB takes ten minutes.
	waitBytes("after the outage", after+8<<20, 30*time.Second)
	client.Close()
	server.Close()
}

// counter counts what is written to it.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }
