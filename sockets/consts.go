package sockets

import "golang.org/x/sys/unix"

// Address families and socket types accepted by Socket. They are the Linux
// values, so code written against golang.org/x/sys/unix works unchanged.
const (
	AF_INET  = unix.AF_INET
	AF_INET6 = unix.AF_INET6

	SOCK_STREAM = unix.SOCK_STREAM
	SOCK_DGRAM  = unix.SOCK_DGRAM
)

// Values of how for Shutdown.
const (
	SHUT_RD   = unix.SHUT_RD
	SHUT_WR   = unix.SHUT_WR
	SHUT_RDWR = unix.SHUT_RDWR
)

// Flags for Send, Recv, SendTo and RecvFrom.
const (
	MSG_PEEK     = unix.MSG_PEEK     // Recv: return data without consuming it
	MSG_DONTWAIT = unix.MSG_DONTWAIT // this call only: do not block
	MSG_WAITALL  = unix.MSG_WAITALL  // Recv on a stream: wait for the full buffer
	MSG_TRUNC    = unix.MSG_TRUNC    // Recv on a datagram socket: return the real length
	MSG_MORE     = unix.MSG_MORE     // Send: more data follows (like TCP_CORK)
	MSG_NOSIGNAL = unix.MSG_NOSIGNAL // accepted and ignored: there are no signals here
)

// Levels and options for SetSockOpt and GetSockOpt.
const (
	SOL_SOCKET   = unix.SOL_SOCKET
	IPPROTO_TCP  = unix.IPPROTO_TCP
	IPPROTO_IPV6 = unix.IPPROTO_IPV6

	SO_REUSEADDR  = unix.SO_REUSEADDR
	SO_REUSEPORT  = unix.SO_REUSEPORT
	SO_RCVBUF     = unix.SO_RCVBUF
	SO_SNDBUF     = unix.SO_SNDBUF
	SO_KEEPALIVE  = unix.SO_KEEPALIVE
	SO_LINGER     = unix.SO_LINGER
	SO_ERROR      = unix.SO_ERROR
	SO_TYPE       = unix.SO_TYPE
	SO_DOMAIN     = unix.SO_DOMAIN
	SO_ACCEPTCONN = unix.SO_ACCEPTCONN
	SO_BROADCAST  = unix.SO_BROADCAST

	TCP_NODELAY   = unix.TCP_NODELAY
	TCP_CORK      = unix.TCP_CORK
	TCP_MAXSEG    = unix.TCP_MAXSEG
	TCP_KEEPIDLE  = unix.TCP_KEEPIDLE
	TCP_KEEPINTVL = unix.TCP_KEEPINTVL
	TCP_KEEPCNT   = unix.TCP_KEEPCNT
	TCP_QUICKACK  = unix.TCP_QUICKACK

	IPV6_V6ONLY = unix.IPV6_V6ONLY
)

// Poll event bits for PollFD.Events and PollFD.Revents, with the meaning
// poll(2) gives them.
const (
	POLLIN    = unix.POLLIN    // readable: data, a pending connection, or EOF
	POLLOUT   = unix.POLLOUT   // writable: send buffer space, or connect finished
	POLLERR   = unix.POLLERR   // error pending (read it with SO_ERROR); always reported
	POLLHUP   = unix.POLLHUP   // hung up; always reported
	POLLRDHUP = unix.POLLRDHUP // peer shut down its write side
	POLLNVAL  = unix.POLLNVAL  // not an open descriptor; always reported
)
