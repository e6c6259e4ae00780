package netstack

import (
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/tun"
)

// TestSYNCookieKeepsOptions checks glassnet patch 50 in third_party/gvisor
// (PATCHES.md there): a connection a SYN cookie opened keeps the window
// scale and the SACK permission of its SYN, carried in the low bits of the
// SYN-ACK's timestamp as Linux carries them. Upstream answered a cookie's
// SYN without window scaling or SACK: the peer's 64 KiB window (512 << 7)
// read as 512 bytes, and the stack's own window could not pass 64 KiB. A
// SYN without timestamps has nowhere to keep them and goes without.
func TestSYNCookieKeepsOptions(t *testing.T) {
	t.Parallel()
	cookies := func(t *testing.T) (*Stack, *rawPeer) {
		t.Helper()
		da, db := tun.Pipe(tun.PipeOptions{})
		t.Cleanup(func() { db.Close() })
		st := mustNew(t, Options{Device: da, Addrs: []netip.Prefix{addrA4, addrA6}, Node: "solo", Clock: faketime.NewManualClock()})
		always := tcpip.TCPAlwaysUseSynCookies(true)
		if err := st.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, &always); err != nil {
			t.Fatal(err)
		}
		return st, newRawPeer(t, db)
	}

	t.Run("timestamps", func(t *testing.T) {
		t.Parallel()
		st, p := cookies(t)
		l, ready := rawListen(t, st, rawStackPort)
		// SYN: MSS 1460, window scale 7, timestamps, SACK permitted.
		p.send(header.TCPFlagSyn, p.sndNxt, 0, append(synOptions(1000), 1, 1, 4, 2), nil)
		synack := p.next()
		o := header.ParseSynOptions(synack.Options(), true)
		if !o.TS || !o.SACKPermitted || o.WS < 1 {
			t.Fatalf("a cookie's SYN-ACK to a SYN with window scale 7, SACK and timestamps has options %+v: want all three", o)
		}
		if got := o.TSVal & 63; got != 7|1<<4 {
			t.Errorf("the SYN-ACK's timestamp %#x carries %#x in its low six bits, want the scale 7 and the SACK bit (%#x)", o.TSVal, got, 7|1<<4)
		}
		if n := st.Stack().Stats().TCP.ListenOverflowSynCookieSent.Value(); n != 1 {
			t.Fatalf("SYN cookies sent: %d, want 1", n)
		}
		p.wscale = uint8(o.WS)
		p.sndNxt++
		p.rcvNxt = synack.SequenceNumber() + 1
		p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(1001, o.TSVal), nil)
		c := acceptReady(t, l, ready)
		if !c.(*tcp.Endpoint).SACKPermitted {
			t.Error("the connection a cookie opened does not use SACK")
		}

		// The stack's first flight fills its initial window of ten
		// segments: the peer's 512 is scaled by 7. Its timestamps go on
		// from the SYN-ACK's, and its window is scaled by what it
		// announced.
		writeZeros(t, c, 64<<10)
		sent := 0
		for {
			s := p.nextWithin(200 * time.Millisecond)
			if s == nil {
				break
			}
			sent += len(s.Payload())
			so := header.ParseTCPOptions(s.Options())
			if !so.TS || so.TSVal < o.TSVal {
				t.Fatalf("a data segment's timestamp %+v is before the SYN-ACK's %d", so, o.TSVal)
			}
			if w := int(s.WindowSize()) << o.WS; w <= 0xffff {
				t.Errorf("a data segment advertises %d << %d = %d bytes: no more than an unscaled window", s.WindowSize(), o.WS, w)
			}
		}
		if sent < 10*1000 {
			t.Errorf("the stack sent %d bytes into the peer's window of 512 << 7 before an ACK: it read the window unscaled", sent)
		}
	})

	t.Run("no timestamps", func(t *testing.T) {
		t.Parallel()
		st, p := cookies(t)
		l, ready := rawListen(t, st, rawStackPort)
		// MSS 1460, window scale 7, SACK permitted, no timestamps.
		p.send(header.TCPFlagSyn, p.sndNxt, 0, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7, 1, 1, 4, 2}, nil)
		synack := p.next()
		if o := header.ParseSynOptions(synack.Options(), true); o.TS || o.SACKPermitted || o.WS >= 0 {
			t.Fatalf("a cookie's SYN-ACK to a SYN without timestamps has options %+v: want none of them", o)
		}
		p.sndNxt++
		p.rcvNxt = synack.SequenceNumber() + 1
		p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
		if c := acceptReady(t, l, ready); c.(*tcp.Endpoint).SACKPermitted {
			t.Error("a connection without timestamps opened by a cookie uses SACK, which nothing kept")
		}
	})

	t.Run("no window scale", func(t *testing.T) {
		t.Parallel()
		st, p := cookies(t)
		l, ready := rawListen(t, st, rawStackPort)
		// MSS 1460 and timestamps: no window scale, no SACK.
		p.send(header.TCPFlagSyn, p.sndNxt, 0, append([]byte{2, 4, 0x05, 0xb4}, tsOption(1000, 0)...), nil)
		synack := p.next()
		o := header.ParseSynOptions(synack.Options(), true)
		if !o.TS || o.SACKPermitted || o.WS >= 0 {
			t.Fatalf("a cookie's SYN-ACK to a SYN with only timestamps has options %+v: want timestamps alone", o)
		}
		if got := o.TSVal & 63; got != 0xf {
			t.Errorf("the SYN-ACK's timestamp %#x carries %#x in its low six bits, want 0xf (no scale, no SACK)", o.TSVal, got)
		}
		p.sndNxt++
		p.rcvNxt = synack.SequenceNumber() + 1
		p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, tsOption(1001, o.TSVal), nil)
		c := acceptReady(t, l, ready)
		// Unscaled, the peer's window is 512 bytes: one segment of it.
		writeZeros(t, c, 4096)
		if s := p.next(); len(s.Payload()) != 512 {
			t.Errorf("into an unscaled window of 512 the stack sent %d bytes", len(s.Payload()))
		}
	})
}
