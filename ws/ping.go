package ws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
)

// errPongRead stops readMessage when a pong arrives between messages while
// Ping is reading; it never leaves the package.
var errPongRead = errors.New("ws: pong read")

// bufferedMessage is a data message that Ping read while no ReadMessage was
// running, kept for the next ReadMessage.
type bufferedMessage struct {
	typ MessageType
	p   []byte
}

// Ping sends a ping with payload (at most 125 bytes) and waits for the pong
// that carries the same payload (RFC 6455 §5.5.2).
//
// Ping needs no reader. While a ReadMessage is running, that call reads
// the pong. Otherwise Ping reads frames itself until its pong arrives:
// pings are answered and a close frame is handled as ReadMessage would,
// and data messages that arrive first are kept, in order, for the next
// ReadMessage. The messages kept may add up to the maximum message size;
// beyond that the connection is failed with 1009, as a read of a message
// that large would. A ReadMessage that starts meanwhile takes over once
// the message Ping is reading is complete.
//
// If ctx is done while Ping reads in the middle of a message, the
// connection is closed, as it is for ReadMessage.
func (c *Conn) Ping(ctx context.Context, payload []byte) error {
	if len(payload) > MaxControlPayload {
		return ErrControlTooLong
	}
	key := string(payload)
	ch := make(chan struct{})
	c.mu.Lock()
	if c.pings == nil {
		c.pings = make(map[string][]chan struct{})
	}
	c.pings[key] = append(c.pings[key], ch)
	c.mu.Unlock()
	defer c.forgetPing(key, ch)

	if err := c.writeControl(ctx, OpPing, payload); err != nil {
		return err
	}
	for {
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed:
			return fmt.Errorf("ws: ping: no pong before the connection closed: %w", net.ErrClosed)
		case <-c.readDone:
			return c.pingEnded()
		case c.readLock <- struct{}{}:
			done, err := c.readForPong(ctx, ch)
			unlock(c.readLock)
			if done {
				return err
			}
			// A ReadMessage is waiting for the lock: let it have it.
			runtime.Gosched()
		}
	}
}

func (c *Conn) pingEnded() error {
	c.mu.Lock()
	err := c.endErr
	c.mu.Unlock()
	return fmt.Errorf("ws: ping: no pong before the connection ended: %w", err)
}

// readForPong reads, with readLock held, until the pong closes ch. It
// returns done false, without having read anything more, when a
// ReadMessage waits for the lock.
func (c *Conn) readForPong(ctx context.Context, ch chan struct{}) (done bool, err error) {
	if c.rerr != nil {
		return true, fmt.Errorf("ws: ping: no pong before the connection ended: %w", c.rerr)
	}
	c.watchRead(ctx)
	c.pingReading = true
	defer func() { c.pingReading = false }()
	for {
		select {
		case <-ch:
			return true, nil
		default:
		}
		if c.readWaiters.Load() > 0 {
			return false, nil
		}
		typ, p, err := c.readMessage(ctx, nil)
		switch {
		case err == errPongRead:
			continue
		case err != nil && c.rerr == nil:
			// ctx ended between messages; the connection is usable.
			return true, err
		case err != nil:
			return true, fmt.Errorf("ws: ping: no pong before the connection ended: %w", err)
		}
		if err := c.keep(ctx, typ, p); err != nil {
			return true, fmt.Errorf("ws: ping: no pong before the connection ended: %w", err)
		}
	}
}

// keep buffers a message read by Ping for the next ReadMessage, failing
// the connection with 1009 when the messages kept would exceed the
// maximum message size. It is called with readLock held.
func (c *Conn) keep(ctx context.Context, typ MessageType, p []byte) error {
	if max := c.cfg.maxMessage; max > 0 && int64(len(p)) > max-c.bufferedBytes {
		_, _, err := c.endRead(ctx, fmt.Errorf("%w: more than %d bytes of messages arrived while waiting for a pong", ErrMessageTooBig, max))
		return err
	}
	c.buffered = append(c.buffered, bufferedMessage{typ, p})
	c.bufferedBytes += int64(len(p))
	return nil
}

// nextBuffered returns the oldest message Ping kept. It is called with
// readLock held.
func (c *Conn) nextBuffered() (MessageType, []byte, bool) {
	if len(c.buffered) == 0 {
		return 0, nil, false
	}
	m := c.buffered[0]
	c.buffered[0] = bufferedMessage{}
	c.buffered = c.buffered[1:]
	c.bufferedBytes -= int64(len(m.p))
	if len(c.buffered) == 0 {
		c.buffered = nil
	}
	return m.typ, m.p, true
}

func (c *Conn) forgetPing(key string, ch chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	waiters := c.pings[key]
	for i, w := range waiters {
		if w == ch {
			waiters = append(waiters[:i], waiters[i+1:]...)
			break
		}
	}
	if len(waiters) == 0 {
		delete(c.pings, key)
	} else {
		c.pings[key] = waiters
	}
}
