package sockets

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a net.Conn on one socket of a Sockets table, made by
// Sockets.DialContext, Listener.Accept or Sockets.Conn. Read copies straight
// from the endpoint's receive queue into the caller's buffer; on a stream
// socket WriteTo and ReadFrom let io.Copy move the stack's buffers without
// copying them (zerocopy.go). Errors follow
// the net package: *net.OpError carrying the errno, io.EOF at orderly end of
// stream, os.ErrDeadlineExceeded (Timeout() true) when a deadline passes,
// net.ErrClosed after Close.
//
// The socket stays in the table (and in Table) until Close; FD returns its
// descriptor for use with the BSD-style methods.
type Conn struct {
	s       *Sockets
	so      *socket
	network string
	// laddr and raddr are made once, as the net package makes a
	// connection's: net/http asks for them on every connection, and an
	// error carries them. raddr is nil when there is no peer.
	laddr, raddr net.Addr
	rd, wd       deadline
	closed       atomic.Bool
	roomMade     atomic.Bool // stackroom.go
}

// PacketConn is a net.PacketConn on a datagram socket, made by
// ListenPacket or by Dial with "udp": a Conn whose ReadFrom and WriteTo
// carry one datagram and its address. (A stream Conn's ReadFrom and
// WriteTo are io.ReaderFrom and io.WriterTo instead, as with the net
// package's UDPConn and TCPConn.)
type PacketConn struct {
	Conn
}

var (
	_ net.Conn       = (*Conn)(nil)
	_ net.Conn       = (*PacketConn)(nil)
	_ net.PacketConn = (*PacketConn)(nil)
)

func (s *Sockets) newConn(so *socket, network string) *Conn {
	c := &Conn{}
	s.initConn(c, so, network)
	return c
}

func (s *Sockets) newPacketConn(so *socket, network string) *PacketConn {
	c := &PacketConn{}
	s.initConn(&c.Conn, so, network)
	return c
}

func (s *Sockets) initConn(c *Conn, so *socket, network string) {
	c.s, c.so, c.network, c.laddr = s, so, network, netAddr(so, s.local(so))
	if peer, err := s.peer(so); err == nil && peer.IsValid() {
		c.raddr = netAddr(so, peer)
	}
}

// netAddr converts to *net.TCPAddr or *net.UDPAddr, unmapping IPv4-mapped
// addresses as the net package does.
func netAddr(so *socket, ap netip.AddrPort) net.Addr {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if so.stream() {
		return net.TCPAddrFromAddrPort(ap)
	}
	return net.UDPAddrFromAddrPort(ap)
}

// FD returns the socket's descriptor.
func (c *Conn) FD() int { return c.so.fd }

// StreamOffsets returns how many payload bytes this connection has read
// (consumed from the receive queue; peeking does not count) and written
// (copied into the send buffer) so far. They are the offsets the "recv" and
// "send" trace events carry: the next byte read is at stream offset read,
// the next byte written at offset written, where offset 0 is the byte
// after the SYN (sequence number minus ISN minus one).
func (c *Conn) StreamOffsets() (read, written int64) {
	return c.so.offsets()
}

// Read reads up to len(b) bytes. It returns io.EOF once the peer has shut
// down its side and everything before the FIN has been read.
func (c *Conn) Read(b []byte) (int, error) {
	c.roomOnce()
	if c.so.closed() {
		return 0, c.opError("read", net.ErrClosed)
	}
	c.rd.enter()
	defer c.rd.leave()
	if c.rd.passed() {
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	}
	start := c.s.callStart()
	n, _, err := c.s.recv(context.Background(), &c.rd, c.so, b, 0, false)
	if c.s.logCalls {
		c.s.logCall(start, c.so, "recv", itoa(c.so.fd)+", "+itoa(len(b))+", 0", n, "", err)
	}
	if err != nil {
		return n, c.opError("read", err)
	}
	if n == 0 && len(b) > 0 && c.so.stream() {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, blocking while the send buffer is full. Like any
// send, it returns once the bytes are in the send buffer.
func (c *Conn) Write(b []byte) (int, error) {
	c.roomOnce()
	if c.so.closed() {
		return 0, c.opError("write", net.ErrClosed)
	}
	c.wd.enter()
	defer c.wd.leave()
	total := 0
	for {
		if c.wd.passed() {
			return total, c.opError("write", os.ErrDeadlineExceeded)
		}
		start := c.s.callStart()
		n, err := c.s.send(context.Background(), &c.wd, c.so, b[total:], 0, nil)
		if c.s.logCalls {
			c.s.logCall(start, c.so, "send", itoa(c.so.fd)+", "+itoa(len(b)-total)+", 0", n, "", err)
		}
		total += n
		if err != nil {
			return total, c.opError("write", err)
		}
		if total == len(b) || !c.so.stream() {
			return total, nil
		}
	}
}

// ReadFrom reads one datagram and returns its sender. It implements
// net.PacketConn.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.so.closed() {
		return 0, nil, c.opError("read", net.ErrClosed)
	}
	c.rd.enter()
	defer c.rd.leave()
	if c.rd.passed() {
		return 0, nil, c.opError("read", os.ErrDeadlineExceeded)
	}
	start := c.s.callStart()
	n, from, err := c.s.recv(context.Background(), &c.rd, c.so, b, 0, true)
	if c.s.logCalls {
		args := itoa(c.so.fd) + ", " + itoa(len(b)) + ", 0"
		if err == nil {
			args += ", " + from.String()
		}
		c.s.logCall(start, c.so, "recvfrom", args, n, "", err)
	}
	if err != nil {
		return n, nil, c.opError("read", err)
	}
	return n, netAddr(c.so, from), nil
}

