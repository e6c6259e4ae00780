package app

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/glassnet/glassnet/ws"
)

// TestCloseIdleSkipsClosing checks that the idle timer, late after a
// pause of the process, does not count as idle a WebSocket that is
// closing already (here the keepalive's 1011, or any close sent before
// the timer looked): `glassnet ss` would count it twice, as failed and as
// idle, and the close would be the keepalive's all the same.
func TestCloseIdleSkipsClosing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, b := net.Pipe()
	type result struct {
		c   *ws.Conn
		err error
	}
	srv := make(chan result, 1)
	go func() {
		c, err := ws.Upgrade(ctx, a, &ws.AcceptOptions{ConnOptions: ws.ConnOptions{CloseTimeout: 100 * time.Millisecond}})
		srv <- result{c, err}
	}()
	cli, _, err := ws.Client(ctx, b, "ws://example.test/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.CloseNow()
	r := <-srv
	if r.err != nil {
		t.Fatal(r.err)
	}
	c := r.c
	defer c.CloseNow()

	h := &Handlers{IdleTimeout: time.Millisecond, limit: &connLimit{}}
	cl := &wsClient{idle: time.NewTimer(time.Hour)}
	defer cl.idle.Stop()
	cl.last.Store(time.Now().Add(-time.Minute).UnixNano())
	h.clients = map[*ws.Conn]*wsClient{c: cl}

	if c.CloseSent() {
		t.Fatal("CloseSent before any close")
	}
	// Another close goes out first, as the keepalive's does; the peer
	// never answers it, so that Close returns at its timeout.
	if err := c.Close(ws.StatusInternalError, "keepalive: no pong"); err == nil {
		t.Fatal("Close returned nil with a peer that never answers")
	}
	if !c.CloseSent() {
		t.Fatal("CloseSent false after Close")
	}
	h.closeIdle(c, cl)
	if n := h.limit.idle.Load(); n != 0 {
		t.Errorf("a WebSocket closing already was counted %d times as idle", n)
	}
}
