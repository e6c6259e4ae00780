package netstack

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// echoRequest4Options is echoRequest4 with IPv4 options, padded with
// end-of-list to a multiple of four bytes.
func echoRequest4Options(seq uint16, opts []byte) []byte {
	opts = append(opts, make([]byte, (4-len(opts)%4)%4)...)
	hdrLen := header.IPv4MinimumSize + len(opts)
	b := make([]byte, hdrLen+header.ICMPv4MinimumSize)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.ICMPv4ProtocolNumber),
		SrcAddr:     tcpipAddr(peer4),
		DstAddr:     tcpipAddr(addrA4.Addr()),
	})
	ip.SetHeaderLength(uint8(hdrLen))
	copy(b[header.IPv4MinimumSize:], opts)
	ip.SetChecksum(^ip.CalculateChecksum())
	ic := header.ICMPv4(b[hdrLen:])
	ic.SetType(header.ICMPv4Echo)
	ic.SetIdent(0x4343)
	ic.SetSequence(seq)
	ic.SetChecksum(^checksum.Checksum(ic, 0))
	return b
}

// answerTo sends pkt and then a plain echo request with sequence 999, and
// returns the ICMP type the stack answered pkt with (its echo reply or an
// error quoting it), or -1 if it sent nothing for it before the plain
// echo's reply (the pipe keeps the order).
func answerTo(t *testing.T, dev interface {
	Write([][]byte) (int, error)
}, read func(match func([]byte) bool) []byte, pkt []byte, seq uint16) int {
	t.Helper()
	if _, err := dev.Write([][]byte{pkt, echoRequest4(peer4, addrA4.Addr(), 0x4343, 999, nil)}); err != nil {
		t.Fatal(err)
	}
	answer := -1
	read(func(p []byte) bool {
		if header.IPVersion(p) != 4 || header.IPv4(p).Protocol() != uint8(header.ICMPv4ProtocolNumber) {
			return false
		}
		ic := header.ICMPv4(header.IPv4(p).Payload())
		switch {
		case ic.Type() == header.ICMPv4EchoReply && ic.Sequence() == 999:
			return true
		case ic.Type() == header.ICMPv4EchoReply && ic.Sequence() == seq:
			answer = int(ic.Type())
		case ic.Type() != header.ICMPv4EchoReply:
			answer = int(ic.Type())
		}
		return false
	})
	return answer
}

// TestIPv4SourceRouteDropped: an echo request with a Loose or Strict
// Source Route option is dropped without an answer and counted with
// reason ip-source-route, as Linux drops it (accept_source_route 0);
// gVisor answered it with the option stripped.
func TestIPv4SourceRouteDropped(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	read := func(m func([]byte) bool) []byte { return readUntil(t, dev, m) }
	hop := peer4.As4()
	for i, opt := range [][]byte{
		{131, 7, 4, hop[0], hop[1], hop[2], hop[3]},    // LSRR, one hop to go
		{137, 7, 4, hop[0], hop[1], hop[2], hop[3]},    // SSRR
		{1, 131, 7, 8, hop[0], hop[1], hop[2], hop[3]}, // LSRR after a NOP, route done
	} {
		if got := answerTo(t, dev, read, echoRequest4Options(uint16(i+1), opt), uint16(i+1)); got != -1 {
			t.Errorf("option % x: answered with ICMP type %d, want no answer", opt, got)
		}
	}
	if got := st.Stats().Malformed.Reasons()["ip-source-route"]; got != 3 {
		t.Errorf("ip-source-route drops = %d, want 3 (%v)", got, st.Stats().Malformed.Reasons())
	}
}

// TestIPv4RecordRouteNoRoom: an echo request whose Record Route option has
// no room for an address (length 3) is answered, as Linux answers it: the
// option is full, not wrong. gVisor sent a parameter problem.
func TestIPv4RecordRouteNoRoom(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	read := func(m func([]byte) bool) []byte { return readUntil(t, dev, m) }
	if got := answerTo(t, dev, read, echoRequest4Options(1, []byte{7, 3, 4}), 1); got != int(header.ICMPv4EchoReply) {
		t.Errorf("Record Route of length 3: answered with ICMP type %d, want an echo reply (%d)", got, header.ICMPv4EchoReply)
	}
	// A pointer inside the header is still an error.
	if got := answerTo(t, dev, read, echoRequest4Options(2, []byte{7, 3, 3}), 2); got != int(header.ICMPv4ParamProblem) {
		t.Errorf("Record Route with pointer 3: answered with ICMP type %d, want a parameter problem (%d)", got, header.ICMPv4ParamProblem)
	}
	if got := st.Stats().Malformed.IP; got != 1 {
		t.Errorf("ip-malformed = %d, want 1 (the pointer 3)", got)
	}
}
