package sockets

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/trace"
)

// The call log records each BSD call the way strace -T prints a system
// call: name, arguments, result or -1 with the errno's name and message,
// and the time the call took in seconds. Flags, levels, options and
// errnos are spelled and ordered as strace 6 spells them; addresses,
// buffers and the arguments that only give a length are shorter (see
// README, "A socket-call log, like strace").
//
//	socket(AF_INET, SOCK_STREAM) = 3 <0.000021>
//	connect(3, 10.0.0.2:80) = 0 <0.000412>
//	recv(4, 4096, 0) = -1 EAGAIN (Resource temporarily unavailable) <0.000003>
//	accept(3, 10.0.0.1:51072) = 4 <0.000950>
//	getsockopt(3, SOL_SOCKET, SO_ERROR, [0]) = 0 <0.000001>
//	poll([{fd=3, events=POLLIN}], 1, 1000) = 1 ([{fd=3, revents=POLLIN}]) <0.000120>
//
// Arguments that the call fills in (the peer of accept, the sender of
// recvfrom, the value of getsockopt) appear only when it succeeds, as
// strace shows them. Buffers appear as their length.
//
// Every record is built only when logging is on: callStart and the
// s.logCalls check are all a call costs otherwise.

// callStart returns the time a logged call starts on the stack's clock,
// or the zero time when calls are not logged.
func (s *Sockets) callStart() tcpip.MonotonicTime {
	if !s.logCalls {
		return tcpip.MonotonicTime{}
	}
	return s.stack.Clock().NowMonotonic()
}

// logCall records one finished call. so is the socket it used, if any, for
// the event's connection; ret is the result on success and out what
// strace prints after it in parentheses.
func (s *Sockets) logCall(start tcpip.MonotonicTime, so *socket, call, args string, ret int, out string, err error) {
	// on the stack's clock, which stands still while a stepped run is
	// paused: a call that waited then shows the stack's time, not the
	// reader's
	dur := s.stack.Clock().NowMonotonic().Sub(start)
	name := errnoName(err)
	var b strings.Builder
	b.WriteString(call)
	b.WriteByte('(')
	b.WriteString(args)
	b.WriteString(") = ")
	if err != nil {
		b.WriteString("-1 ")
		if name != "" {
			b.WriteString(name)
			b.WriteString(" (")
			b.WriteString(errnoMessage(err))
			b.WriteByte(')')
		} else {
			b.WriteString("(" + err.Error() + ")")
		}
	} else {
		b.WriteString(strconv.Itoa(ret))
		if out != "" {
			b.WriteString(" (" + out + ")")
		}
	}
	line := b.String()
	if s.callLog != nil {
		s.callMu.Lock()
		fmt.Fprintf(s.callLog, "%s <%.6f>\n", line, dur.Seconds())
		s.callMu.Unlock()
	}
	if !s.tr.Enabled() {
		return
	}
	r := ret
	if err != nil {
		r = -1
	}
	sc := trace.SocketCall{Call: call, Args: args, Ret: r, Errno: name, Dur: dur}
	if err != nil {
		sc.Err = err.Error()
	}
	conn := ""
	if so != nil {
		conn = s.connString(so)
		if strings.HasSuffix(conn, ":0") {
			conn = "" // not bound yet
		}
	}
	s.tr.Emit(trace.Event{
		Node: s.node, Layer: trace.LayerSocket, Dir: callDir(call), Name: "call", Conn: conn,
		Summary: fmt.Sprintf("%s <%.6f>", line, dur.Seconds()),
		Fields:  sc.Fields(),
	})
}

// errnoName is "EAGAIN" for syscall.EAGAIN (wrapped or not), or "" when
// err carries no errno (a canceled context, a passed deadline).
func errnoName(err error) string {
	var e syscall.Errno
	if err == nil || !errors.As(err, &e) {
		return ""
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "E" + strconv.Itoa(int(e))
}

// errnoMessage is strace's words for the errno err carries, those of the
// C library's strerror: "Resource temporarily unavailable" for EAGAIN.
// Go's messages are strerror's with a lower-case first letter.
func errnoMessage(err error) string {
	var e syscall.Errno
	if !errors.As(err, &e) {
		return ""
	}
	m := e.Error()
	if strings.HasPrefix(m, "errno ") {
		return "Unknown error " + strconv.Itoa(int(e))
	}
	if c := m[0]; 'a' <= c && c <= 'z' {
		m = string(c-'a'+'A') + m[1:]
	}
	return m
}

func domainName(d int) string {
	switch d {
	case AF_INET:
		return "AF_INET"
	case AF_INET6:
		return "AF_INET6"
	}
	return itoa(d)
}

func typeName(t int) string {
	var parts []string
	switch t &^ (syscall.SOCK_NONBLOCK | syscall.SOCK_CLOEXEC) {
	case SOCK_STREAM:
		parts = append(parts, "SOCK_STREAM")
	case SOCK_DGRAM:
		parts = append(parts, "SOCK_DGRAM")
	default:
		parts = append(parts, itoa(t&^(syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)))
	}
	// strace's order: SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK
	if t&syscall.SOCK_CLOEXEC != 0 {
		parts = append(parts, "SOCK_CLOEXEC")
	}
	if t&syscall.SOCK_NONBLOCK != 0 {
		parts = append(parts, "SOCK_NONBLOCK")
	}
	return strings.Join(parts, "|")
}

// bitNames names the set bits of v from names, in order, and any left over
// as a hexadecimal number; 0 is "0".
func bitNames(v int, names []bitName) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for _, n := range names {
		if v&n.bit != 0 {
			parts = append(parts, n.name)
			v &^= n.bit
		}
	}
	if v != 0 {
		parts = append(parts, "0x"+strconv.FormatInt(int64(v), 16))
	}
	return strings.Join(parts, "|")
}

