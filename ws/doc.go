// Package ws implements the WebSocket protocol, RFC 6455, for servers and
// clients, written so that every step from bytes on a connection to a
// delivered message can be traced.
//
// The package has two levels. The frame level reads and writes single
// frames on any io.Reader or io.Writer: ParseHeader and RawHeader decode a
// header without allocating, PutHeader encodes one, ReadFrame and
// WriteFrame move whole frames, Mask applies a masking key. The message
// level, Conn, runs the protocol: the opening handshake, masking,
// fragmentation, UTF-8 checks, ping and pong, and the close handshake.
//
// A server, under net/http:
//
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		c, err := ws.Accept(w, r, nil)
//		if err != nil {
//			return // Accept has answered the request
//		}
//		defer c.CloseNow()
//		ctx := r.Context()
//		var buf []byte // reused for every message
//		for {
//			typ, p, err := c.ReadMessageInto(ctx, buf)
//			if err != nil {
//				return
//			}
//			if err := c.WriteMessage(ctx, typ, p); err != nil {
//				return
//			}
//			buf = p
//		}
//	})
//
// That loop is also the fastest echo: ReadMessageInto reads into buf (which
// grows to the largest message and stays), WriteMessage writes the frame in
// one write system call, so that once buf has grown a message costs one
// read and one write and no allocation. ReadMessage is the same read into
// a new slice per message, which the caller may keep. Over a *net.TCPConn
// a Conn waiting for the next message holds no read buffer either.
//
// On a raw net.Conn (for example one accepted from a userspace stack),
// Upgrade reads the HTTP request itself, within DefaultHandshakeTimeout
// (10 s; AcceptOptions.HandshakeTimeout) when its ctx has no deadline; Dial
// and Client wait for the answer as long (DialOptions.HandshakeTimeout).
//
// Both refuse, with 403 Forbidden, an upgrade whose Origin header names a
// host other than the request's Host: a browser opens a WebSocket for any
// page that asks and sends that site's cookies with it, so without the
// check any web page the user visits could talk to the server as the user
// (cross-site WebSocket hijacking). A request without Origin, from a
// client that is not a browser, passes. AcceptOptions.OriginPatterns
// allows more hosts ("*.example.com", "localhost:*");
// AcceptOptions.InsecureSkipOriginCheck allows every origin.
//
// A client:
//
//	c, _, err := ws.Dial(ctx, "ws://10.200.0.2:8080/echo", nil)
//	if err != nil {
//		return err
//	}
//	defer c.CloseNow()
//	err = c.WriteMessage(ctx, ws.MessageText, []byte("hello"))
//	typ, p, err := c.ReadMessage(ctx)
//	err = c.Close(ws.StatusNormalClosure, "bye")
//
// DialOptions.NetDial lets the client run over any transport, and Client
// runs the handshake over a connection that is already open.
//
// ReadMessage returns a new slice per message; ReadMessageInto reads into a
// buffer the caller reuses, and with WriteMessage costs no allocation per
// message once the buffer is as large as the messages. Send queues a
// message without waiting for the peer, up to a bound (WriteQueueLimit),
// beyond which it waits or fails the connection with 1008
// (WriteQueueFull): a broadcast to many peers is not held up by a slow one.
// On a *net.TCPConn whose send buffer has room, Send writes at once on the
// caller's goroutine, so it costs what WriteMessage does.
//
// ConnOptions.MaxMessageSize bounds one message; a MemoryBudget shared by
// many connections (ConnOptions.MemoryBudget, NewMemoryBudget) bounds the
// messages they read together, failing with 1013 the connection whose
// message does not fit. The budget counts a message from its first
// growth past 4 KiB until the caller reads from the connection again: a
// message kept longer, and a buffer passed to ReadMessageInto, are the
// caller's to bound (MemoryBudget lists what is and is not counted).
//
// An idle Conn holds no read or write buffer. A server with many idle
// connections can also do without a goroutine per connection: instead of
// blocking in ReadMessage, it asks NotifyReadable to call it back when the
// next message arrives. Over the glassnet stack (*sockets.Conn) an armed
// notification is an entry on the socket's wait queue, not a goroutine;
// over the kernel's TCP a goroutine still waits for the first byte. A
// ReadMessage waiting for a message on a *net.TCPConn holds no buffer
// either (it waits through the connection's syscall.RawConn); on other
// transports it holds a pooled read buffer while it waits.
//
// A connection ends in one of three ways, and reads report which: a close
// handshake gives a *CloseError with the peer's code and reason; TCP ending
// without a close frame gives a *CloseError with StatusAbnormalClosure
// (1006) wrapping io.EOF or io.ErrUnexpectedEOF; a reset gives the
// transport error, which matches syscall.ECONNRESET with errors.Is.
//
// ConnOptions.KeepAlive pings the peer at an interval and fails the
// connection (close 1011, ErrKeepAliveTimeout) when a pong is later than
// the interval. A pong comes only after the peer's application has read
// everything sent before the ping, so the keepalive tells a slow peer from
// a gone one by what this side can see move while it waits: the bytes of a
// frame still arriving, a long write still being taken, and the bytes the
// transport holds unacknowledged falling (Conn.SendQueued). What it cannot
// see is a peer whose TCP has acknowledged everything, the last message and
// the ping with it, while its application reads them out of its receive
// buffer more slowly than the interval: nothing moves here until the pong,
// and the connection fails. The peer's window updates are no sure sign
// either: Linux sends one only when a read at least doubles a window that
// had fallen to half the buffer or less, so a buffer that was never that
// full drains without one. The interval has to be longer than the peer's
// application needs to read what its receive buffer holds (with Linux's
// autotuning, up to tcp_rmem's maximum, 6 MiB by default), or the peer
// has to read at the pace the messages come. A ping or pong whose context
// ends before the transport has taken a byte of it (behind a full send
// buffer) is not sent, traced as a "drop", and leaves the connection
// whole; a frame cut after its first byte fails the connection.
//
// With AcceptOptions.Tracer or DialOptions.Tracer set, every frame read or
// written, every unmasking, every delivered message, the handshake and the
// close steps are emitted as trace events in the ws layer. When the
// net.Conn reports its stream offsets (a StreamOffsets() (read, written
// int64) method, as *sockets.Conn has), frame events carry the TCP stream
// offset of the frame's first byte (relative sequence number minus one,
// offset_from "tcp"), so that a correlating trace.Tracer joins them with the
// packets that carried them; otherwise the offset counts from the end of the
// handshake (offset_from "handshake"). ws_offset always counts from there.
//
// FrameHook (hooks.go; the read side in hooks_read.go) changes frames in
// flight, and FrameRule, FrameMatch and ParseFrameRule (rule.go) build
// hooks from rules such as "ws opcode ping : drop". AcceptOptions and
// DialOptions share their connection settings through ConnOptions.
//
// What ws is not: it has no TCP or socket of its own and runs over any
// net.Conn; the userspace stack's connections come from sockets (Listener,
// DialContext), and packet-level changes are netstack's and hook's. It is
// not an HTTP server: Accept works under net/http, Upgrade on a raw
// connection. The RFC 6455 conformance harness that checks it (and other
// implementations) is ws/conformance; the trace sinks that show its
// events are in trace.
package ws
