package sockets

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// syncBuffer is a bytes.Buffer safe for the call log's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var durRE = regexp.MustCompile(` <\d+\.\d{6}>$`)

// callLines returns the log's lines without their durations, after
// checking that every line has one.
func callLines(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if !durRE.MatchString(l) {
			t.Errorf("line %q does not end in a duration <s.us>", l)
		}
		out = append(out, durRE.ReplaceAllString(l, ""))
	}
	return out
}

func TestCallLog(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	rec := &recorder{}
	s := newSockets(t, Options{CallLog: &log, Tracer: trace.New(rec)})
	ctx := testContext(t)

	lfd, _ := s.Socket(AF_INET, SOCK_STREAM|syscall.SOCK_CLOEXEC)
	must(t, s.Bind(lfd, netip.MustParseAddrPort("127.0.0.1:0")))
	must(t, s.Listen(lfd, 4))
	laddr, _ := s.GetSockName(lfd)
	c, _ := s.Socket(AF_INET, SOCK_STREAM|syscall.SOCK_NONBLOCK)
	if err := s.Connect(ctx, c, laddr); err != syscall.EINPROGRESS {
		t.Fatalf("nonblocking Connect = %v, want EINPROGRESS", err)
	}
	fds := []PollFD{{FD: c, Events: POLLOUT}}
	if n, err := s.Poll(ctx, fds, 5*time.Second); n != 1 || err != nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	s.GetSockOpt(c, SOL_SOCKET, SO_ERROR)
	srv, peer, err := s.Accept(ctx, lfd)
	must(t, err)
	buf := make([]byte, 4096)
	s.Recv(ctx, srv, buf, MSG_DONTWAIT)
	s.Send(ctx, c, []byte("hello"), 0)
	if n, _ := s.Recv(ctx, srv, buf, MSG_WAITALL|MSG_PEEK); n != 5 {
		t.Fatalf("peek = %d", n)
	}
	s.Recv(ctx, srv, buf[:5], MSG_WAITALL)
	s.SetSockOpt(srv, IPPROTO_TCP, TCP_NODELAY, 1)
	s.SetNonblock(c, false)
	s.Shutdown(c, SHUT_WR)
	s.Recv(ctx, srv, buf, 0)
	s.Close(srv)
	s.Close(c)
	s.Close(lfd)
	s.Close(lfd)
	u1, _ := s.Socket(AF_INET, SOCK_DGRAM)
	s.Bind(u1, netip.MustParseAddrPort("127.0.0.1:0"))
	uaddr, _ := s.GetSockName(u1)
	u2, _ := s.Socket(AF_INET, SOCK_DGRAM)
	s.SendTo(ctx, u2, []byte("hi"), 0, uaddr)
	_, from, _ := s.RecvFrom(ctx, u1, buf[:64], 0)
	s.GetSockOpt(u1, SOL_SOCKET, 12345)
	s.Poll(ctx, []PollFD{{FD: u1, Events: POLLIN}}, 0)
	s.Close(u2)
	s.Close(u1)

	want := []string{
		"socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC) = 3",
		"bind(3, 127.0.0.1:0) = 0",
		"listen(3, 4) = 0",
		"socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK) = 4",
		fmt.Sprintf("connect(4, %v) = -1 EINPROGRESS (Operation now in progress)", laddr),
		"poll([{fd=4, events=POLLOUT}], 1, 5000) = 1 ([{fd=4, revents=POLLOUT}])",
		"getsockopt(4, SOL_SOCKET, SO_ERROR, [0]) = 0",
		fmt.Sprintf("accept(3, %v) = 5", peer),
		"recv(5, 4096, MSG_DONTWAIT) = -1 EAGAIN (Resource temporarily unavailable)",
		"send(4, 5, 0) = 5",
		"recv(5, 4096, MSG_PEEK|MSG_WAITALL) = 5",
		"recv(5, 5, MSG_WAITALL) = 5",
		"setsockopt(5, SOL_TCP, TCP_NODELAY, 1) = 0",
		"setnonblock(4, 0) = 0",
		"shutdown(4, SHUT_WR) = 0",
		"recv(5, 4096, 0) = 0",
		"close(5) = 0",
		"close(4) = 0",
		"close(3) = 0",
		"close(3) = -1 EBADF (Bad file descriptor)",
		"socket(AF_INET, SOCK_DGRAM) = 3",
		"bind(3, 127.0.0.1:0) = 0",
		"socket(AF_INET, SOCK_DGRAM) = 4",
		fmt.Sprintf("sendto(4, 2, 0, %v) = 2", uaddr),
		fmt.Sprintf("recvfrom(3, 64, 0, %v) = 2", from),
		"getsockopt(3, SOL_SOCKET, 0x3039 /* SO_??? */) = -1 ENOPROTOOPT (Protocol not available)",
		"poll([{fd=3, events=POLLIN}], 1, 0) = 0 (Timeout)",
		"close(4) = 0",
		"close(3) = 0",
	}
	got := callLines(t, log.String())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("call log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The same records are "call" events.
	var calls []trace.Event
	for _, e := range rec.all() {
		if e.Name == "call" {
			calls = append(calls, e)
		}
	}
	if len(calls) != len(want) {
		t.Fatalf("%d call events, want %d", len(calls), len(want))
	}
	e := calls[8]
	if e.Layer != trace.LayerSocket || e.Dir != trace.In || field(e, "call") != "recv" ||
		field(e, "args") != "5, 4096, MSG_DONTWAIT" || field(e, "ret") != -1 || field(e, "errno") != "EAGAIN" {
		t.Errorf("EAGAIN call event = %+v", e)
	}
	if d, ok := field(e, "dur").(time.Duration); !ok || d <= 0 {
		t.Errorf("dur = %v", field(e, "dur"))
	}
	if !strings.HasPrefix(e.Summary, "recv(5, 4096, MSG_DONTWAIT) = -1 EAGAIN (Resource temporarily unavailable) <") || !strings.HasSuffix(e.Conn, "->"+peer.String()) {
		t.Errorf("summary %q conn %q", e.Summary, e.Conn)
	}
	if e := calls[9]; field(e, "ret") != 5 || field(e, "errno") != "" || e.Dir != trace.Out {
		t.Errorf("send call event = %+v", e)
	}
}

// TestCallLogStraceSpelling: flags, levels, options and errnos read as
// strace 6 prints them (its output for a C program making the same
// calls on Linux), in its order.
func TestCallLogStraceSpelling(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		{typeName(SOCK_STREAM | syscall.SOCK_NONBLOCK | syscall.SOCK_CLOEXEC), "SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK"},
		{typeName(SOCK_DGRAM), "SOCK_DGRAM"},
		{msgFlags(MSG_DONTWAIT | MSG_TRUNC | MSG_PEEK), "MSG_PEEK|MSG_TRUNC|MSG_DONTWAIT"},
		{msgFlags(MSG_MORE | MSG_NOSIGNAL), "MSG_NOSIGNAL|MSG_MORE"},
		{msgFlags(MSG_WAITALL | MSG_PEEK), "MSG_PEEK|MSG_WAITALL"},
		{msgFlags(0), "0"},
		{bitNames(POLLRDHUP|POLLOUT|POLLIN|0x2, pollNames), "POLLIN|POLLPRI|POLLOUT|POLLRDHUP"},
		{bitNames(POLLRDHUP|POLLNVAL|POLLHUP|POLLERR, pollNames), "POLLERR|POLLHUP|POLLNVAL|POLLRDHUP"},
		{optName(IPPROTO_TCP, TCP_NODELAY), "SOL_TCP, TCP_NODELAY"},
		{optName(IPPROTO_IPV6, IPV6_V6ONLY), "SOL_IPV6, IPV6_V6ONLY"},
		{optName(SOL_SOCKET, 12345), "SOL_SOCKET, 0x3039 /* SO_??? */"},
		{optName(IPPROTO_TCP, 200), "SOL_TCP, 0xc8 /* TCP_??? */"},
		{shutName(SHUT_WR), "SHUT_WR"},
		{errnoMessage(syscall.EAGAIN), "Resource temporarily unavailable"},
		{errnoMessage(fmt.Errorf("recv: %w", syscall.ECONNREFUSED)), "Connection refused"},
		{errnoMessage(syscall.EPIPE), "Broken pipe"},
		{errnoMessage(syscall.ENOTCONN), "Transport endpoint is not connected"},
		{errnoMessage(syscall.Errno(41)), "Unknown error 41"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestCallLogAdapters checks that the net.Conn and net.Listener adapters
// log the BSD calls they make.
func TestCallLogAdapters(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	s := newSockets(t, Options{CallLog: &log})
	ctx := testContext(t)
	l, err := s.Listener("tcp4", "127.0.0.1:0")
	must(t, err)
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	must(t, err)
	sc, err := l.Accept()
	must(t, err)
	c.Write([]byte("hello"))
	buf := make([]byte, 64)
	sc.Read(buf)
	c.(*Conn).CloseWrite()
	sc.Read(buf)
	sc.Close()
	c.Close()
	l.Close()
	la := l.Addr().String()
	cl := c.LocalAddr().String()
	want := []string{
		"socket(AF_INET, SOCK_STREAM) = 3",
		"setsockopt(3, SOL_SOCKET, SO_REUSEADDR, 1) = 0",
		"bind(3, 127.0.0.1:0) = 0",
		"listen(3, 1024) = 0",
		"socket(AF_INET, SOCK_STREAM) = 4",
		"connect(4, " + la + ") = 0",
		"accept(3, " + cl + ") = 5",
		"send(4, 5, 0) = 5",
		"recv(5, 64, 0) = 5",
		"shutdown(4, SHUT_WR) = 0",
		"recv(5, 64, 0) = 0",
		"close(5) = 0",
		"close(4) = 0",
		"close(3) = 0",
	}
	got := callLines(t, log.String())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("call log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCallLogOffAllocs checks that with neither a Tracer nor a CallLog the
// call log adds nothing to a call: a descriptor-only call still does not
// allocate.
func TestCallLogOffAllocs(t *testing.T) {
	s := newSockets(t, Options{})
	fd := mustSocket(t, s, AF_INET, SOCK_STREAM)
	defer s.Close(fd)
	allocs := testing.AllocsPerRun(100, func() {
		s.SetNonblock(fd, true)
		s.GetSockOpt(fd, SOL_SOCKET, SO_TYPE)
		s.Close(-1)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call with logging off, want 0", allocs)
	}
}

// BenchmarkSendRecvSmallCallLog is BenchmarkSendRecvSmall writing the call
// log to a discarding writer.
func BenchmarkSendRecvSmallCallLog(b *testing.B) {
	s := newSockets(b, Options{CallLog: discard{}})
	c, srv := connectedPair(b, s, AF_INET)
	defer s.Close(c)
	defer s.Close(srv)
	ctx := testContext(b)
	msg := []byte("0123456789")
	buf := make([]byte, 64)
	b.ReportAllocs()
	for range b.N {
		if _, err := s.Send(ctx, c, msg, 0); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < len(msg); {
			m, err := s.Recv(ctx, srv, buf, 0)
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
