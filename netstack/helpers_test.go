package netstack

import (
	"bytes"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

var (
	addrA4 = netip.MustParsePrefix("10.0.0.1/24")
	addrB4 = netip.MustParsePrefix("10.0.0.2/24")
	addrA6 = netip.MustParsePrefix("fd00::1/64")
	addrB6 = netip.MustParsePrefix("fd00::2/64")
)

// newPair builds two stacks wired back to back over tun.Pipe: a has
// 10.0.0.1 and fd00::1, b has 10.0.0.2 and fd00::2. edit, if set, adjusts
// each stack's options ("a" or "b").
func newPair(t *testing.T, popts tun.PipeOptions, edit func(which string, o *Options)) (a, b *Stack) {
	t.Helper()
	da, db := tun.Pipe(popts)
	oa := Options{Device: da, Addrs: []netip.Prefix{addrA4, addrA6}, Node: "a"}
	ob := Options{Device: db, Addrs: []netip.Prefix{addrB4, addrB6}, Node: "b"}
	if edit != nil {
		edit("a", &oa)
		edit("b", &ob)
	}
	a = mustNew(t, oa)
	b = mustNew(t, ob)
	return a, b
}

func mustNew(t testing.TB, o Options) *Stack {
	t.Helper()
	st, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// newSolo builds one stack on end a of a pipe and returns the other end
// for the test to write raw packets into and read replies from.
func newSolo(t *testing.T, edit func(o *Options)) (*Stack, *tun.PipeEnd) {
	t.Helper()
	da, db := tun.Pipe(tun.PipeOptions{})
	t.Cleanup(func() { db.Close() })
	o := Options{Device: da, Addrs: []netip.Prefix{addrA4, addrA6}, Node: "solo"}
	if edit != nil {
		edit(&o)
	}
	return mustNew(t, o), db
}

func fullAddr(p netip.Prefix, port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{Addr: tcpip.AddrFromSlice(p.Addr().AsSlice()), Port: port}
}

// recorder is a trace.Sink that keeps copies of the events.
type recorder struct {
	mu     sync.Mutex
	events []trace.Event
}

func (r *recorder) Emit(e *trace.Event) {
	c := *e
	c.Fields = append([]trace.Field(nil), e.Fields...)
	c.Data = append([]byte(nil), e.Data...)
	r.mu.Lock()
	r.events = append(r.events, c)
	r.mu.Unlock()
}

func (r *recorder) all() []trace.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]trace.Event(nil), r.events...)
}

func field(e trace.Event, key string) (any, bool) {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// tcpInfo returns c's TCP_INFO.
func tcpInfo(t *testing.T, c tcpip.Endpoint) tcpip.TCPInfoOption {
	t.Helper()
	var ti tcpip.TCPInfoOption
	if err := c.GetSockOpt(&ti); err != nil {
		t.Fatalf("TCP_INFO: %v", err)
	}
	return ti
}

// writeZeros has the application of c write n zero bytes; it fails the
// test unless c takes them all.
func writeZeros(t *testing.T, c tcpip.Endpoint, n int) {
	t.Helper()
	if m, err := c.Write(bytes.NewReader(make([]byte, n)), tcpip.WriteOptions{}); err != nil || int(m) != n {
		t.Fatalf("write %d: %d, %v", n, m, err)
	}
}

// waitSendQ waits until c's Send-Q (what is written and not yet
// acknowledged) is want: the stack takes the peer's ACKs on its own
// goroutine. It fails the test after 10 s.
func waitSendQ(t *testing.T, c tcpip.Endpoint, want int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Microsecond) {
		if n, err := c.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil && n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Send-Q not %d 10 s after the ACK that would make it so", want)
		}
	}
}

// blackhole drops, while on is set, every TCP segment that carries data
// or, with all, every packet: a link that loses a burst.
func blackhole(on *atomic.Bool, all bool) hook.PacketHook {
	return hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		if !on.Load() {
			return hook.Verdict{}
		}
		if h := p.Headers(); all || h.Proto == 6 && h.Payload > 0 {
			return hook.Verdict{Action: hook.Drop, Reason: "blackhole"}
		}
		return hook.Verdict{}
	})
}
