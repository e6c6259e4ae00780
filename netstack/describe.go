package netstack

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The tracer describes each packet with trace.DescribePacket (an Ethernet
// frame with trace.DescribeFrame), its TCP sequence numbers relative to
// the ISNs the flow table has seen, as tcpdump shows them.

// SeqBases implements trace.SeqBases: the table learns from the segment,
// then gives the ISN of its direction and of the other.
func (f *flowTable) SeqBases(src, dst netip.AddrPort, flags uint8, seq, ack uint32) (seqBase uint32, seqOK bool, ackBase uint32, ackOK bool) {
	relSeq, relAck, seqOK, ackOK := f.relative(src, dst, header.TCPFlags(flags), seq, ack)
	return seq - relSeq, seqOK, ack - relAck, ackOK
}

// frameIP returns the IP packet an Ethernet frame carries, or nil if it
// carries something else (ARP) or is too short.
func frameIP(b []byte) []byte {
	if len(b) < header.EthernetMinimumSize {
		return nil
	}
	switch header.Ethernet(b).Type() {
	case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
		return b[header.EthernetMinimumSize:]
	}
	return nil
}
