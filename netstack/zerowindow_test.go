package netstack

import (
	"bytes"
	"cmp"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// The tests in this file play the far end of one TCP connection by hand,
// segment by segment, against a stack whose application does not read, and
// check the two changes carried in third_party/gvisor (PATCHES.md there):
// the stack never moves the right edge of its receive window back, and at
// a zero window it still takes the ACK field of a segment.

// rawPeer is the far end of a TCP connection to a stack, written and read
// as raw IPv4 segments over the other end of the stack's pipe.
type rawPeer struct {
	t    *testing.T
	dev  *tun.PipeEnd
	segs chan []byte // TCP segments from the stack, copied
	// got counts the segments put in segs: once the stack is quiet its
	// TCP.SegmentsSent, which it counts after the write, equals got.
	got atomic.Uint64

	sndNxt uint32 // the peer's next sequence number
	rcvNxt uint32 // the next byte expected from the stack
	wscale uint8  // the window scale the stack announced

	edge    seqnum.Value // the furthest right edge the stack advertised
	retreat int          // how many times an advertised edge was behind edge
	window  uint16       // the window the peer advertises; 0 means 512
	closed  bool         // advertise a zero window instead
}

const (
	rawPeerPort  = 40000
	rawStackPort = 80
	rawPeerISS   = 1_000_000
)

// newRawPeer starts reading the stack's packets from dev; the reader ends
// when the test closes dev.
func newRawPeer(t *testing.T, dev *tun.PipeEnd) *rawPeer {
	p := &rawPeer{t: t, dev: dev, segs: make(chan []byte, 1024), sndNxt: rawPeerISS}
	done := make(chan struct{})
	t.Cleanup(func() {
		dev.Close()
		<-done
	})
	go func() {
		defer close(done)
		bufs := [][]byte{make([]byte, 65536)}
		sizes := []int{0}
		for {
			n, err := dev.Read(bufs, sizes)
			if err != nil {
				return
			}
			if n != 1 {
				continue
			}
			b := bufs[0][:sizes[0]]
			if header.IPVersion(b) != 4 || len(b) < header.IPv4MinimumSize+header.TCPMinimumSize {
				continue
			}
			ip := header.IPv4(b)
			if ip.TransportProtocol() != header.TCPProtocolNumber {
				continue
			}
			if ip.More() || ip.FragmentOffset() != 0 {
				// A segment too large for the MTU.
				t.Errorf("raw peer: an IP fragment (%d bytes at offset %d)", len(ip.Payload()), ip.FragmentOffset())
				continue
			}
			seg := header.TCP(ip.Payload())
			if seg.DestinationPort() != rawPeerPort {
				continue
			}
			p.got.Add(1)
			select {
			case p.segs <- append([]byte(nil), seg...):
			default:
				t.Error("raw peer: segment queue full")
				return
			}
		}
	}()
	return p
}

// next returns the stack's next segment and notes its window; it fails the
// test if none comes within 10 s (the stack's delayed ACK is far shorter).
func (p *rawPeer) next() header.TCP {
	p.t.Helper()
	s := p.nextWithin(10 * time.Second)
	if s == nil {
		p.t.Fatal("raw peer: no segment from the stack within 10 s")
	}
	return s
}

// nextWithin is next, but returns nil when no segment comes within d.
func (p *rawPeer) nextWithin(d time.Duration) header.TCP {
	select {
	case b := <-p.segs:
		s := header.TCP(b)
		if s.Flags().Contains(header.TCPFlagAck) && !s.Flags().Contains(header.TCPFlagSyn) {
			edge := seqnum.Value(s.AckNumber()).Add(seqnum.Size(s.WindowSize()) << p.wscale)
			if p.edge != 0 && edge.LessThan(p.edge) {
				p.retreat++
			}
			if p.edge == 0 || p.edge.LessThan(edge) {
				p.edge = edge
			}
		}
		if end := s.SequenceNumber() + uint32(len(s.Payload())); len(s.Payload()) > 0 && int32(end-p.rcvNxt) > 0 {
			p.rcvNxt = end
		}
		return s
	case <-time.After(d):
		return nil
	}
}

// send writes one segment from the peer to the stack. The peer's own
// receive window is p.window, by default 64 KiB (512 << 7).
func (p *rawPeer) send(flags header.TCPFlags, seq, ack uint32, opts, payload []byte) {
	p.t.Helper()
	if _, err := p.dev.Write([][]byte{p.packet(flags, seq, ack, opts, payload)}); err != nil {
		p.t.Fatalf("raw peer: write: %v", err)
	}
}

// packet is the IPv4 packet send writes.
func (p *rawPeer) packet(flags header.TCPFlags, seq, ack uint32, opts, payload []byte) []byte {
	thl := header.TCPMinimumSize + len(opts)
	b := make([]byte, header.IPv4MinimumSize+thl+len(payload))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)),
		TTL:         64,
		Protocol:    uint8(header.TCPProtocolNumber),
		SrcAddr:     tcpipAddr(peer4),
		DstAddr:     tcpipAddr(addrA4.Addr()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	s := header.TCP(b[header.IPv4MinimumSize:])
	win := cmp.Or(p.window, 512)
	if p.closed {
		win = 0
	}
	s.Encode(&header.TCPFields{
		SrcPort: rawPeerPort, DstPort: rawStackPort,
		SeqNum: seq, AckNum: ack, DataOffset: uint8(thl), Flags: flags, WindowSize: win,
	})
	copy(s[header.TCPMinimumSize:], opts)
	copy(s[thl:], payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(s)))
	xsum = checksum.Checksum(payload, xsum)
	s.SetChecksum(^s.CalculateChecksum(xsum))
	return b
}

