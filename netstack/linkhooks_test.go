package netstack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// wire reads everything a solo stack writes, for the test to take in
// order.
type wire struct {
	dev *tun.PipeEnd
	ch  chan []byte
}

func newWire(dev *tun.PipeEnd) *wire {
	w := &wire{dev: dev, ch: make(chan []byte, 1024)}
	go func() {
		defer close(w.ch)
		bufs, sizes := [][]byte{make([]byte, dev.MTU())}, []int{0}
		for {
			n, err := dev.Read(bufs, sizes)
			if err != nil {
				return
			}
			if n == 1 {
				w.ch <- append([]byte(nil), bufs[0][:sizes[0]]...)
			}
		}
	}()
	return w
}

// reply returns the next ICMP echo reply.
func (w *wire) reply(t *testing.T) []byte {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p, ok := <-w.ch:
			if !ok {
				t.Fatal("device closed")
			}
			if header.IPVersion(p) == 4 && len(p) >= 28 && p[9] == 1 && p[20] == byte(header.ICMPv4EchoReply) {
				return p
			}
		case <-timeout:
			t.Fatal("no echo reply within 10s")
		}
	}
}

func (w *wire) send(t *testing.T, seq uint16) {
	t.Helper()
	req := echoRequest4(peer4, addrA4.Addr(), 0x4242, seq, []byte("hooked"))
	if _, err := w.dev.Write([][]byte{req}); err != nil {
		t.Fatal(err)
	}
}

func echoSeq(p []byte) uint16 { return binary.BigEndian.Uint16(p[26:28]) }

