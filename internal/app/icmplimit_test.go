package app

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestCountersICMPRateLimited: datagrams to a closed port from one source
// get six port unreachables at once (Linux's burst per destination); the
// rest are held back, and glassnet ss counts them, so that a UDP scan
// that sees few answers can be told from a stack that sends none.
func TestCountersICMPRateLimited(t *testing.T) {
	peer, st := counterStack(t, "icmplimit0", demoServerAddr, nil)
	src := tcpip.AddrFromSlice(demoClientAddr.Addr().AsSlice())
	dst := tcpip.AddrFromSlice(demoServerAddr.Addr().AsSlice())
	const sent = 20
	var pkts [][]byte
	for range sent {
		pkt := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize)
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber), SrcAddr: src, DstAddr: dst})
		ip.SetChecksum(^ip.CalculateChecksum())
		// No UDP checksum (zero): IPv4 allows it.
		header.UDP(ip.Payload()).Encode(&header.UDPFields{SrcPort: 40000, DstPort: 9999, Length: header.UDPMinimumSize})
		pkts = append(pkts, pkt)
	}
	if _, err := peer.Write(pkts); err != nil {
		t.Fatal(err)
	}
	counters := func() map[string]uint64 { return withPathCounters(map[string]uint64{}, st) }
	// The first six of the burst are sent at once; within the second the
	// test takes at most one more may be.
	for deadline := time.Now().Add(10 * time.Second); counters()["icmp errors rate limited"] < sent-7; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("glassnet ss counters: icmp errors rate limited %d after %d datagrams to a closed port, want at least %d", counters()["icmp errors rate limited"], sent, sent-7)
		}
	}
}
