//go:build unix

package ws

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// A Conn on a *net.TCPConn waits for the next message without holding a
// read buffer: the wait goes through the connection's syscall.RawConn,
// and the pooled reader is taken only once the kernel has bytes for it.
// The reader then fills with a nonblocking read in the same call, so the
// wait costs no system call that a plain read would not make.

// errWouldBlock is what fdSource returns for EAGAIN.
var errWouldBlock = errors.New("ws: read would block")

// fdSource is the source of a Conn's pooled reader on a *net.TCPConn: the
// net.Conn, except while awaitData fills the reader straight from the
// descriptor without blocking.
type fdSource struct {
	nc       net.Conn
	fd       int
	nonblock bool
	// err is an error a nonblocking read found (a reset, say), which the
	// kernel reports only once; awaitData returns it.
	err error
}

func (s *fdSource) Read(p []byte) (int, error) {
	if !s.nonblock {
		return s.nc.Read(p)
	}
	for {
		n, err := syscall.Read(s.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			// As net.Conn.Read reports it.
			s.err = &net.OpError{Op: "read", Net: "tcp", Source: s.nc.LocalAddr(), Addr: s.nc.RemoteAddr(),
				Err: os.NewSyscallError("read", err)}
			return 0, s.err
		case n <= 0:
			// EOF, which stays: the ordinary read finds it again.
			return 0, io.EOF
		}
		return n, nil
	}
}

// rawWait is a Conn's state for awaitData and tryWrite, set up once per
// connection so that a wait or a write allocates nothing.
type rawWait struct {
	rc  syscall.RawConn
	src *fdSource
	fn  func(fd uintptr) bool
	// tryWrite's buffer, result and function.
	wb  []byte
	wn  int
	we  error
	wfn func(fd uintptr) bool
}

// setupAwait prepares awaitData when nc is a *net.TCPConn.
func (c *Conn) setupAwait() {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	w := &rawWait{rc: rc, src: &fdSource{nc: c.nc}}
	w.fn = func(fd uintptr) bool {
		w.src.fd, w.src.nonblock = int(fd), true
		br := getReader(c.rsrc)
		_, err := br.Peek(1)
		w.src.nonblock = false
		switch err {
		case nil:
			c.br = br
			return true
		case errWouldBlock:
			putReader(br)
			return false
		}
		putReader(br)
		return true
	}
	w.wfn = func(fd uintptr) bool {
		for {
			n, err := syscall.Write(int(fd), w.wb)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				w.wn, w.we = 0, nil
			case err != nil:
				// As net.Conn.Write reports it.
				w.wn, w.we = 0, &net.OpError{Op: "write", Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(),
					Err: os.NewSyscallError("write", err)}
			default:
				w.wn, w.we = n, nil
			}
			return true
		}
	}
	c.await = w
	c.srcBase = w.src
}

// canTryWrite reports whether tryWrite can write without waiting.
func (c *Conn) canTryWrite() bool { return c.await != nil }

// tryWrite makes one nonblocking write of b to the transport and returns
// how much of it the kernel took (0 when its send buffer is full). It is
// called with writeLock held, on a transport for which canTryWrite is
// true.
func (c *Conn) tryWrite(b []byte) (int, error) {
	w := c.await
	w.wb = b
	err := w.rc.Write(w.wfn)
	n, werr := w.wn, w.we
	w.wb, w.we = nil, nil
	if err != nil {
		// The connection is closed, or a write deadline has passed.
		return 0, err
	}
	return n, werr
}

// awaitData waits, holding no buffer, until the transport has bytes to
// read (or has ended, or the read deadline has passed: then the error),
// and leaves them in c.br. It is called with readLock held; it does
// nothing when bytes are buffered already or the transport has no
// RawConn.
func (c *Conn) awaitData() error {
	if c.await == nil || c.br != nil || c.hasBuffered() {
		return nil
	}
	if err := c.await.rc.Read(c.await.fn); err != nil {
		return err
	}
	if err := c.await.src.err; err != nil {
		c.await.src.err = nil
		return err
	}
	return nil
}
