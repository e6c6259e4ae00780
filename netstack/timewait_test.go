package netstack

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestTimeWaitReopen checks glassnet patch 22 in third_party/gvisor
// (PATCHES.md there): a client that reopens a connection to a port whose
// last connection the stack holds in TIME-WAIT (the stack closed first, as
// a WebSocket server does) gets the new connection at once, as from Linux,
// even with an initial sequence number behind the old RCV.NXT. With
// timestamps, its SYN's newer timestamp is enough (RFC 6191); without, the
// stack answers the SYN with an ACK, the client's RST at RCV.NXT ends
// TIME-WAIT, and the client's SYN sent again finds the listener. Upstream
// dropped such a SYN without a word, and the client's connect waited out
// TIME-WAIT (60 s). The peer is played by hand, from one port throughout.
func TestTimeWaitReopen(t *testing.T) {
	for _, ts := range []bool{true, false} {
		name := map[bool]string{true: "timestamps", false: "no-timestamps"}[ts]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, dev := newSolo(t, nil)
			p := newRawPeer(t, dev)
			l, ready := rawListen(t, st, rawStackPort)
			tsVal := uint32(1000)
			opts := func(syn bool) []byte {
				tsVal++
				switch {
				case ts && syn:
					return synOptions(tsVal)
				case ts:
					return tsOption(tsVal, 0)
				case syn:
					return []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7}
				}
				return nil
			}
			// connect opens the connection from the peer's port with
			// initial sequence number iss and returns the SYN-ACK.
			connect := func(iss uint32) header.TCP {
				t.Helper()
				p.sndNxt = iss
				p.send(header.TCPFlagSyn, p.sndNxt, 0, opts(true), nil)
				synack := p.next()
				if synack.Flags() != header.TCPFlagSyn|header.TCPFlagAck || synack.AckNumber() != iss+1 {
					t.Fatalf("SYN at %d: got %v ack %d, want a SYN-ACK of it", iss, synack.Flags(), synack.AckNumber())
				}
				p.sndNxt++
				p.rcvNxt = synack.SequenceNumber() + 1
				p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, opts(false), nil)
				return synack
			}

			// The first connection; the stack closes it first, so it
			// is the stack's end that waits in TIME-WAIT.
			connect(rawPeerISS)
			c := acceptReady(t, l, ready)
			c.Close()
			fin := p.next()
			if !fin.Flags().Contains(header.TCPFlagFin) {
				t.Fatalf("got %v, want the stack's FIN", fin.Flags())
			}
			p.rcvNxt = fin.SequenceNumber() + 1
			p.send(header.TCPFlagFin|header.TCPFlagAck, p.sndNxt, p.rcvNxt, opts(false), nil)
			p.sndNxt++
			if ack := p.next(); ack.Flags() != header.TCPFlagAck || ack.AckNumber() != p.sndNxt {
				t.Fatalf("got %v ack %d, want the ACK of the peer's FIN (%d): TIME-WAIT", ack.Flags(), ack.AckNumber(), p.sndNxt)
			}
			rcvNxt := p.sndNxt

			// The peer reopens from the same port with an initial
			// sequence number behind RCV.NXT.
			iss := rcvNxt - 100_000
			if !ts {
				p.send(header.TCPFlagSyn, iss, 0, opts(true), nil)
				ack := p.next()
				if ack.Flags() != header.TCPFlagAck || ack.AckNumber() != rcvNxt {
					t.Fatalf("SYN behind RCV.NXT in TIME-WAIT: got %v ack %d, want an ACK of %d", ack.Flags(), ack.AckNumber(), rcvNxt)
				}
				// The peer, in SYN-SENT, answers the ACK that is not
				// of its SYN with an RST at that ACK's number, and
				// sends its SYN again, the first time 1 s later; here
				// as soon as the stack has closed the old connection.
				p.send(header.TCPFlagRst, ack.AckNumber(), 0, nil, nil)
				for deadline := time.Now().Add(10 * time.Second); st.Stack().Stats().TCP.CurrentConnected.Value() != 0; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("TIME-WAIT still there 10 s after the peer's RST at RCV.NXT")
					}
				}
			}
			connect(iss)
			acceptReady(t, l, ready)
		})
	}
}

// TestCloseTimeWaitQuietly checks glassnet patch 28: closing the stack
// resets a connection that is still open, but one in TIME-WAIT (both sides
// closed, the last ACK sent) ends without a RST, as Linux purges TIME-WAIT.
// Upstream reset it too, and a peer that had closed cleanly saw a RST.
func TestCloseTimeWaitQuietly(t *testing.T) {
	for _, timeWait := range []bool{true, false} {
		name := map[bool]string{true: "time-wait", false: "established"}[timeWait]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st, dev := newSolo(t, nil)
			p := newRawPeer(t, dev)
			l, ready := rawListen(t, st, rawStackPort)
			p.sndNxt = rawPeerISS
			p.send(header.TCPFlagSyn, p.sndNxt, 0, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7}, nil)
			synack := p.next()
			p.sndNxt++
			p.rcvNxt = synack.SequenceNumber() + 1
			p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
			c := acceptReady(t, l, ready)
			if timeWait {
				c.Close()
				fin := p.next()
				if !fin.Flags().Contains(header.TCPFlagFin) {
					t.Fatalf("got %v, want the stack's FIN", fin.Flags())
				}
				p.rcvNxt = fin.SequenceNumber() + 1
				p.send(header.TCPFlagFin|header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
				p.sndNxt++
				if ack := p.next(); ack.Flags() != header.TCPFlagAck {
					t.Fatalf("got %v, want the ACK of the peer's FIN", ack.Flags())
				}
			}
			st.Close()
			s := p.nextWithin(200 * time.Millisecond)
			gotRST := s != nil && s.Flags().Contains(header.TCPFlagRst)
			if gotRST != !timeWait {
				sent := "nothing"
				if s != nil {
					sent = s.Flags().String()
				}
				t.Fatalf("%s: the stack's Close sent %s, RST wanted: %v", name, sent, !timeWait)
			}
		})
	}
}
