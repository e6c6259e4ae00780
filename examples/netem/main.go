// Netem shows netem-style rules on glassnet's link: two userspace stacks
// over an in-memory link, a WebSocket echo server on one, and a client on
// the other whose egress first runs clean, then loses 20% of its packets
// and delays the rest by 50 ms ± 10 ms. Pings show the added round trip;
// 200 messages still come back intact and in order, because TCP
// retransmits what was lost. The rules are seeded, so every run is the
// same. It needs no privileges.
//
//	go run ./examples/netem
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "netem:", err)
		os.Exit(1)
	}
}

// rules are what the client's egress gets once the clean round trip is
// measured, written as on glassnet's command line (--egress).
var rules = []string{"loss 20% seed 1", "delay 50ms jitter 10ms seed 2"}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	clientDev, serverDev := tun.Pipe(tun.PipeOptions{})
	server, err := netstack.New(netstack.Options{Device: serverDev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})
	if err != nil {
		clientDev.Close()
		return err
	}
	defer server.Close()
	client, err := netstack.New(netstack.Options{Device: clientDev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	if err != nil {
		return err
	}
	defer client.Close()

	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:80")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(echo)}
	go srv.Serve(ln)
	defer srv.Close()

	csocks := sockets.New(client.Stack(), sockets.Options{})
	c, _, err := ws.Dial(ctx, "ws://10.0.0.2/echo", &ws.DialOptions{NetDial: csocks.DialContext})
	if err != nil {
		return err
	}
	defer c.CloseNow()

	// A reader must run for Ping to see its pong; the echoes of the
	// messages below come to it too.
	echoes := make(chan []byte, 256)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, p, err := c.ReadMessage(ctx)
			if err != nil {
				readErr <- err
				close(echoes)
				return
			}
			echoes <- p
		}
	}()

	clean, err := medianPing(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "clean link: median ping round trip %v\n", clean.Round(10*time.Microsecond))

	chain, err := hook.ParseRules(rules)
	if err != nil {
		return err
	}
	client.SetEgress(chain)
	fmt.Fprintf(out, "client egress now: %q\n", rules)
	slow, err := medianPing(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "with the rules: median ping round trip %v\n", slow.Round(time.Millisecond))
	if slow < 40*time.Millisecond {
		return fmt.Errorf("the 50ms delay did not show: median %v", slow)
	}

	const n = 200
	go func() {
		for i := range n {
			if err := c.WriteMessage(ctx, ws.MessageText, message(i)); err != nil {
				return
			}
		}
	}()
	for i := range n {
		got, ok := <-echoes
		if !ok {
			return fmt.Errorf("message %d: %w", i, <-readErr)
		}
		if !bytes.Equal(got, message(i)) {
			return fmt.Errorf("message %d came back as %q", i, got)
		}
	}
	st := client.Stats()
	lost := st.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Drop, Reason: "loss"}]
	delayed := st.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Delay, Reason: "delay"}]
	fmt.Fprintf(out, "%d messages came back intact and in order\n", n)
	fmt.Fprintf(out, "the client's link lost %d packets and delayed %d; TCP retransmitted %d segments\n",
		lost, delayed, client.Stack().Stats().TCP.Retransmits.Value())
	client.SetEgress(nil)
	return c.Close(ws.StatusNormalClosure, "done")
}

func message(i int) []byte { return fmt.Appendf(nil, "message %03d", i) }

func medianPing(ctx context.Context, c *ws.Conn) (time.Duration, error) {
	var rtts []time.Duration
	for range 7 {
		start := time.Now()
		if err := c.Ping(ctx, nil); err != nil {
			return 0, err
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], nil
}

func echo(w http.ResponseWriter, r *http.Request) {
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