type bitName struct {
	bit  int
	name string
}

// msgNames and pollNames are in strace's order (its xlat/msg_flags.in and
// xlat/pollflags.in): MSG_PEEK|MSG_TRUNC|MSG_DONTWAIT, POLLIN|POLLPRI|
// POLLOUT|POLLRDHUP.
var msgNames = []bitName{
	{unix.MSG_OOB, "MSG_OOB"}, {MSG_PEEK, "MSG_PEEK"}, {unix.MSG_DONTROUTE, "MSG_DONTROUTE"},
	{unix.MSG_CTRUNC, "MSG_CTRUNC"}, {MSG_TRUNC, "MSG_TRUNC"}, {MSG_DONTWAIT, "MSG_DONTWAIT"},
	{unix.MSG_EOR, "MSG_EOR"}, {MSG_WAITALL, "MSG_WAITALL"}, {unix.MSG_CONFIRM, "MSG_CONFIRM"},
	{unix.MSG_ERRQUEUE, "MSG_ERRQUEUE"}, {MSG_NOSIGNAL, "MSG_NOSIGNAL"}, {MSG_MORE, "MSG_MORE"},
	{unix.MSG_WAITFORONE, "MSG_WAITFORONE"}, {unix.MSG_ZEROCOPY, "MSG_ZEROCOPY"},
	{unix.MSG_FASTOPEN, "MSG_FASTOPEN"}, {unix.MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"},
}

var pollNames = []bitName{
	{POLLIN, "POLLIN"}, {unix.POLLPRI, "POLLPRI"}, {POLLOUT, "POLLOUT"},
	{0x40, "POLLRDNORM"}, {0x100, "POLLWRNORM"}, {0x80, "POLLRDBAND"}, {0x200, "POLLWRBAND"}, // asm-generic/poll.h
	{POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"}, {POLLNVAL, "POLLNVAL"},
	{0x400, "POLLMSG"}, {0x1000, "POLLREMOVE"}, {POLLRDHUP, "POLLRDHUP"},
}

func msgFlags(flags int) string { return bitNames(flags, msgNames) }

func shutName(how int) string {
	switch how {
	case SHUT_RD:
		return "SHUT_RD"
	case SHUT_WR:
		return "SHUT_WR"
	case SHUT_RDWR:
		return "SHUT_RDWR"
	}
	return itoa(how)
}

// optName names a level and an option of SetSockOpt and GetSockOpt as
// strace does: the levels SOL_SOCKET, SOL_TCP, SOL_IPV6; an option it
// has no name for in hexadecimal with a comment, "0x3039 /* SO_??? */".
func optName(level, opt int) string {
	var ln, unknown string
	var names map[int]string
	switch level {
	case SOL_SOCKET:
		ln, unknown, names = "SOL_SOCKET", "SO", map[int]string{
			SO_REUSEADDR: "SO_REUSEADDR", SO_REUSEPORT: "SO_REUSEPORT", SO_RCVBUF: "SO_RCVBUF",
			SO_SNDBUF: "SO_SNDBUF", SO_KEEPALIVE: "SO_KEEPALIVE", SO_LINGER: "SO_LINGER",
			SO_ERROR: "SO_ERROR", SO_TYPE: "SO_TYPE", SO_DOMAIN: "SO_DOMAIN",
			SO_ACCEPTCONN: "SO_ACCEPTCONN", SO_BROADCAST: "SO_BROADCAST",
		}
	case IPPROTO_TCP:
		ln, unknown, names = "SOL_TCP", "TCP", map[int]string{
			TCP_NODELAY: "TCP_NODELAY", TCP_CORK: "TCP_CORK", TCP_MAXSEG: "TCP_MAXSEG",
			TCP_KEEPIDLE: "TCP_KEEPIDLE", TCP_KEEPINTVL: "TCP_KEEPINTVL", TCP_KEEPCNT: "TCP_KEEPCNT",
			TCP_QUICKACK: "TCP_QUICKACK",
		}
	case IPPROTO_IPV6:
		ln, unknown, names = "SOL_IPV6", "IPV6", map[int]string{IPV6_V6ONLY: "IPV6_V6ONLY"}
	default:
		return itoa(level) + ", " + itoa(opt)
	}
	if n, ok := names[opt]; ok {
		return ln + ", " + n
	}
	return ln + ", 0x" + strconv.FormatInt(int64(opt), 16) + " /* " + unknown + "_??? */"
}

// pollArgs is poll's argument list: the requested events, the count and
// the timeout in milliseconds (-1 for none), as strace prints them.
func pollArgs(fds []PollFD, timeout time.Duration) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, p := range fds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{fd=%d, events=%s}", p.FD, bitNames(int(uint16(p.Events)), pollNames))
	}
	ms := int64(-1)
	if timeout >= 0 {
		ms = timeout.Milliseconds()
	}
	fmt.Fprintf(&b, "], %d, %d", len(fds), ms)
	return b.String()
}

// pollOut lists the entries with events, or "Timeout" when none has.
func pollOut(fds []PollFD, n int) string {
	if n == 0 {
		return "Timeout"
	}
	var b strings.Builder
	b.WriteByte('[')
	first := true
	for _, p := range fds {
		if p.Revents == 0 {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "{fd=%d, revents=%s}", p.FD, bitNames(int(uint16(p.Revents)), pollNames))
	}
	b.WriteByte(']')
	return b.String()
}

// callDir is the direction a call moves data, for its event.
func callDir(call string) trace.Dir {
	switch call {
	case "send", "sendto", "connect":
		return trace.Out
	case "recv", "recvfrom", "accept":
		return trace.In
	}
	return ""
}