// WriteTo sends one datagram to addr, a *net.UDPAddr (or any net.Addr
// whose String is host:port with a literal IP).
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.so.closed() {
		return 0, c.opError("write", net.ErrClosed)
	}
	if c.so.stream() {
		return 0, c.opError("write", syscall.EISCONN)
	}
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return 0, c.opError("write", syscall.EDESTADDRREQ)
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return 0, c.opError("write", err)
		}
	}
	fa, err := fullAddress(c.so.domain, ap, false)
	if err != nil {
		return 0, c.opError("write", err)
	}
	c.wd.enter()
	defer c.wd.leave()
	if c.wd.passed() {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	start := c.s.callStart()
	n, err := c.s.send(context.Background(), &c.wd, c.so, b, 0, &fa)
	if c.s.logCalls {
		c.s.logCall(start, c.so, "sendto", itoa(c.so.fd)+", "+itoa(len(b))+", 0, "+ap.String(), n, "", err)
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: c.network, Source: c.laddr, Addr: addr, Err: err}
	}
	return n, nil
}

// Close closes the socket and releases its descriptor. Blocked Read and
// Write calls return net.ErrClosed.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opError("close", net.ErrClosed)
	}
	c.s.closeLogged(c.so)
	return nil
}

// CloseWrite shuts down the sending side (TCP half-close: FIN after the
// queued data). Reads keep working.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	if err := c.s.shutdownLogged(c.so, SHUT_WR); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// CloseRead shuts down the receiving side.
func (c *Conn) CloseRead() error {
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	if err := c.s.shutdownLogged(c.so, SHUT_RD); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// SetLinger sets what Close does with data not yet sent or acknowledged,
// as (*net.TCPConn).SetLinger does: sec < 0 (the default) sends it, then
// FIN, after Close has returned; sec == 0 discards it and sends RST, which
// frees the send buffer at once. It is SO_LINGER (see SetSockOpt).
func (c *Conn) SetLinger(sec int) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	if err := c.s.setSockOptLogged(c.so, SOL_SOCKET, SO_LINGER, sec); err != nil {
		return c.opError("set", err)
	}
	return nil
}

// LocalAddr returns the local address, a *net.TCPAddr or *net.UDPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address, or nil for a datagram socket
// without a default destination. Before the first Read or Write it makes
// room on the caller's stack for them (stackroom.go).
func (c *Conn) RemoteAddr() net.Addr {
	c.roomEarly()
	return c.raddr
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	r := c.rd.set(t, c.s.stack.Clock())
	w := c.wd.set(t, c.s.stack.Clock())
	c.wakeForDeadline(r || w)
	return nil
}

// SetReadDeadline sets the time after which Read fails with
// os.ErrDeadlineExceeded; the zero time means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.wakeForDeadline(c.rd.set(t, c.s.stack.Clock()))
	return nil
}

// SetWriteDeadline sets the time after which Write fails with
// os.ErrDeadlineExceeded; the zero time means no deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.wakeForDeadline(c.wd.set(t, c.s.stack.Clock()))
	return nil
}

// wakeForDeadline wakes the calls asleep on the socket's wait queue when
// a deadline was set while calls were in (deadline.set), so that they
// sleep again on its channel.
func (c *Conn) wakeForDeadline(in bool) {
	if in {
		c.so.wq.Notify(deadlineEvent)
	}
}

// opError wraps err the way the net package does. A descriptor closed
// under a call (by Close, or by Sockets.Close on FD) reports net.ErrClosed.
func (c *Conn) opError(op string, err error) error {
	if errors.Is(err, syscall.EBADF) {
		err = net.ErrClosed
	}
	var src net.Addr
	if op != "close" && op != "set" {
		src = c.laddr
	}
	return &net.OpError{Op: op, Net: c.network, Source: src, Addr: c.raddr, Err: err}
}
