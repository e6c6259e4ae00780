package netstack

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// The link endpoints tested alone, each between two recorders standing in
// for its neighbours.

// endRecorder records what an endpoint passes on, up (as a
// packetReceiver) or down (as a packetSender), and signals each packet.
type endRecorder struct {
	mu    sync.Mutex
	pkts  [][]byte
	got   chan struct{}
	reads bool
}

func newEndRecorder() *endRecorder { return &endRecorder{got: make(chan struct{}, 64)} }

func (r *endRecorder) add(b []byte) {
	r.mu.Lock()
	r.pkts = append(r.pkts, bytes.Clone(b))
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *endRecorder) receive(b []byte, _ pktMeta) { r.add(b) }
func (r *endRecorder) readsIn() bool               { return r.reads }
func (r *endRecorder) send(bufs [][]byte, _ []tun.GSO) (int, bool) {
	for _, b := range bufs {
		r.add(b)
	}
	return len(bufs), true
}
func (r *endRecorder) readsOut() bool { return r.reads }

func (r *endRecorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.pkts...)
}

// wait waits for n more packets.
func (r *endRecorder) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("waited 10 s for a packet; have %d", len(r.all()))
		}
	}
}

// TestHookEndpointAlone runs each verdict through the hook endpoint in
// both directions, the same way: what goes on at once, what goes the other
// way, what is delayed, and what is counted.
func TestHookEndpointAlone(t *testing.T) {
	t.Parallel()
	pkt := echoRequest4(addrA4.Addr(), addrB4.Addr(), 1, 1, []byte("p"))
	inj := echoRequest4(addrA4.Addr(), addrB4.Addr(), 1, 2, []byte("inject"))
	rep := echoRequest4(addrB4.Addr(), addrA4.Addr(), 1, 3, []byte("reply"))
	for _, c := range []struct {
		name       string
		v          hook.Verdict
		now, other int // packets passed on at once; sent the other way
		later      int // packets passed on after the delay
		held       uint64
		dropped    uint64
	}{
		{name: "pass", now: 1},
		{name: "drop", v: hook.Verdict{Action: hook.Drop, Reason: "loss"}, dropped: 1},
		{name: "hold", v: hook.Verdict{Action: hook.Hold}, held: 1},
		{name: "duplicate", v: hook.Verdict{Action: hook.Duplicate, Copies: 2}, now: 3},
		{name: "inject", v: hook.Verdict{Action: hook.Inject, Inject: [][]byte{inj}}, now: 2},
		{name: "reply", v: hook.Verdict{Action: hook.Inject, Reply: [][]byte{rep}}, now: 1, other: 1},
		{name: "delay", v: hook.Verdict{Action: hook.Delay, Delay: time.Millisecond, Inject: [][]byte{inj}}, later: 2},
	} {
		for _, dir := range []trace.Dir{trace.Out, trace.In} {
			t.Run(c.name+"/"+string(dir), func(t *testing.T) {
				t.Parallel()
				var cnt counters
				h := newHookEndpoint(framing{}, 0, &linkAccount{c: &cnt})
				up, down := newEndRecorder(), newEndRecorder()
				h.up, h.down = up, down
				h.start()
				defer h.stop()
				v := c.v
				chain := hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict { return v }))
				ahead, back := up, down // where the packet goes on, and the other way
				b := bytes.Clone(pkt)
				if dir == trace.Out {
					ahead, back = down, up
					h.egress.point.Set(chain)
					if n, ok := h.send([][]byte{b}, []tun.GSO{{}}); n != 1 || !ok {
						t.Fatalf("send = %d, %v", n, ok)
					}
				} else {
					h.ingress.point.Set(chain)
					h.receive(b, pktMeta{})
				}
				// The packet is only lent: its buffer is the device's
				// again for the next one.
				clear(b)
				if got := len(ahead.all()); got != c.now {
					t.Fatalf("%d packets went on at once, want %d", got, c.now)
				}
				back.wait(t, c.other)
				ahead.wait(t, c.now+c.later)
				if got := len(ahead.all()); got != c.now+c.later {
					t.Errorf("%d packets went on in all, want %d", got, c.now+c.later)
				}
				for i, p := range ahead.all()[c.now:] {
					if !bytes.Equal(p, pkt) && !bytes.Equal(p, inj) {
						t.Errorf("delayed packet %d is % x, want the packet or the injected one", i, p)
					}
				}
				s := cnt.snapshot()
				if s.Held != c.held || s.Dropped() != c.dropped || s.Drops[DropReason(c.v.Reason)] != c.dropped {
					t.Errorf("held %d, dropped %v; want %d held, %d dropped as %q", s.Held, s.Drops, c.held, c.dropped, c.v.Reason)
				}
			})
		}
	}
}

