// Rst resets a WebSocket connection in the middle of a message: the client
// starts sending a 1 MiB message, and a rule on its link egress, installed
// once the connection is open ("tcp and dst port 80 : rst after 20
// packets"), lets the twentieth segment go and injects a RST after it
// toward the server, and another toward the client's own stack. Both ends
// see the connection reset (ECONNRESET), not a close. It needs no
// privileges.
//
//	go run ./examples/rst
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rst:", err)
		os.Exit(1)
	}
}

const rule = "tcp and dst port 80 : rst after 20 packets"

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
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

	serverErr := make(chan error, 1)
	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:80")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{})
		if err != nil {
			serverErr <- err
			return
		}
		defer c.CloseNow()
		_, p, err := c.ReadMessage(r.Context())
		if err == nil {
			err = fmt.Errorf("a whole message of %d bytes arrived", len(p))
		}
		serverErr <- err
	})}
	go srv.Serve(ln)
	defer srv.Close()

	csocks := sockets.New(client.Stack(), sockets.Options{})
	c, _, err := ws.Dial(ctx, "ws://10.0.0.2/", &ws.DialOptions{NetDial: csocks.DialContext})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	fmt.Fprintf(out, "client: connected %v -> %v\n", c.LocalAddr(), c.RemoteAddr())

	chain, err := hook.ParseRules([]string{rule})
	if err != nil {
		return err
	}
	client.SetEgress(chain)
	fmt.Fprintf(out, "client egress: %q\n", rule)

	msg := bytes.Repeat([]byte("x"), 1<<20)
	fmt.Fprintf(out, "client: sending a %d-byte message\n", len(msg))
	werr := c.WriteMessage(ctx, ws.MessageBinary, msg)
	if werr == nil {
		// The whole message fit in the send buffer; the reset comes to
		// the next read.
		_, _, werr = c.ReadMessage(ctx)
	}
	fmt.Fprintf(out, "client: %v (ECONNRESET: %v)\n", werr, errors.Is(werr, syscall.ECONNRESET))
	var serr error
	select {
	case serr = <-serverErr:
	case <-ctx.Done():
		return errors.New("the server never saw the reset")
	}
	fmt.Fprintf(out, "server: %v (ECONNRESET: %v)\n", serr, errors.Is(serr, syscall.ECONNRESET))
	st := client.Stats()
	fmt.Fprintf(out, "client link: %d RST injected after %d packets out\n",
		st.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Inject, Reason: "rst"}], st.PacketsOut)
	if !errors.Is(werr, syscall.ECONNRESET) || !errors.Is(serr, syscall.ECONNRESET) {
		return errors.New("a side did not see a reset")
	}
	return nil
}
