package netstack

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
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
	stats := a.Stack().Stats().TCP
	// The last ACKs of the warm-up, and no probe episode left open: a
	// loaded machine can make a send a needless probe in the warm-up
	// (the ACK later than 2 x SRTT + 2 ms), and while its episode lasts
	// (until the D-SACK, or an ACK beyond it) a sends no other probe,
	// so that the one this test waits for never came. An ACK of data
	// written after the probe ends the episode: write until a round
	// trip sends none.
	sent := 50 * 100
	for probes, deadline := int64(-1), time.Now().Add(10*time.Second); probes != int64(stats.TailLossProbes.Value()); {
		if time.Now().After(deadline) {
			t.Fatal("a still sent tail loss probes in the warm-up after 10 s")
		}
		probes = int64(stats.TailLossProbes.Value())
		if _, err := client.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		sent += 100
		waitSendQ(t, clientEndpoint(t, a), 0)
	}
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
		if n != sent+3*1400 {
			t.Errorf("b received %d bytes, want %d", n, sent+3*1400)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not see the end of the stream")
	}
}

// TestTailLossProbeDSACKNotDupAck is the case of patch 7 that only a peer
// played by hand shows: the D-SACK for the probe's copy comes in an ACK
// that is not a duplicate ACK (the peer's window has grown meanwhile, as
// Linux's does in a bulk transfer). It still ends the probe's episode
// without a loss: the ACK of new data beyond the probe's end that follows
// must not put the stack into recovery.
func TestTailLossProbeDSACKNotDupAck(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	p := newRawPeer(t, dev)
	s := st.Stack()
	// MSS 1460, SACK permitted, window scale 7; no timestamps.
	c, synack := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1})
	if !header.ParseSynOptions(synack.Options(), true).SACKPermitted {
		t.Fatal("the stack did not agree to SACK")
	}
	write := func(n int) { writeZeros(t, c, n) }

	// Three or four segments (the MSS is the stack's), none acknowledged:
	// the stack probes by sending the last one again (within a second:
	// it has no RTT yet).
	start := p.rcvNxt
	write(3 * 1400)
	var last header.TCP
	for p.rcvNxt != start+3*1400 {
		last = p.next()
	}
	probe := p.next()
	if probe.SequenceNumber() != last.SequenceNumber() || len(probe.Payload()) != len(last.Payload()) {
		t.Fatalf("got seq %d len %d, want the probe: the last segment (seq %d len %d) again",
			probe.SequenceNumber(), len(probe.Payload()), last.SequenceNumber(), len(last.Payload()))
	}
	end := last.SequenceNumber() + uint32(len(last.Payload()))
	recoveries := s.Stats().TCP.SACKRecovery.Value()

	// Every original arrived: the ACK of all of them, then, with a
	// larger window, the D-SACK of the probe's copy.
	p.send(header.TCPFlagAck, p.sndNxt, end, nil, nil)
	p.window = 600
	dsack := make([]byte, 12)
	dsack[0], dsack[1] = 1, 1 // NOPs
	dsack[2], dsack[3] = 5, 10
	binary.BigEndian.PutUint32(dsack[4:], last.SequenceNumber())
	binary.BigEndian.PutUint32(dsack[8:], end)
	p.send(header.TCPFlagAck, p.sndNxt, end, dsack, nil)

	// New data, acknowledged beyond the probe's end.
	write(1000)
	var seg header.TCP
	for seg = p.next(); len(seg.Payload()) == 0 || seg.SequenceNumber() != end; seg = p.next() {
	}
	p.send(header.TCPFlagAck, p.sndNxt, end+uint32(len(seg.Payload())), nil, nil)

	// One byte from the peer: the stack's ACK of it comes after it has
	// taken everything sent before.
	p.send(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, end+uint32(len(seg.Payload())), nil, []byte{1})
	p.sndNxt++
	for p.next().AckNumber() != p.sndNxt {
	}
	if n := s.Stats().TCP.SACKRecovery.Value() - recoveries; n != 0 {
		t.Errorf("the stack entered recovery %d times after a probe whose copy the peer reported with a D-SACK", n)
	}
}
