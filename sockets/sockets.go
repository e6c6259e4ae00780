package sockets

import (
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/trace"
)

// Options configures a Sockets. The zero value works.
type Options struct {
	// Tracer receives socket-layer events (accept, connect, send, recv and
	// the wake-ups between them). Nil records nothing.
	Tracer *trace.Tracer
	// Node names this stack in trace events, such as "server" or "client".
	Node string
	// CallLog, if set, receives one strace-like line per socket call:
	//
	//	connect(3, 10.0.0.2:80) = 0 <0.000412>
	//	recv(4, 4096, 0) = -1 EAGAIN (Resource temporarily unavailable) <0.000003>
	//
	// With a Tracer the same records are also "call" events. Writes are
	// serialized; a slow writer slows the calls.
	CallLog io.Writer
}

// Sockets is a descriptor table of BSD-style sockets on one gVisor stack.
// All methods are safe for concurrent use. Make one with New; the zero
// value has no stack and is not usable.
type Sockets struct {
	stack *stack.Stack
	tr    *trace.Tracer
	node  string

	// logCalls is set when calls are recorded (Tracer or CallLog); callMu
	// serializes writes to callLog.
	logCalls bool
	callMu   sync.Mutex
	callLog  io.Writer

	// hooks is the installed CallHook (SetCallHook); nil costs one load.
	hooks    atomic.Pointer[callHooks]
	verdicts hook.Counter

	mu   sync.Mutex
	fds  []*socket // indexed by descriptor; nil means free
	next int       // no descriptor below next is free
}

// firstFD is the lowest descriptor handed out; 0, 1 and 2 are left to
// stdin, stdout and stderr as in a process.
const firstFD = 3

// New returns an empty socket table on s. s needs the network protocols
// (ipv4, ipv6) and transport protocols (tcp, udp) the caller intends to use;
// netstack.Stack.Stack returns one that has them. New panics when s is nil,
// rather than the first call on the table.
func New(s *stack.Stack, opts Options) *Sockets {
	if s == nil {
		panic("sockets: New with a nil *stack.Stack")
	}
	return &Sockets{
		stack: s, tr: opts.Tracer, node: opts.Node, next: firstFD,
		logCalls: opts.Tracer.Enabled() || opts.CallLog != nil, callLog: opts.CallLog,
	}
}

// socket is one open descriptor. It is kept small: a server may hold a
// great many of them, so what only some sockets need (the done channel,
// the watcher) is allocated when first needed.
type socket struct {
	fd     int
	domain int // AF_INET or AF_INET6
	typ    int // SOCK_STREAM or SOCK_DGRAM
	proto  tcpip.NetworkProtocolNumber
	ep     tcpip.Endpoint
	wq     *waiter.Queue

	// isClosed is set by Close, which then notifies wq so that every
	// sleeper on the queue wakes and sees it.
	isClosed atomic.Bool
	nonblock atomic.Bool

	// readMu serializes ep.Read so that rxOff matches the bytes handed
	// out; writeMu does the same for ep.Write and txOff.
	readMu  sync.Mutex
	rxOff   uint64 // stream offset: bytes received before the next read
	writeMu sync.Mutex
	txOff   uint64 // bytes copied into the send buffer so far

	mu      sync.Mutex
	backlog int           // as passed to Listen; 0 when not listening
	done    chan struct{} // made by doneChan, closed by Close
	// kept is a connection error (ECONNRESET, ETIMEDOUT) that a call
	// took from the endpoint, which reports it once, and could not
	// return because it had moved bytes already: a send that copied part
	// of its buffer before the peer's reset. The next send, recv or
	// SO_ERROR returns it, as Linux keeps sk_err for the next call. Every
	// send and recv looks: an atomic load, not a lock, while it is nil.
	kept atomic.Pointer[error]

	// recvSlept is set when the last recv that found nothing to read
	// slept until it could, and cleared when one found the data at
	// once. A recv registers on wq before its first try while it is set:
	// a socket that waits for every message (a server waiting for each
	// request) then reads its endpoint twice per wait, not three times
	// (a try, the try after registering, the try after the wake-up).
	// Linux's tcp_recvmsg checks its queue under the socket lock and
	// needs no second look; here each look locks the endpoint.
	recvSlept atomic.Bool

	// finRead is set when a recv on a stream socket returned the end of
	// the stream after the peer's FIN had come: Linux's copied_seq then
	// counts the FIN, and ss's Recv-Q no longer does (Snapshot).
	finRead atomic.Bool

	// watch reports the socket's wake-ups; nil when not tracing.
	watch *watcher
}

