package netstack

import (
	"fmt"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"

	"github.com/glassnet/glassnet/tun"
)

// TestMSSCountsOptionsSent checks glassnet patch 20 in third_party/gvisor
// (PATCHES.md there): at MTU 1500 with timestamps a full data segment
// carries 1448 bytes, as Linux's does (upstream kept room for four SACK
// blocks in every segment and sent 1420), and a data segment sent while
// the stack has SACK blocks to report still fits the MTU. On a device with
// segmentation offload the stack's segments are cut smaller to carry the
// blocks (Linux's tcp_current_mss); without offload a full segment goes
// without blocks and the last, shorter one carries them. The peer, played
// by hand, reads the wire's MTU-sized packets in both cases.
func TestMSSCountsOptionsSent(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			t.Parallel()
			da, db := tun.Pipe(tun.PipeOptions{Offload: offload})
			t.Cleanup(func() { db.Close() })
			st := mustNew(t, Options{Device: da, Addrs: []netip.Prefix{addrA4, addrA6}, Node: "solo", Clock: faketime.NewManualClock()})
			p := newRawPeer(t, db)
			l, ready := rawListen(t, st, rawStackPort)

			// SYN: MSS 1460, window scale 7, timestamps, SACK permitted.
			p.send(header.TCPFlagSyn, p.sndNxt, 0, append(synOptions(1000), 1, 1, 4, 2), nil)
			synack := p.next()
			if o := header.ParseSynOptions(synack.Options(), true); !o.TS || !o.SACKPermitted {
				t.Fatalf("SYN-ACK options %+v: want timestamps and SACK permitted", o)
			}
			tsEcr := header.ParseSynOptions(synack.Options(), true).TSVal
			p.sndNxt++
			p.rcvNxt = synack.SequenceNumber() + 1
			p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(1001, tsEcr), nil)
			c := acceptReady(t, l, ready)

			// write has the stack send n bytes and returns the segments
			// that carried them, each checked against the MTU.
			write := func(n int) []header.TCP {
				t.Helper()
				writeZeros(t, c, n)
				var segs []header.TCP
				for end := p.rcvNxt + uint32(n); p.rcvNxt != end; {
					s := p.next()
					if len(s.Payload()) == 0 {
						continue
					}
					if ip := header.IPv4MinimumSize + len(s); ip > 1500 {
						t.Errorf("a data segment of %d bytes with %d bytes of options: %d-byte packet on a 1500-byte MTU", len(s.Payload()), len(s.Options()), ip)
					}
					segs = append(segs, s)
				}
				return segs
			}
			sacks := func(s header.TCP) []header.SACKBlock { return header.ParseTCPOptions(s.Options()).SACKBlocks }

			segs := write(4000)
			if got := len(segs[0].Payload()); got != 1448 {
				t.Errorf("first segment of a 4000-byte write carries %d bytes, want 1448 (MTU 1500 less 20 + 20 + 12 of timestamps)", got)
			}

			// Data out of order: the stack reports it at once in a pure
			// ACK's SACK block, and in the data it sends next.
			p.send(header.TCPFlagAck, p.sndNxt+100, p.rcvNxt, tsOption(1002, tsEcr), make([]byte, 100))
			dup := p.next()
			want := header.SACKBlock{Start: seqnum.Value(p.sndNxt + 100), End: seqnum.Value(p.sndNxt + 200)}
			if b := sacks(dup); len(dup.Payload()) != 0 || len(b) != 1 || b[0] != want {
				t.Fatalf("answer to data out of order: %d bytes, SACK %v; want a pure ACK with SACK %v", len(dup.Payload()), b, want)
			}

			segs = write(4000)
			var with []int
			for _, s := range segs {
				if b := sacks(s); len(b) == 1 && b[0] == want {
					with = append(with, len(s.Payload()))
				} else if offload {
					t.Errorf("with offload, a %d-byte segment without the SACK block", len(s.Payload()))
				} else if len(s.Payload()) != 1448 {
					t.Errorf("without offload, a %d-byte segment without the SACK block; only full ones (1448) go without it", len(s.Payload()))
				}
			}
			if len(with) == 0 {
				t.Errorf("no data segment carried the SACK block")
			}
			if offload && len(with) > 0 && with[0] != 1448-12 {
				t.Errorf("with offload, the first segment carrying a SACK block has %d bytes, want 1436 (1448 less 12 for the block)", with[0])
			}
		})
	}
}
