package sockets

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Listener is a net.Listener on a listening socket, made by
// Sockets.Listener. Accept takes connections from the endpoint's accept
// queue, so the backlog and the wake-ups show in Table and in the trace.
type Listener struct {
	s       *Sockets
	so      *socket
	network string
	addr    net.Addr

	closed atomic.Bool
	// dl is Accept's deadline (SetDeadline).
	dl deadline
}

var _ net.Listener = (*Listener)(nil)

// FD returns the listening socket's descriptor.
func (l *Listener) FD() int { return l.so.fd }

// Accept waits for and returns the next connection, a *Conn. After Close it returns
// an error wrapping net.ErrClosed; past the deadline (SetDeadline), one
// wrapping os.ErrDeadlineExceeded, a net.Error whose Timeout is true.
func (l *Listener) Accept() (net.Conn, error) {
	l.dl.enter()
	defer l.dl.leave()
	if l.dl.passed() {
		return nil, &net.OpError{Op: "accept", Net: l.network, Addr: l.addr, Err: os.ErrDeadlineExceeded}
	}
	start := l.s.callStart()
	nso, peer, err := l.s.accept(context.Background(), &l.dl, l.so)
	if l.s.logCalls {
		l.s.logAccept(start, l.so, l.so.fd, nso, peer, err)
	}
	if err != nil {
		if errors.Is(err, syscall.EBADF) {
			err = net.ErrClosed
		}
		return nil, &net.OpError{Op: "accept", Net: l.network, Addr: l.addr, Err: err}
	}
	return l.s.newConn(nso, l.network), nil
}

// Close stops listening. Connections still in the accept queue are reset;
// connections already accepted are not affected.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: l.network, Addr: l.addr, Err: net.ErrClosed}
	}
	l.s.closeLogged(l.so)
	return nil
}

// SetDeadline sets the time after which Accept fails with
// os.ErrDeadlineExceeded, as net.TCPListener's does, waking an Accept
// already waiting; the zero time means no deadline. The time passes on
// the stack's clock, so a paused run does not time out its listener.
func (l *Listener) SetDeadline(t time.Time) error {
	if l.closed.Load() {
		return &net.OpError{Op: "set", Net: l.network, Addr: l.addr, Err: net.ErrClosed}
	}
	if l.dl.set(t, l.s.stack.Clock()) {
		l.so.wq.Notify(deadlineEvent)
	}
	return nil
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return l.addr }
