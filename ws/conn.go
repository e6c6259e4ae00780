package ws

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// MessageType is the type of a data message (RFC 6455 §5.6).
type MessageType int

const (
	MessageText   MessageType = MessageType(OpText)
	MessageBinary MessageType = MessageType(OpBinary)
)

func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

const (
	// DefaultMaxMessageSize is the largest message a Conn reads unless
	// told otherwise.
	DefaultMaxMessageSize = 16 << 20
	// DefaultCloseTimeout is how long Close waits for the peer's close
	// frame unless told otherwise.
	DefaultCloseTimeout = 5 * time.Second
)

// connConfig is what AcceptOptions and DialOptions have in common.
type connConfig struct {
	// The first four are read for every message (Conn's hot fields).
	maxMessage int64
	tracer     *trace.Tracer
	keepAlive  time.Duration
	// deflate is the connection's permessage-deflate state once
	// negotiated (deflate.go), nil otherwise.
	deflate      *deflateState
	closeTimeout time.Duration
	node         string
	frameHook    FrameHook
	// The write queue's bound and policy (send.go).
	writeQueueLimit int
	writeQueueFull  QueueFullPolicy
	// budget, if set, is shared with other connections (budget.go).
	budget *MemoryBudget
}

func newConfig(maxMessage int64, closeTimeout time.Duration, tr *trace.Tracer, node string) connConfig {
	if maxMessage == 0 {
		maxMessage = DefaultMaxMessageSize
	}
	if closeTimeout <= 0 {
		closeTimeout = DefaultCloseTimeout
	}
	return connConfig{maxMessage: maxMessage, closeTimeout: closeTimeout, tracer: tr, node: node}
}