func chainOf(t *testing.T, rules ...string) *hook.Chain {
	t.Helper()
	c, err := hook.ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verdicts(st *Stack, hookName, action, reason string) uint64 {
	for k, n := range st.Stats().Verdicts {
		if k.Point == hookName && k.Action.String() == action && k.Reason == reason {
			return n
		}
	}
	return 0
}

func TestLinkEgressHooks(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	st, dev := newSolo(t, func(o *Options) { o.Tracer = trace.New(rec) })
	w := newWire(dev)

	// Drop: the reply to 1 never comes, the one to 2 does.
	st.SetEgress(hook.NewChain(hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		if h := p.Headers(); h.Proto == hook.ProtoICMP && binary.BigEndian.Uint16(p.Data[h.L4+6:]) == 1 {
			return hook.Verdict{Action: hook.Drop, Reason: "test-drop", Rule: "seq 1"}
		}
		return hook.Verdict{}
	})))
	w.send(t, 1)
	w.send(t, 2)
	if got := echoSeq(w.reply(t)); got != 2 {
		t.Fatalf("first reply is to %d, want 2", got)
	}
	if n := verdicts(st, hook.LinkEgress, "drop", "test-drop"); n != 1 {
		t.Errorf("drop verdicts = %d", n)
	}
	if n := st.Stats().Drops["test-drop"]; n != 1 {
		t.Errorf("Drops[test-drop] = %d", n)
	}

	// Modify: a new TTL, checksums fixed by the endpoint.
	st.SetEgress(chainOf(t, "icmp : ttl 7"))
	w.send(t, 3)
	p := w.reply(t)
	if p[8] != 7 || !hook.ChecksumsValid(p) {
		t.Errorf("rewritten reply: TTL %d, checksums valid %v", p[8], hook.ChecksumsValid(p))
	}

	// Corrupt: a bit flipped and the checksum left wrong.
	st.SetEgress(chainOf(t, "corrupt 100%"))
	w.send(t, 4)
	if p := w.reply(t); hook.ChecksumsValid(p) {
		t.Error("corrupted reply has valid checksums")
	}

	// Duplicate: the same reply twice.
	st.SetEgress(chainOf(t, "duplicate 100%"))
	w.send(t, 5)
	if a, b := w.reply(t), w.reply(t); !bytes.Equal(a, b) || echoSeq(a) != 5 {
		t.Errorf("duplicate: %x and %x", a, b)
	}

	// Inject: another packet after the reply.
	extra := echoRequest4(addrA4.Addr(), peer4, 1, 99, nil)
	extra[20] = byte(header.ICMPv4EchoReply)
	_ = hook.FixChecksums(extra)
	st.SetEgress(hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict {
		return hook.Verdict{Action: hook.Inject, Reason: "test-inject", Inject: [][]byte{extra}}
	})))
	w.send(t, 6)
	if a, b := w.reply(t), w.reply(t); echoSeq(a) != 6 || echoSeq(b) != 99 {
		t.Errorf("inject: replies %d then %d, want 6 then 99", echoSeq(a), echoSeq(b))
	}

	// Delay: the reply waits at least the delay.
	st.SetEgress(chainOf(t, "delay 80ms"))
	start := time.Now()
	w.send(t, 7)
	p = w.reply(t)
	if d := time.Since(start); echoSeq(p) != 7 || d < 80*time.Millisecond {
		t.Errorf("delayed reply %d after %v, want 7 after at least 80ms", echoSeq(p), d)
	}

	// Delay with an inject: what the hook injects waits with the packet.
	st.SetEgress(hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict {
		return hook.Verdict{Action: hook.Inject, Reason: "test-inject", Inject: [][]byte{extra}}
	}), hook.PacketFunc(func(*hook.Packet) hook.Verdict {
		return hook.Verdict{Action: hook.Delay, Reason: "test-delay", Delay: 80 * time.Millisecond}
	})))
	start = time.Now()
	w.send(t, 10)
	for _, want := range []uint16{10, 99} {
		if p, d := w.reply(t), time.Since(start); echoSeq(p) != want || d < 80*time.Millisecond {
			t.Errorf("delayed inject: reply %d after %v, want %d after at least 80ms", echoSeq(p), d, want)
		}
	}

	// Removed: packets pass untouched and the hook is not called.
	var calls atomic.Int32
	st.SetEgress(hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict {
		calls.Add(1)
		return hook.Verdict{}
	})))
	w.send(t, 8)
	if p := w.reply(t); echoSeq(p) != 8 || calls.Load() == 0 {
		t.Fatalf("installed hook: reply %d, %d calls", echoSeq(p), calls.Load())
	}
	st.SetEgress(nil)
	before := calls.Load()
	w.send(t, 9)
	if p := w.reply(t); echoSeq(p) != 9 || p[8] == 7 {
		t.Errorf("after removal: %d, TTL %d", echoSeq(p), p[8])
	}
	if calls.Load() != before {
		t.Error("a removed hook still ran")
	}

	// Every non-pass verdict is a trace event.
	kinds := map[string]bool{}
	for _, e := range rec.all() {
		if e.Name != "verdict" {
			continue
		}
		if e.Layer != trace.LayerLink || e.Dir != trace.Out {
			t.Errorf("verdict event %s/%s", e.Layer, e.Dir)
		}
		a, _ := field(e, "action")
		r, _ := field(e, "reason")
		rule, _ := field(e, "rule")
		kinds[a.(string)+" "+r.(string)] = true
		if r == "rewrite" && rule != "icmp : ttl 7" {
			t.Errorf("modify verdict names rule %q", rule)
		}
	}
	for _, k := range []string{"drop test-drop", "modify rewrite", "modify corrupt", "duplicate duplicate", "inject test-inject", "delay delay"} {
		if !kinds[k] {
			t.Errorf("no verdict event %q (have %v)", k, kinds)
		}
	}
}