// zeroWindowConn connects the raw peer to a listener on st, has the
// stack's application write toPeer bytes that the peer reads and does not
// acknowledge, then sends data the way Linux does (up to the right edge
// of the last window advertised, in segments of segSize bytes) until the
// stack advertises a zero window. It returns the stack's end and the
// stack's sequence number after its data.
func zeroWindowConn(t *testing.T, st *Stack, p *rawPeer, toPeer, segSize int) (tcpip.Endpoint, uint32) {
	t.Helper()
	s := st.Stack()
	// wscale 7 (from the 4 MiB maximum) and a window that fills quickly.
	rb := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 64 << 10, Max: 4 << 20}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rb); err != nil {
		t.Fatal(err)
	}
	// Handshake: MSS 1460 and window scale 7, no SACK, no timestamps.
	c, synack := rawAccept(t, st, p, []byte{2, 4, 0x05, 0xb4, 1, 3, 3, 7})
	opts := header.ParseSynOptions(synack.Options(), true)
	if opts.WS < 1 {
		t.Fatalf("stack announced window scale %d, want at least 1", opts.WS)
	}
	p.wscale = uint8(opts.WS)
	irs := p.rcvNxt

	// The stack sends toPeer bytes; the peer reads them and leaves them
	// unacknowledged.
	if n, err := c.Write(bytes.NewReader(make([]byte, toPeer)), tcpip.WriteOptions{}); err != nil || int(n) != toPeer {
		t.Fatalf("stack write: %d, %v", n, err)
	}
	for p.rcvNxt != irs+uint32(toPeer) {
		p.next()
	}

	// Fill the window one segment at a time, each up to the furthest
	// edge advertised, reading the stack's answers until one acknowledges
	// the segment or says the window is zero.
	for {
		n := min(segSize, int(uint32(p.edge)-p.sndNxt))
		if n > 0 {
			p.send(header.TCPFlagAck, p.sndNxt, irs, nil, make([]byte, n))
			p.sndNxt += uint32(n)
		}
		for {
			// A pure ACK, or the stack's retransmission of its
			// unacknowledged data carrying the ACK it delayed.
			s := p.next()
			if s.WindowSize() == 0 {
				return c, irs + uint32(toPeer)
			}
			if s.AckNumber() == p.sndNxt {
				break
			}
		}
	}
}

// rawAccept has the raw peer connect to a listener on st's port
// rawStackPort with a SYN carrying synOpts, completes the handshake and
// returns the accepted endpoint and the stack's SYN-ACK. The peer's
// sndNxt and rcvNxt are then past the handshake.
func rawAccept(t *testing.T, st *Stack, p *rawPeer, synOpts []byte) (tcpip.Endpoint, header.TCP) {
	t.Helper()
	l, ready := rawListen(t, st, rawStackPort)
	p.send(header.TCPFlagSyn, p.sndNxt, 0, synOpts, nil)
	synack := p.next()
	if synack.Flags() != header.TCPFlagSyn|header.TCPFlagAck {
		t.Fatalf("got flags %v, want SYN|ACK", synack.Flags())
	}
	p.sndNxt++
	p.rcvNxt = synack.SequenceNumber() + 1
	p.send(header.TCPFlagAck, p.sndNxt, p.rcvNxt, nil, nil)
	return acceptReady(t, l, ready), synack
}

