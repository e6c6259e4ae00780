package ws

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// ErrKeepAliveTimeout is why a Conn with a keepalive interval failed the
// connection: a ping was not answered before the next one was due. Reads
// return it, and so do a write the failure cut short and a write after it
// (which also matches ErrCloseSent).
var ErrKeepAliveTimeout = errors.New("ws: keepalive: no pong in time")

// startKeepAlive starts the keepalive, if one is configured, once the
// Conn is set up. Between pings it is a timer, not a goroutine: a
// goroutine exists only while a ping waits for its pong.
func (c *Conn) startKeepAlive() {
	if c.cfg.keepAlive <= 0 {
		return
	}
	// The timer is in c.keepAlive before it can first fire.
	c.keepAlive = time.AfterFunc(time.Hour, c.keepAliveTick)
	c.keepAlive.Stop()
	c.keepAlive.Reset(c.cfg.keepAlive)
}

// keepAliveTick pings and fails the connection when a pong has not
// arrived within the interval; after a pong it sets the timer for the
// next ping. It stops once the connection closes or its read side ends.
//
// A peer that does not answer, and sends nothing else meanwhile, is taken
// to be gone, which is a reason to fail the connection (RFC 6455 §7.1.7):
// a close frame with 1011 (an unexpected condition, §7.4.1) goes out if
// the transport takes it within a second, and TCP is closed at once,
// without waiting for a close frame that an unresponsive peer would not
// send. A peer still sending a long frame is not gone: its pong waits
// behind the frame. Nor is one still reading a long frame this side
// writes, which the ping waits behind: the write counts as it goes
// (progress.go), and what it left in the transport as the peer
// acknowledges it (SendQueued).
func (c *Conn) keepAliveTick() {
	select {
	case <-c.closed:
		return
	case <-c.readDone:
		return
	default:
	}
	interval := c.cfg.keepAlive
	n := c.keepAlivePings.Add(1)
	before, wbefore := c.rbytes.Load(), c.wprog.Load()
	qbefore, qok := sendQueued(c.nc)
	ctx, cancel := context.WithTimeout(context.Background(), interval)
	err := c.Ping(ctx, strconv.AppendUint([]byte("keepalive "), n, 10))
	timedOut := errors.Is(err, context.DeadlineExceeded)
	cancel()
	switch {
	case timedOut && c.rbytes.Load() != before:
		// No pong, but frame bytes kept coming: a peer in the middle
		// of a long frame cannot answer before its end.
		c.keepAlive.Reset(interval)
	case timedOut && c.wprog.Load() != wbefore:
		// The ping waited behind a long write that the peer kept
		// taking: a peer that reads slowly is not gone either.
		c.keepAlive.Reset(interval)
	case timedOut && qok && c.peerTook(qbefore):
		// Or behind what the write left in the transport, which the
		// peer kept acknowledging.
		c.keepAlive.Reset(interval)
	case timedOut:
		c.keepAliveFail(interval)
	case err != nil:
		// The connection ended some other way; its readers see how.
	default:
		c.keepAlive.Reset(interval)
	}
}

// peerTook reports whether the transport's unacknowledged bytes are
// fewer than before: the peer acknowledged some.
func (c *Conn) peerTook(before int) bool {
	n, ok := sendQueued(c.nc)
	return ok && n < before
}

// keepAliveFail fails the connection after an unanswered ping.
func (c *Conn) keepAliveFail(interval time.Duration) {
	c.keepAliveFailed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := c.sendClose(ctx, ClosePayload(StatusInternalError, "keepalive: no pong within "+interval.String()))
	cancel()
	c.emit(trace.Out, "close", "keepalive: no pong within "+interval.String())
	c.closeAfter(err)
}