// Conn is a WebSocket connection after a successful opening handshake,
// made by Accept, Upgrade, Dial or Client; the zero value is not usable.
//
// One goroutine at a time may read (ReadMessage); any number may write.
// Writes take one lock per frame, so a control frame (a pong, a ping, a
// close) can go out between the fragments of a message being written with
// Writer. Ping and Close read for themselves when no ReadMessage is running.
type Conn struct {
	// The fields a message's read and write touch come first, so that
	// they share a few cache lines: a server that waits for every message
	// finds its caches cold each time it wakes, and every line of the
	// connection a message touches is a miss.
	nc     net.Conn
	client bool
	cfg    connConfig

	// Reading. readLock is held by ReadMessage and by Close while it
	// reads the peer's close frame itself. The fields below it are
	// guarded by it.
	readLock chan struct{}
	// br is the buffered reader while a read is under way or bytes are
	// buffered, nil otherwise: an idle connection holds no read buffer
	// (buffers.go). It reads from rsrc: nc, or a prefixReader while bytes
	// that arrived behind the handshake are still to be read.
	br   *bufio.Reader
	rsrc io.Reader
	// srcBase is what rsrc is once the prefix is read: nc, or on a
	// *net.TCPConn an fdSource that awaitData can fill from without
	// blocking (await_unix.go); await is the state of that.
	srcBase io.Reader
	await   *rawWait
	// reads counts the reads from the transport that have started
	// (readMessage, and NotifyReadable looking at what arrived).
	reads uint64
	roff  int64 // offset of the next frame header since the handshake
	rerr  error // sticky error ending the read side
	// readFilter is set once br reads through rfilter (hooks_read.go).
	readFilter bool
	rfilter    *frameFilter
	// Messages Ping read while no ReadMessage was running (ping.go).
	buffered      []bufferedMessage
	bufferedBytes int64
	pingReading   bool
	// mem accounts for the buffers of the message being read to the
	// MemoryBudget shared with other connections (budget.go).
	mem msgMemory
	// memKept is the charge of the message last handed to the caller,
	// given back when the connection reads again or closes.
	memKept atomic.Int64
	// readWaiters counts ReadMessage calls waiting for readLock.
	readWaiters atomic.Int32
	// rbytes counts the data frames' bytes read, as they arrive
	// (BytesRead): by the frame filter, when there is one, as it takes
	// them from the transport (it hands the parser whole frames only).
	rbytes atomic.Int64
	// wprog counts the data frames' bytes the transport has taken
	// (BytesWritten), a long frame's as it takes them where one write can
	// last (progress.go): a ping waiting behind a long frame for a peer
	// that reads it slowly is not taken for a dead peer.
	wprog atomic.Int64

	// frameHook is the installed FrameHook (SetFrameHook).
	frameHook atomic.Pointer[frameHooks]

	// Writing. msgLock is held for a whole data message, writeLock for
	// one frame. The fields below writeLock are guarded by it. Frames are
	// encoded into pooled buffers (buffers.go): an idle connection holds
	// none.
	msgLock   chan struct{}
	wdeflate  deflating // the message being written through a hook, under msgLock
	writeLock chan struct{}
	woff      int64
	keys      *maskKeys // client only
	werr      error

	mu        sync.Mutex
	closeSent bool
	// closeGaveUp: Close waited the close timeout for the peer's close
	// frame in vain and ended TCP, under a read that may be running.
	closeGaveUp bool
	peerClose   *CloseError
	endErr      error
	pings       map[string][]chan struct{}

	// The contexts governing the read and write deadlines.
	rwatch, wwatch ctxWatch

	// The fields below are not touched by a message in steady state.

	subprotocol string
	name        string                  // "local->remote" for trace events
	ctrl        [MaxControlPayload]byte // a control frame's payload, under readLock

	// keepAliveFailed is set when the keepalive closed the connection.
	keepAliveFailed atomic.Bool
	// keepAlive is the keepalive timer (keepalive.go), nil without one;
	// keepAlivePings counts its pings.
	keepAlive      *time.Timer
	keepAlivePings atomic.Uint64

	readDone     chan struct{} // closed when the read side has ended
	readDoneOnce sync.Once
	closed       chan struct{} // closed when the net.Conn has been closed
	closeOnce    sync.Once
	closeErr     error

	// Where the WebSocket stream starts in the TCP stream, in each
	// direction, when nc reports its stream offsets (see setBases).
	rbase, wbase int64
	based        bool

	// sendq is the write queue of Send (send.go).
	sendq sendQueue
}

// newConn returns a Conn on nc once the handshake is over. early holds
// the bytes that arrived behind the handshake and were read with it
// (copied: the caller may reuse it).
func newConn(nc net.Conn, early []byte, client bool, subprotocol string, cfg connConfig) *Conn {
	c := &Conn{
		nc:          nc,
		srcBase:     nc,
		client:      client,
		subprotocol: subprotocol,
		cfg:         cfg,
		readLock:    make(chan struct{}, 1),
		msgLock:     make(chan struct{}, 1),
		writeLock:   make(chan struct{}, 1),
		readDone:    make(chan struct{}),
		closed:      make(chan struct{}),
	}
	c.mem.budget = cfg.budget
	if cfg.deflate != nil {
		cfg.deflate.hist.budget = cfg.budget
	}
	c.sendq.limit, c.sendq.full = cfg.writeQueueLimit, cfg.writeQueueFull
	if c.sendq.limit <= 0 {
		c.sendq.limit = DefaultWriteQueueLimit
	}
	c.setupAwait()
	c.rsrc = c.srcBase
	if len(early) > 0 {
		c.rsrc = &prefixReader{p: bytes.Clone(early), r: c.srcBase}
	}
	if client {
		c.keys = new(maskKeys)
	}
	if cfg.tracer.Enabled() {
		c.name = connName(nc)
	}
	c.SetFrameHook(cfg.frameHook)
	return c
}

// streamOffsetter is implemented by connections that count the bytes they
// have received and sent, such as *sockets.Conn: the TCP stream offsets of
// the next byte read and the next byte written.
type streamOffsetter interface {
	StreamOffsets() (read, written int64)
}