func TestLinkIngressHooks(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	w := newWire(dev)

	// The read loop runs on its own: each step waits for the verdict
	// before the next chain goes in.
	waitFor := func(action, reason string, n uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for verdicts(st, hook.LinkIngress, action, reason) < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	st.SetIngress(chainOf(t, "icmp and len > 30 : drop"))
	w.send(t, 1)
	waitFor("drop", "drop", 1)
	st.SetIngress(chainOf(t, "duplicate 100%"))
	w.send(t, 2)
	if a, b := echoSeq(w.reply(t)), echoSeq(w.reply(t)); a != 2 || b != 2 {
		t.Errorf("replies %d, %d: want two to the duplicated 2 and none to the dropped 1", a, b)
	}
	waitFor("duplicate", "duplicate", 1)
	st.SetIngress(chainOf(t, "delay 50ms"))
	start := time.Now()
	w.send(t, 3)
	if p := w.reply(t); echoSeq(p) != 3 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("delayed request answered %d after %v", echoSeq(p), time.Since(start))
	}
	s := st.Stats()
	if s.Drops["drop"] != 1 || s.Verdicts[hook.VerdictKey{Point: hook.LinkIngress, Action: hook.Duplicate, Reason: "duplicate"}] != 1 {
		t.Errorf("stats: drops %v, verdicts %v", s.Drops, s.Verdicts)
	}
}

// TestDelayQueueFull: a delay queue of one packet refuses the second and
// counts it; what is still queued at Close is counted too.
func TestDelayQueueFull(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{})
	defer db.Close()
	st, err := New(Options{Device: da, Addrs: []netip.Prefix{addrA4}, DelayQueue: 1, Egress: chainOf(t, "delay 1m")})
	if err != nil {
		t.Fatal(err)
	}
	w := newWire(db)
	w.send(t, 1)
	w.send(t, 2)
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats().Drops[DropQueueFull] == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	s := st.Stats()
	if s.Drops[DropQueueFull] != 1 || s.Drops[DropDeviceClosed] != 1 {
		t.Errorf("drops %v: want one queue-full and one device-closed", s.Drops)
	}
}

// TestRateChargesOnlyQueued: a rate charges only the packets that go, as
// netem's: replies the full delay queue drops leave the rate's clock
// where it was, so the next reply waits for the two queued before it, not
// for the eight that were dropped too.
func TestRateChargesOnlyQueued(t *testing.T) {
	t.Parallel()
	const size = 1028 // each reply, IP packet: about a second at 8kbit
	per := time.Duration(size) * 8 * time.Second / 8000
	var (
		mu    sync.Mutex
		waits []time.Duration // each reply's wait at the rate, as it leaves it
	)
	wait := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		if p.Headers().Proto == hook.ProtoICMP {
			mu.Lock()
			waits = append(waits, time.Until(p.Time))
			mu.Unlock()
		}
		return hook.Verdict{}
	})
	rate, err := hook.ParseRule("icmp : rate 8kbit")
	if err != nil {
		t.Fatal(err)
	}
	rh, err := rate.Hook()
	if err != nil {
		t.Fatal(err)
	}
	st, dev := newSolo(t, func(o *Options) {
		o.DelayQueue = 2
		o.Egress = hook.NewChain(rh, wait)
	})
	for seq := range uint16(10) {
		req := echoRequest4(peer4, addrA4.Addr(), 0x4242, seq, make([]byte, size-28))
		if _, err := dev.Write([][]byte{req}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats().Drops[DropQueueFull] < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d := st.Stats().Drops[DropQueueFull]; d != 8 {
		t.Fatalf("%d replies dropped as queue-full, want 8 of 10 (the queue holds 2)", d)
	}
	req := echoRequest4(peer4, addrA4.Addr(), 0x4242, 10, make([]byte, size-28))
	if _, err := dev.Write([][]byte{req}); err != nil {
		t.Fatal(err)
	}
	reached := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(waits)
	}
	for reached() < 11 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 11 {
		t.Fatalf("%d replies reached the rate, want 11", len(waits))
	}
	// Charged for the two queued and itself: three packets' time from
	// the first, less the little time the test took; charged for all
	// ten before it, eleven.
	if w := waits[10]; w < 2*per || w > 4*per {
		t.Errorf("the 11th reply waits %v at the rate, want about %v (the two queued before it and itself, %v each)", w, 3*per, per)
	}
}

