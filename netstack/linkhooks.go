package netstack

import (
	"encoding/binary"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// The link hook points: hook.LinkIngress sees every packet read from the
// device before it is checked and delivered, hook.LinkEgress every packet
// gVisor hands down before it is written. Hooks see the IP packet; on an
// Ethernet device the frame header is left out (and ARP frames pass
// without a hook). With no chain installed a packet costs one atomic load.
//
// On a device with segmentation offload (see offload.go) a hook sees a TCP
// super-packet of up to 64 KiB as one packet, with its checksums completed
// in software, and its verdict applies to all of it: a drop loses every
// segment it carries. Options.SplitGSO (or Stack.SetSplitGSO) asks for the
// super-packets to be cut into MTU-sized packets before the hooks run, so
// that loss, corruption and delay act on single segments as they would on
// the wire; the trace and the capture then show those packets too.
//
// What the endpoint does with the combined verdict of a chain:
//
//	Drop        the packet goes no further; counted under its reason
//	Modify      checksums are recomputed unless KeepChecksums
//	Delay       the packet waits in the direction's delay queue, which
//	            writes or delivers it when due (full: dropped, "queue-full")
//	Duplicate   the packet goes Copies more times, right after itself
//	Inject      the Inject packets go after it, the same way
//	Reply       packets go the other way: at egress they are delivered to
//	            this stack, at ingress written to the device (both through
//	            the delay queues, so no hook ever waits)

// SetEgress installs c at the link egress hook point, replacing what was
// there; nil removes it. It is safe while packets flow.
func (st *Stack) SetEgress(c *hook.Chain) { st.ep.egress.Set(c) }

// SetIngress installs c at the link ingress hook point; nil removes it.
func (st *Stack) SetIngress(c *hook.Chain) { st.ep.ingress.Set(c) }

// DropQueueFull: a hook delayed a packet and the delay queue was full.
const DropQueueFull DropReason = "queue-full"

// ipOf returns the IP packet in b, a packet or frame of this endpoint, or
// nil for an Ethernet frame that carries no IP.
func (e *endpoint) ipOf(b []byte) []byte {
	if !e.l2 {
		return b
	}
	if len(b) < header.EthernetMinimumSize {
		return nil
	}
	switch binary.BigEndian.Uint16(b[12:14]) {
	case uint16(header.IPv4ProtocolNumber), uint16(header.IPv6ProtocolNumber):
		return b[header.EthernetMinimumSize:]
	}
	return nil
}

// frameLike wraps the IP packet ip for the device: as is on a TUN, or on an
// Ethernet device behind the header of like, with the addresses swapped
// when reverse.
func (e *endpoint) frameLike(like, ip []byte, reverse bool) []byte {
	if !e.l2 {
		return ip
	}
	f := make([]byte, header.EthernetMinimumSize+len(ip))
	if reverse {
		copy(f[0:6], like[6:12])
		copy(f[6:12], like[0:6])
	} else {
		copy(f[0:12], like[0:12])
	}
	et := header.IPv4ProtocolNumber
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = header.IPv6ProtocolNumber
	}
	binary.BigEndian.PutUint16(f[12:14], uint16(et))
	copy(f[header.EthernetMinimumSize:], ip)
	return f
}

// runHook runs chain on one packet or frame b (changed in place if a hook
// modifies it) and counts and traces each non-pass verdict.
func (e *endpoint) runHook(chain *hook.Chain, name string, dir trace.Dir, b []byte) (hook.Verdict, bool) {
	ip := e.ipOf(b)
	if ip == nil {
		return hook.Verdict{}, false
	}
	p := hook.Packet{Dir: dir, Hook: name, Data: ip, Time: time.Now()}
	v := chain.Run(&p, func(v hook.Verdict) {
		e.counters.verdict(name, v)
		if e.tap != nil {
			e.tap.verdict(trace.LayerLink, dir, name, v, ip)
		}
	})
	if v.Action == hook.Modify && !v.KeepChecksums {
		_ = hook.FixChecksums(ip)
	}
	return v, true
}

// hookOut runs the egress chain on a batch of serialized packets, with
// their offload metadata, and returns what goes to the device now; delayed
// packets and replies go to the queues.
func (e *endpoint) hookOut(chain *hook.Chain, bufs [][]byte, gso []tun.GSO) ([][]byte, []tun.GSO) {
	out := bufs[:0:0]
	outGSO := gso[:0:0]
	for i, b := range bufs {
		g := gso[i]
		v, ok := e.runHook(chain, hook.LinkEgress, trace.Out, b)
		if !ok {
			out = append(out, b)
			outGSO = append(outGSO, g)
			continue
		}
		if v.Action == hook.Drop {
			e.counters.drop(DropReason(v.Reason))
			continue
		}
		for _, r := range v.Reply {
			e.queue(e.inQ, trace.In, e.frameLike(b, r, true), tun.GSO{}, 0)
		}
		copies := 1 + max(v.Copies, 0)
		if v.Delay > 0 {
			for range copies {
				e.queue(e.outQ, trace.Out, append([]byte(nil), b...), g, v.Delay)
			}
			for _, inj := range v.Inject {
				e.queue(e.outQ, trace.Out, e.frameLike(b, inj, false), tun.GSO{}, v.Delay)
			}
			continue
		}
		for range copies {
			out = append(out, b)
			outGSO = append(outGSO, g)
		}
		for _, inj := range v.Inject {
			out = append(out, e.frameLike(b, inj, false))
			outGSO = append(outGSO, tun.GSO{})
		}
	}
	return out, outGSO
}

// hookIn runs the ingress chain on a packet read from the device and
// delivers what it lets through. b is only borrowed; m is what the device
// said about it (a modified packet is no longer known good).
func (e *endpoint) hookIn(chain *hook.Chain, b []byte, m rxMeta) {
	v, ok := e.runHook(chain, hook.LinkIngress, trace.In, b)
	if !ok {
		e.deliverPacket(b, m)
		return
	}
	if v.Action == hook.Modify {
		m.valid = false
	}
	if v.Action == hook.Drop {
		e.counters.drop(DropReason(v.Reason))
		return
	}
	for _, r := range v.Reply {
		e.queue(e.outQ, trace.Out, e.frameLike(b, r, true), tun.GSO{}, 0)
	}
	n := 1 + max(v.Copies, 0)
	if v.Delay > 0 {
		for range n {
			e.queue(e.inQ, trace.In, append([]byte(nil), b...), m.gso, v.Delay)
		}
		for _, inj := range v.Inject {
			e.queue(e.inQ, trace.In, e.frameLike(b, inj, false), tun.GSO{}, v.Delay)
		}
		return
	}
	for range n {
		e.deliverPacket(b, m)
	}
	for _, inj := range v.Inject {
		e.deliverNow(e.frameLike(b, inj, false))
	}
}

// queue puts b, with its offload metadata, in q to leave after d, or
// counts it as a queue-full drop.
func (e *endpoint) queue(q *delayQueue, dir trace.Dir, b []byte, g tun.GSO, d time.Duration) {
	if !q.push(b, g, d) {
		e.drop(dir, DropQueueFull, len(b))
	}
}

// sendDelayed writes one packet that waited in the egress queue.
func (e *endpoint) sendDelayed(b []byte, g tun.GSO) {
	if e.closed.Load() {
		e.drop(trace.Out, DropDeviceClosed, len(b))
		return
	}
	if e.tap != nil {
		e.tap.packet(trace.Out, b, g)
	}
	var n int
	e.writeBatch([][]byte{b}, []tun.GSO{g}, &n)
}
