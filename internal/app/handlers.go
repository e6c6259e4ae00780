package app

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/ws"
)

//go:embed index.html
var indexHTML []byte

// DefaultChatQueueLimit is how many bytes of broadcast lines a /chat
// member may fall behind unless Handlers says otherwise.
const DefaultChatQueueLimit = 1 << 20

// Handlers serves the HTTP and WebSocket side of glassnet: GET / (a chat
// page), /echo (WebSocket echo) and /chat (WebSocket broadcast). The same
// Handlers can be mounted on the userspace stack and on the kernel stack.
type Handlers struct {
	// MaxMessage bounds a WebSocket message in bytes; 0 means the ws default.
	MaxMessage int64
	// MessageMemory, if set, bounds the memory of the messages being
	// read on all the WebSockets together (ws.MemoryBudget); a
	// connection whose message does not fit is failed with 1013.
	MessageMemory *ws.MemoryBudget
	Tracer        *trace.Tracer
	Node          string
	// FrameHook, if set, sees every frame of every connection (the
	// --egress and --ingress frame rules).
	FrameHook ws.FrameHook
	// Compress accepts permessage-deflate (RFC 7692) from clients that
	// offer it.
	Compress bool
	// AllowOrigins are the origin host patterns allowed to open a
	// WebSocket besides the page's own host
	// (ws.AcceptOptions.OriginPatterns); other origins get 403.
	AllowOrigins []string
	// ChatQueueLimit bounds how far a /chat member may fall behind, in
	// bytes of broadcast lines it has yet to be sent; 0 means
	// DefaultChatQueueLimit. A member that many bytes behind when
	// another line comes (it does not read fast enough) is dropped with
	// close 1008, so that it cannot stall or bloat the others. The lines
	// are kept once for all members, so the room holds less than this
	// many bytes of them plus one line, however many members it has. It
	// bounds a /chat message too, below MaxMessage: a longer one gets
	// 1009.
	ChatQueueLimit int
	// IdleTimeout, if positive, closes a WebSocket with 1001 (going
	// away) when no message has gone either way, and no byte of one has
	// come in, for this long; pings and pongs do not count. The
	// connection is pinged every third of IdleTimeout, and failed with
	// 1011 when neither a pong nor other frame bytes come within a
	// third; a message on its way either way (an upload, an echo read
	// slowly) is not silence.
	IdleTimeout time.Duration

	// limit, if set, counts the WebSockets with serve's other
	// connections and the ones closed for being idle.
	limit *connLimit
	// ends counts refused upgrades and how WebSockets ended.
	ends wsEnds

	mu      sync.Mutex
	clients map[*ws.Conn]*wsClient // every open WebSocket, for CloseAll
	room    chatRoom               // the members of /chat and their lines
	closing bool
	// upgrading counts the upgrades under way, from before Accept
	// until their WebSocket is in clients; CloseAll waits for them.
	upgrading sync.WaitGroup
	// closedAll: CloseAll has taken the WebSockets in clients to close;
	// an upgrade it gave up waiting for closes its own.
	closedAll bool
}

// wsClient is what Handlers keeps per WebSocket: when a message last went
// either way, and the idle timer.
type wsClient struct {
	last atomic.Int64 // time.Now().UnixNano() of the last message
	idle *time.Timer
	// read and wrote are c.BytesRead and c.BytesWritten at the last
	// message or the idle timer's last look: more since then is a
	// message on its way, in or out.
	read, wrote atomic.Int64
	// queued is c.SendQueued at the idle timer's last look (not at each
	// message: it asks the transport): less since then is an echo the
	// peer is still taking from it.
	queued atomic.Int64
	// behind: the chat dropped it for falling too far behind (1008).
	behind atomic.Bool
}

// active notes a message going either way on c.
func (cl *wsClient) active(c *ws.Conn) {
	if cl != nil {
		cl.last.Store(time.Now().UnixNano())
		cl.read.Store(c.BytesRead())
		cl.wrote.Store(c.BytesWritten())
	}
}

