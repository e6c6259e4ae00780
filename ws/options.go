package ws

import (
	"time"

	"github.com/glassnet/glassnet/trace"
)

// ConnOptions are the settings of a connection that do not depend on the
// side it was opened from. AcceptOptions and DialOptions embed them; the
// zero value works.
type ConnOptions struct {
	// MaxMessageSize is the largest message read; 0 means
	// DefaultMaxMessageSize, negative means no limit.
	MaxMessageSize int64
	// MemoryBudget, if set, bounds the memory of the messages being read
	// on all the connections that share it; a connection whose message
	// cannot grow within it is failed with 1013 (see MemoryBudget). Nil
	// bounds each connection by MaxMessageSize alone.
	MemoryBudget *MemoryBudget
	// CloseTimeout bounds the close handshake; 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// KeepAlive, if positive, pings the peer at this interval and fails
	// the connection (close 1011, then TCP closed at once) when a pong
	// has not arrived within the interval; reads then return
	// ErrKeepAliveTimeout. Zero means no keepalive. A peer still taking
	// a long frame, or sending one, is waited for; one that reads what its
	// TCP already acknowledged more slowly than the interval is not (see
	// the package documentation).
	KeepAlive time.Duration
	// WriteQueueLimit bounds the bytes of messages Send queues; 0 means
	// DefaultWriteQueueLimit (4 MiB).
	WriteQueueLimit int
	// WriteQueueFull says what Send does when a message does not fit the
	// queue: QueueBlock (the default) waits, QueueFailConn fails the
	// connection with 1008.
	WriteQueueFull QueueFullPolicy
	// Tracer receives ws events; nil records nothing.
	Tracer *trace.Tracer
	// Node names this side in trace events.
	Node string
	// FrameHook, if set, sees every frame read and written (see
	// FrameHook); Conn.SetFrameHook changes it later.
	FrameHook FrameHook
	// Compression configures permessage-deflate: a client offers it, a
	// server accepts an offer. The zero value neither offers nor accepts.
	Compression CompressionOptions
}

// config maps the options to the connection's configuration.
func (o *ConnOptions) config() connConfig {
	cfg := newConfig(o.MaxMessageSize, o.CloseTimeout, o.Tracer, o.Node)
	cfg.frameHook = o.FrameHook
	cfg.budget = o.MemoryBudget
	cfg.keepAlive = o.KeepAlive
	cfg.writeQueueLimit, cfg.writeQueueFull = o.WriteQueueLimit, o.WriteQueueFull
	return cfg
}