// TestObserverAlone: the observer reports every packet it passes, both
// ways, to the tracer and the capture, and passes each on unchanged.
func TestObserverAlone(t *testing.T) {
	t.Parallel()
	var rec recorder
	var capture bytes.Buffer
	w, err := newPCAPWriter(&capture, pcapLinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	up, down := newEndRecorder(), newEndRecorder()
	tr := trace.New(&rec)
	o := &observer{tracer: tr, node: "n", flows: newFlowTable(), pcap: w, clock: faketime.NewManualClock(), up: up, down: down}
	in := echoRequest4(addrB4.Addr(), addrA4.Addr(), 1, 1, []byte("in"))
	out := echoRequest4(addrA4.Addr(), addrB4.Addr(), 1, 2, []byte("out"))
	o.receive(in, pktMeta{})
	o.send([][]byte{out, out}, make([]tun.GSO, 2))
	if !o.readsIn() || !o.readsOut() {
		t.Error("the observer says it does not read the bytes")
	}
	if g := up.all(); len(g) != 1 || !bytes.Equal(g[0], in) {
		t.Errorf("passed up %d packets", len(g))
	}
	if g := down.all(); len(g) != 2 || !bytes.Equal(g[1], out) {
		t.Errorf("passed down %d packets", len(g))
	}
	var dirs []trace.Dir
	tr.Flush() // egress packets are deferred
	for _, e := range rec.all() {
		if e.Layer == trace.LayerLink && e.Name == "packet" {
			dirs = append(dirs, e.Dir)
		}
	}
	if len(dirs) != 3 || dirs[0] != trace.In || dirs[2] != trace.Out {
		t.Errorf("packet events in directions %v, want in, out, out", dirs)
	}
	if want := pcapFileHdrLen + 3*16 + len(in) + 2*len(out); capture.Len() != want {
		t.Errorf("capture of %d bytes, want %d", capture.Len(), want)
	}
}

// TestEthernetFilterAlone: the filter passes frames for this host,
// broadcast and multicast, and counts the rest as drops without passing
// them up.
func TestEthernetFilterAlone(t *testing.T) {
	t.Parallel()
	var cnt counters
	up := newEndRecorder()
	f := &ethernetFilter{hw: tcpip.LinkAddress(macA), acct: &linkAccount{c: &cnt}, up: up}
	ip := echoRequest4(addrB4.Addr(), addrA4.Addr(), 1, 1, nil)
	other := []byte{0x02, 0, 0, 0, 0, 0x77}
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, c := range []struct {
		name   string
		frame  []byte
		reason DropReason // "" passes
	}{
		{"ours", frame(macA, macB, header.IPv4ProtocolNumber, ip), ""},
		{"broadcast", frame(bcast, macB, header.IPv4ProtocolNumber, ip), ""},
		{"other host", frame(other, macB, header.IPv4ProtocolNumber, ip), DropOtherHost},
		{"short", []byte{1, 2, 3}, DropEthernetShort},
		{"ethertype", frame(macA, macB, 0x88cc, ip), DropEtherType},
		{"arp short", frame(macA, macB, header.ARPProtocolNumber, []byte{1}), DropARPShort},
	} {
		before := len(up.all())
		f.receive(c.frame, pktMeta{})
		passed := len(up.all()) > before
		if passed != (c.reason == "") {
			t.Errorf("%s: passed %v", c.name, passed)
		}
		if c.reason != "" && cnt.snapshot().Drops[c.reason] != 1 {
			t.Errorf("%s: %s not counted", c.name, c.reason)
		}
	}
}

// nopEnd passes nothing on and reads nothing.
type nopEnd struct{}

func (nopEnd) receive([]byte, pktMeta)                  {}
func (nopEnd) readsIn() bool                            { return false }
func (nopEnd) send(b [][]byte, _ []tun.GSO) (int, bool) { return len(b), true }
func (nopEnd) readsOut() bool                           { return false }

// TestHookEndpointIdleAllocs: with no chain installed, a packet through
// the hook endpoint either way allocates nothing.
func TestHookEndpointIdleAllocs(t *testing.T) {
	var cnt counters
	h := newHookEndpoint(framing{}, 0, &linkAccount{c: &cnt})
	h.up, h.down = nopEnd{}, nopEnd{}
	pkt := echoRequest4(addrA4.Addr(), addrB4.Addr(), 1, 1, nil)
	bufs, gso := [][]byte{pkt}, []tun.GSO{{}}
	if n := testing.AllocsPerRun(100, func() {
		h.receive(pkt, pktMeta{})
		h.send(bufs, gso)
		_ = h.readsIn() || h.readsOut()
	}); n != 0 {
		t.Fatalf("%v allocations per packet with no hooks, want 0", n)
	}
}
