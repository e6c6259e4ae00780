package sockets

import (
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// SetSockOpt sets an integer socket option, like setsockopt(2).
//
// SOL_SOCKET: SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST (0 or
// 1); SO_RCVBUF, SO_SNDBUF (bytes of payload; netstack clamps them to its
// limits, and GetSockOpt reads back the value in force, where Linux doubles
// the value set for its bookkeeping and reads back the double);
// SO_LINGER (seconds; a negative value turns lingering off, 0 makes Close
// send RST instead of FIN).
//
// IPPROTO_TCP: TCP_NODELAY, TCP_CORK (0 or 1; TCP_NODELAY is 1 on a new
// socket, as Go's net package sets it on every TCP connection, where Linux
// starts with 0); TCP_MAXSEG (bytes);
// TCP_KEEPIDLE, TCP_KEEPINTVL (seconds); TCP_KEEPCNT; TCP_QUICKACK, as
// Linux's: 1 takes the connection out of interactive mode, in which the
// ACK of received data waits (40 ms, up to 200 ms on a longer path) for
// a reply to carry it, and
// sends an ACK being delayed now; 0 puts it in that mode. It is not
// sticky: a reply within 40 ms of data makes the connection interactive
// again, so a program that wants every ACK at once sets it after each
// read. It reads 1 outside interactive mode (on a new socket too), and
// always on a stack with netstack.Options.DisableDelayedACK.
//
// IPPROTO_IPV6: IPV6_V6ONLY (0 or 1; before Bind, EINVAL after) on an
// AF_INET6 socket.
//
// TCP_KEEPIDLE and TCP_KEEPINTVL take 1 to 32767 and TCP_KEEPCNT 1 to 127,
// as in Linux; other values give EINVAL. Anything else (an option of a
// level the socket does not have, such as IPPROTO_TCP on a datagram
// socket, included) returns ENOPROTOOPT.
func (s *Sockets) SetSockOpt(fd, level, opt, value int) error {
	start := s.callStart()
	so, err := s.lookup(fd)
	if err == nil {
		err = s.setSockOpt(so, level, opt, value)
	}
	if s.logCalls {
		s.logCall(start, so, "setsockopt", itoa(fd)+", "+optName(level, opt)+", "+itoa(value), 0, "", err)
	}
	return err
}

// setSockOptLogged is setSockOpt recorded as a call, for the adapters.
func (s *Sockets) setSockOptLogged(so *socket, level, opt, value int) error {
	start := s.callStart()
	err := s.setSockOpt(so, level, opt, value)
	if s.logCalls {
		s.logCall(start, so, "setsockopt", itoa(so.fd)+", "+optName(level, opt)+", "+itoa(value), 0, "", err)
	}
	return err
}

func (s *Sockets) setSockOpt(so *socket, level, opt, value int) error {
	ops := so.ep.SocketOptions()
	switch level {
	case SOL_SOCKET:
		switch opt {
		case SO_REUSEADDR:
			ops.SetReuseAddress(value != 0)
		case SO_REUSEPORT:
			ops.SetReusePort(value != 0)
		case SO_KEEPALIVE:
			ops.SetKeepAlive(value != 0)
		case SO_BROADCAST:
			ops.SetBroadcast(value != 0)
		case SO_RCVBUF:
			ops.SetReceiveBufferSize(int64(value), true)
		case SO_SNDBUF:
			ops.SetSendBufferSize(int64(value), true)
		case SO_LINGER:
			if value < 0 {
				ops.SetLinger(tcpip.LingerOption{})
			} else {
				ops.SetLinger(tcpip.LingerOption{Enabled: true, Timeout: time.Duration(value) * time.Second})
			}
		default:
			return syscall.ENOPROTOOPT
		}
		return nil
	case IPPROTO_TCP:
		if !so.stream() {
			return syscall.ENOPROTOOPT
		}
		switch opt {
		case TCP_NODELAY:
			ops.SetDelayOption(value == 0)
		case TCP_CORK:
			ops.SetCorkOption(value != 0)
		case TCP_QUICKACK:
			return errno(so.ep.SetSockOptInt(tcpip.TCPQuickAckOption, value))
		case TCP_MAXSEG:
			return errno(so.ep.SetSockOptInt(tcpip.MaxSegOption, value))
		case TCP_KEEPCNT:
			if value < 1 || value > maxKeepCount {
				return syscall.EINVAL
			}
			return errno(so.ep.SetSockOptInt(tcpip.KeepaliveCountOption, value))
		case TCP_KEEPIDLE:
			if value < 1 || value > maxKeepSeconds {
				return syscall.EINVAL
			}
			v := tcpip.KeepaliveIdleOption(time.Duration(value) * time.Second)
			return errno(so.ep.SetSockOpt(&v))
		case TCP_KEEPINTVL:
			if value < 1 || value > maxKeepSeconds {
				return syscall.EINVAL
			}
			v := tcpip.KeepaliveIntervalOption(time.Duration(value) * time.Second)
			return errno(so.ep.SetSockOpt(&v))
		default:
			return syscall.ENOPROTOOPT
		}
		return nil
	case IPPROTO_IPV6:
		if so.domain != AF_INET6 || opt != IPV6_V6ONLY {
			return syscall.ENOPROTOOPT
		}
		if s.local(so).Port() != 0 {
			return syscall.EINVAL
		}
		ops.SetV6Only(value != 0)
		return nil
	default:
		return syscall.ENOPROTOOPT
	}
}

// GetSockOpt reads an integer socket option, like getsockopt(2). It knows
// every option SetSockOpt does, plus SO_ERROR (the pending error as an
// errno number, cleared by reading it), SO_TYPE, SO_DOMAIN and
// SO_ACCEPTCONN. SO_LINGER reads as -1 when lingering is off.
//
// An unknown option of a level the socket has returns ENOPROTOOPT. A level
// it does not have (IPPROTO_TCP on a datagram socket, IPPROTO_IPV6 on
// AF_INET, an unknown one) returns EOPNOTSUPP on an AF_INET socket and
// ENOPROTOOPT on an AF_INET6 one: Linux's getsockopt passes such a level
// down to ip_getsockopt or ipv6_getsockopt, which answer so.
func (s *Sockets) GetSockOpt(fd, level, opt int) (int, error) {
	start := s.callStart()
	so, err := s.lookup(fd)
	v := 0
	if err == nil {
		v, err = s.getSockOpt(so, level, opt)
	}
	if s.logCalls {
		args := itoa(fd) + ", " + optName(level, opt)
		if err == nil {
			args += ", [" + itoa(v) + "]"
		}
		s.logCall(start, so, "getsockopt", args, 0, "", err)
	}
	return v, err
}

func (s *Sockets) getSockOpt(so *socket, level, opt int) (int, error) {
	ops := so.ep.SocketOptions()
	switch level {
	case SOL_SOCKET:
		switch opt {
		case SO_REUSEADDR:
			return b2i(ops.GetReuseAddress()), nil
		case SO_REUSEPORT:
			return b2i(ops.GetReusePort()), nil
		case SO_KEEPALIVE:
			return b2i(ops.GetKeepAlive()), nil
		case SO_BROADCAST:
			return b2i(ops.GetBroadcast()), nil
		case SO_RCVBUF:
			return int(ops.GetReceiveBufferSize()), nil
		case SO_SNDBUF:
			return int(ops.GetSendBufferSize()), nil
		case SO_LINGER:
			l := ops.GetLinger()
			if !l.Enabled {
				return -1, nil
			}
			return int(l.Timeout / time.Second), nil
		case SO_ERROR:
			if e, ok := so.takeKept().(syscall.Errno); ok {
				return int(e), nil
			}
			if e, ok := errno(so.ep.LastError()).(syscall.Errno); ok {
				return int(e), nil
			}
			return 0, nil
		case SO_TYPE:
			return so.typ, nil
		case SO_DOMAIN:
			return so.domain, nil
		case SO_ACCEPTCONN:
			return b2i(ops.GetAcceptConn()), nil
		}
		return 0, syscall.ENOPROTOOPT
	case IPPROTO_TCP:
		if !so.stream() {
			return 0, so.noLevel()
		}
		switch opt {
		case TCP_NODELAY:
			return b2i(!ops.GetDelayOption()), nil
		case TCP_CORK:
			return b2i(ops.GetCorkOption()), nil
		case TCP_QUICKACK:
			v, terr := so.ep.GetSockOptInt(tcpip.TCPQuickAckOption)
			return v, errno(terr)
		case TCP_MAXSEG:
			v, terr := so.ep.GetSockOptInt(tcpip.MaxSegOption)
			return v, errno(terr)
		case TCP_KEEPCNT:
			v, terr := so.ep.GetSockOptInt(tcpip.KeepaliveCountOption)
			return v, errno(terr)
		case TCP_KEEPIDLE:
			var v tcpip.KeepaliveIdleOption
			terr := so.ep.GetSockOpt(&v)
			return int(time.Duration(v) / time.Second), errno(terr)
		case TCP_KEEPINTVL:
			var v tcpip.KeepaliveIntervalOption
			terr := so.ep.GetSockOpt(&v)
			return int(time.Duration(v) / time.Second), errno(terr)
		}
		return 0, syscall.ENOPROTOOPT
	case IPPROTO_IPV6:
		if so.domain != AF_INET6 {
			return 0, so.noLevel()
		}
		if opt != IPV6_V6ONLY {
			return 0, syscall.ENOPROTOOPT
		}
		return b2i(ops.GetV6Only()), nil
	default:
		return 0, so.noLevel()
	}
}

// noLevel is getsockopt's error for a level so does not have.
func (so *socket) noLevel() error {
	if so.domain == AF_INET {
		return syscall.EOPNOTSUPP
	}
	return syscall.ENOPROTOOPT
}

// Linux's limits on the keepalive options (MAX_TCP_KEEPIDLE,
// MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
const (
	maxKeepSeconds = 32767
	maxKeepCount   = 127
)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
