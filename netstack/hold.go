package netstack

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
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
// meantime; Continue checks it again. On an Ethernet device the hooks see
// the IP packet only; the endpoint remembers the frame header of what was
// held, by peer address, and Continue puts the packet back behind it.
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
// super-packet, as the hooks see them, up to the largest one gVisor
// hands down and with no IPv6 extension headers; CheckContinue says
// beforehand whether a packet would go), for a direction other than In
// and Out, and on an Ethernet device for a packet to (out) an address no
// held frame went to; and net.ErrClosed after the stack is closed or
// stopped. On an Ethernet device the packet goes out behind the frame
// header of the last frame held to its destination, and comes in behind
// the header of the last one held from its source (or one addressed to
// this host).
func (st *Stack) Continue(dir trace.Dir, pkt []byte) error {
	c, err := st.prepareContinue(dir, pkt)
	if err != nil {
		return err
	}
	h := st.hooks
	if dir == trace.In {
		if h.acct.obs != nil {
			h.acct.obs.continued(hook.LinkIngress, pkt)
		}
		h.up.receive(c.bufs[0], c.meta)
		st.c.continued.Add(1)
		return nil
	}
	if _, ok := h.down.send(c.bufs, c.gso); !ok {
		return fmt.Errorf("netstack: continue: %w", errClosed)
	}
	st.c.continued.Add(1)
	return nil
}

// CheckContinue returns the error Continue would return for pkt from the
// link hook point of dir, or nil when it would send pkt on, without
// sending anything: a packet that is malformed, over the MTU where the
// device cannot take it as a super-packet (no segmentation offload, not
// TCP, IPv6 extension headers, a fragment, over the largest super-packet)
// or, on an Ethernet device, to an address no held frame went to. Whoever
// holds a packet and lets a person change it can so refuse a change the
// stack would not send, and keep the packet. Continue checks again: a
// stack closed in between refuses it then.
func (st *Stack) CheckContinue(dir trace.Dir, pkt []byte) error {
	_, err := st.prepareContinue(dir, pkt)
	return err
}

// continuation is a packet Continue has checked and made ready to send
// on: for trace.In, bufs[0] with meta; for trace.Out, bufs (a super-packet
// already cut) with gso.
type continuation struct {
	bufs [][]byte
	gso  []tun.GSO
	meta pktMeta
}

// prepareContinue checks pkt as Continue does and makes it ready to send
// on from the link hook point of dir, or returns why it cannot go.
func (st *Stack) prepareContinue(dir trace.Dir, pkt []byte) (continuation, error) {
	if st.stopped() {
		return continuation{}, fmt.Errorf("netstack: continue: %w", errClosed)
	}
	h := st.hooks
	if dir != trace.In && dir != trace.Out {
		return continuation{}, fmt.Errorf("%w: direction %q is neither in nor out", ErrContinue, dir)
	}
	if _, reason := classify(pkt); reason != "" {
		return continuation{}, fmt.Errorf("%w: malformed (%s)", ErrContinue, reason)
	}
	var g tun.GSO
	if mtu := st.dev.dev.MTU(); len(pkt) > mtu {
		var err error
		if g, err = st.superPacket(pkt, mtu); err != nil {
			return continuation{}, err
		}
	}
	b := append([]byte(nil), pkt...)
	if h.l2 {
		var err error
		if b, err = h.reframe(dir, pkt); err != nil {
			return continuation{}, err
		}
	}
	if dir == trace.In {
		m := pktMeta{gso: g}
		if g.Type != tun.GSONone {
			m.segs, _ = g.Segments(b)
		}
		return continuation{bufs: [][]byte{b}, meta: m}, nil
	}
	c := continuation{bufs: [][]byte{b}, gso: []tun.GSO{{}}}
	if g.Type != tun.GSONone {
		// Cut here, with complete checksums: the packet's checksum is
		// complete, not the partial one a device's offload expects.
		var err error
		if c.bufs, err = segment(b, g); err != nil {
			return continuation{}, err
		}
		c.gso = make([]tun.GSO, len(c.bufs))
	}
	return c, nil
}

