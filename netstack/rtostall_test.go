package netstack

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/tun"
)

// TestRetransmitTimerNotPostponedByWrites checks glassnet patch 3 in
// third_party/gvisor (PATCHES.md there): while every data segment from a
// to b is lost, an application on a that keeps writing, more often than
// once per RTO, must not keep a's retransmission timer from expiring.
//
// Upstream gVisor re-armed the timer from the current time after each such
// write once a tail loss probe was out, and the timer expired only when the
// writes paused: a /chat member stalled under burst loss for as long as the
// chat went on. Here every data segment is lost for a second: the timer
// must expire in that second, and the bytes lost must arrive while the
// application goes on writing.
func TestRetransmitTimerNotPostponedByWrites(t *testing.T) {
	t.Parallel()
	var lossy atomic.Bool
	a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
		if which == "a" {
			o.Egress = hook.NewChain(blackhole(&lossy, false))
		}
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)

	var (
		mu   sync.Mutex
		sent bytes.Buffer
	)
	got := make(chan []byte, 1)
	var nrcvd atomic.Int64
	go func() {
		var rcvd bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := server.Read(buf)
			rcvd.Write(buf[:n])
			nrcvd.Add(int64(n))
			if err != nil {
				got <- rcvd.Bytes()
				return
			}
		}
	}()
	write := func(i int) {
		msg := bytes.Repeat([]byte{byte(i)}, 200)
		mu.Lock()
		sent.Write(msg)
		mu.Unlock()
		if _, err := client.Write(msg); err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	// A few round trips first, so that the stack has an RTT estimate
	// and a tail loss probe is scheduled after each write.
	for i := range 20 {
		write(i)
		time.Sleep(5 * time.Millisecond)
	}
	timeouts := a.Stack().Stats().TCP.Timeouts.Value()

	lossy.Store(true)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for i := 20; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			write(i)
		}
	}()
	time.Sleep(time.Second)
	mu.Lock()
	lost := int64(sent.Len())
	mu.Unlock()
	// The oldest segment was lost a second ago: with an RTO of 200 ms
	// (the minimum) the timer has expired at least twice by now.
	// Upstream's never did while the application wrote.
	during := a.Stack().Stats().TCP.Timeouts.Value() - timeouts
	lossy.Store(false)
	if during == 0 {
		t.Errorf("a's retransmission timer did not expire once in the second every data segment was lost, while its application wrote every 20 ms")
	}
	// The writes go on after the loss ends, as a chat's do: the bytes
	// lost must arrive while they do, by retransmission. (Once the writes
	// stop, even upstream's timer expires.)
	deadline := time.Now().Add(20 * time.Second)
	for nrcvd.Load() < lost && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	if n := nrcvd.Load(); n < lost {
		t.Errorf("20 s after the loss ended, with the application writing every 20 ms, b has %d of the %d bytes a sent before (a's retransmission timeouts: %d): a's sender stalled",
			n, lost, a.Stack().Stats().TCP.Timeouts.Value()-timeouts)
	}
	<-writerDone
	client.(interface{ CloseWrite() error }).CloseWrite()

	var rcvd []byte
	select {
	case rcvd = <-got:
	case <-time.After(30 * time.Second):
		mu.Lock()
		n := sent.Len()
		mu.Unlock()
		t.Fatalf("b has not received all %d bytes 30 s after a stopped writing", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(rcvd, sent.Bytes()) {
		t.Fatalf("b received %d bytes, a sent %d, or they differ", len(rcvd), sent.Len())
	}
}
