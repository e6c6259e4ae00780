package wsdiff

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
	"github.com/gorilla/websocket"

	"github.com/glassnet/glassnet/ws"
)

// maxMessage is the message limit every server is given: small, so that
// the limit cases cost little.
const maxMessage = 64 << 10

// subprotocols are the subprotocols every server speaks, in its order of
// preference.
var subprotocols = []string{"chat", "superchat"}

// A target is one running echo server.
type target struct {
	name string
	addr string
}

// The servers, each an echo written with its library's own message-level
// API as an application would write it, with compression on, the
// subprotocols above and the message limit. glassnet runs twice: behind
// net/http (ws.Accept) and on a raw connection that reads the request
// itself (ws.Upgrade), as gobwas's server does.
var servers = []struct {
	name  string
	serve func(net.Listener) func()
}{
	{"glassnet", httpServer(glassnetHandler)},
	{"glassnet-raw", rawServer(glassnetRaw)},
	{"gorilla", httpServer(gorillaHandler)},
	{"coder", httpServer(coderHandler)},
	{"gobwas", rawServer(gobwasRaw)},
}

// startTargets starts every server on 127.0.0.1 and stops them when t ends.
func startTargets(t testing.TB) []target {
	t.Helper()
	var ts []target
	for _, s := range servers {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.serve(l))
		ts = append(ts, target{s.name, l.Addr().String()})
	}
	return ts
}

func httpServer(h http.HandlerFunc) func(net.Listener) func() {
	return func(l net.Listener) func() {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		return func() { srv.Close() }
	}
}

// rawServer serves each accepted connection with h on a goroutine of its
// own.
func rawServer(h func(net.Conn)) func(net.Listener) func() {
	return func(l net.Listener) func() {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					h(c)
				}()
			}
		}()
		return func() { l.Close() }
	}
}

var glassnetOptions = ws.AcceptOptions{
	Subprotocols: subprotocols,
	ConnOptions: ws.ConnOptions{
		MaxMessageSize: maxMessage,
		Compression:    ws.CompressionOptions{Enabled: true},
	},
}

func glassnetHandler(w http.ResponseWriter, r *http.Request) {
	c, err := ws.Accept(w, r, &glassnetOptions)
	if err != nil {
		return
	}
	glassnetEcho(c)
}

func glassnetRaw(nc net.Conn) {
	c, err := ws.Upgrade(context.Background(), nc, &glassnetOptions)
	if err != nil {
		return
	}
	glassnetEcho(c)
}

func glassnetEcho(c *ws.Conn) {
	defer c.CloseNow()
	ctx := context.Background()
	for {
		typ, p, err := c.ReadMessage(ctx)
		if err != nil {
			return
		}
		if err := c.WriteMessage(ctx, typ, p); err != nil {
			return
		}
	}
}

var gorillaUpgrader = websocket.Upgrader{EnableCompression: true, Subprotocols: subprotocols}

func gorillaHandler(w http.ResponseWriter, r *http.Request) {
	c, err := gorillaUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetReadLimit(maxMessage)
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
	c, err := coder.Accept(w, r, &coder.AcceptOptions{Subprotocols: subprotocols, CompressionMode: coder.CompressionContextTakeover})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(maxMessage)
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

// gobwasRaw is gobwas/ws's zero-copy upgrade on the raw connection and the
// echo loop of its own Autobahn server (example/autobahn in its
// repository: the wsflate handler's reader, the helpers' failConn), with
// the message limit written as an application writes it: gobwas has none
// of its own.
func gobwasRaw(conn net.Conn) {
	// The parameters of gobwas's own Autobahn server.
	ext := wsflate.Extension{Parameters: wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
	u := gobwas.Upgrader{
		Protocol: func(p []byte) bool {
			for _, s := range subprotocols {
				if string(p) == s {
					return true
				}
			}
			return false
		},
		Negotiate: ext.Negotiate,
	}
	if _, err := u.Upgrade(conn); err != nil {
		return
	}
	_, compressed := ext.Accepted()
	state := gobwas.StateServerSide
	if compressed {
		state |= gobwas.StateExtended
	}
	var msg wsflate.MessageState
	control := wsutil.ControlFrameHandler(conn, gobwas.StateServerSide)
	rd := wsutil.Reader{Source: conn, State: state, CheckUTF8: !compressed, OnIntermediate: control}
	if compressed {
		rd.Extensions = []wsutil.RecvExtension{&msg}
	}
	fr := wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor { return flate.NewReader(r) })
	for {
		h, err := rd.NextFrame()
		if err != nil {
			gobwasFail(conn, err)
			return
		}
		if h.OpCode.IsControl() {
			if err := control(h, &rd); err != nil {
				gobwasFail(conn, err)
				return
			}
			continue
		}
		var src io.Reader = &rd
		if msg.IsCompressed() {
			fr.Reset(src)
			src = fr
		}
		var p bytes.Buffer
		n, err := io.Copy(&p, io.LimitReader(src, maxMessage+1))
		if err == nil && n > maxMessage {
			conn.Write(gobwas.MustCompileFrame(gobwas.NewCloseFrame(gobwas.NewCloseFrameBody(gobwas.StatusMessageTooBig, ""))))
			return
		}
		if err != nil {
			gobwasFail(conn, err)
			return
		}
		if err := wsutil.WriteServerMessage(conn, h.OpCode, p.Bytes()); err != nil {
			return
		}
	}
}

// gobwasFail is failConn of gobwas's example/autobahn: a close 1002 for a
// protocol error, the write side shut, the peer's end awaited.
func gobwasFail(conn net.Conn, err error) {
	var pe gobwas.ProtocolError
	if !errors.As(err, &pe) {
		return
	}
	if _, err := conn.Write(gobwas.CompiledCloseProtocolError); err != nil {
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.Copy(io.Discard, conn)
}
