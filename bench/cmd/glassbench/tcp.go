package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// serveTCP runs echo (port role "echo") or discard on l until it is closed.
// Discard answers end of stream with the 8-byte count it read, so that the
// client's clock stops when the server has every byte.
//
// Every server runs the same program: a read/write loop through one 256 KiB
// buffer. io.Copy between two kernel sockets would splice and skip the
// copies through user memory that any userspace server (and glassnet's
// sockets) makes, so the kernel row would measure a different program.
func serveTCP(l net.Listener, echo bool) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if echo {
				// The wrappers hide ReadFrom and WriteTo, so
				// io.CopyBuffer uses the buffer.
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 256<<10))
				return
			}
			// Hidden too: io.Discard's ReadFrom (8 KiB reads) and
			// the socket's WriteTo.
			n, _ := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{c}, make([]byte, 256<<10))
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(n))
			c.Write(b[:])
		}()
	}
}

// bulkTimeout bounds one transfer; a transfer that stalls fails instead of
// holding up the run.
const bulkTimeout = 30 * time.Second

// stalled reports whether a transfer failed by not ending within
// bulkTimeout (its deadline passed), rather than with an error of its own.
func stalled(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// tally counts one path's glassnet transfers: how many ran, how many
// stalled, and how many failed otherwise. A stalled or failed transfer has
// no speed, so it is not in the path's median: the tally shows it instead.
type tally struct {
	Transfers, Stalls, Errors int
	First                     string // the first failure, for the notes
}

func (t *tally) add(err error) {
	t.Transfers++
	if err == nil {
		return
	}
	if stalled(err) {
		t.Stalls++
	} else {
		t.Errors++
	}
	if t.First == "" {
		t.First = err.Error()
	}
}

// String is "stalls/transfers", with other failures after it.
func (t tally) String() string {
	if t.Transfers == 0 {
		return "-"
	}
	s := fmt.Sprintf("%d/%d", t.Stalls, t.Transfers)
	if t.Errors > 0 {
		s += fmt.Sprintf(" +%d failed", t.Errors)
	}
	return s
}

type closeWriter interface{ CloseWrite() error }

// bulk moves total bytes over a fresh connection and returns bytes per
// second: to discard (the server confirms the count) or through echo (every
// byte comes back).
func bulk(dial func(ctx context.Context) (net.Conn, error), total int64, echo bool) (float64, error) {
	return bulkInfo(dial, total, echo, nil)
}

// bulkInfo is bulk, and when info is not nil it also stores there what the
// client's socket reports of its TCP once the transfer is done (nothing
// when the connection is not a kernel socket or the system does not say).
func bulkInfo(dial func(ctx context.Context) (net.Conn, error), total int64, echo bool, info *senderInfo) (float64, error) {
	return bulkWith(dial, total, func(c net.Conn) error {
		if info != nil {
			defer func() { *info = senderTCPInfo(c) }()
		}
		if echo {
			return readEcho(c, total)
		}
		var b [8]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fmt.Errorf("discard count: %w", err)
		}
		if n := int64(binary.BigEndian.Uint64(b[:])); n != total {
			return fmt.Errorf("discard: server read %d of %d bytes", n, total)
		}
		return nil
	})
}

// bulkWith dials, writes total bytes in 64 KiB writes and half-closes
// while read reads the server's side, and returns bytes per second from
// the dial's end to read's.
func bulkWith(dial func(ctx context.Context) (net.Conn, error), total int64, read func(net.Conn) error) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(bulkTimeout))
	buf := make([]byte, 64<<10)
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		for left := total; left > 0; {
			n := min(left, int64(len(buf)))
			if _, err := c.Write(buf[:n]); err != nil {
				werr <- err
				return
			}
			left -= n
		}
		cw, ok := c.(closeWriter)
		if !ok {
			werr <- errors.New("connection cannot half-close")
			return
		}
		werr <- cw.CloseWrite()
	}()
	if err := read(c); err != nil {
		return 0, err
	}
	el := time.Since(start)
	if err := <-werr; err != nil {
		return 0, err
	}
	return float64(total) / el.Seconds(), nil
}

// readEcho reads total bytes of echo from c.
func readEcho(c net.Conn, total int64) error {
	// The wrapper hides io.Discard's ReadFrom, which would read
	// through 8 KiB buffers of its own instead of rbuf.
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, io.LimitReader(c, total), make([]byte, 256<<10))
	if err != nil {
		return err
	}
	if n != total {
		return fmt.Errorf("echo: got %d of %d bytes", n, total)
	}
	return nil
}

// tcpTarget is one place the bulk test can run: a dialer to echo and one to
// discard, and how to tear it down.
type tcpTarget struct {
	name          string
	echo, discard func(ctx context.Context) (net.Conn, error)
	close         func()
}

// serveCopy is serveTCP the way serve runs its echo and discard: echo is
// io.Copy(c, c) and discard io.Copy(io.Discard, c). Between two kernel
// sockets io.Copy splices; over glassnet's sockets it moves gVisor's
// buffers by reference (sockets.Conn WriteTo).
func serveCopy(l net.Listener, echo bool) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if echo {
				io.Copy(c, c)
				return
			}
			n, _ := io.Copy(io.Discard, c)
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(n))
			c.Write(b[:])
		}()
	}
}

func kernelTCP() (*tcpTarget, error) {
	return kernelTCPAt("127.0.0.1", serveTCP)
}

// kernelTCPAt serves echo and discard with serve on kernel loopback at
// host ("127.0.0.1" or "[::1]").
func kernelTCPAt(host string, serve func(net.Listener, bool)) (*tcpTarget, error) {
	lc := net.ListenConfig{Control: setKernelCC}
	le, err := lc.Listen(context.Background(), "tcp", host+":0")
	if err != nil {
		return nil, err
	}
	ld, err := lc.Listen(context.Background(), "tcp", host+":0")
	if err != nil {
		le.Close()
		return nil, err
	}
	go serve(le, true)
	go serve(ld, false)
	d := net.Dialer{Control: setKernelCC}
	return &tcpTarget{
		name:    "kernel loopback",
		echo:    func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", le.Addr().String()) },
		discard: func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", ld.Addr().String()) },
		close:   func() { le.Close(); ld.Close() },
	}, nil
}

func pipeTCP(mtu int, offload bool) (*tcpTarget, error) {
	p, err := newPair(mtu, offload)
	if err != nil {
		return nil, err
	}
	le, err := p.ssocks.Listener("tcp4", ":7")
	if err != nil {
		p.Close()
		return nil, err
	}
	ld, err := p.ssocks.Listener("tcp4", ":9")
	if err != nil {
		le.Close()
		p.Close()
		return nil, err
	}
	go serveTCP(le, true)
	go serveTCP(ld, false)
	sa := p.serverAddr.String()
	return &tcpTarget{
		name:    fmt.Sprintf("glassnet in-memory pair, MTU %d, offloads %s", mtu, onOff(offload)),
		echo:    func(ctx context.Context) (net.Conn, error) { return p.csocks.Dial(ctx, "tcp4", sa+":7") },
		discard: func(ctx context.Context) (net.Conn, error) { return p.csocks.Dial(ctx, "tcp4", sa+":9") },
		close:   func() { le.Close(); ld.Close(); p.Close() },
	}, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
