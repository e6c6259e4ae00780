package trace

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// TestTCPOptionsMalformed: options tcpdump decodes, in a size it does not
// decode, are named by kind and length: a SACK whose blocks are not whole,
// a fast open cookie of odd length or one too short or too long.
func TestTCPOptionsMalformed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts []byte
		want string
	}{
		{[]byte{5, 6, 0, 0, 0, 1}, "opt-5:4"},
		{[]byte{5, 14, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}, "opt-5:12"},
		{[]byte{34, 7, 1, 2, 3, 4, 5}, "opt-34:5"},
		{[]byte{34, 3, 1}, "opt-34:1"},
		{append([]byte{34, 20}, make([]byte, 18)...), "opt-34:18"},
	} {
		if got := string(appendTCPOptions(nil, tc.opts, 0)); got != tc.want {
			t.Errorf("options %x: %q, want %q", tc.opts, got, tc.want)
		}
	}
}

// TestDescribeTCPShortOffset: a data offset below the 20 bytes of the
// fixed header is described as such, not read as options.
func TestDescribeTCPShortOffset(t *testing.T) {
	t.Parallel()
	b := tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, 0x18, "hello")
	b[32] = 4 << 4 // 16 bytes
	p := DescribePacket(b, nil)
	if !strings.Contains(p.Summary, "tcp bad-offset 16, length 25") {
		t.Errorf("data offset 16: %q, want it named bad", p.Summary)
	}
}

// unknownBases knows no connection, and says so with bases that must not
// be used.
type unknownBases struct{}

func (unknownBases) SeqBases(netip.AddrPort, netip.AddrPort, uint8, uint32, uint32) (uint32, bool, uint32, bool) {
	return 999, false, 777, false
}

// TestDescribeRelativeOnlyWhenKnown: sequence and acknowledgment numbers
// are relative only when the bases say they know them, and the
// acknowledgment only when ACK is set (a SYN's ack field means nothing).
func TestDescribeRelativeOnlyWhenKnown(t *testing.T) {
	t.Parallel()
	data := tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001, 0x18, "hello")
	p := DescribePacket(data, unknownBases{})
	if p.RelSeq.Set || p.RelAck.Set || !strings.Contains(p.Summary, "seq 1001:1006, ack 5001,") {
		t.Errorf("bases not known: %q, rel_seq %v rel_ack %v; want absolute numbers", p.Summary, p.RelSeq, p.RelAck)
	}
	syn := DescribePacket(tcpPacket(ipClient, ipServer, 40000, 80, 1000, 5001, 0x02, ""), fixedBases{})
	if syn.RelAck.Set || strings.Contains(syn.Summary, "ack") {
		t.Errorf("SYN without ACK: %q, rel_ack %v; want no ack", syn.Summary, syn.RelAck)
	}
}

// TestPCAPNGSnapLen: a packet longer than the snapshot length is cut to
// it, and its block says how long it was.
func TestPCAPNGSnapLen(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	png := NewPCAPNG(&buf)
	e := pkt("client", Out, "10.0.0.1:5000->10.0.0.2:80", 0, 0)
	e.Data = make([]byte, pngSnapLen+100)
	png.Emit(&e)
	if err := png.Close(); err != nil {
		t.Fatal(err)
	}
	var epb *pngBlock
	for _, b := range parsePCAPNG(t, buf.Bytes()) {
		if b.typ == pngEPB {
			epb = &b
		}
	}
	if epb == nil {
		t.Fatal("no packet block")
	}
	capLen, origLen := binary.LittleEndian.Uint32(epb.body[12:]), binary.LittleEndian.Uint32(epb.body[16:])
	if capLen != pngSnapLen || origLen != pngSnapLen+100 {
		t.Errorf("captured %d of %d bytes, want %d of %d", capLen, origLen, pngSnapLen, pngSnapLen+100)
	}
}
