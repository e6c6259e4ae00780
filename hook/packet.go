package hook

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// Hook point names, as they appear in Packet.Hook and in traces.
const (
	LinkIngress = "link-ingress"
	LinkEgress  = "link-egress"
	// The IP hook points, at gVisor's netfilter hooks (see
	// netstack.Stack.SetIPHook).
	IPPrerouting  = "ip-prerouting"
	IPInput       = "ip-input"
	IPOutput      = "ip-output"
	IPPostrouting = "ip-postrouting"
)

// Packet is one IP packet at a hook point. Data may be changed in place (a
// hook that does so returns Modify); a hook must not keep Data after it
// returns.
type Packet struct {
	// Dir is trace.In at ingress hook points (toward the stack) and
	// trace.Out at egress ones (away from it).
	Dir trace.Dir
	// Hook is the hook point the packet is at: LinkIngress, LinkEgress,
	// or an IP one (IPPrerouting, ...), as VerdictKey.Point names it.
	Hook string
	// Data is the IP packet (IPv4 or IPv6), without any link header.
	Data []byte
	// Time is when the packet reached the hook point; a Chain moves it
	// on by the delays of the hooks before the one it runs, and puts it
	// back when it returns. Zero is now.
	Time time.Time

	hdr    Headers
	parsed bool
}

// Headers returns the parsed IP and transport headers of p. It parses Data
// once; a hook that changes the addresses, ports or flags calls Reparse.
func (p *Packet) Headers() *Headers {
	if !p.parsed {
		p.hdr = ParseHeaders(p.Data)
		p.parsed = true
	}
	return &p.hdr
}

// Reparse forgets the parsed headers, after Data changed.
func (p *Packet) Reparse() { p.parsed = false }

// IP protocol numbers the filters know.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// TCP flag bits, as in the TCP header's flags byte.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
)

// Headers is what filters and built-in actions read from a packet. Fields
// beyond what the packet holds are zero; Version is 0 for something that
// is not IP.
type Headers struct {
	Version  int // 4 or 6; 0 when not IP
	Src, Dst netip.Addr
	Proto    uint8 // transport protocol (after IPv6 extension headers)
	TTL      uint8 // TTL or hop limit
	// L4 is the offset of the transport header in Data, 0 if unknown.
	L4               int
	SrcPort, DstPort uint16 // TCP and UDP
	Flags            uint8  // TCP
	Seq, Ack         uint32 // TCP
	// Payload is the transport payload's length (TCP and UDP).
	Payload int
	// Len is the IP packet's length.
	Len int
}

// ParseHeaders reads the headers of an IP packet. It never panics: a short
// or malformed packet yields what could be read.
func ParseHeaders(b []byte) Headers {
	h := Headers{Len: len(b)}
	if len(b) < 1 {
		return h
	}
	var end int
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return h
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || ihl > len(b) {
			return h
		}
		h.Version = 4
		h.Src = netip.AddrFrom4([4]byte(b[12:16]))
		h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		h.Proto = b[9]
		h.TTL = b[8]
		end = min(int(binary.BigEndian.Uint16(b[2:4])), len(b))
		if end < ihl {
			return h
		}
		if frag := binary.BigEndian.Uint16(b[6:8]) & 0x1fff; frag != 0 {
			// A later fragment carries no transport header.
			return h
		}
		h.L4 = ihl
	case 6:
		if len(b) < 40 {
			return h
		}
		h.Version = 6
		h.Src = netip.AddrFrom16([16]byte(b[8:24]))
		h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		h.TTL = b[7]
		end = min(40+int(binary.BigEndian.Uint16(b[4:6])), len(b))
		next, off := b[6], 40
		for {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if off+8 > end {
					return h
				}
				next, off = b[off], off+(int(b[off+1])+1)*8
				continue
			case 44: // fragment
				if off+8 > end {
					return h
				}
				if binary.BigEndian.Uint16(b[off+2:off+4])&0xfff8 != 0 {
					h.Proto = b[off]
					return h
				}
				next, off = b[off], off+8
				continue
			}
			break
		}
		h.Proto = next
		if off > end {
			return h
		}
		h.L4 = off
	default:
		return h
	}
	l4 := b[h.L4:end]
	switch h.Proto {
	case ProtoTCP:
		if len(l4) < 20 {
			h.L4 = 0
			return h
		}
		h.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		h.DstPort = binary.BigEndian.Uint16(l4[2:4])
		h.Seq = binary.BigEndian.Uint32(l4[4:8])
		h.Ack = binary.BigEndian.Uint32(l4[8:12])
		h.Flags = l4[13] & 0x3f
		if off := int(l4[12]>>4) * 4; off >= 20 && off <= len(l4) {
			h.Payload = len(l4) - off
		}
	case ProtoUDP:
		if len(l4) < 8 {
			h.L4 = 0
			return h
		}
		h.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		h.DstPort = binary.BigEndian.Uint16(l4[2:4])
		h.Payload = len(l4) - 8
	}
	return h
}

// PacketHook sees every packet at a hook point and decides what happens
// to it. Decide may be called from several goroutines at once.
type PacketHook interface {
	Decide(p *Packet) Verdict
}

