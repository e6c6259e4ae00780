package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// The many and scale sections' client speaks just enough WebSocket by
// hand to open a connection and echo fixed messages, so that every server
// is driven by the same few system calls per message and the client's own
// cost stays small and equal across rows.

// upgradeRequest is the opening handshake (RFC 6455 4.1) with the key of
// RFC 6455's own example; upgradeAccept is its Sec-WebSocket-Accept.
const (
	upgradeRequest = "GET / HTTP/1.1\r\nHost: glassbench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	upgradeAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// maxResponseHead bounds the server's handshake response.
const maxResponseHead = 1024

var errNotUpgraded = errors.New("handshake: not a 101 Switching Protocols")

// parseUpgradeResponse looks for a whole HTTP response head at the start
// of b. It returns 0 and no error while the head is incomplete, and the
// head's length once it is there and is a 101 with the expected
// Sec-WebSocket-Accept.
func parseUpgradeResponse(b []byte) (int, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= maxResponseHead {
			return 0, fmt.Errorf("handshake: response head longer than %d bytes", maxResponseHead)
		}
		return 0, nil
	}
	status, rest, _ := bytes.Cut(b[:end], []byte("\r\n"))
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 101 ")) && !bytes.Equal(status, []byte("HTTP/1.1 101")) {
		return 0, fmt.Errorf("%w: %q", errNotUpgraded, status)
	}
	accepted := false
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("handshake: malformed header line %q", line)
		}
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Accept")) {
			if !bytes.Equal(bytes.TrimSpace(value), []byte(upgradeAccept)) {
				return 0, fmt.Errorf("handshake: Sec-WebSocket-Accept %q, want %q", bytes.TrimSpace(value), upgradeAccept)
			}
			accepted = true
		}
	}
	if !accepted {
		return 0, errors.New("handshake: no Sec-WebSocket-Accept")
	}
	return end + 4, nil
}

// dialUpgrade connects to addr and runs the opening handshake. The
// connection is ready for frames when it returns: the server sent nothing
// past its response head.
func dialUpgrade(ctx context.Context, d *net.Dialer, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := upgrade(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func upgrade(c net.Conn) error {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(upgradeRequest)); err != nil {
		return err
	}
	var buf [maxResponseHead]byte
	got := 0
	for {
		n, err := c.Read(buf[got:])
		got += n
		if h, perr := parseUpgradeResponse(buf[:got]); perr != nil {
			return perr
		} else if h > 0 {
			if h != got {
				return fmt.Errorf("handshake: %d bytes after the response head", got-h)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
	}
}

// echoReply is the unmasked frame a server sends back for a message of
// payload p (RFC 6455 5.2): what the client expects byte for byte.
func echoReply(p []byte) []byte {
	var f []byte
	switch n := len(p); {
	case n < 126:
		f = append(f, 0x82, byte(n))
	case n < 1<<16:
		f = append(f, 0x82, 126, byte(n>>8), byte(n))
	default:
		return nil // the sections send small messages only
	}
	return append(f, p...)
}

// messagePayload is the payload encodeFrame masks: byte i is i.
func messagePayload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}