func (so *socket) stream() bool { return so.typ == SOCK_STREAM }

// keep holds err for the next call (see socket.kept), unless it is one
// that the endpoint reports again by itself (EPIPE) or not an error of
// the connection (EAGAIN).
func (so *socket) keep(err error) {
	if err == syscall.EAGAIN || err == syscall.EPIPE {
		return
	}
	so.kept.CompareAndSwap(nil, &err)
}

// takeKept returns the error keep held, once.
func (so *socket) takeKept() error {
	if so.kept.Load() == nil {
		return nil
	}
	if p := so.kept.Swap(nil); p != nil {
		return *p
	}
	return nil
}

func (so *socket) closed() bool { return so.isClosed.Load() }

// doneChan returns a channel that is closed when the socket is, for waits
// that do not sleep on the wait queue (a held call, a delayed one). Waits
// on the queue need no channel: Close notifies the queue.
func (so *socket) doneChan() <-chan struct{} {
	so.mu.Lock()
	defer so.mu.Unlock()
	if so.done == nil {
		so.done = make(chan struct{})
		if so.closed() {
			close(so.done)
		}
	}
	return so.done
}

// Linux's SOCK_TYPE_MASK and SOCK_MAX: the socket types it knows are below
// sockMax, and a type argument carries no bits above the mask but
// SOCK_NONBLOCK and SOCK_CLOEXEC.
const (
	sockTypeMask = 0xf
	sockMax      = unix.SOCK_PACKET + 1
)

// Socket creates an endpoint and returns the lowest free descriptor for it.
// domain is AF_INET or AF_INET6; typ is SOCK_STREAM or SOCK_DGRAM, and may
// carry unix.SOCK_NONBLOCK (and unix.SOCK_CLOEXEC, ignored). A type Linux
// knows but the stack has not (SOCK_SEQPACKET, SOCK_RAW) gives
// ESOCKTNOSUPPORT; a value that is no type at all, EINVAL.
func (s *Sockets) Socket(domain, typ int) (int, error) {
	start := s.callStart()
	fd := -1
	so, err := s.newSocket(domain, typ)
	if err == nil {
		fd = so.fd
	}
	if s.logCalls {
		s.logCall(start, so, "socket", domainName(domain)+", "+typeName(typ), fd, "", err)
	}
	return fd, err
}

func (s *Sockets) newSocket(domain, typ int) (*socket, error) {
	nonblock := typ&syscall.SOCK_NONBLOCK != 0
	typ &^= syscall.SOCK_NONBLOCK | syscall.SOCK_CLOEXEC
	if typ < 0 || typ > sockTypeMask || typ >= sockMax {
		// Not a socket type at all, or flags beside the two: EINVAL
		// from Linux's __sys_socket and __sock_create, before the
		// family is asked.
		return nil, syscall.EINVAL
	}

	var proto tcpip.NetworkProtocolNumber
	switch domain {
	case AF_INET:
		proto = ipv4.ProtocolNumber
	case AF_INET6:
		proto = ipv6.ProtocolNumber
	default:
		return nil, syscall.EAFNOSUPPORT
	}
	var transport tcpip.TransportProtocolNumber
	switch typ {
	case SOCK_STREAM:
		transport = tcp.ProtocolNumber
	case SOCK_DGRAM:
		transport = udp.ProtocolNumber
	default:
		return nil, syscall.ESOCKTNOSUPPORT
	}
	wq := new(waiter.Queue)
	ep, terr := s.stack.NewEndpoint(transport, proto, wq)
	if terr != nil {
		if _, ok := terr.(*tcpip.ErrUnknownProtocol); ok {
			return nil, syscall.EAFNOSUPPORT
		}
		return nil, errno(terr)
	}
	so := &socket{domain: domain, typ: typ, proto: proto, ep: ep, wq: wq}
	so.nonblock.Store(nonblock)
	if s.tr.Enabled() {
		s.newWatcher(so)
	}
	s.install(so)
	if s.tr.Enabled() {
		s.watch(so)
	}
	return so, nil
}

