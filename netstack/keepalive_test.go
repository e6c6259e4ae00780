package netstack

import (
	"io"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestKeepaliveProbesThenTimesOut runs the keepalive timer's expiry, the
// one endpoint timer no other test fires: with keepalives on, a connection
// whose peer never answers sends a probe (an ACK of one sequence number
// before SND.NXT, RFC 1122 4.2.3.6) every interval, and after the count
// of probes ends with a timeout, as Linux's ETIMEDOUT.
func TestKeepaliveProbesThenTimesOut(t *testing.T) {
	st, dev := newSolo(t, nil)
	p := newRawPeer(t, dev)
	c, synack := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	const probes = 2
	if err := c.SetSockOptInt(tcpip.KeepaliveCountOption, probes); err != nil {
		t.Fatal(err)
	}
	idle := tcpip.KeepaliveIdleOption(20 * time.Millisecond)
	if err := c.SetSockOpt(&idle); err != nil {
		t.Fatal(err)
	}
	interval := tcpip.KeepaliveIntervalOption(20 * time.Millisecond)
	if err := c.SetSockOpt(&interval); err != nil {
		t.Fatal(err)
	}
	c.SocketOptions().SetKeepAlive(true)
	want := synack.SequenceNumber() // SND.NXT - 1: the SYN's number
	for i := range probes {
		s := p.next()
		if s.Flags() != header.TCPFlagAck || len(s.Payload()) != 0 || s.SequenceNumber() != want {
			t.Fatalf("probe %d: flags %v, %d bytes, seq %d; want an ACK without data at seq %d", i+1, s.Flags(), len(s.Payload()), s.SequenceNumber(), want)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		_, err := c.Read(io.Discard, tcpip.ReadOptions{})
		if _, ok := err.(*tcpip.ErrWouldBlock); ok {
			if time.Now().After(deadline) {
				t.Fatal("the connection did not time out within 10 s of its last probe")
			}
			continue
		}
		if _, ok := err.(*tcpip.ErrTimeout); !ok {
			t.Fatalf("read after the probes: %v, want a timeout", err)
		}
		return
	}
}
