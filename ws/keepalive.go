package ws

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// ErrKeepAliveTimeout is why a Conn with a keepalive interval failed the
// connection: a ping was not answered before the next one was due.
var ErrKeepAliveTimeout = errors.New("ws: keepalive: no pong in time")

// startKeepAlive starts the keepalive, if one is configured, once the
// Conn is set up.
func (c *Conn) startKeepAlive() {
	if c.cfg.keepAlive > 0 {
		go c.keepAliveLoop(c.cfg.keepAlive)
	}
}

// keepAliveLoop pings every interval and fails the connection when a pong
// has not arrived within the interval. It returns when the connection
// closes or its read side ends.
//
// A peer that does not answer is taken to be gone, which is a reason to
// fail the connection (RFC 6455 §7.1.7): a close frame with 1011 (an
// unexpected condition, §7.4.1) goes out if the transport takes it within
// a second, and TCP is closed at once, without waiting for a close frame
// that an unresponsive peer would not send.
func (c *Conn) keepAliveLoop(interval time.Duration) {
	t := time.NewTimer(interval)
	defer t.Stop()
	var n uint64
	for {
		select {
		case <-t.C:
		case <-c.closed:
			return
		case <-c.readDone:
			return
		}
		n++
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		err := c.Ping(ctx, strconv.AppendUint([]byte("keepalive "), n, 10))
		timedOut := errors.Is(err, context.DeadlineExceeded)
		cancel()
		switch {
		case timedOut:
			c.keepAliveFail(interval)
			return
		case err != nil:
			// The connection ended some other way; its readers see how.
			return
		}
		t.Reset(interval)
	}
}

// keepAliveFail fails the connection after an unanswered ping.
func (c *Conn) keepAliveFail(interval time.Duration) {
	c.keepAliveFailed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	c.sendClose(ctx, ClosePayload(StatusInternalError, "keepalive: no pong within "+interval.String()))
	cancel()
	c.emit(trace.Out, "close", "keepalive: no pong within "+interval.String())
	c.closeTCP()
}
