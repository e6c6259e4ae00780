package netstack

import (
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/tun"
)

// TestSpuriousTailLossProbeNoRecovery checks glassnet patch 7 in
// third_party/gvisor (PATCHES.md there): a tail loss probe that turns out
// to be needless (every segment arrived; only the ACKs were late) is not
// taken as a loss. Upstream took the ACK of the original segment, which
// reaches the probe's end exactly, as proof of a loss and entered
// recovery, cutting the congestion window, before the D-SACK that says
// both copies arrived.
//
// b holds its packets 50 ms, far longer than a's probe timeout, while a
// sends three segments and then nothing: a probes once, every original
// arrives, and a must not enter recovery.
func TestSpuriousTailLossProbeNoRecovery(t *testing.T) {
	t.Parallel()
	var slow atomic.Bool
	lag := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		if slow.Load() {
			return hook.Verdict{Action: hook.Delay, Reason: "lag", Delay: 50 * time.Millisecond}
		}
		return hook.Verdict{}
	})
	a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
		if which == "b" {
			o.Egress = hook.NewChain(lag)
		}
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 8192)
		total := 0
		for {
			n, err := server.Read(buf)
			total += n
			if err != nil {
				got <- total
				return
			}
		}
	}()
	for range 50 {
		if _, err := client.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the last ACKs of the warm-up
	stats := a.Stack().Stats().TCP
	rexmit, recov := stats.Retransmits.Value(), stats.SACKRecovery.Value()+stats.FastRecovery.Value()

	slow.Store(true)
	if _, err := client.Write(make([]byte, 3*1400)); err != nil {
		t.Fatal(err)
	}
	// The probe goes out within a few ms; the ACKs, the D-SACK among
	// them, come back 50 ms after what they answer.
	deadline := time.Now().Add(10 * time.Second)
	for stats.Retransmits.Value() == rexmit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if stats.Retransmits.Value() == rexmit {
		t.Fatal("a sent no tail loss probe while b's ACKs were 50 ms late; the test did not reach the case it checks")
	}
	time.Sleep(300 * time.Millisecond) // every late ACK is in
	slow.Store(false)
	if n := stats.SACKRecovery.Value() + stats.FastRecovery.Value() - recov; n != 0 {
		t.Errorf("a entered loss recovery %d times after a needless tail loss probe (every segment had arrived)", n)
	}
	client.(interface{ CloseWrite() error }).CloseWrite()
	select {
	case n := <-got:
		if n != 50*100+3*1400 {
			t.Errorf("b received %d bytes, want %d", n, 50*100+3*1400)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not see the end of the stream")
	}
}
