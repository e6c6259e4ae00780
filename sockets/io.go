package sockets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/trace"
)

const (
	recvFlags = MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_TRUNC
	sendFlags = MSG_DONTWAIT | MSG_MORE | MSG_NOSIGNAL
)

// Recv reads from fd into b, like recv(2). On a stream socket it returns as
// soon as at least one byte is available (all of b with MSG_WAITALL), and
// 0 with a nil error at end of stream. When nothing is buffered it sleeps
// until the wait queue reports EventIn; in nonblocking mode (or with
// MSG_DONTWAIT) it returns EAGAIN. An unconnected stream socket gives
// ENOTCONN, a reset connection ECONNRESET (once; then end of stream).
// Flags: MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC; any other gives
// EOPNOTSUPP (there is no urgent data: MSG_OOB, which Linux takes, is one).
func (s *Sockets) Recv(ctx context.Context, fd int, b []byte, flags int) (int, error) {
	start := s.callStart()
	so, err := s.lookup(fd)
	n := 0
	if err == nil {
		n, _, err = s.recv(ctx, nil, so, b, flags, false)
	}
	if s.logCalls {
		s.logCall(start, so, "recv", itoa(fd)+", "+itoa(len(b))+", "+msgFlags(flags), n, "", err)
	}
	return n, err
}

// RecvFrom is Recv that also returns the sender's address, for datagram
// sockets. Each call returns one datagram; a datagram longer than b is
// truncated (MSG_TRUNC returns its full length).
func (s *Sockets) RecvFrom(ctx context.Context, fd int, b []byte, flags int) (int, netip.AddrPort, error) {
	start := s.callStart()
	so, err := s.lookup(fd)
	var (
		n    int
		from netip.AddrPort
	)
	if err == nil {
		n, from, err = s.recv(ctx, nil, so, b, flags, true)
	}
	if s.logCalls {
		args := itoa(fd) + ", " + itoa(len(b)) + ", " + msgFlags(flags)
		if err == nil && from.IsValid() {
			args += ", " + from.String()
		}
		s.logCall(start, so, "recvfrom", args, n, "", err)
	}
	return n, from, err
}