// superPacket returns the offload metadata of a TCP packet longer than
// mtu, on a device with segmentation offload: segments of at most mtu
// bytes.
func (st *Stack) superPacket(pkt []byte, mtu int) (tun.GSO, error) {
	over := func(why string) error {
		return fmt.Errorf("%w: %d bytes, over the MTU %d%s", ErrContinue, len(pkt), mtu, why)
	}
	switch {
	case st.ep.gsoMax == 0:
		return tun.GSO{}, over("")
	case len(pkt) > int(st.ep.gsoMax):
		return tun.GSO{}, over(fmt.Sprintf(" and the largest super-packet, %d", st.ep.gsoMax))
	}
	notTCP := over(", and only a TCP packet is cut into segments")
	g := tun.GSO{Type: tun.GSOTCPv4}
	var hdr int
	switch header.IPVersion(pkt) {
	case header.IPv4Version:
		ip := header.IPv4(pkt)
		if ip.TransportProtocol() != header.TCPProtocolNumber {
			return tun.GSO{}, notTCP
		}
		if ip.More() || ip.FragmentOffset() != 0 {
			return tun.GSO{}, over(", and a fragment is not cut into segments")
		}
		hdr = int(ip.HeaderLength())
	default:
		// TCP right after the fixed header: the segmenter takes no
		// extension headers.
		switch header.IPv6(pkt).NextHeader() {
		case uint8(header.TCPProtocolNumber):
		case uint8(header.IPv6HopByHopOptionsExtHdrIdentifier), uint8(header.IPv6RoutingExtHdrIdentifier),
			uint8(header.IPv6FragmentExtHdrIdentifier), uint8(header.IPv6DestinationOptionsExtHdrIdentifier):
			return tun.GSO{}, over(", and a packet with IPv6 extension headers is not cut into segments")
		default:
			return tun.GSO{}, notTCP
		}
		g.Type = tun.GSOTCPv6
		hdr = header.IPv6MinimumSize
	}
	if len(pkt) < hdr+header.TCPMinimumSize {
		return tun.GSO{}, notTCP
	}
	hdr += int(header.TCP(pkt[hdr:]).DataOffset())
	if hdr >= mtu || hdr >= len(pkt) {
		return tun.GSO{}, over(", and its headers leave no room for data in a segment")
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

// heldKey names the frames held in one direction to (out) or from (in)
// one IP address.
type heldKey struct {
	dir  trace.Dir
	addr netip.Addr
}

// maxHeldHeaders bounds the frame headers kept for Continue.
const maxHeldHeaders = 1024

// rememberHeader keeps the header of the held frame b, by its peer's IP
// address: the destination on the way out, the source on the way in.
func (h *hookEndpoint) rememberHeader(dir trace.Dir, b []byte) {
	ip := h.ipOf(b)
	k, ok := peerKey(dir, ip)
	if !ok {
		return
	}
	var hdr [header.EthernetMinimumSize]byte
	copy(hdr[:], b)
	h.hdrMu.Lock()
	if h.hdrs == nil || len(h.hdrs) >= maxHeldHeaders {
		h.hdrs = make(map[heldKey][header.EthernetMinimumSize]byte)
	}
	h.hdrs[k] = hdr
	h.hdrMu.Unlock()
}

// reframe puts the IP packet ip behind the header of the last frame held
// in direction dir with the same peer.
func (h *hookEndpoint) reframe(dir trace.Dir, ip []byte) ([]byte, error) {
	k, ok := peerKey(dir, ip)
	if !ok {
		return nil, fmt.Errorf("%w: no IP addresses", ErrContinue)
	}
	h.hdrMu.Lock()
	hdr, found := h.hdrs[k]
	h.hdrMu.Unlock()
	if !found {
		if dir == trace.Out {
			return nil, fmt.Errorf("%w: no held frame went to %v, so its link address is not known", ErrContinue, k.addr)
		}
		copy(hdr[:6], h.hw) // to this host, from nobody in particular
	}
	return h.frameLike(hdr[:], ip, false), nil
}

// peerKey returns the key of the IP packet ip's peer in direction dir.
func peerKey(dir trace.Dir, ip []byte) (heldKey, bool) {
	h := hook.ParseHeaders(ip)
	if h.Version == 0 {
		return heldKey{}, false
	}
	if dir == trace.Out {
		return heldKey{dir, h.Dst}, true
	}
	return heldKey{dir, h.Src}, true
}

// Edited records that whoever held a packet at the link hook point of dir
// changed it before sending it on with Continue: a hook's Modify verdict
// with reason (what changed) and rule, counted and traced as a
// trace.LayerLink "verdict" event of pkt as it goes on, as a hook that
// rewrote it at once would be. Call it before Continue, so that the trace
// reads in order: held, the edit, the packet sent on.
func (st *Stack) Edited(dir trace.Dir, pkt []byte, reason, rule string) {
	name := hook.LinkEgress
	if dir == trace.In {
		name = hook.LinkIngress
	}
	st.hooks.acct.verdict(trace.LayerLink, dir, name, hook.Verdict{Action: hook.Modify, Reason: reason, Rule: rule}, pkt)
}

// Discard records that a packet held at the link hook point of dir is
// thrown away by whoever held it: a hook's drop verdict with reason and
// rule, counted (Stats.Drops does not count it: the packet went no further
// than the hook) and traced as a trace.LayerLink "verdict" event, as if the
// hook had dropped it at once. Nothing is sent.
func (st *Stack) Discard(dir trace.Dir, pkt []byte, reason, rule string) {
	name := hook.LinkEgress
	if dir == trace.In {
		name = hook.LinkIngress
	}
	st.hooks.acct.verdict(trace.LayerLink, dir, name, hook.Verdict{Action: hook.Drop, Reason: reason, Rule: rule}, pkt)
}

// Duplicated records that whoever held a packet at the link hook point of
// dir sends it on twice: a hook's Duplicate verdict (one copy more) with
// reason and rule, counted and traced as a trace.LayerLink "verdict" event,
// as a hook that duplicated it at once would be. Call it before the two
// Continues, so that the trace says why the packet goes twice.
func (st *Stack) Duplicated(dir trace.Dir, pkt []byte, reason, rule string) {
	name := hook.LinkEgress
	if dir == trace.In {
		name = hook.LinkIngress
	}
	st.hooks.acct.verdict(trace.LayerLink, dir, name, hook.Verdict{Action: hook.Duplicate, Copies: 1, Reason: reason, Rule: rule}, pkt)
}
