// Frame-rewrite changes WebSocket text in flight. Two userspace stacks are
// wired back to back over an in-memory link; the server echoes every
// message, and a frame hook on the server's read side (AcceptOptions.
// FrameHook) rewrites each text frame after it has been parsed and
// unmasked and before the server sees it: "hello" becomes "HELLO". The
// length is re-encoded by ws, so the rewrite may change it. Every frame
// the hook changes is a "verdict" trace event, printed as it happens.
//
//	go run ./examples/frame-rewrite
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

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "frame-rewrite:", err)
		os.Exit(1)
	}
}

// rewriter is the frame rule: text frames read by the server have every
// "hello" replaced with "HELLO".
var rewriter = &ws.FrameRule{
	Name:  `ws in text : replace "hello" "HELLO"`,
	Match: ws.FrameMatch{Dir: trace.In, Opcodes: []ws.Opcode{ws.OpText}, Contains: []byte("hello")},
	Edit: func(f *ws.HookFrame) {
		f.Payload = bytes.ReplaceAll(f.Payload, []byte("hello"), []byte("HELLO"))
	},
	Verdict: ws.FrameVerdict{Verdict: hook.Verdict{Action: hook.Modify, Reason: "rewrite"}},
}

// run performs the exchange and writes what happens to w.
func run(ctx context.Context, w io.Writer) error {
	out := &lockedWriter{w: w}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

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

	// Only the hook's decisions are printed from the trace.
	verdicts := trace.New(trace.SinkFunc(func(e *trace.Event) {
		if e.Name == "verdict" {
			fmt.Fprintf(out, "trace: %s %s verdict: %s (rule %v)\n", e.Node, e.Layer, e.Summary, e.Field("rule"))
		}
	}))
	opts := &ws.AcceptOptions{ConnOptions: ws.ConnOptions{FrameHook: rewriter, Tracer: verdicts, Node: "server"}}

	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:80")
	if err != nil {
		return err
	}
	var handlers sync.WaitGroup
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		c, err := ws.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.ReadMessage(r.Context())
			if err != nil {
				return
			}
			fmt.Fprintf(out, "server: received %q, echoing it\n", msg)
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
		srv.Close()
		<-served
		handlers.Wait()
	}()

	csocks := sockets.New(client.Stack(), sockets.Options{})
	c, _, err := ws.Dial(ctx, "ws://10.0.0.2/", &ws.DialOptions{NetDial: csocks.DialContext})
	if err != nil {
		return err
	}
	defer c.CloseNow()

	for _, msg := range []string{"hello", "say hello to hello", "goodbye"} {
		fmt.Fprintf(out, "client: sending %q\n", msg)
		if err := c.WriteMessage(ctx, ws.MessageText, []byte(msg)); err != nil {
			return err
		}
		_, got, err := c.ReadMessage(ctx)
		if err != nil {
			return err
		}
		if want := bytes.ReplaceAll([]byte(msg), []byte("hello"), []byte("HELLO")); !bytes.Equal(got, want) {
			return fmt.Errorf("sent %q, got back %q, want %q", msg, got, want)
		}
		fmt.Fprintf(out, "client: got back %q\n", got)
	}
	return c.Close(ws.StatusNormalClosure, "bye")
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
