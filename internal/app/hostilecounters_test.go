package app

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/sockets"
)

// TestCountersHostileTCP: data whose ACK field acknowledges bytes the
// stack never sent is dropped and answered with a challenge ACK (gVisor
// patch 84), and glassnet ss counts both, as nstat counts Linux's
// TcpExtTCPChallengeACK (patch 88); before, nothing showed it.
func TestCountersHostileTCP(t *testing.T) {
	peer, st := counterStack(t, "hostile0", demoServerAddr, nil)
	socks := sockets.New(st.Stack(), sockets.Options{})
	fd, err := socks.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socks.Close(fd) })
	if err := socks.Bind(fd, netip.AddrPortFrom(demoServerAddr.Addr(), 80)); err != nil {
		t.Fatal(err)
	}
	if err := socks.Listen(fd, 4); err != nil {
		t.Fatal(err)
	}
	src := tcpip.AddrFromSlice(demoClientAddr.Addr().AsSlice())
	dst := tcpip.AddrFromSlice(demoServerAddr.Addr().AsSlice())
	send := func(flags header.TCPFlags, seq, ack uint32, payload []byte) {
		t.Helper()
		pkt := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+len(payload))
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
		ip.SetChecksum(^ip.CalculateChecksum())
		tcp := header.TCP(ip.Payload())
		tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 80, SeqNum: seq, AckNum: ack, DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 65535})
		copy(tcp.Payload(), payload)
		sum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
		sum = checksum.Checksum(payload, sum)
		tcp.SetChecksum(^tcp.CalculateChecksum(sum))
		if _, err := peer.Write([][]byte{pkt}); err != nil {
			t.Fatal(err)
		}
	}
	send(header.TCPFlagSyn, 1000, 0, nil)
	bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
	var iss uint32
	for iss == 0 {
		if _, err := peer.Read(bufs, sizes); err != nil {
			t.Fatal(err)
		}
		ip := header.IPv4(bufs[0][:sizes[0]])
		if ip.IsValid(sizes[0]) && ip.TransportProtocol() == header.TCPProtocolNumber {
			if s := header.TCP(ip.Payload()); s.Flags() == header.TCPFlagSyn|header.TCPFlagAck {
				iss = s.SequenceNumber()
			}
		}
	}
	send(header.TCPFlagAck, 1001, iss+1, nil)
	send(header.TCPFlagAck|header.TCPFlagPsh, 1001, iss+1+100000, []byte("INJECT"))

	counters := func() map[string]uint64 { return withPathCounters(map[string]uint64{}, st) }
	for deadline := time.Now().Add(10 * time.Second); counters()["tcp drops: ack of data never sent"] != 1 || counters()["tcp challenge acks sent"] != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			c := counters()
			t.Fatalf("glassnet ss counters: tcp drops: ack of data never sent %d, tcp challenge acks sent %d; want 1 and 1",
				c["tcp drops: ack of data never sent"], c["tcp challenge acks sent"])
		}
	}
}
