package netstack

import (
	"io"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"weak"

	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// TestClosedStacksAreCollected: two stacks that carried a TCP connection,
// then closed it and were closed, leave nothing reachable, traced or not.
// A traced stack has iptables rules (the IP steps are seen through them),
// and upstream gVisor started connection tracking's reaper, a timer that
// resets itself for ever, with a stack's first table of any kind: the
// timer kept the tables and the stack (third_party/gvisor patch 49).
func TestClosedStacksAreCollected(t *testing.T) {
	for _, traced := range []bool{false, true} {
		var tr *trace.Tracer
		if traced {
			tr = trace.New(trace.NewRing(16))
		}
		x, y := carryOneConnection(t, tr)
		if traced && !y.IPTables().Modified() {
			t.Fatal("a traced stack has no iptables rules: the test checks nothing")
		}
		wx, wy := weak.Make(x), weak.Make(y)
		x, y = nil, nil
		// Goroutines that end with the stacks (its processors, the
		// pipe's readers) may hold them a little after Close.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && (wx.Value() != nil || wy.Value() != nil); {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if wx.Value() != nil || wy.Value() != nil {
			t.Errorf("traced %v: a closed stack is still reachable (client %v, server %v)", traced, wx.Value() != nil, wy.Value() != nil)
		}
	}
}

// carryOneConnection makes two stacks, sends a message over a connection
// between them, closes it and them, and returns their gVisor stacks.
func carryOneConnection(t *testing.T, tr *trace.Tracer) (client, server *stack.Stack) {
	t.Helper()
	da, db := tun.Pipe(tun.PipeOptions{})
	x, err := New(Options{Device: da, Addrs: []netip.Prefix{addrA4}, Node: "client", Tracer: tr})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	y, err := New(Options{Device: db, Addrs: []netip.Prefix{addrB4}, Node: "server", Tracer: tr})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := gonet.ListenTCP(y.Stack(), fullAddr(addrB4, 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	c, err := gonet.DialTCP(x.Stack(), fullAddr(addrB4, 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := io.ReadFull(s, make([]byte, 5)); err != nil {
		t.Fatalf("read: %v", err)
	}
	c.Close()
	s.Close()
	ln.Close()
	client, server = x.Stack(), y.Stack()
	for _, st := range []*Stack{x, y} {
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	return client, server
}