// PacketFunc adapts a function to PacketHook.
type PacketFunc func(p *Packet) Verdict

// Decide calls f(p).
func (f PacketFunc) Decide(p *Packet) Verdict { return f(p) }

// Chain runs packet hooks in order and combines their verdicts:
//
//   - the first Drop ends the chain and the packet is dropped;
//   - Modify changes are seen by the hooks after it, with the checksums
//     fixed unless the hook kept them; the combined verdict is Modify,
//     with KeepChecksums unless the last Modify left them to fix. A
//     packet a hook made wrong on purpose (corrupt, which keeps them)
//     stays as wrong when a later hook's change has them fixed, as it
//     would behind a router that updates the checksums it changes;
//   - delays add up, copies add up, injected and reply packets collect in
//     order; a hook after one that delayed the packet sees Packet.Time
//     moved on by that delay, when the packet reaches it; the combined
//     Unsent runs the Unsent of every hook that set one, the last first;
//   - otherwise the combined Action is the first non-pass one.
//
// A Chain is immutable; install a new one to change the hooks.
type Chain struct {
	hooks []PacketHook
	names []string
}

// NewChain returns a chain of hooks, run in the order given. Each hook's
// name (for traces and counters) is its String method's result if it has
// one. A nil hook is left out (see Add).
func NewChain(hooks ...PacketHook) *Chain {
	c := &Chain{}
	for _, h := range hooks {
		c.Add(h)
	}
	return c
}

// Add appends h to the chain. It is meant for building a chain before it
// is installed. A nil h (a nil interface or a nil PacketFunc) is left out,
// so that an optional hook can be passed as it is rather than fail later,
// at the first packet, on the stack's goroutine.
func (c *Chain) Add(h PacketHook) {
	if f, ok := h.(PacketFunc); h == nil || ok && f == nil {
		return
	}
	name := ""
	if s, ok := h.(interface{ String() string }); ok {
		name = s.String()
	}
	c.hooks = append(c.hooks, h)
	c.names = append(c.names, name)
}

// Len is the number of hooks in the chain.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.hooks)
}

// Decide runs the chain; it makes a Chain a PacketHook itself.
func (c *Chain) Decide(p *Packet) Verdict { return c.Run(p, nil) }

// Run runs the chain on p and returns the combined verdict. seen, if not
// nil, is called with every non-pass verdict as it is made, its Rule set
// to the hook's name when the hook left it empty.
func (c *Chain) Run(p *Packet, seen func(Verdict)) Verdict {
	var out Verdict
	// stale: a Modify left the checksums for the layer to fix; kept: a
	// Modify left them wrong on purpose (corrupt), by errs.
	modified, stale, kept := false, false, false
	var errs sumErrors
	at, start := p.Time, p.Time
	defer func() { p.Time = at }()
	for i, h := range c.hooks {
		if out.Delay > 0 {
			// The packet reaches this hook once the ones before it
			// have held it, as in netem qdiscs in series: a rate
			// after a delay shapes the packets as they leave the
			// delay.
			if start.IsZero() {
				start = time.Now()
			}
			p.Time = start.Add(out.Delay)
		}
		if stale {
			// Fix them before the next hook, which may corrupt the
			// packet on purpose.
			fixKeeping(p.Data, errs)
			stale = false
		}
		v := h.Decide(p)
		if v.Action == Pass {
			continue
		}
		if v.Rule == "" {
			v.Rule = c.names[i]
		}
		if seen != nil {
			seen(v)
		}
		if out.Action == Pass {
			out.Action, out.Reason, out.Rule = v.Action, v.Reason, v.Rule
		}
		switch v.Action {
		case Drop:
			return Verdict{Action: Drop, Reason: v.Reason, Rule: v.Rule}
		case Modify:
			modified = true
			p.Reparse()
			if !v.KeepChecksums {
				stale = true
			} else if i < len(c.hooks)-1 {
				errs, kept = sumErrorsOf(p.Data), true
			}
		}
		out.Delay += v.Delay
		out.Copies += v.Copies
		if v.Unsent != nil {
			out.Unsent = bothUnsent(v.Unsent, out.Unsent)
		}
		out.Inject = append(out.Inject, v.Inject...)
		out.Reply = append(out.Reply, v.Reply...)
	}
	if modified {
		if stale && kept {
			fixKeeping(p.Data, errs)
			stale = false
		}
		out.Action = Modify
		out.KeepChecksums = !stale
	}
	return out
}

// bothUnsent runs a, then b if there is one.
func bothUnsent(a, b func()) func() {
	if b == nil {
		return a
	}
	return func() { a(); b() }
}

// Point is a place where a chain can be installed and removed while
// packets flow. With none installed, Load is one atomic load.
type Point struct {
	p atomic.Pointer[Chain]
}

// Set installs c; nil or an empty chain removes what was installed.
func (pt *Point) Set(c *Chain) {
	if c.Len() == 0 {
		c = nil
	}
	pt.p.Store(c)
}

// Load returns the installed chain, or nil.
func (pt *Point) Load() *Chain { return pt.p.Load() }