// setBases records where the WebSocket stream starts in each direction of
// the TCP stream, once the handshake is over: buffered is how many bytes
// have been read from nc past the end of the handshake but not consumed.
// Frame events then carry TCP stream offsets, which tie them to packets.
func (c *Conn) setBases(buffered int) {
	so, ok := c.nc.(streamOffsetter)
	if !ok {
		return
	}
	r, w := so.StreamOffsets()
	c.rbase, c.wbase, c.based = r-int64(buffered), w, true
}

func connName(nc net.Conn) string {
	var l, r string
	if a := nc.LocalAddr(); a != nil {
		l = a.String()
	}
	if a := nc.RemoteAddr(); a != nil {
		r = a.String()
	}
	return l + "->" + r
}

// Subprotocol returns the subprotocol chosen in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// BytesRead returns how many bytes of data frames (text, binary,
// continuation; headers and payloads) have been read from the peer since
// the handshake, counted as they arrive: a long message under way moves
// it before it is whole, which tells a server's idle timer that the peer
// is not silent. Control frames (pings, pongs) do not count.
func (c *Conn) BytesRead() int64 { return c.rbytes.Load() }

// BytesWritten returns how many bytes of data frames (headers and
// payloads) the transport has taken since the handshake. With a keepalive
// on, a frame longer than 64 KiB counts 64 KiB at a time as the transport
// takes it, so that a server's idle timer can tell a peer reading a long
// message slowly from one that stopped reading; other frames count once
// written. Control frames do not count.
func (c *Conn) BytesWritten() int64 { return c.wprog.Load() }

// NetConn returns the underlying connection. Reading from or writing to it
// directly corrupts the WebSocket stream.
func (c *Conn) NetConn() net.Conn { return c.nc }

// CloseNow closes the TCP connection at once, without a close handshake.
func (c *Conn) CloseNow() error {
	c.closeTCP()
	return c.closeErr
}

// isClosed reports whether this side has closed TCP.
func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *Conn) closeTCP() { c.endTCP(false) }

// abortTCP closes TCP with RST instead of FIN when the transport can
// (SetLinger(0), as *net.TCPConn and glassnet's sockets.Conn have, also
// under TLS): for a connection failed because its peer does not take what
// is sent, a write or a close handshake that timed out. What waits in the send buffer
// would never be read usefully, and a FIN behind it would keep the
// closed socket and its buffer alive until TCP gives up on the peer,
// minutes later. RFC 6455 §7.1.1 lets an endpoint close the connection
// "via any means available when necessary", and §7.1.7 lets it skip a
// close frame the peer is unlikely to receive. Other transports close.
func (c *Conn) abortTCP() { c.endTCP(true) }

// lingerConn returns the TCP connection under nc that can be reset
// (SetLinger): nc itself, or the connection under a wrapper that names it
// with NetConn, as *tls.Conn does; nil when there is none.
func lingerConn(nc net.Conn) interface {
	SetLinger(sec int) error
	io.Closer
} {
	for nc != nil {
		if l, ok := nc.(interface {
			SetLinger(sec int) error
			io.Closer
		}); ok {
			return l
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = w.NetConn()
	}
	return nil
}

// endTCP closes TCP once, abortively if abort and the transport can; the
// first call decides.
func (c *Conn) endTCP(abort bool) {
	c.closeOnce.Do(func() {
		how := "tcp closed"
		closer := io.Closer(c.nc)
		if tcp := lingerConn(c.nc); abort && tcp != nil && tcp.SetLinger(0) == nil {
			how = "tcp reset: the peer took nothing in time, unsent data dropped"
			// Under TLS, the TCP connection itself: closing the TLS
			// connection would first try to send its close_notify
			// alert, for up to 5 s, to a peer that takes nothing.
			closer = tcp
		}
		c.closeErr = closer.Close()
		close(c.closed)
		c.mem.giveKept(&c.memKept)
		if c.cfg.deflate != nil {
			c.cfg.deflate.hist.close()
		}
		c.unbindAll()
		if c.keepAlive != nil {
			c.keepAlive.Stop()
		}
		c.emit(trace.Out, "close", how)
	})
}

// lock takes a channel lock, giving up when ctx is done or the connection
// has been closed.
func (c *Conn) lock(ctx context.Context, l chan struct{}) error {
	select {
	case l <- struct{}{}:
		return nil
	default:
	}
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return net.ErrClosed
	}
}

