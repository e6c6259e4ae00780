package sockets

import (
	"context"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/tun"
)

// TestRetransmitWithPipeAtZero checks glassnet patch 8 in
// third_party/gvisor (PATCHES.md there): the retransmission timer runs
// while data is unacknowledged, whatever the sender's count of segments
// in flight says. That count (TCPSenderState.Outstanding) drifts below
// the truth after a SACK recovery or a retransmission timeout; the soak
// caught connections with a segment or the FIN in flight, the count at 0
// and every timer off, stalled for good. The test sets the count to 0
// while a's only segment is lost, as that drift leaves it: a's tail loss
// probe, lost too, must still be followed by retransmissions until one
// gets through.
func TestRetransmitWithPipeAtZero(t *testing.T) {
	t.Parallel()
	if !tcpLayout.ok {
		t.Fatal("the layout of gVisor's tcp.Endpoint is not the one this test knows")
	}
	var blackhole atomic.Bool
	drops := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		if h := p.Headers(); blackhole.Load() && h.Proto == 6 && h.Payload > 0 {
			return hook.Verdict{Action: hook.Drop, Reason: "blackhole"}
		}
		return hook.Verdict{}
	})
	addrA, addrB := netip.MustParsePrefix("10.240.0.1/24"), netip.MustParsePrefix("10.240.0.2/24")
	da, db := tun.Pipe(tun.PipeOptions{})
	a, err := netstack.New(netstack.Options{Device: da, Addrs: []netip.Prefix{addrA}, Node: "a", Egress: hook.NewChain(drops)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, err := netstack.New(netstack.Options{Device: db, Addrs: []netip.Prefix{addrB}, Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	full := tcpip.FullAddress{Addr: tcpip.AddrFrom4(addrB.Addr().As4()), Port: 80}
	ln, err := gonet.ListenTCP(b.Stack(), full, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- int(n)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, a.Stack(), full, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Round trips first, for an RTT estimate.
	for range 20 {
		if _, err := c.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}

	var ep *tcp.Endpoint
	for _, e := range a.Stack().RegisteredEndpoints() {
		if te, ok := e.(*tcp.Endpoint); ok && te.EndpointState() == tcp.StateEstablished {
			ep = te
		}
	}
	if ep == nil {
		t.Fatal("a has no established endpoint")
	}
	// The last ACKs: nothing of the round trips left unacknowledged, so
	// that the segment written next is the only one in flight. (A sleep
	// of 50 ms was not always enough: b's reader, late on a loaded
	// machine, leaves its ACK to the delayed-ACK timer.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, err := ep.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's round trips not all acknowledged within 10 s")
		}
	}
	retrans := ep.Stats().(*tcp.Stats).SendErrors.Retransmits.Value()

	blackhole.Store(true)
	if _, err := c.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	// The segment is out (and lost); its probe is due after twice the
	// SRTT plus the worst-case delayed ACK. Set the count in flight to 0
	// now, as the drift leaves it.
	ep.LockUser()
	sp := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(ep), tcpLayout.snd))
	snd := (*tcp.TCPSenderState)(unsafe.Add(sp, tcpLayout.sndState))
	if snd.Outstanding != 1 {
		ep.UnlockUser()
		t.Fatalf("a has %d segments in flight, want 1", snd.Outstanding)
	}
	snd.Outstanding = 0
	ep.UnlockUser()

	// The probe, and the retransmissions after it, are lost for a
	// second; then the way is clear.
	deadline := time.Now().Add(10 * time.Second)
	for ep.Stats().(*tcp.Stats).SendErrors.Retransmits.Value() < retrans+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	n := ep.Stats().(*tcp.Stats).SendErrors.Retransmits.Value() - retrans
	blackhole.Store(false)
	if n < 2 {
		t.Fatalf("a sent its lost segment again %d times in 10 s (its probe, then nothing): with the count in flight at 0 no retransmission timer ran", n)
	}
	c.Close()
	select {
	case total := <-got:
		if total != 21*100 {
			t.Errorf("b received %d bytes, want %d", total, 21*100)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("b did not get the rest of the stream within 20 s of the loss ending")
	}
}
