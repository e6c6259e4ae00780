package netstack

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestSendQueueSize checks glassnet patch 16 in third_party/gvisor
// (PATCHES.md there): a TCP endpoint answers SendQueueSizeOption as Linux
// answers SIOCOUTQ, which is ss's Send-Q (write_seq - snd_una): the bytes
// written and not yet acknowledged, and the FIN until it is acknowledged;
// once everything is, 0, not the -1 upstream's send-buffer count fell to
// when the ACK of the FIN took a byte off it. A listener has no send
// queue. The peer is played by hand on a manual clock, so nothing is sent
// again while it holds its ACKs.
func TestSendQueueSize(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, func(o *Options) { o.Clock = faketime.NewManualClock() })
	p := newRawPeer(t, dev)
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4})
	sendQ := func() int {
		t.Helper()
		n, err := c.GetSockOptInt(tcpip.SendQueueSizeOption)
		if err != nil {
			t.Fatalf("SendQueueSizeOption: %v", err)
		}
		return n
	}
	if n := sendQ(); n != 0 {
		t.Fatalf("Send-Q %d on a new connection, want 0", n)
	}

	payload := bytes.Repeat([]byte("x"), 100)
	if n, err := c.Write(bytes.NewReader(payload), tcpip.WriteOptions{}); err != nil || int(n) != len(payload) {
		t.Fatalf("write: %d, %v", n, err)
	}
	if s := p.next(); len(s.Payload()) != len(payload) {
		t.Fatalf("got %v length %d, want the %d bytes written", s.Flags(), len(s.Payload()), len(payload))
	}
	if n := sendQ(); n != len(payload) {
		t.Errorf("Send-Q %d with %d bytes sent and not acknowledged, want %d", n, len(payload), len(payload))
	}

	c.Shutdown(tcpip.ShutdownWrite)
	fin := p.next()
	if !fin.Flags().Contains(header.TCPFlagFin) {
		t.Fatalf("after shutdown: got %v, want the FIN", fin.Flags())
	}
	if n := sendQ(); n != len(payload)+1 {
		t.Errorf("Send-Q %d with the data and the FIN unacknowledged, want %d (Linux counts the FIN)", n, len(payload)+1)
	}

	// The peer acknowledges the data, then the FIN.
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
	waitFor(t, "Send-Q to fall to the FIN alone", func() bool { return sendQ() == 1 })
	p.send(header.TCPFlagAck, p.sndNxt, fin.SequenceNumber()+1, nil, nil)
	waitFor(t, "the stack to take the ACK of its FIN (FIN-WAIT-2)", func() bool {
		return tcp.EndpointState(c.State()) == tcp.StateFinWait2
	})
	if n := sendQ(); n != 0 {
		t.Errorf("Send-Q %d with everything acknowledged, want 0", n)
	}

	l, _ := rawListen(t, st, rawStackPort+1)
	if n, err := l.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
		t.Errorf("SendQueueSizeOption on a listener = %d, want an error (Linux's SIOCOUTQ: EINVAL)", n)
	}
}
