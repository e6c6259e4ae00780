package ws_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/stacktest"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

// TestStacksIdleConnsHoldNoGoroutine serves WebSocket echo on the userspace
// stack with NotifyReadable instead of a goroutine per connection: once
// every connection has echoed a message and gone idle, the number of
// goroutines is what it was before they were opened, and messages that
// arrive later are echoed. It logs the heap per idle connection (both
// stacks' TCP endpoints and both Conns included).
func TestStacksIdleConnsHoldNoGoroutine(t *testing.T) {
	// Not parallel: it counts goroutines.
	const conns = 100
	client, server, _ := stacktest.Pair(t, tun.PipeOptions{MTU: linkMTU})
	cs := sockets.New(client.Stack(), sockets.Options{})
	ss := sockets.New(server.Stack(), sockets.Options{})
	ln, err := ss.Listener("tcp4", net.JoinHostPort(serverPrefix.Addr().String(), "80"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	served := make(chan *ws.Conn, conns+1)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c, err := ws.Upgrade(ctx, nc, nil)
			if err != nil {
				nc.Close()
				continue
			}
			served <- c
			serveEvents(c)
		}
	}()
	var all []*ws.Conn
	defer func() {
		for _, c := range all {
			c.CloseNow()
		}
		ln.Close()
		<-acceptDone
		close(served)
		for c := range served {
			c.CloseNow()
		}
	}()
	dial := func() *ws.Conn {
		t.Helper()
		nc, err := cs.DialContext(ctx, "tcp4", net.JoinHostPort(serverPrefix.Addr().String(), "80"))
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := ws.Client(ctx, nc, "ws://"+serverPrefix.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
		return c
	}
	echo := func(c *ws.Conn, msg string) {
		t.Helper()
		if err := c.WriteMessage(ctx, ws.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.ReadMessage(ctx)
		if err != nil || string(p) != msg {
			t.Fatalf("echo %q: %q %v", msg, p, err)
		}
	}
	echo(dial(), "warm up")

	settle := func(n int) (goroutines int, heap uint64) {
		for range 100 {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			g := runtime.NumGoroutine()
			if g <= n {
				return g, m.HeapAlloc
			}
			time.Sleep(20 * time.Millisecond)
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return runtime.NumGoroutine(), m.HeapAlloc
	}
	// For comparison, the same number of plain TCP connections between
	// the stacks, without WebSocket, on port 81.
	raw, err := ss.Listener("tcp4", net.JoinHostPort(serverPrefix.Addr().String(), "81"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var plain []net.Conn
	defer func() {
		for _, c := range plain {
			c.Close()
		}
	}()
	_, hr0 := settle(runtime.NumGoroutine())
	for range conns {
		a, err := cs.DialContext(ctx, "tcp4", net.JoinHostPort(serverPrefix.Addr().String(), "81"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := raw.Accept()
		if err != nil {
			t.Fatal(err)
		}
		plain = append(plain, a, b)
	}
	_, hr1 := settle(runtime.NumGoroutine())

	g0, h0 := settle(0)
	var clients []*ws.Conn
	for i := range conns {
		c := dial()
		echo(c, fmt.Sprint("hello ", i))
		clients = append(clients, c)
	}
	g1, h1 := settle(g0)
	if g1 > g0+conns/10 {
		t.Fatalf("%d goroutines for %d idle connections", g1-g0, conns)
	}
	t.Logf("%d idle connections: %d goroutines, %.1f KB of heap per connection (client and server, stacks included); "+
		"a plain TCP connection between the stacks takes %.1f KB",
		conns, g1-g0, float64(h1-h0)/conns/1024, float64(hr1-hr0)/conns/1024)

	for i, c := range clients {
		echo(c, fmt.Sprint("later ", i))
	}
	if g2, _ := settle(g0); g2 > g0+conns/10 {
		t.Fatalf("%d goroutines for %d idle connections after more messages", g2-g0, conns)
	}
}

// serveEvents echoes every message on c from NotifyReadable callbacks.
func serveEvents(c *ws.Conn) {
	ctx := context.Background()
	var buf []byte
	var next func()
	next = func() {
		typ, p, err := c.ReadMessageInto(ctx, buf)
		if err != nil {
			c.CloseNow()
			return
		}
		buf = p
		if c.WriteMessage(ctx, typ, p) != nil {
			c.CloseNow()
			return
		}
		c.NotifyReadable(next)
	}
	c.NotifyReadable(next)
}
