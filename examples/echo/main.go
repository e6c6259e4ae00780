// Echo shows glassnet used as a library: two userspace TCP/IP stacks wired
// back to back over an in-memory link (tun.Pipe), a WebSocket echo server on
// one (net/http on a sockets Listener, ws.Accept) and a client on the other
// (ws.Dial over the client stack's DialContext). It prints the exchange and
// needs no privileges.
//
//	go run ./examples/echo
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// run performs the whole exchange and writes what happens to w.
func run(ctx context.Context, w io.Writer) error {
	out := &lockedWriter{w: w} // the server and the client both print
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// Two stacks, one on each end of the wire.
	clientDev, serverDev := tun.Pipe(tun.PipeOptions{MTU: 1280})
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

	// The server: net/http on the server stack, echoing every message.
	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:80")
	if err != nil {
		return err
	}
	var handlers sync.WaitGroup
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.ReadMessage(r.Context())
			if err != nil {
				fmt.Fprintf(out, "server: connection from %s ended: %v\n", r.RemoteAddr, err)
				return
			}
			fmt.Fprintf(out, "server: echoing %v %q\n", typ, msg)
			if err := c.WriteMessage(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	defer func() {
		srv.Close() // does not wait for WebSocket handlers: they own their connections
		<-served
		handlers.Wait()
	}()

	// The client dials from the other stack.
	csocks := sockets.New(client.Stack(), sockets.Options{})
	c, _, err := ws.Dial(ctx, "ws://10.0.0.2/echo", &ws.DialOptions{NetDial: csocks.DialContext})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	fmt.Fprintf(out, "client: connected %v -> %v\n", c.LocalAddr(), c.RemoteAddr())

	for _, msg := range []string{"hello, glassnet", "every byte went through two userspace TCP/IP stacks"} {
		fmt.Fprintf(out, "client: sending %q\n", msg)
		if err := c.WriteMessage(ctx, ws.MessageText, []byte(msg)); err != nil {
			return err
		}
		_, got, err := c.ReadMessage(ctx)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, []byte(msg)) {
			return fmt.Errorf("sent %q, got back %q", msg, got)
		}
		fmt.Fprintf(out, "client: got back %q\n", got)
	}
	if err := c.Close(ws.StatusNormalClosure, "bye"); err != nil {
		return err
	}
	fmt.Fprintln(out, "client: close handshake done (1000, \"bye\")")
	return nil
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
