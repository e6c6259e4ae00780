package netstack

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// TestHoldContinue holds a data segment at a link hook point, out of a's
// egress or into b's ingress: it does not arrive, is counted as held (not
// dropped) and traced as a "held" step; Continue sends it on, and it
// arrives and is acknowledged.
func TestHoldContinue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		dir     trace.Dir
		offload bool // a pair with offloads: the held packet is a super-packet
		v6      bool
		ether   bool // an Ethernet pair
	}{
		{"out", trace.Out, false, false, false},
		{"in", trace.In, false, false, false},
		{"out/offload", trace.Out, true, false, false},
		{"in/offload", trace.In, true, false, false},
		{"out/v6/offload", trace.Out, true, true, false},
		{"in/v6", trace.In, false, true, false},
		{"out/ethernet", trace.Out, false, false, true},
		{"in/ethernet", trace.In, false, false, true},
		{"out/v6/ethernet", trace.Out, false, true, true},
	} {
		dir := c.dir
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var rec recorder
			tr := trace.New(&rec)
			traced := func(which string, o *Options) { o.Tracer = tr }
			a, b := newPair(t, tun.PipeOptions{Offload: c.offload}, traced)
			if c.ether {
				a, b = newEtherPair(t, traced)
			}
			srv, proto := addrB4, tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber)
			if c.v6 {
				srv, proto = addrB6, ipv6.ProtocolNumber
			}
			server, client := connect(t, a, b, srv, proto)

			// Hold every segment with data, retransmissions too, so
			// that only Continue can deliver it.
			held := make(chan []byte, 1)
			holder := hook.NewChain(hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
				if p.Headers().Proto != 6 || p.Headers().Payload == 0 {
					return hook.Verdict{}
				}
				select {
				case held <- bytes.Clone(p.Data):
				default:
				}
				return hook.Verdict{Action: hook.Hold, Reason: "step"}
			}))
			// a's ingress sees b's ACKs.
			var acked atomic.Uint32
			ackSeen := make(chan struct{}, 1)
			a.SetIngress(hook.NewChain(hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
				if h := p.Headers(); h.Proto == 6 && h.Flags&0x10 != 0 {
					acked.Store(h.Ack)
					select {
					case ackSeen <- struct{}{}:
					default:
					}
				}
				return hook.Verdict{}
			})))
			holdAt, node, hookName := a, "a", hook.LinkEgress
			if dir == trace.Out {
				a.SetEgress(holder)
			} else {
				holdAt, node, hookName = b, "b", hook.LinkIngress
				b.SetIngress(holder)
			}

			msg := []byte("held segment")
			if c.offload {
				msg = bytes.Repeat([]byte("super-packet "), 600)
			}
			if _, err := client.Write(msg); err != nil {
				t.Fatal(err)
			}
			pkt := <-held
			h := hook.ParseHeaders(pkt)
			if c.offload {
				if len(pkt) <= 1500 {
					t.Fatalf("held a packet of %d bytes, want a super-packet", len(pkt))
				}
				msg = msg[:h.Payload] // what the held packet carries
			}
			if h.Payload != len(msg) {
				t.Fatalf("held a segment of %d bytes, want %d", h.Payload, len(msg))
			}

			// Not arrived: the server has nothing to read.
			_ = server.SetReadDeadline(time.Now())
			buf := make([]byte, len(msg))
			if n, err := server.Read(buf); n != 0 || !isTimeout(err) {
				t.Fatalf("server read %d bytes (%v) while the segment was held", n, err)
			}
			// The hook hands the packet over before it returns its
			// verdict, and the stack counts the hold after that.
			waitFor(t, "the hold counted", func() bool { return holdAt.Stats().Held != 0 })
			s := holdAt.Stats()
			if s.Held == 0 || s.Dropped() != 0 {
				t.Fatalf("held %d, dropped %d (%v); want held, none dropped", s.Held, s.Dropped(), s.Drops)
			}
			if n := verdicts(holdAt, hookName, "hold", "step"); n == 0 {
				t.Errorf("no hold verdict counted: %v", s.Verdicts)
			}
			tr.Flush()
			if !tracedHeld(rec.all(), node, dir) {
				t.Errorf("no link %s \"held\" step traced", dir)
			}

			if err := holdAt.Continue(dir, pkt); err != nil {
				t.Fatalf("Continue: %v", err)
			}
			_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(server, buf[:len(msg)]); err != nil || !bytes.Equal(buf[:len(msg)], msg) {
				t.Fatalf("server read %q, %v; want %q", buf[:len(msg)], err, msg)
			}
			end := h.Seq + uint32(len(msg))
			for int32(acked.Load()-end) < 0 {
				select {
				case <-ackSeen:
				case <-time.After(10 * time.Second):
					t.Fatalf("the continued segment (end %d) was never acknowledged (ack %d)", end, acked.Load())
				}
			}
			if got := holdAt.Stats().Continued; got != 1 {
				t.Errorf("Continued = %d, want 1", got)
			}
			// Going in, the packet sent on is traced as it went: the
			// device's read was traced before the hold. (Going out, the
			// device write traces it as a packet.)
			tr.Flush()
			if dir == trace.In && !tracedContinued(rec.all(), node, pkt) {
				t.Errorf("no link \"continued\" step with the packet's bytes traced")
			}
		})
	}
}

