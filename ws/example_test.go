package ws_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

// echo is an http.Handler that echoes every message until the client
// closes. Reading into one buffer, reused, makes a message cost no
// allocation once the buffer has grown to the largest.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, &ws.AcceptOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		return // Accept has written the rejection
	}
	defer c.CloseNow()
	ctx := context.Background()
	var buf []byte
	for {
		typ, p, err := c.ReadMessageInto(ctx, buf)
		if err != nil {
			return
		}
		if err := c.WriteMessage(ctx, typ, p); err != nil {
			return
		}
		buf = p
	}
}

func ExampleAccept() {
	srv := httptest.NewServer(http.HandlerFunc(echo))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &ws.DialOptions{Subprotocols: []string{"echo"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.WriteMessage(ctx, ws.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, p, err := c.ReadMessage(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Subprotocol(), typ, string(p))
	if err := c.Close(ws.StatusNormalClosure, "bye"); err != nil {
		log.Fatal(err)
	}
	// Output: echo text hello
}

func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(echo))
	defer srv.Close()

	// NetDial chooses the transport, for example a userspace stack.
	opts := &ws.DialOptions{
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	ctx := context.Background()
	c, resp, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/echo", opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	// A message in three frames.
	if err := c.WriteFragmented(ctx, ws.MessageText, []byte("frag"), []byte("men"), []byte("ted")); err != nil {
		log.Fatal(err)
	}
	_, p, err := c.ReadMessage(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(p))
	c.Close(ws.StatusNormalClosure, "")
	// Output:
	// 101 Switching Protocols
	// fragmented
}

func ExampleUpgrade() {
	serverSide, clientSide := net.Pipe()
	go func() {
		c, err := ws.Upgrade(context.Background(), serverSide, nil)
		if err != nil {
			serverSide.Close()
			return
		}
		defer c.CloseNow()
		_, p, err := c.ReadMessage(context.Background())
		if err != nil {
			return
		}
		c.WriteMessage(context.Background(), ws.MessageText, []byte(strings.ToUpper(string(p))))
		c.ReadMessage(context.Background()) // until the close handshake
	}()

	ctx := context.Background()
	c, _, err := ws.Client(ctx, clientSide, "ws://glassnet.example/", nil)
	if err != nil {
		log.Fatal(err)
	}
	c.WriteMessage(ctx, ws.MessageText, []byte("over a pipe"))
	_, p, _ := c.ReadMessage(ctx)
	fmt.Println(string(p))
	c.Close(ws.StatusNormalClosure, "")
	// Output: OVER A PIPE
}

func ExampleDialOptions_tracer() {
	srv := httptest.NewServer(http.HandlerFunc(echo))
	defer srv.Close()

	tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
		if e.Name != "handshake" {
			fmt.Printf("%-3s %-7s %s\n", e.Dir, e.Name, e.Summary)
		}
	}))
	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &ws.DialOptions{ConnOptions: ws.ConnOptions{Tracer: tr, Node: "client"}})
	if err != nil {
		log.Fatal(err)
	}
	c.WriteMessage(ctx, ws.MessageText, []byte("hello"))
	c.ReadMessage(ctx)
	c.Close(ws.StatusNormalClosure, "bye")
	// Output:
	// out message message text "hello" (5 bytes, 1 frame)
	// out frame   FIN text len=5 masked
	// in  frame   FIN text len=5
	// in  message message text "hello" (5 bytes, 1 frame)
	// out frame   FIN close len=5 masked
	// out close   close sent 1000 (normal closure) "bye"
	// in  frame   FIN close len=2
	// in  close   close received 1000 (normal closure) ""
	// out close   tcp closed
}

// eventEcho is an http.Handler that echoes every message without a
// goroutine of its own per connection: the handler returns once the first
// notification is armed, and each notification reads one message, echoes
// it and arms the next. Over the glassnet stack an idle connection then
// holds no goroutine and no buffer.
func eventEcho(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx := context.Background()
	var buf []byte // reused for every message
	var next func()
	next = func() {
		typ, p, err := c.ReadMessageInto(ctx, buf)
		if err != nil {
			c.CloseNow()
			return
		}
		buf = p
		if err := c.WriteMessage(ctx, typ, p); err != nil {
			c.CloseNow()
			return
		}
		c.NotifyReadable(next)
	}
	c.NotifyReadable(next)
}

func ExampleConn_NotifyReadable() {
	srv := httptest.NewServer(http.HandlerFunc(eventEcho))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range []string{"one", "two", "three"} {
		if err := c.WriteMessage(ctx, ws.MessageText, []byte(s)); err != nil {
			log.Fatal(err)
		}
		_, p, err := c.ReadMessage(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(p))
	}
	c.Close(ws.StatusNormalClosure, "")
	// Output:
	// one
	// two
	// three
}

func ExampleConn_Send() {
	// A server that pushes updates without waiting for the client: Send
	// queues each message (up to WriteQueueLimit bytes; a client that
	// falls further behind is let go with close 1008) and returns.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, &ws.AcceptOptions{ConnOptions: ws.ConnOptions{WriteQueueLimit: 1 << 20, WriteQueueFull: ws.QueueFailConn}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for i := range 3 {
			if err := c.Send(ws.MessageText, []byte(fmt.Sprint("update ", i))); err != nil {
				return
			}
		}
		c.ReadMessage(context.Background()) // until the client closes
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		_, p, err := c.ReadMessage(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(p))
	}
	c.Close(ws.StatusNormalClosure, "")
	// Output:
	// update 0
	// update 1
	// update 2
}