func (s *Sockets) recv(ctx context.Context, dl *deadline, so *socket, b []byte, flags int, needAddr bool) (int, netip.AddrPort, error) {
	if flags&^recvFlags != 0 {
		return 0, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	if so.closed() {
		return 0, netip.AddrPort{}, syscall.EBADF
	}
	nonblock := so.nonblock.Load() || flags&MSG_DONTWAIT != 0
	if len(b) == 0 && so.stream() {
		return 0, netip.AddrPort{}, so.recvNothing(nonblock)
	}
	if err := so.takeKept(); err != nil {
		return 0, netip.AddrPort{}, err
	}
	var (
		cv      *CallVerdict
		verdict CallVerdict
	)
	if s.hooks.Load() != nil {
		var (
			hooked bool
			err    error
		)
		if b, hooked, err = s.hookRecv(ctx, dl.hold(), so, b, flags, nonblock, needAddr, &verdict); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if hooked {
			cv = &verdict
		}
	}
	opts := tcpip.ReadOptions{Peek: flags&MSG_PEEK != 0, NeedRemoteAddr: needAddr}
	waitAll := flags&MSG_WAITALL != 0 && so.stream() && !opts.Peek

	var from netip.AddrPort
	total := 0
	for {
		var (
			res tcpip.ReadResult
			off uint64
		)
		terr, err := s.block(ctx, dl, so, "recv", readMask, nonblock, cv, func() tcpip.Error {
			var terr tcpip.Error
			off, terr = so.read(b[total:], opts, &res)
			return terr
		})
		if err != nil {
			if total > 0 {
				return total, from, nil
			}
			return 0, from, err
		}
		if _, ok := terr.(*tcpip.ErrBadBuffer); ok && len(b) == 0 && !so.stream() {
			// A datagram read into no buffer: netstack has taken
			// it and fails only at the copy, where Linux's recv
			// returns 0 (its length with MSG_TRUNC).
			terr = nil
		}
		switch terr.(type) {
		case nil:
		case *tcpip.ErrClosedForReceive:
			if total == 0 {
				// A send that took the reset from the endpoint
				// meanwhile left it for this call.
				if err := so.takeKept(); err != nil {
					return 0, from, err
				}
			}
			if s.tr.Enabled() {
				s.emit(so, "", trace.In, "recv", fmt.Sprintf("end of stream at offset %d", off),
					(&trace.SocketIO{FD: so.fd, N: trace.Some(0), Offset: trace.Some(off), EOF: trace.Some(true)}).Fields()...)
			}
			return total, from, nil
		default:
			err := errno(terr)
			if s.tr.Enabled() && !isAgain(err) {
				s.emit(so, "", trace.In, "recv", "recv: "+err.Error(), (&trace.SocketIO{FD: so.fd, Err: err.Error()}).Fields()...)
			}
			if total > 0 {
				so.keep(err)
				return total, from, nil
			}
			return 0, from, err
		}
		if needAddr {
			from = addrPort(so.domain, res.RemoteAddr)
		}
		if s.tr.Enabled() {
			verb := "copied"
			if opts.Peek {
				verb = "peeked"
			}
			s.emit(so, "", trace.In, "recv", fmt.Sprintf("%s %d bytes at offset %d", verb, res.Count, off),
				(&trace.SocketIO{FD: so.fd, N: trace.Some(res.Count), Offset: trace.Some(off)}).Fields()...)
		}
		total += res.Count
		if !so.stream() {
			if flags&MSG_TRUNC != 0 {
				return res.Total, from, nil
			}
			return res.Count, from, nil
		}
		if !waitAll || total == len(b) {
			return total, from, nil
		}
	}
}

// recvNothing is the error of a recv of no bytes on a stream socket, which
// returns 0 at once without waiting, as Linux's does. Like Linux's it says
// ENOTCONN on a socket that is not connected (or listens), and EAGAIN when
// nonblocking with nothing to read.
func (so *socket) recvNothing(nonblock bool) error {
	switch tcp.EndpointState(so.ep.State()) {
	case tcp.StateInitial, tcp.StateBound, tcp.StateListen:
		return syscall.ENOTCONN
	}
	if nonblock && so.ep.Readiness(waiter.ReadableEvents)&waiter.ReadableEvents == 0 {
		return syscall.EAGAIN
	}
	return nil
}

// The reader and writer ep.Write and ep.Read take come from pools rather
// than from the socket: a socket is kept small, and one that is not in a
// call holds neither.
var (
	sliceWriters = sync.Pool{New: func() any { return new(tcpip.SliceWriter) }}
	byteReaders  = sync.Pool{New: func() any { return new(bytes.Reader) }}
)

// read is one nonblocking ep.Read into b, its result in *res. off is the
// stream offset of the first byte read (the bytes received on this socket
// before the call). The result (tcpip.ReadResult, about 300 bytes) is
// written where the caller keeps it rather than returned by value through
// read and readTo, two copies of it on every try.
func (so *socket) read(b []byte, opts tcpip.ReadOptions, res *tcpip.ReadResult) (uint64, tcpip.Error) {
	w := sliceWriters.Get().(*tcpip.SliceWriter)
	*w = b
	off, terr := so.readTo(w, opts, res)
	*w = nil
	sliceWriters.Put(w)
	return off, terr
}

// readTo is read into any writer (a view collector takes the views).
//
// On a TCP socket the receive buffer's moderation (ModerateRecvBuf) runs
// inside the read, under the one hold of the endpoint that the read takes,
// as Linux's tcp_recvmsg does it, rather than taking the endpoint a second
// time after it.
func (so *socket) readTo(w io.Writer, opts tcpip.ReadOptions, res *tcpip.ReadResult) (uint64, tcpip.Error) {
	so.readMu.Lock()
	defer so.readMu.Unlock()
	var terr tcpip.Error
	moderated := false
	if m, ok := so.ep.(moderatedReader); ok && !opts.Peek {
		*res, terr = m.ReadModerated(w, opts)
		moderated = true
	} else {
		*res, terr = so.ep.Read(w, opts)
	}
	off := so.rxOff
	if _, eof := terr.(*tcpip.ErrClosedForReceive); eof && !opts.Peek && so.stream() && finReceived(tcp.EndpointState(so.ep.State())) {
		so.finRead.Store(true)
	}
	if terr == nil && !opts.Peek {
		so.rxOff += uint64(res.Count)
		if so.stream() && !moderated {
			so.ep.ModerateRecvBuf(res.Count)
		}
	}
	return off, terr
}

// moderatedReader is a TCP endpoint's read with the receive buffer's
// moderation (third_party/gvisor patch 47).
type moderatedReader interface {
	ReadModerated(io.Writer, tcpip.ReadOptions) (tcpip.ReadResult, tcpip.Error)
}

// offsets returns rxOff and txOff.
func (so *socket) offsets() (read, written int64) {
	so.readMu.Lock()
	read = int64(so.rxOff)
	so.readMu.Unlock()
	so.writeMu.Lock()
	written = int64(so.txOff)
	so.writeMu.Unlock()
	return read, written
}

func isAgain(err error) bool { return err == syscall.EAGAIN }

// Send writes b to fd's peer, like send(2). On a stream socket a blocking
// Send returns once every byte is in the send buffer, which is before any
// of it is on the wire; a nonblocking one copies what fits and returns EAGAIN
// only when nothing fit. Send after Shutdown(SHUT_WR) returns EPIPE, and to
// a peer that reset the connection ECONNRESET (once, then EPIPE; a send that
// had copied part of b when the reset came returns the count, and the next
// send or recv ECONNRESET, as in Linux). Flags: MSG_DONTWAIT,
// MSG_MORE, MSG_NOSIGNAL (ignored); any other gives EOPNOTSUPP (MSG_OOB
// too: there is no urgent data).
func (s *Sockets) Send(ctx context.Context, fd int, b []byte, flags int) (int, error) {
	start := s.callStart()
	so, err := s.lookup(fd)
	n := 0
	if err == nil {
		n, err = s.send(ctx, nil, so, b, flags, nil)
	}
	if s.logCalls {
		s.logCall(start, so, "send", itoa(fd)+", "+itoa(len(b))+", "+msgFlags(flags), n, "", err)
	}
	return n, err
}

// SendTo sends one datagram to addr on a datagram socket. On a stream
// socket it is Send and addr is ignored, as in Linux.
func (s *Sockets) SendTo(ctx context.Context, fd int, b []byte, flags int, addr netip.AddrPort) (int, error) {
	start := s.callStart()
	so, err := s.lookup(fd)
	n := 0
	if err == nil {
		n, err = s.sendTo(ctx, so, b, flags, addr)
	}
	if s.logCalls {
		s.logCall(start, so, "sendto", itoa(fd)+", "+itoa(len(b))+", "+msgFlags(flags)+", "+addr.String(), n, "", err)
	}
	return n, err
}

func (s *Sockets) sendTo(ctx context.Context, so *socket, b []byte, flags int, addr netip.AddrPort) (int, error) {
	if so.stream() {
		return s.send(ctx, nil, so, b, flags, nil)
	}
	fa, err := fullAddress(so.domain, addr, false)
	if err != nil {
		return 0, err
	}
	if so.mappedOnV6Only(addr) {
		return 0, syscall.ENETUNREACH
	}
	return s.send(ctx, nil, so, b, flags, &fa)
}

func (s *Sockets) send(ctx context.Context, dl *deadline, so *socket, b []byte, flags int, to *tcpip.FullAddress) (int, error) {
	if flags&^sendFlags != 0 {
		return 0, syscall.EOPNOTSUPP
	}
	if so.closed() {
		return 0, syscall.EBADF
	}
	if err := so.takeKept(); err != nil {
		return 0, err
	}
	nonblock := so.nonblock.Load() || flags&MSG_DONTWAIT != 0
	var (
		cv      *CallVerdict
		verdict CallVerdict
	)
	if s.hooks.Load() != nil {
		var (
			hooked, done bool
			n            int
			err          error
		)
		if b, hooked, n, done, err = s.hookSend(ctx, dl.hold(), so, b, flags, nonblock, to != nil, &verdict); done {
			return n, err
		}
		if hooked {
			cv = &verdict
		}
	}
	opts := tcpip.WriteOptions{To: to, More: flags&MSG_MORE != 0, Atomic: !so.stream()}
	total := 0
	for {
		var (
			n   int64
			off uint64
		)
		terr, err := s.block(ctx, dl, so, "send", writeMask, nonblock, cv, func() tcpip.Error {
			var terr tcpip.Error
			n, off, terr = so.write(b[total:], opts)
			return terr
		})
		if err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
		if terr != nil {
			err := errno(terr)
			if s.tr.Enabled() && !isAgain(err) {
				s.emit(so, "", trace.Out, "send", "send: "+err.Error(), (&trace.SocketIO{FD: so.fd, Err: err.Error()}).Fields()...)
			}
			if total > 0 {
				// Linux returns the bytes copied and the
				// error on the next call.
				so.keep(err)
				return total, nil
			}
			return 0, err
		}
		if s.tr.Enabled() {
			s.emit(so, "", trace.Out, "send",
				fmt.Sprintf("copied %d bytes into the send buffer at offset %d", n, off),
				(&trace.SocketIO{FD: so.fd, N: trace.Some(int(n)), Offset: trace.Some(off)}).Fields()...)
		}
		total += int(n)
		if !so.stream() || total == len(b) || nonblock {
			return total, nil
		}
	}
}

// write is one nonblocking ep.Write of b. off is the stream offset of the
// first byte written.
func (so *socket) write(b []byte, opts tcpip.WriteOptions) (int64, uint64, tcpip.Error) {
	r := byteReaders.Get().(*bytes.Reader)
	r.Reset(b)
	n, off, terr := so.writeFrom(r, opts)
	r.Reset(nil)
	byteReaders.Put(r)
	return n, off, terr
}

// writeFrom is write from any payloader (a view payload hands over its
// views).
func (so *socket) writeFrom(p tcpip.Payloader, opts tcpip.WriteOptions) (int64, uint64, tcpip.Error) {
	so.writeMu.Lock()
	defer so.writeMu.Unlock()
	n, terr := so.ep.Write(p, opts)
	off := so.txOff
	so.txOff += uint64(n)
	return n, off, terr
}