// newAccepted wraps an endpoint returned by a listener's accept queue.
func (s *Sockets) newAccepted(l *socket, ep tcpip.Endpoint, wq *waiter.Queue) *socket {
	so := &socket{domain: l.domain, typ: l.typ, proto: l.proto, ep: ep, wq: wq}
	if s.tr.Enabled() {
		s.newWatcher(so)
	}
	s.install(so)
	if s.tr.Enabled() {
		s.watch(so)
	}
	return so
}

// install gives so the lowest free descriptor, as the kernel does.
func (s *Sockets) install(so *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fd := s.next
	for fd < len(s.fds) && s.fds[fd] != nil {
		fd++
	}
	if fd >= len(s.fds) {
		n := max(2*len(s.fds), 16)
		for n <= fd {
			n *= 2
		}
		fds := make([]*socket, n)
		copy(fds, s.fds)
		s.fds = fds
	}
	s.fds[fd] = so
	so.fd = fd
	s.next = fd + 1
}

// lookup returns the socket for fd, or EBADF.
func (s *Sockets) lookup(fd int) (*socket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fd < 0 || fd >= len(s.fds) || s.fds[fd] == nil {
		return nil, syscall.EBADF
	}
	return s.fds[fd], nil
}

// Close releases fd and closes its endpoint. A connected stream socket
// sends FIN after any queued data, or RST when SO_LINGER is on with a zero
// timeout. Calls blocked on fd in other goroutines return EBADF.
func (s *Sockets) Close(fd int) error {
	start := s.callStart()
	so, err := s.lookup(fd)
	if err == nil {
		s.closeSocket(so)
	}
	if s.logCalls {
		s.logCall(start, so, "close", itoa(fd), 0, "", err)
	}
	return err
}

// closeLogged is closeSocket recorded as a call, for the adapters.
func (s *Sockets) closeLogged(so *socket) {
	start := s.callStart()
	s.closeSocket(so)
	if s.logCalls {
		s.logCall(start, so, "close", itoa(so.fd), 0, "", nil)
	}
}

// closeSocket is idempotent: the adapters and Close may both reach it.
// After the endpoint is closed it notifies the wait queue with every
// event: calls asleep on it wake and return EBADF, Poll reports POLLNVAL
// and pending NotifyReadable and NotifyWritable callbacks run.
func (s *Sockets) closeSocket(so *socket) {
	if so.isClosed.Swap(true) {
		return
	}
	conn := ""
	if s.tr.Enabled() {
		conn = s.connString(so)
	}
	fd := so.fd
	s.mu.Lock()
	if s.fds[fd] == so {
		s.fds[fd] = nil
		if fd < s.next {
			s.next = fd
		}
	}
	s.mu.Unlock()
	so.mu.Lock()
	if so.done != nil {
		close(so.done)
	}
	so.mu.Unlock()
	so.unwatch()
	so.ep.Close()
	so.wq.Notify(wakeAll)
	if s.tr.Enabled() {
		s.emit(so, conn, "", "close", "descriptor closed", (&trace.SocketFD{FD: fd}).Fields()...)
	}
}

// SetNonblock switches fd between blocking and nonblocking mode. In
// nonblocking mode calls that would wait return EAGAIN (EINPROGRESS for a
// stream Connect) instead.
func (s *Sockets) SetNonblock(fd int, nonblocking bool) error {
	start := s.callStart()
	so, err := s.lookup(fd)
	if err == nil {
		so.nonblock.Store(nonblocking)
	}
	if s.logCalls {
		s.logCall(start, so, "setnonblock", itoa(fd)+", "+itoa(b2i(nonblocking)), 0, "", err)
	}
	return err
}
