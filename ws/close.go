package ws

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// maxCloseReason is the longest reason that fits a control frame beside
// the two-byte code.
const maxCloseReason = MaxControlPayload - 2

// ClosePayload encodes the body of a close frame (RFC 6455 §5.5.1): the
// code as two big-endian bytes, then the reason. StatusNoStatusRcvd gives
// an empty body. It does not check its arguments; see ParseClosePayload.
func ClosePayload(code StatusCode, reason string) []byte {
	if code == StatusNoStatusRcvd {
		return nil
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return append(p, reason...)
}

// ParseClosePayload decodes and checks the body of a close frame: empty
// (StatusNoStatusRcvd, RFC 6455 §7.1.5), or a code that is valid on the
// wire (§7.4) followed by a UTF-8 reason (§5.5.1). One byte is
// ErrBadClosePayload; a bad code ErrBadCloseCode; a bad reason
// ErrInvalidUTF8.
func ParseClosePayload(p []byte) (StatusCode, string, error) {
	switch len(p) {
	case 0:
		return StatusNoStatusRcvd, "", nil
	case 1:
		return 0, "", ErrBadClosePayload
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.ValidOnWire() {
		return 0, "", fmt.Errorf("%w %d", ErrBadCloseCode, uint16(code))
	}
	if !validUTF8(p[2:]) {
		return 0, "", fmt.Errorf("%w in close reason", ErrInvalidUTF8)
	}
	return code, string(p[2:]), nil
}

// CloseSent reports whether a close frame has been sent on c, or is being
// sent: by Close, by a keepalive that got no answer (1011), by a protocol
// failure, or in answer to the peer's close. An application that closes
// connections on a timer of its own, for idleness, checks it to tell a
// connection it closed from one that was closing already.
func (c *Conn) CloseSent() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeSent
}

// Close performs the closing handshake (RFC 6455 §7.1.2): it sends a close
// frame with code and reason, waits for the peer's close frame, then closes
// TCP. A concurrent ReadMessage sees the peer's close; without one, Close
// reads (and discards) messages itself until the close frame arrives. It
// waits at most the configured close timeout (DefaultCloseTimeout) and
// returns ErrCloseTimeout if the peer did not answer (a concurrent
// ReadMessage then returns an error matching it too).
//
// code must be valid on the wire, or StatusNoStatusRcvd for an empty close
// frame; reason must be UTF-8 of at most 123 bytes. Close returns nil once
// the handshake has completed, also when the peer started it.
func (c *Conn) Close(code StatusCode, reason string) error {
	if code != StatusNoStatusRcvd && !code.ValidOnWire() {
		return fmt.Errorf("ws: close: status %d may not be sent", uint16(code))
	}
	if code == StatusNoStatusRcvd && reason != "" {
		return errors.New("ws: close: a reason needs a status code")
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("ws: close: reason is %d bytes, at most %d fit", len(reason), maxCloseReason)
	}
	if !validUTF8([]byte(reason)) {
		return fmt.Errorf("ws: close: %w in reason", ErrInvalidUTF8)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.closeTimeout)
	defer cancel()

	if err := c.sendClose(ctx, ClosePayload(code, reason)); err != nil && !errors.Is(err, ErrCloseSent) {
		c.closeAfter(err)
		return err
	}

	select {
	case <-c.readDone:
	case <-ctx.Done():
	case c.readLock <- struct{}{}:
		// No one is reading: read until the peer's close frame arrives.
		c.watchRead(ctx)
		for c.rerr == nil && ctxDone(ctx) == nil {
			c.readMessage(ctx, nil)
		}
		unlock(c.readLock)
	}
	c.mu.Lock()
	peer, end := c.peerClose, c.endErr
	c.mu.Unlock()
	if peer == nil && ctxDone(ctx) != nil {
		// The peer did not answer in time: it may read nothing at
		// all, with the close frame still in the send buffer. A read
		// under way ends with ErrCloseTimeout too.
		c.mu.Lock()
		c.closeGaveUp = true
		c.mu.Unlock()
		c.abortTCP()
	} else {
		c.closeTCP()
	}
	switch {
	case peer != nil:
		return nil
	case ctxDone(ctx) != nil:
		return ErrCloseTimeout
	case end != nil:
		return end
	}
	return nil
}

// sendClose writes a close frame and records it in the trace, also when
// it could not be written: a peer that reads nothing holds the write under
// way past the close timeout, and the code meant for it (1001 at shutdown,
// 1008 for a full queue, 1002 for a violation) is then never sent.
func (c *Conn) sendClose(ctx context.Context, payload []byte) error {
	err := c.writeControl(ctx, OpClose, payload)
	if c.cfg.tracer.Enabled() && !errors.Is(err, ErrCloseSent) {
		code, reason, _ := ParseClosePayload(payload)
		if err == nil {
			c.traceClose(trace.Out, "close sent", code, reason)
		} else {
			c.emit(trace.Out, "close", "close not sent "+code.String()+" "+strconv.Quote(reason)+": "+err.Error())
		}
	}
	return err
}

func (c *Conn) traceClose(dir trace.Dir, what string, code StatusCode, reason string) {
	c.emit(dir, "close", what+" "+code.String()+" "+strconv.Quote(reason),
		(&trace.WSClose{Code: trace.Some(uint16(code)), Reason: reason}).Fields()...)
}

// handleClose answers the peer's close frame with payload p: it echoes the
// code (RFC 6455 §5.5.1) unless a close frame was already sent, and
// returns the *CloseError that ends reading.
func (c *Conn) handleClose(p []byte) error {
	code, reason, err := ParseClosePayload(p)
	if err != nil {
		return err
	}
	if c.cfg.tracer.Enabled() {
		c.traceClose(trace.In, "close received", code, reason)
	}
	ce := &CloseError{Code: code, Reason: reason}
	c.mu.Lock()
	c.peerClose = ce
	sent := c.closeSent
	c.mu.Unlock()
	if !sent {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.closeTimeout)
		err := c.sendClose(ctx, p[:min(len(p), 2)])
		cancel()
		if err != nil && !errors.Is(err, ErrCloseSent) {
			c.closeAfter(err)
		}
	}
	return ce
}