// tracedHeld reports whether events hold a link "held" step of node in
// direction dir.
func tracedHeld(events []trace.Event, node string, dir trace.Dir) bool {
	for _, e := range events {
		if e.Layer == trace.LayerLink && e.Name == "held" && e.Dir == dir && e.Node == node {
			return true
		}
	}
	return false
}

// tracedContinued reports whether events hold node's link "continued"
// step of pkt, with its TCP fields.
func tracedContinued(events []trace.Event, node string, pkt []byte) bool {
	for _, e := range events {
		if e.Layer == trace.LayerLink && e.Name == "continued" && e.Node == node && bytes.Equal(e.Data, pkt) && e.Field("flags") != nil {
			return true
		}
	}
	return false
}

// TestContinueRefuses: Continue refuses a malformed packet, one over the
// MTU on a device without offload, a direction that is neither in nor
// out, and any packet once the stack is closed.
func TestContinueRefuses(t *testing.T) {
	t.Parallel()
	st, _ := newSolo(t, nil)
	good := echoRequest4(addrB4.Addr(), addrA4.Addr(), 1, 1, []byte("x"))
	big := echoRequest4(addrB4.Addr(), addrA4.Addr(), 1, 2, make([]byte, 1500))
	for _, c := range []struct {
		name string
		dir  trace.Dir
		pkt  []byte
	}{
		{"empty", trace.Out, nil},
		{"bad version", trace.Out, []byte{0x10, 0, 0, 0}},
		{"truncated", trace.In, good[:len(good)-1]},
		{"over MTU", trace.Out, big},
		{"over MTU in", trace.In, big},
		{"no direction", "", good},
		{"unknown direction", "sideways", good},
	} {
		if err := st.Continue(c.dir, c.pkt); !errors.Is(err, ErrContinue) {
			t.Errorf("%s: Continue = %v, want ErrContinue", c.name, err)
		}
	}
	if s := st.Stats(); s.Continued != 0 || s.PacketsOut != 0 {
		t.Errorf("refused packets went on: %+v", s)
	}
	if err := st.Continue(trace.Out, good); err != nil {
		t.Fatalf("Continue(good) = %v", err)
	}

	// On an Ethernet device a packet goes out only to where a held frame
	// went: nothing else says its link address.
	eth, _ := newEtherSolo(t, nil)
	if err := eth.Continue(trace.Out, good); !errors.Is(err, ErrContinue) {
		t.Errorf("Continue on Ethernet with nothing held = %v, want ErrContinue", err)
	}
	if err := eth.Continue(trace.In, good); err != nil {
		t.Errorf("Continue(in) on Ethernet = %v", err)
	}
	// ... and one going in is framed to this host, so the stack takes it.
	if s := eth.Stats(); s.PacketsIn != 1 || s.Dropped() != 0 {
		t.Errorf("Continue(in) on Ethernet: %d packets in, drops %v; want it taken", s.PacketsIn, s.Drops)
	}

	st.Close()
	if err := st.Continue(trace.Out, good); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Continue after Close = %v, want net.ErrClosed", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// FuzzContinue: whatever the bytes, Continue sends a packet on or refuses
// it with an error, and never panics.
func FuzzContinue(f *testing.F) {
	good := echoRequest4(addrB4.Addr(), addrA4.Addr(), 1, 1, []byte("x"))
	f.Add(good, true)
	f.Add(good[:20], false)
	f.Add([]byte{0x45}, true)
	f.Add([]byte{0x60, 0, 0, 0, 0xff, 0xff, 6, 64}, false)
	f.Add(make([]byte, 2000), true)
	f.Add([]byte{}, false)
	da, db := tun.Pipe(tun.PipeOptions{})
	st, err := New(Options{Device: da, Addrs: []netip.Prefix{addrA4, addrA6}})
	if err != nil {
		f.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		bufs, sizes := [][]byte{make([]byte, 1500)}, []int{0}
		for {
			if _, err := db.Read(bufs, sizes); err != nil {
				return
			}
		}
	}()
	f.Cleanup(func() {
		st.Close()
		db.Close()
		<-drained
	})
	f.Fuzz(func(t *testing.T, b []byte, out bool) {
		dir := trace.In
		if out {
			dir = trace.Out
		}
		before := st.Stats().Continued
		err := st.Continue(dir, b)
		if after := st.Stats().Continued; (err == nil) != (after == before+1) {
			t.Fatalf("Continue = %v, continued %d -> %d", err, before, after)
		}
	})
}
