package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	coder "github.com/coder/websocket"
	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"

	"github.com/glassnet/glassnet/ws"
)

// Every server echoes each message with its library's own message-level
// API, as an application would write it. glassnet's echo is the server
// sketch of ws's package documentation, with the default options: it
// reads with ReadMessageInto, into a buffer the handler keeps
// (ReadMessage hands the caller a new slice per message, gorilla's and
// coder's Read do too).

func glassnetHandler(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	var buf []byte // reused for every message
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

// glassnetIdleHandler is glassnet's server in the idle-memory section: the
// same echo, served from notifications (ws.Conn.NotifyReadable) instead of
// a goroutine per connection. The handler returns once the first
// notification is armed, which ends net/http's goroutine for the
// hijacked connection; each notification reads one message, echoes it
// and arms the next. Over the userspace stack an armed notification is an
// entry on the TCP endpoint's wait queue: no goroutine, no stack, no
// buffer. Over a kernel *net.TCPConn ws has no readiness callback and
// parks a goroutine in a one-byte read instead. The other libraries are
// measured with their own model, a goroutine per connection blocked in a
// read.
func glassnetIdleHandler(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, &ws.AcceptOptions{ConnOptions: ws.ConnOptions{MaxMessageSize: -1}})
	if err != nil {
		return
	}
	e := &notifyEcho{c: c}
	e.next = e.serve
	c.NotifyReadable(e.next)
}

// notifyEcho is the state of one connection of glassnetIdleHandler.
type notifyEcho struct {
	c    *ws.Conn
	next func()
}

func (e *notifyEcho) serve() {
	ctx := context.Background()
	typ, p, err := e.c.ReadMessage(ctx)
	if err == nil {
		err = e.c.WriteMessage(ctx, typ, p)
	}
	if err != nil {
		e.c.CloseNow()
		return
	}
	e.c.NotifyReadable(e.next)
}

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}

func gorillaHandler(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(typ, p); err != nil {
			return
		}
	}
}

func coderHandler(w http.ResponseWriter, r *http.Request) {
	c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coder.CompressionDisabled})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	ctx := context.Background()
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}

func gobwasHandler(w http.ResponseWriter, r *http.Request) {
	c, _, _, err := gobwas.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		p, op, err := wsutil.ReadClientData(c)
		if err != nil {
			return
		}
		if err := wsutil.WriteServerMessage(c, op, p); err != nil {
			return
		}
	}
}

// wsTarget is a running WebSocket echo server and how to reach it.
type wsTarget struct {
	name  string
	url   string
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	pair  *pair   // set for the userspace stack
	proc  *wsProc // set for a server in a process of its own
	close func()
}

func serveHTTP(l net.Listener, h http.HandlerFunc) func() {
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	return func() { srv.Close() }
}

type serverKind struct {
	name    string
	handler http.HandlerFunc
	user    bool // on the userspace stack instead of kernel loopback
	// idle, if set, replaces handler in the idle-memory section.
	idle http.HandlerFunc
}

var serverKinds = []serverKind{
	{"glassnet", glassnetHandler, false, glassnetIdleHandler},
	{"gorilla", gorillaHandler, false, nil},
	{"coder", coderHandler, false, nil},
	{"gobwas", gobwasHandler, false, nil},
	{"glassnet/userspace", glassnetHandler, true, glassnetIdleHandler},
}

// startWSChild starts a server on kernel sockets in a process of its own
// (wsproc.go), with env added to its environment; a server on the
// userspace stack runs in this process, with the client's stack, as
// startWS runs it.
func startWSChild(k serverKind, env ...string) (*wsTarget, error) {
	if k.user {
		return startWS(k)
	}
	p, err := startWSProc(k, env...)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	return &wsTarget{name: k.name, url: "ws://" + p.addr + "/", dial: d.DialContext, proc: p, close: p.close}, nil
}

// startWS starts a server of kind k in this process.
func startWS(k serverKind) (*wsTarget, error) {
	if !k.user {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		return &wsTarget{name: k.name, url: "ws://" + l.Addr().String() + "/", dial: d.DialContext, close: serveHTTP(l, k.handler)}, nil
	}
	p, err := newPair(1500, true)
	if err != nil {
		return nil, err
	}
	l, err := p.ssocks.Listener("tcp4", ":8080")
	if err != nil {
		p.Close()
		return nil, err
	}
	stop := serveHTTP(l, k.handler)
	return &wsTarget{
		name: k.name, url: fmt.Sprintf("ws://%s:8080/", p.serverAddr), pair: p,
		dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if p.csocks == nil {
				return nil, errors.New("client stack closed")
			}
			return p.csocks.Dial(ctx, "tcp4", addr)
		},
		close: func() { stop(); p.Close() },
	}, nil
}
