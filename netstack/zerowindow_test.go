package netstack

import (
	"encoding/binary"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// segment builds an IPv4 TCP segment from src:sport to dst:dport.
func segment(src, dst string, sport, dport uint16, seq, ack uint32, flags header.TCPFlags, wnd uint16, payload int) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.TCPMinimumSize+payload)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.TCPProtocolNumber),
		SrcAddr:     tcpip.AddrFrom4Slice(parseV4(src)),
		DstAddr:     tcpip.AddrFrom4Slice(parseV4(dst)),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	t := header.TCP(b[header.IPv4MinimumSize:])
	t.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ack, DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: wnd})
	tcpFixChecksum(b)
	return b
}

func parseV4(s string) []byte {
	var a [4]byte
	n, i := 0, 0
	for _, c := range s + "." {
		if c == '.' {
			a[i] = byte(n)
			i, n = i+1, 0
			continue
		}
		n = n*10 + int(c-'0')
	}
	return a[:]
}

func tcpFixChecksum(b []byte) {
	ip := header.IPv4(b)
	t := header.TCP(ip.Payload())
	t.SetChecksum(0)
	x := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(t)))
	t.SetChecksum(^checksum.Checksum(t, x))
}

func tcpChecksumOK(t *testing.T, b []byte) {
	t.Helper()
	ip := header.IPv4(b)
	if !ip.IsChecksumValid() {
		t.Error("bad IPv4 checksum")
	}
	tcp := header.TCP(ip.Payload())
	x := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(tcp)))
	if checksum.Checksum(tcp, x) != 0xffff {
		t.Error("bad TCP checksum")
	}
}

// TestZeroWindowACK checks what the endpoint hands gVisor for a connection
// that last advertised a zero window: the peer's ACKs get through with
// RCV.NXT as their sequence number, and nothing changes once the window
// opens again.
func TestZeroWindowACK(t *testing.T) {
	const (
		us, peer       = "10.0.0.2", "10.0.0.1"
		uport, pport   = 7, 40000
		rcvNxt, sndNxt = 5000, 90000
	)
	var z zeroWindow
	// The stack acknowledges up to rcvNxt with a zero window.
	z.sent(segment(us, peer, uport, pport, sndNxt, rcvNxt, header.TCPFlagAck, 0, 100))

	// A pure ACK stamped beyond RCV.NXT is moved to RCV.NXT.
	pure := segment(peer, us, pport, uport, rcvNxt+16, sndNxt+100, header.TCPFlagAck, 900, 0)
	if extra := z.ackFor(pure); extra != nil {
		t.Fatalf("pure ACK: got an extra packet")
	}
	if got := header.TCP(pure[20:]).SequenceNumber(); got != rcvNxt {
		t.Errorf("pure ACK seq = %d, want %d", got, rcvNxt)
	}
	tcpChecksumOK(t, pure)

	// A segment with data is preceded by a pure ACK at RCV.NXT with the
	// same ACK number and window.
	data := segment(peer, us, pport, uport, rcvNxt, sndNxt+100, header.TCPFlagAck|header.TCPFlagPsh, 900, 16)
	orig := append([]byte(nil), data...)
	ack := z.ackFor(data)
	if ack == nil {
		t.Fatal("data segment: no ACK before it")
	}
	if string(data) != string(orig) {
		t.Error("data segment was changed")
	}
	at := header.TCP(ack[20:])
	if len(ack) != 40 || int(header.IPv4(ack).TotalLength()) != 40 {
		t.Errorf("ACK is %d bytes (total length %d), want 40", len(ack), header.IPv4(ack).TotalLength())
	}
	if at.SequenceNumber() != rcvNxt || at.AckNumber() != sndNxt+100 || at.WindowSize() != 900 || at.Flags() != header.TCPFlagAck {
		t.Errorf("ACK seq %d ack %d wnd %d flags %v", at.SequenceNumber(), at.AckNumber(), at.WindowSize(), at.Flags())
	}
	tcpChecksumOK(t, ack)

	// A window probe (SND.UNA-1) and an ACK at RCV.NXT are left alone.
	probe := segment(peer, us, pport, uport, rcvNxt-1, sndNxt+100, header.TCPFlagAck, 900, 0)
	atNxt := segment(peer, us, pport, uport, rcvNxt, sndNxt+100, header.TCPFlagAck, 900, 0)
	for name, b := range map[string][]byte{"probe": probe, "ACK at RCV.NXT": atNxt} {
		before := append([]byte(nil), b...)
		if z.ackFor(b) != nil || string(b) != string(before) {
			t.Errorf("%s: touched", name)
		}
	}

	// Other connections and non-ACK segments are left alone.
	other := segment(peer, us, pport+1, uport, rcvNxt+16, sndNxt, header.TCPFlagAck, 900, 0)
	rst := segment(peer, us, pport, uport, rcvNxt+16, sndNxt, header.TCPFlagRst|header.TCPFlagAck, 0, 0)
	for name, b := range map[string][]byte{"other connection": other, "RST": rst} {
		before := append([]byte(nil), b...)
		if z.ackFor(b) != nil || string(b) != string(before) {
			t.Errorf("%s: touched", name)
		}
	}

	// The window opens: everything passes untouched again.
	z.sent(segment(us, peer, uport, pport, sndNxt, rcvNxt, header.TCPFlagAck, 512, 0))
	if z.n.Load() != 0 {
		t.Errorf("%d connections still at zero window", z.n.Load())
	}
	pure = segment(peer, us, pport, uport, rcvNxt+16, sndNxt+100, header.TCPFlagAck, 900, 0)
	if z.ackFor(pure) != nil || binary.BigEndian.Uint32(pure[24:28]) != rcvNxt+16 {
		t.Error("open window: segment touched")
	}
}
