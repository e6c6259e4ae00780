package ui

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/tun"
)

// segment6Ext is an IPv6 TCP segment from [fd00::2]:40000 to [fd00::1]:80
// behind a destination options header, with a complete checksum.
func segment6Ext(payload []byte) []byte {
	const ext = 8
	b := make([]byte, header.IPv6MinimumSize+ext+header.TCPMinimumSize+len(payload))
	src, dst := tcpip.AddrFrom16([16]byte{0: 0xfd, 15: 2}), tcpip.AddrFrom16([16]byte{0: 0xfd, 15: 1})
	header.IPv6(b).Encode(&header.IPv6Fields{
		PayloadLength:     uint16(len(b) - header.IPv6MinimumSize),
		TransportProtocol: tcpip.TransportProtocolNumber(header.IPv6DestinationOptionsExtHdrIdentifier),
		HopLimit:          64, SrcAddr: src, DstAddr: dst,
	})
	// next header TCP, length 0 (8 bytes), PadN over the other 6
	copy(b[header.IPv6MinimumSize:], []byte{uint8(header.TCPProtocolNumber), 0, 1, 4, 0, 0, 0, 0})
	tcp := header.TCP(b[header.IPv6MinimumSize+ext:])
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 80, SeqNum: 1, AckNum: 1,
		DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagAck, WindowSize: 502})
	copy(tcp[header.TCPMinimumSize:], payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return b
}

// TestUnsendableEditRefusedTSO: on a stack with TCP segmentation offload
// an edit that makes a held packet one the stack would not send on (over
// the MTU behind an IPv6 extension header, which the segmenter does not
// cut) is a 400 that says why, and the packet stays held; released as it
// was, it goes on. The same payload on a plain IPv6 segment would be a
// super-packet the stack cuts.
func TestUnsendableEditRefusedTSO(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{MTU: 1500, Offload: true})
	t.Cleanup(func() { db.Close() })
	st, err := netstack.New(netstack.Options{Device: da, Node: "solo",
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fd00::1/64")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if st.Offloads()&tun.OffloadTSO6 == 0 {
		t.Fatalf("offloads %v: want TSO", st.Offloads())
	}
	s, _ := New(Options{Live: true, Run: true})
	if err := s.AddNode(Node{Name: "solo", Stack: st}); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	if code := api(t, s, "POST", base+"/api/hold", `{"point":"link-ingress","node":"solo","filter":"tcp"}`, nil); code != http.StatusOK {
		t.Fatalf("hold: %d", code)
	}
	pkt := segment6Ext([]byte("hello"))
	if _, err := db.Write([][]byte{pkt}); err != nil {
		t.Fatal(err)
	}
	var h Hold
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if hs := s.Holds(); len(hs.Holds) == 1 {
			h = hs.Holds[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the segment was not held")
		}
	}
	long := hex.EncodeToString(make([]byte, 3000))
	for _, body := range []string{
		`{"action":"release","edit":{"payload_hex":"` + long + `"}}`,
		`{"action":"duplicate","edit":{"payload_hex":"` + long + `"}}`,
		`{"action":"delay","delay_ms":1,"edit":{"payload_hex":"` + long + `"}}`,
	} {
		var e struct{ Error string }
		code := api(t, s, "POST", fmt.Sprintf("%s/api/holds/%d", base, h.ID), body, &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, "IPv6 extension headers") || !strings.Contains(e.Error, "stays held") {
			t.Errorf("%.40s…: %d %q, want 400 saying the stack would not send it", body, code, e.Error)
		}
		if hs := s.Holds(); len(hs.Holds) != 1 || hs.Holds[0].ID != h.ID {
			t.Fatalf("after a refused edit the queue holds %+v, want unit %d", hs.Holds, h.ID)
		}
	}
	if st.Stats().Continued != 0 {
		t.Errorf("a refused edit went on: %+v", st.Stats())
	}
	var out Outcome
	if code := api(t, s, "POST", fmt.Sprintf("%s/api/holds/%d", base, h.ID), `{"action":"release"}`, &out); code != http.StatusOK || out.Failed {
		t.Fatalf("release as held: %d %+v", code, out)
	}
	if n := st.Stats().Continued; n != 1 && !out.Pending {
		t.Errorf("released as held: %d packets continued, want 1", n)
	}
}