// checkReset waits for both readers to fail and checks that both stacks
// received a RST that reset an established connection. (A read may see
// EOF instead of the reset when a write on the same connection took the
// error first.)
func checkReset(t *testing.T, errc chan error, stacks ...*Stack) {
	t.Helper()
	resets := 0
	for range 2 {
		err := <-errc
		if strings.Contains(err.Error(), "connection reset") {
			resets++
		} else if err != io.EOF {
			t.Errorf("read: %v, want a connection reset", err)
		}
	}
	if resets == 0 {
		t.Error("no read saw the connection reset")
	}
	for i, st := range stacks {
		tcp := st.Stack().Stats().TCP
		if tcp.ResetsReceived.Value() == 0 || tcp.EstablishedResets.Value() == 0 {
			t.Errorf("stack %d: %d RSTs received, %d established connections reset", i, tcp.ResetsReceived.Value(), tcp.EstablishedResets.Value())
		}
	}
}

// TestRSTIngress: "rst after" at a server's ingress resets the connection
// at both ends.
func TestRSTIngress(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
		if which == "b" {
			o.Ingress = chainOf(t, "tcp : rst after 4 packets")
		}
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	deadline := time.Now().Add(10 * time.Second)
	for _, c := range []net.Conn{server, client} {
		c.SetReadDeadline(deadline)
	}
	errc := make(chan error, 2)
	for _, c := range []net.Conn{server, client} {
		go func() {
			buf := make([]byte, 100)
			for {
				if _, err := c.Read(buf); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 10; i++ {
		if _, err := client.Write([]byte("ping")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	checkReset(t, errc, a, b)
	if n := verdicts(b, hook.LinkIngress, "inject", "rst"); n != 1 {
		t.Errorf("rst verdicts = %d", n)
	}
}

// TestEthernetHooks: on an Ethernet link the hooks see IP packets (ARP
// passes by them), and what they inject or send back gets a frame header:
// a transfer survives loss, duplication and TTL rewrites, and "rst after"
// resets both ends.
func TestEthernetHooks(t *testing.T) {
	t.Parallel()
	a, b := newEtherPair(t, func(which string, o *Options) {
		if which == "a" {
			o.Egress = chainOf(t, "loss 10% seed 4", "duplicate 10% seed 5", "ttl 9")
			o.Ingress = chainOf(t, "tcp : window 30000")
		}
	})
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	exchange(t, client, server, 200000)
	s := a.Stats()
	if s.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Drop, Reason: "loss"}] == 0 || s.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Modify, Reason: "rewrite"}] == 0 ||
		s.Verdicts[hook.VerdictKey{Point: hook.LinkIngress, Action: hook.Modify, Reason: "rewrite"}] == 0 {
		t.Errorf("verdicts %v", s.Verdicts)
	}
	if m := b.Stats().Malformed; m.TCPChecksum != 0 || m.IP != 0 {
		t.Errorf("the peer saw malformed packets: %+v", m)
	}

	a.SetEgress(chainOf(t, "tcp : rst after 3 packets"))
	deadline := time.Now().Add(10 * time.Second)
	errc := make(chan error, 2)
	for _, c := range []net.Conn{server, client} {
		c.SetReadDeadline(deadline)
		go func() {
			buf := make([]byte, 100)
			for {
				if _, err := c.Read(buf); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for range 10 {
		if _, err := client.Write([]byte("ping")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	checkReset(t, errc, a, b)
}

// BenchmarkTCPThroughputHooks moves 1 MiB per op with no hook installed,
// with a chain of one hook that passes everything, and with a filtered
// rule that never matches, to compare side by side.
func BenchmarkTCPThroughputHooks(b *testing.B) {
	for _, tc := range []struct {
		name  string
		chain func() *hook.Chain
	}{
		{"none", func() *hook.Chain { return nil }},
		{"pass", func() *hook.Chain {
			return hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict { return hook.Verdict{} }))
		}},
		{"rule", func() *hook.Chain {
			c, _ := hook.ParseRules([]string{"udp and port 53 : drop"})
			return c
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			x, y := benchPair(b, false)
			x.SetEgress(tc.chain())
			y.SetIngress(tc.chain())
			server, client := connect(b, x, y, addrB4, ipv4.ProtocolNumber)
			buf := make([]byte, 1<<20)
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, server, int64(b.N)*int64(len(buf)))
				done <- err
			}()
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := client.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// A verdict's trace event says what the verdict did: a delay's length,
// the copies of a duplicate, and the rule that decided, in its fields and
// in its summary.
func TestVerdictEvents(t *testing.T) {
	t.Parallel()
	var rec recorder
	tr := trace.New(&rec)
	rule, err := hook.ParseRule("icmp : delay 5ms")
	if err != nil {
		t.Fatal(err)
	}
	delay, err := rule.Hook()
	if err != nil {
		t.Fatal(err)
	}
	dup := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		if h := p.Headers(); h.Version != 4 || h.Proto != hook.ProtoICMP {
			return hook.Verdict{} // only the echo reply, as the rule's filter
		}
		return hook.Verdict{Action: hook.Duplicate, Reason: "twice", Copies: 1}
	})
	_, dev := newSolo(t, func(o *Options) {
		o.Tracer = tr
		o.Egress = hook.NewChain(delay, dup)
	})
	ping4(t, dev, 1)
	tr.Flush()
	var got []trace.Event
	for _, e := range rec.all() {
		if e.Name == "verdict" {
			got = append(got, e)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d verdict events, want 2: %+v", len(got), got)
	}
	d, c := got[0], got[1]
	if d.Field("delay") != "5ms" || d.Field("rule") != "icmp : delay 5ms" || !strings.Contains(d.Summary, `delay 5ms by rule "icmp : delay 5ms"`) {
		t.Errorf("delay verdict event: %q, fields %v", d.Summary, d.Fields)
	}
	if fmt.Sprint(c.Field("copies")) != "1" || c.Field("reason") != "twice" || !strings.Contains(c.Summary, "duplicate twice") {
		t.Errorf("duplicate verdict event: %q, fields %v", c.Summary, c.Fields)
	}
}

// A delay counts from when the packet reached the hook point, not from when
// the hooks (and the trace of their verdicts) were done with it: a rate's
// delays are times at which packets leave, and a slow hook or trace sink
// must not push one packet behind those after it.
func TestDelayFromHookPoint(t *testing.T) {
	t.Parallel()
	st, dev := newSolo(t, nil)
	w := newWire(dev)
	slowDone := make(chan struct{})
	st.SetEgress(hook.NewChain(hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		h := p.Headers()
		if h.Proto != hook.ProtoICMP {
			return hook.Verdict{}
		}
		switch binary.BigEndian.Uint16(p.Data[h.L4+6:]) {
		case 1:
			// A hook that takes 200ms over a packet it delays by
			// 200ms: the packet is due 200ms after it got here.
			time.Sleep(200 * time.Millisecond)
			defer close(slowDone)
			return hook.Verdict{Action: hook.Delay, Delay: 200 * time.Millisecond, Reason: "slow"}
		default:
			// Here at least 200ms later, due 100ms after that.
			return hook.Verdict{Action: hook.Delay, Delay: 100 * time.Millisecond, Reason: "quick"}
		}
	})))
	w.send(t, 1)
	<-slowDone
	w.send(t, 2)
	if got := echoSeq(w.reply(t)); got != 1 {
		t.Fatalf("first reply is to %d, want 1: the delay of 1 counted from when its hook was done", got)
	}
	if got := echoSeq(w.reply(t)); got != 2 {
		t.Fatalf("second reply is to %d, want 2", got)
	}
}
