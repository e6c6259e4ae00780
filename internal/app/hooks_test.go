package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

// hookedPair is two stacks over tun.Pipe, a WebSocket server (handler) on
// port 80 of one and rules on the other's link.
type hookedPair struct {
	client, server *netstack.Stack
	csocks         *sockets.Sockets
}

func startHooked(t *testing.T, rules Rules, handler http.HandlerFunc) *hookedPair {
	t.Helper()
	egress, ingress, err := rules.chains()
	if err != nil {
		t.Fatal(err)
	}
	cdev, sdev := tun.Pipe(tun.PipeOptions{NameA: "client0", NameB: "server0"})
	server, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{demoServerAddr}})
	if err != nil {
		cdev.Close()
		t.Fatal(err)
	}
	client, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{demoClientAddr}, Egress: egress, Ingress: ingress})
	if err != nil {
		server.Close()
		t.Fatal(err)
	}
	ssocks := sockets.New(server.Stack(), sockets.Options{})
	l, err := ssocks.Listener("tcp", demoServerAddr.Addr().String()+":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
		client.Close()
		server.Close()
	})
	return &hookedPair{client: client, server: server, csocks: sockets.New(client.Stack(), sockets.Options{})}
}

func (p *hookedPair) dial(t *testing.T, ctx context.Context) *ws.Conn {
	t.Helper()
	c, _, err := ws.Dial(ctx, "ws://"+demoServerAddr.Addr().String()+"/", &ws.DialOptions{NetDial: p.csocks.DialContext})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// echoHandler echoes every message until the connection ends.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	for {
		typ, p, err := c.ReadMessage(r.Context())
		if err != nil {
			return
		}
		if err := c.WriteMessage(r.Context(), typ, p); err != nil {
			return
		}
	}
}

// TestLossReorderDuplicate sends 1,000 WebSocket messages from a client
// whose link loses 20% of what it sends, holds some back and duplicates
// some: TCP recovers, so every echo comes back intact and in order.
func TestLossReorderDuplicate(t *testing.T) {
	t.Parallel()
	rules := Rules{Egress: []string{"loss 20% seed 1", "reorder 10% seed 2", "duplicate 5% seed 3"}}
	p := startHooked(t, rules, echoHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := p.dial(t, ctx)

	const n = 1000
	msg := func(i int) []byte {
		return fmt.Appendf(nil, "message %04d %s", i, bytes.Repeat([]byte{byte('a' + i%26)}, i%700))
	}
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := c.WriteMessage(ctx, ws.MessageText, msg(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for i := range n {
		_, got, err := c.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, msg(i)) {
			t.Fatalf("message %d came back as %.40q", i, got)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	st := p.client.Stats()
	key := func(action hook.Action, reason string) uint64 {
		return st.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: action, Reason: reason}]
	}
	lost, held, doubled := key(hook.Drop, "loss"), key(hook.Delay, "reorder"), key(hook.Duplicate, "duplicate")
	retrans := p.client.Stack().Stats().TCP.Retransmits.Value()
	t.Logf("%d messages in %v; client sent %d packets: %d lost, %d held back, %d duplicated; %d TCP retransmissions",
		n, elapsed.Round(time.Millisecond), st.PacketsOut, lost, held, doubled, retrans)
	if lost == 0 || held == 0 || doubled == 0 || retrans == 0 {
		t.Errorf("the hooks did not act: %v, %d retransmissions", st.Verdicts, retrans)
	}
	if st.Drops["loss"] != lost {
		t.Errorf("Drops[loss] = %d, want %d", st.Drops["loss"], lost)
	}
}

// TestDelayRoundTrip: 100 ms of egress delay on the client shows up in the
// round trip of a WebSocket ping.
func TestDelayRoundTrip(t *testing.T) {
	t.Parallel()
	p := startHooked(t, Rules{Egress: []string{"delay 100ms"}}, echoHandler)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := p.dial(t, ctx)
	// Ping's pong is read by a reader.
	go c.ReadMessage(ctx)
	var rtts []time.Duration
	for range 9 {
		start := time.Now()
		if err := c.Ping(ctx, []byte("rtt")); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	median := rtts[len(rtts)/2]
	t.Logf("ping round trip with delay 100ms: median %v, min %v, max %v", median, rtts[0], rtts[len(rtts)-1])
	if median < 100*time.Millisecond || median > 5*time.Second {
		t.Errorf("median round trip %v, want at least 100ms (and well under 5s)", median)
	}
}

// TestRSTInjection: "rst after N packets" on the client's egress resets
// the connection mid-conversation; the client application sees ECONNRESET
// and so does the server's.
func TestRSTInjection(t *testing.T) {
	t.Parallel()
	serverErr := make(chan error, 1)
	handler := func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			serverErr <- err
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.ReadMessage(r.Context())
			if err == nil {
				err = c.WriteMessage(r.Context(), typ, p)
			}
			if err != nil {
				serverErr <- err
				return
			}
		}
	}
	p := startHooked(t, Rules{Egress: []string{"tcp and dst port 80 : rst after 10 packets"}}, handler)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := p.dial(t, ctx)
	var clientErr error
	for i := 0; i < 100 && clientErr == nil; i++ {
		if clientErr = c.WriteMessage(ctx, ws.MessageText, []byte("until the reset")); clientErr == nil {
			_, _, clientErr = c.ReadMessage(ctx)
		}
	}
	if !errors.Is(clientErr, syscall.ECONNRESET) {
		t.Fatalf("client: %v, want ECONNRESET", clientErr)
	}
	select {
	case err := <-serverErr:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("server: %v, want ECONNRESET", err)
		}
	case <-ctx.Done():
		t.Fatal("the server's connection was not reset")
	}
	v := p.client.Stats().Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Inject, Reason: "rst"}]
	if v != 1 {
		t.Errorf("rst verdicts = %d, want 1", v)
	}
	t.Logf("client: %v; server: %v", clientErr, "connection reset")
}