// closeIdle closes c with 1001 if it has been silent for IdleTimeout, and
// otherwise sets the timer for when it would be.
func (h *Handlers) closeIdle(c *ws.Conn, cl *wsClient) {
	h.mu.Lock()
	open := h.clients[c] == cl
	h.mu.Unlock()
	if !open {
		return // gone already
	}
	q, _ := c.SendQueued()
	before := cl.queued.Swap(int64(q))
	if c.BytesRead() != cl.read.Load() || c.BytesWritten() != cl.wrote.Load() || (q > 0 && int64(q) < before) {
		// A message still on its way (a long upload, or an echo that
		// the peer reads slowly, from the write or from what it left
		// in the transport) is not silence. (A transport that has
		// emptied since the last look says nothing of when it did.)
		// Look again soon, so that its last byte is known to within
		// a twentieth of IdleTimeout (at most a second).
		cl.active(c)
		cl.idle.Reset(min(max(h.IdleTimeout/20, 10*time.Millisecond), time.Second))
		return
	}
	quiet := time.Since(time.Unix(0, cl.last.Load()))
	if quiet < h.IdleTimeout {
		cl.idle.Reset(h.IdleTimeout - quiet)
		return
	}
	if c.CloseSent() {
		// Closing already, for another reason: a keepalive that got
		// no pong (1011), late like this timer after a pause of the
		// process, or a failure. It is counted as that, not as idle.
		return
	}
	h.limit.idled()
	c.Close(ws.StatusGoingAway, "idle for "+h.IdleTimeout.String())
}

// Mux returns an http.Handler with every route.
func (h *Handlers) Mux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.HandleFunc("/echo", h.echo)
	mux.HandleFunc("/chat", h.chat)
	return noBody(mux)
}

// noBody closes the connection after the answer to a request that
// announced a body. No handler here reads one, and net/http reads an
// unread body (up to 256 KiB) before it answers and again before it
// closes, with no deadline: a client that announces a body and never
// sends it would hold its connection, and a place under --max-conns, for
// ever.
//
// It closes the connection after the answer to an upgrade request too,
// when no WebSocket takes it over (a 404, the page): what the client
// sends behind its request (a first frame, often in the same segment) is
// not a request, and net/http would read it as one on a connection kept
// alive. ws.Accept does the same for the upgrades it refuses.
func noBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asksUpgrade(r) {
			w.Header().Set("Connection", "close")
		}
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
			// After the handler: the read that drains the body fails
			// at once. (A connection the handler took over is its own.)
			defer http.NewResponseController(w).SetReadDeadline(time.Now())
		}
		h.ServeHTTP(w, r)
	})
}

// asksUpgrade reports whether r's Connection header lists upgrade.
func asksUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

func (h *Handlers) accept(w http.ResponseWriter, r *http.Request, chat bool) (*ws.Conn, *wsClient, bool) {
	opts := &ws.AcceptOptions{
		ConnOptions: ws.ConnOptions{
			MaxMessageSize: h.MaxMessage,
			MemoryBudget:   h.MessageMemory,
			Tracer:         h.Tracer,
			Node:           h.Node,
		},
		OriginPatterns: h.AllowOrigins,
	}
	if h.FrameHook != nil {
		opts.FrameHook = h.FrameHook
	}
	if h.Compress {
		opts.Compression = ws.CompressionOptions{Enabled: true}
	}
	if h.IdleTimeout > 0 {
		// A third: a peer that answers no ping is failed (1011) a
		// third of IdleTimeout before the idle timer would close it
		// (1001), so that which of the two ends a silent, dead peer
		// does not depend on which timer runs first.
		opts.KeepAlive = h.IdleTimeout / 3
	}
	if chat {
		// A line longer than a member may fall behind could reach
		// only the members that had caught up: it gets 1009, as a
		// message over MaxMessage does.
		if limit := int64(h.chatLimit()); opts.MaxMessageSize <= 0 || opts.MaxMessageSize > limit {
			opts.MaxMessageSize = limit
		}
	}
	// An upgrade that begins once CloseAll has is refused. One under
	// way when it begins is waited for: its WebSocket is in clients
	// before CloseAll looks there, and is closed with the others.
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return nil, nil, false
	}
	h.upgrading.Add(1)
	h.mu.Unlock()
	defer h.upgrading.Done()
	// The WebSocket takes its place in the limit before Accept hijacks
	// the HTTP connection, whose place goes with the hijack: taken after,
	// a new connection could have the place in between, and upgrades
	// under way would pass the bound.
	h.limit.hold()
	c, err := ws.Accept(w, r, opts)
	if err != nil {
		h.limit.release()
		h.ends.refused(err)
		return nil, nil, false // Accept has answered with a 4xx.
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closedAll {
		h.limit.release()
		c.Close(ws.StatusGoingAway, "server shutting down")
		return nil, nil, false
	}
	cl := &wsClient{}
	cl.active(c)
	if h.IdleTimeout > 0 {
		cl.idle = time.AfterFunc(h.IdleTimeout, func() { h.closeIdle(c, cl) })
	}
	if h.clients == nil {
		h.clients = make(map[*ws.Conn]*wsClient)
	}
	h.clients[c] = cl
	if chat {
		h.room.join(c, cl, h.chatLimit())
	}
	return c, cl, true
}