// acceptReady waits until ready says a connection waits on l and accepts
// it; the connection is closed when the test ends.
func acceptReady(t *testing.T, l tcpip.Endpoint, ready <-chan struct{}) tcpip.Endpoint {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection to accept within 10 s")
	}
	c, _, err := l.Accept(nil)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// rawListen has st listen on port (a backlog of 16) and returns the
// listener, closed when the test ends, and a channel that receives when a
// connection waits to be accepted.
func rawListen(t *testing.T, st *Stack, port uint16) (tcpip.Endpoint, <-chan struct{}) {
	t.Helper()
	var wq waiter.Queue
	l, err := st.Stack().NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	if err := l.Bind(tcpip.FullAddress{Port: port}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(16); err != nil {
		t.Fatal(err)
	}
	we, ready := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&we)
	t.Cleanup(func() { wq.EventUnregister(&we) })
	return l, ready
}

// queueSize reads a queue size option of c.
func queueSize(t *testing.T, c tcpip.Endpoint, opt tcpip.SockOptInt) int {
	t.Helper()
	n, err := c.GetSockOptInt(opt)
	if err != nil {
		t.Fatalf("GetSockOptInt(%d): %v", opt, err)
	}
	return n
}

// TestZeroWindowEdgeNeverRetreats fills a stack's receive window with
// 1400-byte segments while its application does not read. The stack must
// never advertise a right edge (ACK + window << scale) behind one it
// advertised before, and must take every byte sent within an edge it
// advertised. Upstream gVisor rounded the scaled window down, so with
// every ACK the edge moved back by up to one scale unit, a remainder under
// one unit went out as a zero window, and segments the peer had sent up to
// the old edge were refused: the peer's SND.NXT, which Linux stamps on its
// ACKs, stayed beyond the stack's RCV.NXT (the TUN echo stall).
func TestZeroWindowEdgeNeverRetreats(t *testing.T) {
	st, dev := newSolo(t, nil)
	p := newRawPeer(t, dev)
	c, _ := zeroWindowConn(t, st, p, 1000, 1400)
	if p.retreat != 0 {
		t.Errorf("the stack moved its right edge back %d times (scale %d)", p.retreat, p.wscale)
	}
	sent := int(p.sndNxt - rawPeerISS - 1)
	waitFor(t, "the stack to take every byte sent within its window", func() bool {
		return queueSize(t, c, tcpip.ReceiveQueueSizeOption) == sent
	})
}

// TestZeroWindowACKProcessed checks RFC 9293 §3.10.7.4 at a zero window:
// "no segments will be acceptable, but special allowance should be made
// to accept valid ACKs". At the zero window the peer sends a segment
// stamped with its SND.NXT (the stack's RCV.NXT) that carries a byte the
// stack has no room for and a new ACK for the data the stack sent: the
// stack must take the ACK (its SND.UNA advances) and leave the byte.
// Upstream gVisor dropped the whole segment, so a peer whose segments at a
// zero window carry data (a persist probe with a byte of data, as BSD and
// Windows send) or are stamped beyond RCV.NXT never had its ACKs seen.
func TestZeroWindowACKProcessed(t *testing.T) {
	rec := &recorder{}
	st, dev := newSolo(t, func(o *Options) { o.Tracer = trace.New(rec) })
	p := newRawPeer(t, dev)
	c, sndNxt := zeroWindowConn(t, st, p, 1000, 1400)
	sent := int(p.sndNxt - rawPeerISS - 1)
	waitFor(t, "the stack to take every byte sent within its window", func() bool {
		return queueSize(t, c, tcpip.ReceiveQueueSizeOption) == sent
	})
	// The stack's SND.UNA after each segment it received, from its TCP
	// state events.
	acked := func() bool {
		for _, e := range rec.all() {
			if v, ok := field(e, "snd_una"); ok && e.Layer == trace.LayerTCP && v == sndNxt {
				return true
			}
		}
		return false
	}
	if acked() {
		t.Fatal("the stack's data was acknowledged before the test sent the ACK")
	}
	p.send(header.TCPFlagAck|header.TCPFlagPsh, p.sndNxt, sndNxt, nil, []byte{'x'})
	waitFor(t, "the ACK at the zero window to advance the stack's SND.UNA (dropped with its segment?)", acked)
	if n := queueSize(t, c, tcpip.ReceiveQueueSizeOption); n != sent {
		t.Errorf("the stack has %d bytes to read, want %d: it took data at a zero window", n, sent)
	}
}
