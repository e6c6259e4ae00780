package netstack

import (
	"sync"
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
// without a hook), and frames for other hosts never reach them (see
// ethernet.go). With no chain installed a packet costs one atomic load.
//
// The trace and the capture are below the hooks (doc.go): on the way out
// they show what the hooks let through, as it goes to the device; on the
// way in they show what the device read, before the hooks decide, as
// tcpdump shows what netfilter later drops.
//
// On a device with segmentation offload (see offload.go) a hook sees a TCP
// super-packet of up to 64 KiB as one packet, with its checksums completed
// in software, and its verdict applies to all of it: a drop loses every
// segment it carries. Options.SplitGSO (or Stack.SetSplitGSO) asks for the
// super-packets to be cut into MTU-sized packets before the hooks run, so
// that loss, corruption and delay act on single segments as they would on
// the wire; the trace and the capture then show those packets too (on the
// way in the device endpoint cuts them, on the way out the stack endpoint).
//
// What the hook endpoint does with the combined verdict of a chain:
//
//	Drop        the packet goes no further; counted under its reason
//	Modify      checksums are recomputed unless KeepChecksums
//	Delay       the packet waits in the direction's delay queue, which
//	            writes or delivers it when due (full: dropped, "queue-full",
//	            and the verdict's Unsent called, so a rate takes it back)
//	Duplicate   the packet goes Copies more times, right after itself
//	Inject      the Inject packets go after it, the same way
//	Reply       packets go the other way: at egress they are delivered to
//	            this stack, at ingress written to the device (both through
//	            the delay queues, so no hook ever waits)
//	Hold        the packet leaves the path: not a drop, counted as held
//	            (Stats.Held) and traced as a link step named "held"; the
//	            hook keeps its own copy and may send it on later with
//	            Stack.Continue (hold.go)

// SetEgress installs c at the link egress hook point, replacing what was
// there; nil removes it. It is safe while packets flow.
func (st *Stack) SetEgress(c *hook.Chain) { st.hooks.egress.point.Set(c) }

// SetIngress installs c at the link ingress hook point; nil removes it.
func (st *Stack) SetIngress(c *hook.Chain) { st.hooks.ingress.point.Set(c) }

// DropQueueFull: a hook delayed a packet and the delay queue was full.
const DropQueueFull DropReason = "queue-full"

// hookEndpoint is the link endpoint that runs the link hooks: it sits
// between the stack endpoint, above, and the observer (or the device),
// below. Both
// directions are one hookSide each and go through apply.
type hookEndpoint struct {
	framing
	acct *linkAccount
	up   packetReceiver // toward the stack
	down packetSender   // toward the device

	egress, ingress hookSide

	// On an Ethernet device, the frame header of the last frame held to
	// (egress) or from (ingress) each IP address, so that Continue can
	// put an IP packet back behind the header it came with (held.go).
	hdrMu sync.Mutex
	hdrs  map[heldKey][header.EthernetMinimumSize]byte
}

// hookSide is one direction of the hook endpoint: its hook point and the
// queue of the packets its hooks delay.
type hookSide struct {
	name  string // hook.LinkEgress or hook.LinkIngress
	dir   trace.Dir
	point hook.Point
	q     *delayQueue
}

func newHookEndpoint(f framing, queue int, acct *linkAccount) *hookEndpoint {
	h := &hookEndpoint{framing: f, acct: acct}
	h.egress = hookSide{name: hook.LinkEgress, dir: trace.Out}
	h.ingress = hookSide{name: hook.LinkIngress, dir: trace.In}
	h.egress.q = newDelayQueue(queue, func(b []byte, g tun.GSO) {
		h.down.send([][]byte{b}, []tun.GSO{g})
	}, func(b []byte) { h.acct.drop(trace.Out, DropDeviceClosed, len(b)) })
	h.ingress.q = newDelayQueue(queue, func(b []byte, g tun.GSO) {
		h.up.receive(b, pktMeta{gso: g, segs: segmentsOut(b, g)})
	}, func(b []byte) { h.acct.drop(trace.In, DropDeviceClosed, len(b)) })
	return h
}

func (h *hookEndpoint) start() {
	h.egress.q.start()
	h.ingress.q.start()
}

func (h *hookEndpoint) stop() {
	h.egress.q.stop()
	h.ingress.q.stop()
}

// other returns the side that packets going the other way from s take.
func (h *hookEndpoint) other(s *hookSide) *hookSide {
	if s == &h.egress {
		return &h.ingress
	}
	return &h.egress
}

// receive implements packetReceiver: the ingress hooks, then up.
func (h *hookEndpoint) receive(b []byte, m pktMeta) {
	chain := h.ingress.point.Load()
	if chain == nil {
		h.up.receive(b, m)
		return
	}
	copies, inject := h.apply(&h.ingress, chain, b, &m)
	for range copies {
		h.up.receive(b, m)
	}
	for _, p := range inject {
		h.up.receive(p, pktMeta{})
	}
}

// readsIn implements packetReceiver.
func (h *hookEndpoint) readsIn() bool {
	return h.ingress.point.Load() != nil || h.up.readsIn()
}

// send implements packetSender: the egress hooks, then down. It reports
// every packet of bufs as taken, whatever the hooks made of it.
func (h *hookEndpoint) send(bufs [][]byte, gso []tun.GSO) (int, bool) {
	chain := h.egress.point.Load()
	if chain == nil {
		return h.down.send(bufs, gso)
	}
	out := bufs[:0:0]
	outGSO := gso[:0:0]
	for i, b := range bufs {
		m := pktMeta{gso: gso[i]}
		copies, inject := h.apply(&h.egress, chain, b, &m)
		for range copies {
			out = append(out, b)
			outGSO = append(outGSO, m.gso)
		}
		for _, p := range inject {
			out = append(out, p)
			outGSO = append(outGSO, tun.GSO{})
		}
	}
	if len(out) == 0 {
		return len(bufs), true
	}
	if _, ok := h.down.send(out, outGSO); !ok {
		return 0, false
	}
	return len(bufs), true
}

// readsOut implements packetSender.
func (h *hookEndpoint) readsOut() bool {
	return h.egress.point.Load() != nil || h.down.readsOut()
}

// apply runs chain on the packet or frame b, at side s, and carries out
// what of the verdict does not go on at once: a drop or a hold ends the
// packet here, replies go to the other side's queue, and with a delay the
// packet, its copies and what the hooks inject go to s's queue. It
// returns what goes on now: how many times b (changed in place if a hook
// modified it, with m updated), then the packets to inject after it.
func (h *hookEndpoint) apply(s *hookSide, chain *hook.Chain, b []byte, m *pktMeta) (int, [][]byte) {
	// A delay counts from here, as netem's from the enqueue: the time
	// the hooks and the trace of their verdicts take is not added to it.
	at := time.Now()
	v, held, ok := h.run(s, chain, b, at)
	if !ok {
		return 1, nil
	}
	switch {
	case v.Action == hook.Drop:
		h.acct.c.drop(DropReason(v.Reason))
		return 0, nil
	case held:
		h.acct.c.held.Add(1)
		if h.l2 {
			h.rememberHeader(s.dir, b)
		}
		return 0, nil
	case v.Action == hook.Modify:
		m.valid = false // no longer what the device vouched for
	}
	for _, r := range v.Reply {
		h.queue(h.other(s), h.frameLike(b, r, true), tun.GSO{}, time.Time{})
	}
	copies := 1 + max(v.Copies, 0)
	if v.Delay > 0 {
		due := at.Add(v.Delay)
		queued := false
		for range copies {
			queued = h.queue(s, append([]byte(nil), b...), m.gso, due) || queued
		}
		if !queued && v.Unsent != nil {
			// None of it goes: a rate that charged it takes it back.
			v.Unsent()
		}
		for _, inj := range v.Inject {
			h.queue(s, h.frameLike(b, inj, false), tun.GSO{}, due)
		}
		return 0, nil
	}
	inject := v.Inject
	if h.l2 && len(inject) > 0 {
		inject = make([][]byte, len(v.Inject))
		for i, inj := range v.Inject {
			inject[i] = h.frameLike(b, inj, false)
		}
	}
	return copies, inject
}

// run runs chain on one packet or frame b (changed in place if a hook
// modifies it), which reached the hook point at time at, and counts and
// reports each non-pass verdict. held says
// whether a hook held the packet; ok is false for a frame without IP,
// which passes unhooked.
func (h *hookEndpoint) run(s *hookSide, chain *hook.Chain, b []byte, at time.Time) (v hook.Verdict, held, ok bool) {
	ip := h.ipOf(b)
	if ip == nil {
		return hook.Verdict{}, false, false
	}
	p := hook.Packet{Dir: s.dir, Hook: s.name, Data: ip, Time: at}
	v = chain.Run(&p, func(v hook.Verdict) {
		held = held || v.Action == hook.Hold
		h.acct.verdict(trace.LayerLink, s.dir, s.name, v, ip)
	})
	if v.Action == hook.Modify && !v.KeepChecksums {
		_ = hook.FixChecksums(ip)
	}
	return v, held, true
}

// queue puts b, with its offload metadata, in s's queue to leave at due
// (zero: at once), or counts it as a queue-full drop; it reports whether
// b was queued.
func (h *hookEndpoint) queue(s *hookSide, b []byte, g tun.GSO, due time.Time) bool {
	if !s.q.push(b, g, due) {
		h.acct.drop(s.dir, DropQueueFull, len(b))
		return false
	}
	return true
}
