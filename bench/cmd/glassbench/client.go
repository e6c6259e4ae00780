package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// rawClient is the one client every server is measured with: gorilla's
// Dialer runs the opening handshake, then the client writes a frame encoded
// and masked once up front and reads the echo into a reused buffer, so it
// allocates nothing per message and what a measurement sees is the
// server's.
type rawClient struct {
	nc    net.Conn
	size  int
	frame []byte
	buf   []byte
	hdr   [14]byte
}

func dialRaw(ctx context.Context, t *wsTarget, size int) (*rawClient, error) {
	d := websocket.Dialer{NetDialContext: t.dial, HandshakeTimeout: 30 * time.Second}
	c, _, err := d.DialContext(ctx, t.url, nil)
	if err != nil {
		return nil, err
	}
	return &rawClient{nc: c.UnderlyingConn(), size: size, frame: encodeFrame(size), buf: make([]byte, size)}, nil
}

// encodeFrame is a masked binary frame of size bytes (RFC 6455 5.2).
func encodeFrame(size int) []byte {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	var f []byte
	switch {
	case size < 126:
		f = append(f, 0x82, 0x80|byte(size))
	case size < 1<<16:
		f = append(f, 0x82, 0x80|126, byte(size>>8), byte(size))
	default:
		f = append(f, 0x82, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(size))
	}
	f = append(f, key[:]...)
	for i := range size {
		f = append(f, byte(i)^key[i&3])
	}
	return f
}

// echo sends the frame and reads the whole echoed message.
func (c *rawClient) echo() error {
	if _, err := c.nc.Write(c.frame); err != nil {
		return err
	}
	got := 0
	for {
		if _, err := io.ReadFull(c.nc, c.hdr[:2]); err != nil {
			return err
		}
		fin, op := c.hdr[0]&0x80 != 0, c.hdr[0]&0xf
		n := int(c.hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.nc, c.hdr[2:4]); err != nil {
				return err
			}
			n = int(binary.BigEndian.Uint16(c.hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(c.nc, c.hdr[2:10]); err != nil {
				return err
			}
			n = int(binary.BigEndian.Uint64(c.hdr[2:10]))
		}
		if c.hdr[1]&0x80 != 0 {
			return fmt.Errorf("server frame is masked")
		}
		if op >= 8 {
			// A control frame from the server (none is expected): skip it.
			if _, err := io.CopyN(io.Discard, c.nc, int64(n)); err != nil {
				return err
			}
			continue
		}
		if got+n > len(c.buf) {
			return fmt.Errorf("echo longer than sent: %d > %d bytes", got+n, len(c.buf))
		}
		if _, err := io.ReadFull(c.nc, c.buf[got:got+n]); err != nil {
			return err
		}
		got += n
		if fin {
			break
		}
	}
	if got != c.size {
		return fmt.Errorf("echo of %d bytes, sent %d", got, c.size)
	}
	return nil
}

func (c *rawClient) Close() error { return c.nc.Close() }
