package sockets

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/leaktest"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// TestMain fails the run if the tests leave goroutines behind.
func TestMain(m *testing.M) { leaktest.Main(m) }

// loopbackStack is a gVisor stack with one loopback NIC holding 127.0.0.1/8
// and ::1, IPv4, IPv6, TCP and UDP. destroy tears it down.
func loopbackStack() (s *stack.Stack, destroy func()) {
	return loopbackStackWith(nil)
}

// loopbackStackWith is loopbackStack on clk (nil: the wall clock).
func loopbackStackWith(clk tcpip.Clock) (s *stack.Stack, destroy func()) {
	s = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
		Clock:              clk,
	})
	if err := s.CreateNIC(1, loopback.New()); err != nil {
		panic(err)
	}
	for _, a := range []tcpip.AddressWithPrefix{
		{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8},
		{Address: tcpip.AddrFrom16(netip.IPv6Loopback().As16()), PrefixLen: 128},
	} {
		proto := ipv4.ProtocolNumber
		if a.Address.Len() == 16 {
			proto = ipv6.ProtocolNumber
		}
		if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: a}, stack.AddressProperties{}); err != nil {
			panic(err)
		}
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: 1},
		{Destination: header.IPv6EmptySubnet, NIC: 1},
	})
	return s, s.Destroy
}

// newSockets returns a Sockets on a fresh loopback stack that is destroyed
// when the test ends.
func newSockets(t testing.TB, opts Options) *Sockets {
	t.Helper()
	st, destroy := loopbackStack()
	t.Cleanup(destroy)
	return New(st, opts)
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.IPv6Loopback()
)

func loopbackFor(domain int) netip.Addr {
	if domain == AF_INET6 {
		return lo6
	}
	return lo4
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustSocket(t testing.TB, s *Sockets, domain, typ int) int {
	t.Helper()
	fd, err := s.Socket(domain, typ)
	if err != nil {
		t.Fatalf("Socket(%d, %d): %v", domain, typ, err)
	}
	return fd
}

// listenFD returns a listening stream socket on an ephemeral loopback port.
func listenFD(t testing.TB, s *Sockets, domain, backlog int) (int, netip.AddrPort) {
	t.Helper()
	fd := mustSocket(t, s, domain, SOCK_STREAM)
	must(t, s.Bind(fd, netip.AddrPortFrom(loopbackFor(domain), 0)))
	must(t, s.Listen(fd, backlog))
	addr, err := s.GetSockName(fd)
	must(t, err)
	return fd, addr
}

// connectedPair returns a client and the server side accepted from a fresh
// listener (which is closed again).
func connectedPair(t testing.TB, s *Sockets, domain int) (client, server int) {
	t.Helper()
	ctx := testContext(t)
	lfd, addr := listenFD(t, s, domain, 8)
	defer s.Close(lfd)
	client = mustSocket(t, s, domain, SOCK_STREAM)
	must(t, s.Connect(ctx, client, addr))
	server, _, err := s.Accept(ctx, lfd)
	must(t, err)
	return client, server
}

// recvAll reads until end of stream.
func recvAll(t testing.TB, s *Sockets, fd int) []byte {
	t.Helper()
	ctx := testContext(t)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := s.Recv(ctx, fd, buf, 0)
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// pollOne waits up to timeout for events on fd and returns the revents.
func pollOne(t testing.TB, s *Sockets, fd int, events int16, timeout time.Duration) int16 {
	t.Helper()
	fds := []PollFD{{FD: fd, Events: events}}
	if _, err := s.Poll(testContext(t), fds, timeout); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return fds[0].Revents
}

func reventString(r int16) string {
	var parts []string
	for _, b := range []struct {
		bit  int16
		name string
	}{{POLLIN, "POLLIN"}, {POLLOUT, "POLLOUT"}, {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"}, {POLLRDHUP, "POLLRDHUP"}, {POLLNVAL, "POLLNVAL"}} {
		if r&b.bit != 0 {
			parts = append(parts, b.name)
		}
	}
	return strings.Join(parts, "|")
}
