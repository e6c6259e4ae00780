package ws_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/stacktest"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

// TestStacksFailedPeerLeavesNoOrphan: a connection failed because its
// peer takes nothing (a write that timed out, a close handshake that
// timed out behind a blocked write, the 1008 of a full write queue) is
// reset, not closed with a FIN behind megabytes the peer will never read.
// Closed with a FIN, the server's stack keeps the connection, without a
// descriptor and with its send buffer full, until TCP gives up on the
// peer, minutes later; the test looks for that connection in the
// server's socket table once the handler has seen the failure.
func TestStacksFailedPeerLeavesNoOrphan(t *testing.T) {
	t.Parallel()
	big := make([]byte, 4<<20) // more than the send buffer and the peer's window together
	cases := []struct {
		name    string
		opts    ws.ConnOptions
		handler func(c *ws.Conn) error
		want    func(error) bool
	}{
		{
			name: "write timed out",
			handler: func(c *ws.Conn) error {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				return c.WriteMessage(ctx, ws.MessageBinary, big)
			},
			want: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
		},
		{
			// As /chat drops a member: Close from another goroutine
			// while a write to the member is stuck.
			name: "close handshake timed out",
			opts: ws.ConnOptions{CloseTimeout: 200 * time.Millisecond},
			handler: func(c *ws.Conn) error {
				writing := make(chan error, 1)
				go func() { writing <- c.WriteMessage(context.Background(), ws.MessageBinary, big) }()
				waitSendQueued(c)
				err := c.Close(ws.StatusPolicyViolation, "too far behind")
				<-writing
				return err
			},
			want: func(err error) bool { return err != nil },
		},
		{
			// As serve's /echo queues for a peer that stopped reading.
			name: "write queue full",
			opts: ws.ConnOptions{CloseTimeout: 200 * time.Millisecond, WriteQueueLimit: len(big) + 1<<10, WriteQueueFull: ws.QueueFailConn},
			handler: func(c *ws.Conn) error {
				if err := c.Send(ws.MessageBinary, big); err != nil {
					return err
				}
				waitSendQueued(c)
				err := c.Send(ws.MessageBinary, big)
				// The connection fails with 1008 and TCP is closed,
				// which ends this read.
				c.ReadMessage(context.Background())
				return err
			},
			want: func(err error) bool { return errors.Is(err, ws.ErrWriteQueueFull) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ss, url, cs, results := abortServer(t, tc.opts, tc.handler)
			c, _, err := ws.Dial(stacksContext(t), url, &ws.DialOptions{NetDial: cs.DialContext})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow() // and never reads
			var herr error
			select {
			case herr = <-results:
			case <-time.After(30 * time.Second):
				t.Fatal("the handler did not end within 30 s")
			}
			if !tc.want(herr) {
				t.Fatalf("handler: %v", herr)
			}
			peer := c.LocalAddr().(*net.TCPAddr).AddrPort()
			for _, row := range ss.Snapshot() {
				if row.Type == sockets.SOCK_STREAM && row.Peer == peer && row.SendQ > 0 {
					t.Fatalf("the server's stack still holds the failed connection: %s Send-Q %d (fd %d)", row.State, row.SendQ, row.FD)
				}
			}
		})
	}
}

// waitSendQueued waits until c's transport holds the peer's window's
// worth of unacknowledged bytes: a write is under way that the peer will
// not take whole.
func waitSendQueued(c *ws.Conn) {
	for n, _ := c.SendQueued(); n < 256<<10; n, _ = c.SendQueued() {
		time.Sleep(time.Millisecond)
	}
}

// abortServer serves one WebSocket route with handler on a server stack
// and returns the server's sockets, the route's URL, the client stack's
// sockets and the channel of handler results.
func abortServer(t *testing.T, opts ws.ConnOptions, handler func(c *ws.Conn) error) (ss *sockets.Sockets, url string, cs *sockets.Sockets, results chan error) {
	t.Helper()
	client, server, _ := stacktest.Pair(t, tun.PipeOptions{MTU: linkMTU})
	ss = sockets.New(server.Stack(), sockets.Options{})
	cs = sockets.New(client.Stack(), sockets.Options{})
	results = make(chan error, 1)
	done := make(chan struct{})
	handled := func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{ConnOptions: opts})
		if err == nil {
			err = handler(c)
			c.CloseNow()
		}
		results <- err
		close(done)
	}
	addr := netip.AddrPortFrom(stacktest.ServerPrefix.Addr(), 80)
	ln, err := ss.Listener("tcp4", addr.String())
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(handled), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the handler did not end")
		}
	})
	return ss, "ws://" + addr.String() + "/", cs, results
}