// finishClose closes TCP after both close frames have passed. RFC 6455
// §7.1.1: the server closes first; the client waits a while for that.
func (c *Conn) finishClose() {
	if c.client {
		c.nc.SetReadDeadline(time.Now().Add(c.cfg.closeTimeout))
		io.Copy(io.Discard, c.reader())
	}
	c.closeTCP()
}

// fail fails the connection (RFC 6455 §7.1.7) after a violation by the
// peer: it sends a close frame with code, half-closes TCP if it is the
// server (a client waits for the server to close TCP first, §7.1.1),
// discards what the peer still sends until it closes too (so that unread
// data does not turn the close into a reset), and closes. A close frame
// that could not be written in time, or a peer that has not closed
// within the close timeout, gets a reset instead (abortTCP).
func (c *Conn) fail(code StatusCode, err error) {
	reason := err.Error()
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
		for !validUTF8([]byte(reason)) {
			reason = reason[:len(reason)-1]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.closeTimeout)
	sendErr := c.sendClose(ctx, ClosePayload(code, reason))
	cancel()
	if sendErr == nil {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && !c.client {
			cw.CloseWrite()
		}
		c.nc.SetReadDeadline(time.Now().Add(c.cfg.closeTimeout))
		_, sendErr = io.Copy(io.Discard, c.reader())
	}
	c.closeAfter(sendErr)
}

// closeAfter closes TCP after err ended the connection: with a reset when
// err is a timeout, the peer having taken nothing in time; see abortTCP.
func (c *Conn) closeAfter(err error) {
	if err != nil && isTimeout(err) {
		c.abortTCP()
	}
	c.closeTCP()
}