func (h *Handlers) chatLimit() int {
	if h.ChatQueueLimit > 0 {
		return h.ChatQueueLimit
	}
	return DefaultChatQueueLimit
}

func (h *Handlers) forget(c *ws.Conn) {
	h.mu.Lock()
	cl := h.clients[c]
	delete(h.clients, c)
	h.mu.Unlock()
	h.room.leave(c)
	if cl != nil && cl.idle != nil {
		cl.idle.Stop()
	}
	h.limit.release()
}

func (h *Handlers) echo(w http.ResponseWriter, r *http.Request) {
	c, cl, ok := h.accept(w, r, false)
	if !ok {
		return
	}
	defer h.forget(c)
	ctx := context.Background()
	for {
		typ, msg, err := c.ReadMessage(ctx)
		if err != nil {
			h.ends.ended(c, err)
			return
		}
		cl.active(c)
		if err := c.WriteMessage(ctx, typ, msg); err != nil {
			h.ends.ended(c, err)
			return
		}
		cl.active(c)
	}
}

func (h *Handlers) chat(w http.ResponseWriter, r *http.Request) {
	c, cl, ok := h.accept(w, r, true)
	if !ok {
		return
	}
	defer h.forget(c)
	ctx := context.Background()
	who := r.RemoteAddr
	h.broadcast(fmt.Sprintf("* %s joined", who))
	defer h.broadcast(fmt.Sprintf("* %s left", who))
	for {
		typ, msg, err := c.ReadMessage(ctx)
		if err != nil {
			if cl.behind.Load() {
				h.ends.add(endBehind)
			} else {
				h.ends.ended(c, err)
			}
			return
		}
		cl.active(c)
		if typ != ws.MessageText {
			h.ends.add("ws ends: closed 1003 (binary on /chat)")
			c.Close(ws.StatusUnsupportedData, "chat takes text messages")
			return
		}
		h.broadcast(fmt.Sprintf("%s: %s", who, msg))
	}
}

// broadcast sends a text line to every member of /chat without waiting
// for any of them (chatRoom). A member too far behind is failed with close
// 1008 and leaves the chat at once; its own reader then ends.
func (h *Handlers) broadcast(line string) {
	for _, m := range h.room.broadcast([]byte(line)) {
		m.cl.behind.Store(true)
		go m.c.Close(ws.StatusPolicyViolation, "too far behind the chat")
	}
}

// CloseAll sends close 1001 (going away) to every WebSocket client and waits
// for the close handshakes to finish, at most closeAllWait: then it ends
// the connections still closing. New upgrades are refused (503); the
// ones under way are waited for, at most closeAllWait, and closed with
// the others. (They used to be closed by the upgrade once it ended,
// which nothing waited for: serve closed its stack meanwhile, and a
// client that had just connected saw a reset instead of close 1001.)
func (h *Handlers) CloseAll() error {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	upgraded := make(chan struct{})
	go func() { h.upgrading.Wait(); close(upgraded) }()
	select {
	case <-upgraded:
	case <-time.After(closeAllWait):
		// An upgrade whose 101 the client does not take: once it
		// ends, it closes its WebSocket itself (closedAll).
	}
	h.mu.Lock()
	h.closedAll = true
	conns := make([]*ws.Conn, 0, len(h.clients))
	for c := range h.clients {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Close(ws.StatusGoingAway, "server shutting down")
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeAllWait):
		// A peer that reads nothing takes neither the close frame nor
		// its answer: its handshake would wait out the close timeout
		// (5 s). It is ended now, with TCP's FIN.
		for _, c := range conns {
			c.CloseNow()
		}
		<-done
	}
	return errors.Join(errs...)
}

// closeAllWait bounds how long CloseAll waits for the close handshakes
// before it ends the connections still in one: a peer that reads answers
// within a round trip.
const closeAllWait = time.Second