func unlock(l chan struct{}) { <-l }

// aLongTimeAgo is a deadline in the past, which interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// ctxWatch binds a context to one of the connection's deadlines (read or
// write) and keeps it bound across calls: a call with the same context as
// the last one costs no allocation, a call with a context that cannot end
// costs nothing once no other context is bound. Every read (under
// readLock) and every write (under writeLock) binds its context first, so
// that a context bound by an earlier call can only fire between calls,
// leaving a deadline in the past that the next bind clears.
type ctxWatch struct {
	// last is the context bound by the call before when its dynamic type
	// is a pointer, nil otherwise: a call with that very context is known
	// to be bound without asking it for Done and Deadline again (a
	// Context returns the same from both on every call), which on a
	// derived context walks its chain of parents. Only the holder of the
	// direction's lock (readLock, writeLock) reads or writes it, so the
	// check is a load from the Conn itself, not from an object of its
	// own that a server waking for every message finds out of its
	// caches. Closing the connection unbinds the context and leaves last
	// as it is: a later call with the same context binds nothing to a
	// closed connection.
	last  context.Context
	bound atomic.Bool
	// cur is the bound context's Done channel and deadline, nil when none
	// is bound: a call with a context that has the bound one's returns
	// without taking mu.
	cur      atomic.Pointer[boundCtx]
	mu       sync.Mutex
	done     <-chan struct{}
	deadline time.Time
	stop     func() bool
	fired    chan struct{}
}

// watchRead makes ctx govern the read deadline from now until another
// context is bound or the connection closes.
func (c *Conn) watchRead(ctx context.Context) { c.bind(&c.rwatch, ctx, true) }

// watchWrite is watchRead for the write deadline.
func (c *Conn) watchWrite(ctx context.Context) { c.bind(&c.wwatch, ctx, false) }

// boundCtx is what ctxWatch.cur holds.
type boundCtx struct {
	done     <-chan struct{}
	deadline time.Time
}

func (c *Conn) bind(w *ctxWatch, ctx context.Context, read bool) {
	// Comparing interfaces compares their values only when their dynamic
	// types are the same, and last's is a pointer, so this cannot panic
	// on a context of an incomparable type.
	if ctx == w.last {
		return
	}
	w.last = nil
	done := ctx.Done()
	if done == nil && !w.bound.Load() {
		return
	}
	d, _ := ctx.Deadline()
	if b := w.cur.Load(); done != nil && b != nil && b.done == done && b.deadline.Equal(d) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if done != nil && done == w.done && d.Equal(w.deadline) {
		return
	}
	c.unbindLocked(w, read)
	if done == nil {
		return
	}
	set := c.nc.SetWriteDeadline
	if read {
		set = c.nc.SetReadDeadline
	}
	if !d.IsZero() {
		set(d)
	}
	fired := make(chan struct{})
	w.done, w.deadline, w.fired = done, d, fired
	w.stop = context.AfterFunc(ctx, func() {
		set(aLongTimeAgo)
		close(fired)
	})
	w.bound.Store(true)
	w.cur.Store(&boundCtx{done: done, deadline: d})
	if reflect.TypeOf(ctx).Kind() == reflect.Pointer {
		w.last = ctx
	}
}

