package netstack

import (
	"bytes"
	"math/rand"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// TestReproducible checks that a manual clock and seeded randomness make
// the stack's first SYN (source port and ISN) the same on every run.
func TestReproducible(t *testing.T) {
	t.Parallel()
	syn := func() []byte {
		st, dev := newSolo(t, func(o *Options) {
			o.Clock = faketime.NewManualClock()
			o.RandSource = rand.NewSource(42)
			o.SecureRNG = bytes.NewReader(bytes.Repeat([]byte{7}, 1<<16))
		})
		var wq waiter.Queue
		ep, err := st.Stack().NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
		if err != nil {
			t.Fatalf("NewEndpoint: %s", err)
		}
		defer ep.Close()
		switch err := ep.Connect(tcpip.FullAddress{Addr: tcpipAddr(peer4), Port: 80}); err.(type) {
		case *tcpip.ErrConnectStarted:
		default:
			t.Fatalf("Connect: %v", err)
		}
		p := readUntil(t, dev, func(p []byte) bool {
			if header.IPVersion(p) != 4 || len(p) < header.IPv4MinimumSize+header.TCPMinimumSize {
				return false
			}
			ip := header.IPv4(p)
			return ip.Protocol() == uint8(header.TCPProtocolNumber) && header.TCP(ip.Payload()).Flags() == header.TCPFlagSyn
		})
		tcpHdr := header.TCP(header.IPv4(p).Payload())
		out := make([]byte, 6)
		copy(out, tcpHdr[:2])      // source port
		copy(out[2:], tcpHdr[4:8]) // sequence number
		return out
	}
	first, second := syn(), syn()
	if !bytes.Equal(first, second) {
		t.Errorf("SYN port/ISN differ between runs: % x vs % x", first, second)
	}
}
