package netstack

import (
	"bytes"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestBlindDataInjection: data whose ACK field acknowledges bytes the stack
// never sent is not taken, and the stack answers with an ACK that does not
// move past it (RFC 5961 5.2, as Linux does; gVisor patch 84); before, the
// bytes reached the application. The same bytes with an acceptable ACK are
// then taken, and only they.
func TestBlindDataInjection(t *testing.T) {
	// The clock is manual, to move it past the rate limit on challenge
	// ACKs (patch 89) between the two injections.
	clock := faketime.NewManualClock()
	clock.Advance(time.Second)
	st, dev := newSolo(t, func(o *Options) { o.Clock = clock })
	p := newRawPeer(t, dev)
	c, _ := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4})
	una := p.rcvNxt // the stack has sent nothing past its SYN
	for _, bad := range []uint32{una + 100000, una - 1<<30} {
		clock.Advance(time.Second)
		p.send(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, bad, nil, []byte("INJECT"))
		s := p.next()
		if s.AckNumber() != p.sndNxt || len(s.Payload()) != 0 {
			t.Fatalf("data acknowledging %+d bytes the stack never sent: answered ack %+d, %d bytes; want a bare ACK of nothing new", int32(bad-una), int32(s.AckNumber()-p.sndNxt), len(s.Payload()))
		}
	}
	p.send(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, una, nil, []byte("GOOD"))
	p.sndNxt += 4
	var got bytes.Buffer
	for end := time.Now().Add(10 * time.Second); got.Len() < 4 && time.Now().Before(end); {
		if _, err := c.Read(&got, tcpip.ReadOptions{}); err != nil {
			if _, ok := err.(*tcpip.ErrWouldBlock); !ok {
				t.Fatalf("read: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if got.String() != "GOOD" {
		t.Fatalf("the application read %q; want only the bytes with an acceptable ACK, \"GOOD\"", got.String())
	}
}
