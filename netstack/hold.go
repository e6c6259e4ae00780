package netstack

import (
	"errors"
	"fmt"
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// Holding a packet at a link hook point, and sending it on later.
//
// A link hook (SetEgress, SetIngress) that returns
// hook.Verdict{Action: hook.Hold} takes the packet out of the path: it is
// not a drop (Stats.Drops does not count it) but a held packet
// (Stats.Held, and a trace.LayerLink step named "held"). The endpoint
// keeps nothing: a hook that means to send the packet on keeps its own
// copy of p.Data, since the buffer is reused once the hook returns, and
// later calls Continue with it. Continue sends the packet on from the
// same hook point, as if the hook had passed it: at trace.Out it goes to
// the device (the observer, the trace and the capture see it as sent), at
// trace.In it goes to the stack. The packet may have been changed in the
// meantime; Continue checks it again.
//
//	var held [][]byte
//	st.SetEgress(hook.NewChain(hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
//		held = append(held, bytes.Clone(p.Data))
//		return hook.Verdict{Action: hook.Hold, Reason: "step"}
//	})))
//	...
//	err := st.Continue(trace.Out, held[0])

// ErrContinue is the error Continue wraps for a packet it refuses.
var ErrContinue = errors.New("netstack: cannot continue packet")

// Continue sends pkt, an IP packet (IPv4 or IPv6, as a link hook sees
// it), on from the link hook point of dir: trace.Out writes it to the
// device, trace.In delivers it to the stack. Hooks do not see it again.
// pkt is only borrowed. It returns an error wrapping ErrContinue for a
// packet that is malformed, or longer than the MTU where the device has
// no segmentation offload (with offload a TCP packet may be a
// super-packet, as the hooks see them), for a direction other than In
// and Out, and on an Ethernet device, whose frame headers the hooks do
// not see; and net.ErrClosed after the stack is closed or stopped.
func (st *Stack) Continue(dir trace.Dir, pkt []byte) error {
	if st.stopped() {
		return fmt.Errorf("netstack: continue: %w", errClosed)
	}
	h := st.hooks
	if h.l2 {
		return fmt.Errorf("%w: not on an Ethernet device", ErrContinue)
	}
	if dir != trace.In && dir != trace.Out {
		return fmt.Errorf("%w: direction %q is neither in nor out", ErrContinue, dir)
	}
	if _, reason := classify(pkt); reason != "" {
		return fmt.Errorf("%w: malformed (%s)", ErrContinue, reason)
	}
	var g tun.GSO
	if mtu := int(st.ep.MTU()); len(pkt) > mtu {
		var err error
		if g, err = st.superPacket(pkt, mtu); err != nil {
			return err
		}
	}
	b := append([]byte(nil), pkt...)
	if dir == trace.In {
		m := pktMeta{gso: g}
		if g.Type != tun.GSONone {
			m.segs, _ = g.Segments(b)
		}
		h.up.receive(b, m)
		st.c.continued.Add(1)
		return nil
	}
	bufs := [][]byte{b}
	gso := []tun.GSO{{}}
	if g.Type != tun.GSONone {
		// Cut here, with complete checksums: the packet's checksum is
		// complete, not the partial one a device's offload expects.
		var err error
		if bufs, err = segment(b, g); err != nil {
			return err
		}
		gso = make([]tun.GSO, len(bufs))
	}
	if _, ok := h.down.send(bufs, gso); !ok {
		return fmt.Errorf("netstack: continue: %w", errClosed)
	}
	st.c.continued.Add(1)
	return nil
}

// superPacket returns the offload metadata of a TCP packet longer than
// mtu, on a device with segmentation offload: segments of at most mtu
// bytes.
func (st *Stack) superPacket(pkt []byte, mtu int) (tun.GSO, error) {
	over := fmt.Errorf("%w: %d bytes, over the MTU %d", ErrContinue, len(pkt), mtu)
	if st.ep.gsoMax == 0 || len(pkt) > int(st.ep.gsoMax) {
		return tun.GSO{}, over
	}
	g := tun.GSO{Type: tun.GSOTCPv4}
	var hdr int
	switch header.IPVersion(pkt) {
	case header.IPv4Version:
		ip := header.IPv4(pkt)
		if ip.TransportProtocol() != header.TCPProtocolNumber || ip.More() || ip.FragmentOffset() != 0 {
			return tun.GSO{}, over
		}
		hdr = int(ip.HeaderLength())
	default:
		ip := header.IPv6(pkt)
		if ip.TransportProtocol() != header.TCPProtocolNumber {
			return tun.GSO{}, over
		}
		g.Type = tun.GSOTCPv6
		hdr = header.IPv6MinimumSize
	}
	if len(pkt) < hdr+header.TCPMinimumSize {
		return tun.GSO{}, over
	}
	hdr += int(header.TCP(pkt[hdr:]).DataOffset())
	if hdr >= mtu || hdr >= len(pkt) {
		return tun.GSO{}, over
	}
	g.HdrLen, g.Size = uint16(hdr), uint16(mtu-hdr)
	if _, reason := g.Segments(pkt); reason != "" {
		return tun.GSO{}, fmt.Errorf("%w: %s", ErrContinue, reason)
	}
	return g, nil
}

// segment cuts the super-packet b into packets with complete checksums.
func segment(b []byte, g tun.GSO) ([][]byte, error) {
	n, reason := g.Segments(b)
	if reason != "" {
		return nil, fmt.Errorf("%w: %s", ErrContinue, reason)
	}
	out := make([][]byte, 0, n)
	for i := range n {
		seg := make([]byte, int(g.HdrLen)+int(g.Size)+tcpMaxOptions)
		m := g.SegmentAt(seg, b, i)
		if m == 0 {
			return nil, fmt.Errorf("%w: segment %s of %d cannot be cut", ErrContinue, strconv.Itoa(i), n)
		}
		out = append(out, seg[:m])
	}
	return out, nil
}