// unbindLocked forgets the bound context, if any, and clears the deadline
// it governed, unless TCP is closed: the deadline goes with the
// connection, and clearing it there would fail (on a sockets.Conn, making
// an error value for every connection). w.mu is held.
func (c *Conn) unbindLocked(w *ctxWatch, read bool) {
	if w.stop == nil {
		return
	}
	if !w.stop() {
		<-w.fired
	}
	w.done, w.deadline, w.stop, w.fired = nil, time.Time{}, nil, nil
	w.cur.Store(nil)
	w.bound.Store(false)
	if c.isClosed() {
		return
	}
	if read {
		c.nc.SetReadDeadline(time.Time{})
	} else {
		c.nc.SetWriteDeadline(time.Time{})
	}
}

// unbind forgets the bound contexts when the connection closes, so that
// a long-lived context does not keep it reachable.
func (c *Conn) unbindAll() {
	for i, w := range []*ctxWatch{&c.rwatch, &c.wwatch} {
		w.mu.Lock()
		c.unbindLocked(w, i == 0)
		w.mu.Unlock()
	}
}

// watch makes ctx govern the I/O deadline set by set (SetReadDeadline or
// SetWriteDeadline) until the returned stop function is called.
func watch(ctx context.Context, set func(time.Time) error) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	if d, ok := ctx.Deadline(); ok {
		set(d)
	}
	fired := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		set(aLongTimeAgo)
		close(fired)
	})
	return func() {
		if !cancel() {
			<-fired
		}
		set(time.Time{})
	}
}

// emit records one ws event. Callers building fields check
// c.cfg.tracer.Enabled first.
func (c *Conn) emit(dir trace.Dir, name, summary string, fields ...trace.Field) {
	if !c.cfg.tracer.Enabled() {
		return
	}
	c.cfg.tracer.Emit(trace.Event{
		Node:    c.cfg.node,
		Layer:   trace.LayerWS,
		Dir:     dir,
		Name:    name,
		Conn:    c.name,
		Summary: summary,
		Fields:  fields,
	})
}

// traceFrame records a frame header of hlen bytes at offset off since the
// handshake. The offset field is the TCP stream offset of the header's
// first byte (relative sequence number minus one) when the connection
// reports stream offsets, with offset_from "tcp"; otherwise it is off,
// with offset_from "handshake". ws_offset is always off.
func (c *Conn) traceFrame(dir trace.Dir, h Header, off int64, hlen int) {
	abs, from := off, "handshake"
	if c.based {
		from = "tcp"
		if dir == trace.In {
			abs += c.rbase
		} else {
			abs += c.wbase
		}
	}
	c.emit(dir, "frame", h.String(),
		(&trace.WSFrame{Fin: h.Fin, Rsv: h.Rsv, Opcode: h.Opcode.String(), Masked: h.Masked, Len: h.Length,
			HeaderLen: hlen, Offset: abs, OffsetFrom: from, WSOffset: off}).Fields()...)
}

func (c *Conn) traceMessage(dir trace.Dir, typ MessageType, p []byte, frames int) {
	var s []byte
	s = append(s, "message "...)
	s = append(s, typ.String()...)
	s = append(s, ' ')
	if typ == MessageText {
		const quoteMax = 40
		q := p
		if len(q) > quoteMax {
			q = q[:quoteMax]
		}
		s = strconv.AppendQuote(s, string(q))
		if len(p) > quoteMax {
			s = append(s, "..."...)
		}
		s = append(s, ' ')
	}
	s = append(s, '(')
	s = strconv.AppendInt(s, int64(len(p)), 10)
	s = append(s, " bytes, "...)
	s = strconv.AppendInt(s, int64(frames), 10)
	if frames == 1 {
		s = append(s, " frame)"...)
	} else {
		s = append(s, " frames)"...)
	}
	c.emit(dir, "message", string(s),
		(&trace.WSMessage{Type: typ.String(), Len: len(p), Fragments: frames}).Fields()...)
}
