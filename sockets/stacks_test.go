package sockets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/stacktest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// These tests run two netstack stacks wired back to back over tun.Pipe:
// the client stack holds 10.0.0.1/24 and the server stack 10.0.0.2/24, so
// every byte crosses a link as IP packets, unlike the loopback tests in
// package sockets.

var (
	clientPrefix = stacktest.ClientPrefix
	serverPrefix = stacktest.ServerPrefix
	clientIP     = clientPrefix.Addr()
	serverIP     = serverPrefix.Addr()
)

// unusedPort is a server port nothing in these tests listens on (their
// listeners take ephemeral ports or port 80).
const unusedPort = 9

// links are the wires every two-stack test runs over.
var links = []struct {
	name string
	opts tun.PipeOptions
}{
	{"mtu1500", tun.PipeOptions{}},
	{"mtu1280-1ms", tun.PipeOptions{MTU: 1280, Latency: time.Millisecond}},
}

// stackPair is a client stack and a server stack on the two ends of a
// tun.Pipe, each with its own socket table.
type stackPair struct {
	client, server *netstack.Stack
	cs, ss         *sockets.Sockets
	clientDev      *tun.PipeEnd
}

// newStackPair builds the two stacks. They are closed when the test ends,
// after checking that neither link endpoint dropped a packet.
func newStackPair(t testing.TB, popts tun.PipeOptions) *stackPair {
	t.Helper()
	client, server, cdev := stacktest.Pair(t, popts)
	return &stackPair{
		client: client, server: server,
		cs:        sockets.New(client.Stack(), sockets.Options{}),
		ss:        sockets.New(server.Stack(), sockets.Options{}),
		clientDev: cdev,
	}
}

// ownTables returns p with fresh socket tables on the same two stacks.
// Parallel subtests each take their own: descriptors are handed out
// lowest first, so a number one test closes would otherwise be reused by
// another, and a cleanup closing by number could hit the wrong socket.
func (p *stackPair) ownTables() *stackPair {
	q := *p
	q.cs = sockets.New(p.client.Stack(), sockets.Options{})
	q.ss = sockets.New(p.server.Stack(), sockets.Options{})
	return &q
}

func stacksContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// socket makes a descriptor on s that is closed when the test ends (a
// second close of a descriptor the test closed itself is harmless).
func socket(t *testing.T, s *sockets.Sockets, typ int) int {
	t.Helper()
	fd, err := s.Socket(sockets.AF_INET, typ)
	if err != nil {
		t.Fatalf("Socket: %v", err)
	}
	t.Cleanup(func() { s.Close(fd) })
	return fd
}

// listen opens a listener on an ephemeral port of the server stack.
func (p *stackPair) listen(t *testing.T, backlog int) (int, netip.AddrPort) {
	t.Helper()
	lfd := socket(t, p.ss, sockets.SOCK_STREAM)
	check(t, p.ss.Bind(lfd, netip.AddrPortFrom(serverIP, 0)))
	check(t, p.ss.Listen(lfd, backlog))
	addr, err := p.ss.GetSockName(lfd)
	check(t, err)
	if addr.Addr() != serverIP || addr.Port() == 0 {
		t.Fatalf("listener bound to %v, want %v and a port", addr, serverIP)
	}
	return lfd, addr
}

// connect returns a client descriptor connected across the link and the
// server descriptor accepted for it.
func (p *stackPair) connect(t *testing.T) (cfd, sfd int) {
	t.Helper()
	ctx := stacksContext(t)
	lfd, addr := p.listen(t, 4)
	cfd = socket(t, p.cs, sockets.SOCK_STREAM)
	check(t, p.cs.Connect(ctx, cfd, addr))
	sfd, peer, err := p.ss.Accept(ctx, lfd)
	check(t, err)
	t.Cleanup(func() { p.ss.Close(sfd) })
	local, err := p.cs.GetSockName(cfd)
	check(t, err)
	if peer != local || local.Addr() != clientIP {
		t.Fatalf("server sees peer %v; the client is bound to %v (want address %v)", peer, local, clientIP)
	}
	check(t, p.ss.Close(lfd))
	return cfd, sfd
}

// sendAll sends n random bytes from cfd, shuts its sending down and
// checks that sfd receives exactly them; it returns the bytes.
func (p *stackPair) sendAll(t *testing.T, ctx context.Context, cfd, sfd, n int) []byte {
	t.Helper()
	data := randomBytes(t, n)
	if n, err := p.cs.Send(ctx, cfd, data, 0); err != nil || n != len(data) {
		t.Fatalf("Send = %d, %v", n, err)
	}
	check(t, p.cs.Shutdown(cfd, sockets.SHUT_WR))
	got, err := recvToEOF(t, p.ss, sfd)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, %v; want the %d sent", len(got), err, len(data))
	}
	return data
}

// pollFor waits for events on fd and returns the revents; a generous
// timeout only guards against a hang.
func pollFor(t *testing.T, s *sockets.Sockets, fd int, events int16) int16 {
	t.Helper()
	fds := []sockets.PollFD{{FD: fd, Events: events}}
	n, err := s.Poll(stacksContext(t), fds, 20*time.Second)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if n == 0 {
		t.Fatalf("Poll(fd %d, %#x): nothing ready after 20 s", fd, events)
	}
	return fds[0].Revents
}

// recvToEOF reads fd until end of stream.
func recvToEOF(t *testing.T, s *sockets.Sockets, fd int) ([]byte, error) {
	t.Helper()
	ctx := stacksContext(t)
	var out []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Recv(ctx, fd, buf, 0)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStacksEchoRaw echoes payloads of several sizes through the BSD API
// across the link: the client sends while a second goroutine reads the
// echo, so payloads larger than the buffers cannot deadlock.
func TestStacksEchoRaw(t *testing.T) {
	t.Parallel()
	for _, link := range links {
		t.Run(link.name, func(t *testing.T) {
			t.Parallel()
			p := newStackPair(t, link.opts)
			for _, size := range []int{1, 1200, 1460, 64 << 10, 1 << 20} {
				t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
					t.Parallel()
					p := p.ownTables()
					ctx := stacksContext(t)
					lfd, addr := p.listen(t, 1)
					served := make(chan error, 1)
					go func() {
						served <- func() error {
							sfd, _, err := p.ss.Accept(ctx, lfd)
							if err != nil {
								return err
							}
							defer p.ss.Close(sfd)
							buf := make([]byte, 16<<10)
							for {
								n, err := p.ss.Recv(ctx, sfd, buf, 0)
								if err != nil || n == 0 {
									return err
								}
								if _, err := p.ss.Send(ctx, sfd, buf[:n], 0); err != nil {
									return err
								}
							}
						}()
					}()

					cfd := socket(t, p.cs, sockets.SOCK_STREAM)
					check(t, p.cs.Connect(ctx, cfd, addr))
					if peer, err := p.cs.GetPeerName(cfd); err != nil || peer != addr {
						t.Fatalf("GetPeerName = %v, %v; want %v", peer, err, addr)
					}
					data := randomBytes(t, size)
					sent := make(chan error, 1)
					go func() {
						n, err := p.cs.Send(ctx, cfd, data, 0)
						if err == nil && n != len(data) {
							err = fmt.Errorf("blocking Send copied %d of %d bytes", n, len(data))
						}
						if err == nil {
							err = p.cs.Shutdown(cfd, sockets.SHUT_WR)
						}
						sent <- err
					}()
					got := make([]byte, size)
					n, err := p.cs.Recv(ctx, cfd, got, sockets.MSG_WAITALL)
					if err != nil || n != size {
						t.Fatalf("Recv(MSG_WAITALL) = %d, %v; want %d", n, err, size)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("echo of %d bytes differs from what was sent", size)
					}
					check(t, <-sent)
					if rest, err := recvToEOF(t, p.cs, cfd); err != nil || len(rest) != 0 {
						t.Fatalf("after the echo: %d more bytes, %v; want end of stream", len(rest), err)
					}
					if err := <-served; err != nil {
						t.Fatalf("server: %v", err)
					}
				})
			}
		})
	}
}

// TestStacksSegmentation checks that a send larger than the MTU leaves as
// several packets no larger than the MTU (tun.PipeEnd refuses bigger ones,
// which would show as a write-error drop) and arrives whole.
func TestStacksSegmentation(t *testing.T) {
	t.Parallel()
	p := newStackPair(t, tun.PipeOptions{MTU: 1280})
	ctx := stacksContext(t)
	cfd, sfd := p.connect(t)
	before := p.clientDev.Stats().PacketsWritten
	data := p.sendAll(t, ctx, cfd, sfd, 100<<10)
	// 1280 bytes less 20 of IPv4 and at least 20 of TCP header.
	const maxPayload = 1280 - 40
	packets := p.clientDev.Stats().PacketsWritten - before
	if min := uint64(len(data) / maxPayload); packets < min {
		t.Errorf("%d bytes left in %d packets; with MTU 1280 they need at least %d", len(data), packets, min)
	}
}

// TestStacksMaxSeg checks TCP_MAXSEG as Linux answers it: 536 (the
// default) on a socket not connected, and on a connection the MSS its
// segments carry, the MTU less 40 bytes of headers and 12 of timestamps
// (glassnet patch 20 in third_party/gvisor; upstream answered 536 on a
// connection too), the same as ss's mss (Snapshot), whose row also says
// that both ends agreed timestamps and SACK.
func TestStacksMaxSeg(t *testing.T) {
	t.Parallel()
	for _, mtu := range []int{1500, 1280} {
		p := newStackPair(t, tun.PipeOptions{MTU: mtu})
		fd := socket(t, p.cs, sockets.SOCK_STREAM)
		if v, err := p.cs.GetSockOpt(fd, sockets.IPPROTO_TCP, sockets.TCP_MAXSEG); v != 536 || err != nil {
			t.Errorf("MTU %d: TCP_MAXSEG of a new socket = %d, %v; want 536", mtu, v, err)
		}
		cfd, sfd := p.connect(t)
		want := mtu - 40 - 12
		for _, end := range []struct {
			name string
			s    *sockets.Sockets
			fd   int
		}{{"client", p.cs, cfd}, {"server", p.ss, sfd}} {
			v, err := end.s.GetSockOpt(end.fd, sockets.IPPROTO_TCP, sockets.TCP_MAXSEG)
			if v != want || err != nil {
				t.Errorf("MTU %d: the %s's TCP_MAXSEG = %d, %v; want %d", mtu, end.name, v, err, want)
			}
			rows := 0
			for _, row := range end.s.Snapshot() {
				if row.FD != end.fd {
					continue
				}
				rows++
				if row.TCP == nil || row.TCP.MSS != v || !row.TCP.TS || !row.TCP.SACK {
					t.Errorf("MTU %d: the %s's row in Snapshot: %+v, want mss %d, timestamps and SACK", mtu, end.name, row.TCP, v)
				}
			}
			if rows != 1 {
				t.Errorf("MTU %d: %d rows for the %s's descriptor in Snapshot, want 1", mtu, rows, end.name)
			}
		}
	}
}

// TestStacksBacklog is TestBacklog (package sockets, on loopback) across a
// link. The behaviour is the same: Listen(fd, 2) admits backlog+1 = 3
// established connections to the accept queue; while it is full, SYNs are
// dropped silently (counted in ListenOverflowSynDrop), the clients stay in
// SYN-SENT, and no SYN-ACK or RST goes back; once Accept makes room, the
// retransmitted SYNs (initial RTO 1 s) complete. The difference on a link
// is only time: each handshake takes a round trip over the wire.
//
// As on loopback, the clients connect one at a time and each waits for the
// listener to take the final ACK; the outcome of every connect is an event
// (POLLOUT on the client, or a new SYN drop on the server), never a timeout.
func TestStacksBacklog(t *testing.T) {
	t.Parallel()
	for _, link := range links {
		t.Run(link.name, func(t *testing.T) {
			t.Parallel()
			const backlog, extra = 2, 2
			p := newStackPair(t, link.opts)
			ctx := stacksContext(t)
			lfd, addr := p.listen(t, backlog)
			stats := p.server.Stack().Stats().TCP

			var clients []int
			established := 0
			for i := range backlog + 1 + extra {
				drops := stats.ListenOverflowSynDrop.Value()
				fd := socket(t, p.cs, sockets.SOCK_STREAM|syscall.SOCK_NONBLOCK)
				clients = append(clients, fd)
				if err := p.cs.Connect(ctx, fd, addr); !errors.Is(err, syscall.EINPROGRESS) {
					t.Fatalf("nonblocking Connect %d = %v, want EINPROGRESS", i, err)
				}
				connected := waitConnectOutcome(t, p.cs, fd, func() bool {
					return stats.ListenOverflowSynDrop.Value() > drops
				})
				if connected {
					established++
					// The client is ESTABLISHED once it has sent the
					// final ACK; wait for the listener to take it.
					waitUntil(t, "the listener completes the handshake", func() bool {
						return stats.PassiveConnectionOpenings.Value() >= uint64(established)
					})
				}
			}
			if established != backlog+1 {
				t.Errorf("established %d connections, want backlog+1 = %d", established, backlog+1)
			}
			if n := stats.PassiveConnectionOpenings.Value(); n != backlog+1 {
				t.Errorf("server completed %d handshakes, want %d", n, backlog+1)
			}
			if n := stats.ListenOverflowSynDrop.Value(); n < extra {
				t.Errorf("ListenOverflowSynDrop = %d, want at least %d", n, extra)
			}
			states := map[int]string{}
			for _, row := range p.cs.Table() {
				states[row.FD] = row.State
			}
			for i, fd := range clients {
				want := "ESTABLISHED"
				if i > backlog {
					want = "SYN-SENT"
				}
				if states[fd] != want {
					t.Errorf("client %d (fd %d) is %s, want %s", i, fd, states[fd], want)
				}
			}
			for _, row := range p.ss.Table() {
				if row.FD == lfd && (row.State != "LISTEN" || row.Backlog != backlog || row.Local != addr) {
					t.Errorf("listener row = %+v, want LISTEN on %v with backlog %d", row, addr, backlog)
				}
			}

			// Accept everything; the dropped SYNs are retransmitted and
			// get in as room appears.
			peers := map[netip.AddrPort]bool{}
			for i := range clients {
				sfd, peer, err := p.ss.Accept(ctx, lfd)
				if err != nil {
					t.Fatalf("Accept %d: %v", i, err)
				}
				peers[peer] = true
				check(t, p.ss.Close(sfd))
			}
			for i, fd := range clients {
				if r := pollFor(t, p.cs, fd, sockets.POLLOUT); r&sockets.POLLOUT == 0 || r&sockets.POLLERR != 0 {
					t.Errorf("client %d never connected (revents %#x)", i, r)
				}
				local, err := p.cs.GetSockName(fd)
				check(t, err)
				if !peers[local] {
					t.Errorf("client %d (%v) was not among the accepted peers %v", i, local, peers)
				}
			}
			if n := stats.PassiveConnectionOpenings.Value(); n != uint64(len(clients)) {
				t.Errorf("server completed %d handshakes in all, want %d", n, len(clients))
			}
		})
	}
}

// waitUntil polls cond until it holds; the deadline only guards against a
// hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after 20 s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitConnectOutcome waits until the nonblocking connect on fd has
// finished (true) or dropped() reports that its SYN met a full queue
// (false).
func waitConnectOutcome(t *testing.T, s *sockets.Sockets, fd int, dropped func() bool) bool {
	t.Helper()
	ctx := stacksContext(t)
	for {
		fds := []sockets.PollFD{{FD: fd, Events: sockets.POLLOUT}}
		if _, err := s.Poll(ctx, fds, 2*time.Millisecond); err != nil {
			t.Fatalf("Poll: %v", err)
		}
		switch r := fds[0].Revents; {
		case r&sockets.POLLERR != 0:
			v, _ := s.GetSockOpt(fd, sockets.SOL_SOCKET, sockets.SO_ERROR)
			t.Fatalf("connect failed: revents %#x, SO_ERROR %v", r, syscall.Errno(v))
		case r&sockets.POLLOUT != 0:
			return true
		}
		if dropped() {
			return false
		}
	}
}

// TestStacksErrors checks the errno values that only a peer on the far
// side of a link can cause.
func TestStacksErrors(t *testing.T) {
	t.Parallel()
	for _, link := range links {
		t.Run(link.name, func(t *testing.T) {
			t.Parallel()
			p := newStackPair(t, link.opts)
			for _, tc := range []struct {
				name string
				run  func(t *testing.T, p *stackPair, ctx context.Context)
			}{
				{"connect to a closed port is ECONNREFUSED", func(t *testing.T, p *stackPair, ctx context.Context) {
					fd := socket(t, p.cs, sockets.SOCK_STREAM)
					if err := p.cs.Connect(ctx, fd, netip.AddrPortFrom(serverIP, unusedPort)); !errors.Is(err, syscall.ECONNREFUSED) {
						t.Fatalf("Connect = %v, want ECONNREFUSED", err)
					}
					_, err := p.cs.Dial(ctx, "tcp", netip.AddrPortFrom(serverIP, unusedPort).String())
					var oe *net.OpError
					if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) || oe.Op != "dial" {
						t.Fatalf("Dial = %v, want a dial *net.OpError wrapping ECONNREFUSED", err)
					}
				}},
				{"nonblocking connect to a closed port reports ECONNREFUSED in SO_ERROR", func(t *testing.T, p *stackPair, ctx context.Context) {
					fd := socket(t, p.cs, sockets.SOCK_STREAM|syscall.SOCK_NONBLOCK)
					if err := p.cs.Connect(ctx, fd, netip.AddrPortFrom(serverIP, unusedPort)); !errors.Is(err, syscall.EINPROGRESS) {
						t.Fatalf("Connect = %v, want EINPROGRESS", err)
					}
					if r := pollFor(t, p.cs, fd, sockets.POLLOUT); r&sockets.POLLERR == 0 {
						t.Fatalf("revents %#x, want POLLERR", r)
					}
					if v, err := p.cs.GetSockOpt(fd, sockets.SOL_SOCKET, sockets.SO_ERROR); err != nil || syscall.Errno(v) != syscall.ECONNREFUSED {
						t.Fatalf("SO_ERROR = %v, %v; want ECONNREFUSED", syscall.Errno(v), err)
					}
				}},
				{"recv after the peer's SO_LINGER 0 close is ECONNRESET, then end of stream", func(t *testing.T, p *stackPair, ctx context.Context) {
					cfd, sfd := p.connect(t)
					check(t, p.ss.SetSockOpt(sfd, sockets.SOL_SOCKET, sockets.SO_LINGER, 0))
					if v, err := p.ss.GetSockOpt(sfd, sockets.SOL_SOCKET, sockets.SO_LINGER); err != nil || v != 0 {
						t.Fatalf("SO_LINGER = %d, %v; want 0", v, err)
					}
					check(t, p.ss.Close(sfd))
					buf := make([]byte, 8)
					if n, err := p.cs.Recv(ctx, cfd, buf, 0); !errors.Is(err, syscall.ECONNRESET) {
						t.Fatalf("Recv = %d, %v; want ECONNRESET", n, err)
					}
					if n, err := p.cs.Recv(ctx, cfd, buf, 0); n != 0 || err != nil {
						t.Fatalf("second Recv = %d, %v; want 0, nil (end of stream)", n, err)
					}
				}},
				{"send after the peer's SO_LINGER 0 close is ECONNRESET", func(t *testing.T, p *stackPair, ctx context.Context) {
					cfd, sfd := p.connect(t)
					check(t, p.ss.SetSockOpt(sfd, sockets.SOL_SOCKET, sockets.SO_LINGER, 0))
					check(t, p.ss.Close(sfd))
					if r := pollFor(t, p.cs, cfd, sockets.POLLIN); r&(sockets.POLLERR|sockets.POLLHUP) == 0 {
						t.Fatalf("revents %#x after RST, want POLLERR or POLLHUP", r)
					}
					if _, err := p.cs.Send(ctx, cfd, []byte("anyone there?"), 0); !errors.Is(err, syscall.ECONNRESET) {
						t.Fatalf("Send = %v, want ECONNRESET", err)
					}
				}},
				{"a reset while a send waits for room is ECONNRESET, on that send or the next", func(t *testing.T, p *stackPair, ctx context.Context) {
					cfd, sfd := p.connect(t)
					// The client reads nothing: the send fills the
					// client's window and its own buffer, then waits.
					big := make([]byte, 16<<20)
					sent := make(chan error, 1)
					var n int
					go func() {
						var err error
						n, err = p.ss.Send(ctx, sfd, big, 0)
						sent <- err
					}()
					waitUntil(t, "bytes in the server's send buffer", func() bool {
						for _, r := range p.ss.Table() {
							if r.FD == sfd {
								return r.SendQ > 0
							}
						}
						return false
					})
					check(t, p.cs.SetSockOpt(cfd, sockets.SOL_SOCKET, sockets.SO_LINGER, 0))
					check(t, p.cs.Close(cfd))
					err := <-sent
					if err == nil {
						// Linux returns the bytes copied before the
						// reset and reports it on the next call.
						if n == 0 || n == len(big) {
							t.Fatalf("Send = %d, nil; want part of the %d bytes", n, len(big))
						}
						_, err = p.ss.Send(ctx, sfd, []byte("more"), 0)
					}
					if !errors.Is(err, syscall.ECONNRESET) {
						t.Fatalf("Send after the peer's reset = %v, want ECONNRESET", err)
					}
					if _, err := p.ss.Send(ctx, sfd, []byte("more"), 0); !errors.Is(err, syscall.EPIPE) {
						t.Fatalf("Send after ECONNRESET = %v, want EPIPE", err)
					}
				}},
				{"Conn.Read after the peer's SO_LINGER 0 close is a read *net.OpError wrapping ECONNRESET", func(t *testing.T, p *stackPair, ctx context.Context) {
					lfd, addr := p.listen(t, 1)
					c, err := p.cs.Dial(ctx, "tcp4", addr.String())
					check(t, err)
					defer c.Close()
					sfd, _, err := p.ss.Accept(ctx, lfd)
					check(t, err)
					check(t, p.ss.SetSockOpt(sfd, sockets.SOL_SOCKET, sockets.SO_LINGER, 0))
					check(t, p.ss.Close(sfd))
					_, err = c.Read(make([]byte, 1))
					var oe *net.OpError
					if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) || oe.Op != "read" || oe.Addr.String() != addr.String() {
						t.Fatalf("Read = %v, want a read *net.OpError from %v wrapping ECONNRESET", err, addr)
					}
				}},
				{"send after SHUT_WR is EPIPE; the peer reads end of stream and can still send", func(t *testing.T, p *stackPair, ctx context.Context) {
					cfd, sfd := p.connect(t)
					if _, err := p.cs.Send(ctx, cfd, []byte("last words"), 0); err != nil {
						t.Fatal(err)
					}
					check(t, p.cs.Shutdown(cfd, sockets.SHUT_WR))
					if _, err := p.cs.Send(ctx, cfd, []byte("too late"), 0); !errors.Is(err, syscall.EPIPE) {
						t.Fatalf("Send after SHUT_WR = %v, want EPIPE", err)
					}
					if got, err := recvToEOF(t, p.ss, sfd); err != nil || string(got) != "last words" {
						t.Fatalf("server read %q, %v; want %q then end of stream", got, err, "last words")
					}
					if _, err := p.ss.Send(ctx, sfd, []byte("reply"), 0); err != nil {
						t.Fatalf("Send on the half-closed peer: %v", err)
					}
					check(t, p.ss.Shutdown(sfd, sockets.SHUT_WR))
					if got, err := recvToEOF(t, p.cs, cfd); err != nil || string(got) != "reply" {
						t.Fatalf("client read %q, %v; want %q", got, err, "reply")
					}
				}},
				{"nonblocking Recv is EAGAIN until data arrives", func(t *testing.T, p *stackPair, ctx context.Context) {
					cfd, sfd := p.connect(t)
					check(t, p.cs.SetNonblock(cfd, true))
					buf := make([]byte, 64)
					if n, err := p.cs.Recv(ctx, cfd, buf, 0); !errors.Is(err, syscall.EAGAIN) {
						t.Fatalf("Recv on an empty queue = %d, %v; want EAGAIN", n, err)
					}
					if _, err := p.ss.Send(ctx, sfd, []byte("across the wire"), 0); err != nil {
						t.Fatal(err)
					}
					if r := pollFor(t, p.cs, cfd, sockets.POLLIN); r != sockets.POLLIN {
						t.Fatalf("revents %#x, want POLLIN", r)
					}
					if n, err := p.cs.Recv(ctx, cfd, buf, 0); err != nil || string(buf[:n]) != "across the wire" {
						t.Fatalf("Recv = %q, %v", buf[:n], err)
					}
					if n, err := p.cs.Recv(ctx, cfd, buf, 0); !errors.Is(err, syscall.EAGAIN) {
						t.Fatalf("Recv after draining = %d, %v; want EAGAIN", n, err)
					}
					check(t, p.cs.SetNonblock(cfd, false))
					if n, err := p.cs.Recv(ctx, cfd, buf, sockets.MSG_DONTWAIT); !errors.Is(err, syscall.EAGAIN) {
						t.Fatalf("Recv(MSG_DONTWAIT) = %d, %v; want EAGAIN", n, err)
					}
				}},
				{"nonblocking Accept is EAGAIN until a connection is queued", func(t *testing.T, p *stackPair, ctx context.Context) {
					lfd, addr := p.listen(t, 4)
					check(t, p.ss.SetNonblock(lfd, true))
					if _, _, err := p.ss.Accept(ctx, lfd); !errors.Is(err, syscall.EAGAIN) {
						t.Fatalf("Accept on an empty queue = %v, want EAGAIN", err)
					}
					cfd := socket(t, p.cs, sockets.SOCK_STREAM)
					check(t, p.cs.Connect(ctx, cfd, addr))
					if r := pollFor(t, p.ss, lfd, sockets.POLLIN); r != sockets.POLLIN {
						t.Fatalf("listener revents %#x, want POLLIN", r)
					}
					sfd, peer, err := p.ss.Accept(ctx, lfd)
					check(t, err)
					defer p.ss.Close(sfd)
					if local, _ := p.cs.GetSockName(cfd); peer != local {
						t.Fatalf("accepted peer %v, want the client's %v", peer, local)
					}
					if _, _, err := p.ss.Accept(ctx, lfd); !errors.Is(err, syscall.EAGAIN) {
						t.Fatalf("second Accept = %v, want EAGAIN", err)
					}
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, p.ownTables(), stacksContext(t))
				})
			}
		})
	}
}

// TestStacksHTTP runs net/http unchanged across the link: the server on a
// Listener of the server stack, the client dialing from the client stack.
func TestStacksHTTP(t *testing.T) {
	t.Parallel()
	for _, link := range links {
		t.Run(link.name, func(t *testing.T) {
			t.Parallel()
			p := newStackPair(t, link.opts)
			ln, err := p.ss.Listener("tcp4", "10.0.0.2:80")
			check(t, err)
			download := randomBytes(t, 1<<20)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "hello %s", r.RemoteAddr)
			})
			mux.HandleFunc("POST /sum", func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				n, err := io.Copy(h, r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			})
			mux.HandleFunc("GET /download", func(w http.ResponseWriter, r *http.Request) {
				w.Write(download)
			})
			var opened atomic.Int32
			srv := &http.Server{
				Handler:           mux,
				ReadHeaderTimeout: 10 * time.Second,
				ConnState: func(_ net.Conn, s http.ConnState) {
					if s == http.StateNew {
						opened.Add(1)
					}
				},
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			tr := &http.Transport{DialContext: p.cs.DialContext}
			defer func() {
				tr.CloseIdleConnections()
				srv.Close()
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			}()
			client := &http.Client{Transport: tr, Timeout: 20 * time.Second}

			get := func(path string) []byte {
				t.Helper()
				resp, err := client.Get("http://10.0.0.2" + path)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s = %s, %d bytes, %v", path, resp.Status, len(body), err)
				}
				return body
			}
			body := string(get("/hello"))
			host, _, err := net.SplitHostPort(strings.TrimPrefix(body, "hello "))
			if !strings.HasPrefix(body, "hello ") || err != nil || host != clientIP.String() {
				t.Fatalf("GET /hello = %q, want the client stack's address %v", body, clientIP)
			}

			upload := randomBytes(t, 300<<10)
			resp, err := client.Post("http://10.0.0.2/sum", "application/octet-stream", bytes.NewReader(upload))
			if err != nil {
				t.Fatalf("POST /sum: %v", err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			sum := sha256.Sum256(upload)
			if want := fmt.Sprintf("%d %s", len(upload), hex.EncodeToString(sum[:])); err != nil || string(got) != want {
				t.Fatalf("POST /sum = %q, %v; want %q", got, err, want)
			}

			if got := get("/download"); !bytes.Equal(got, download) {
				t.Fatalf("GET /download returned %d bytes that differ from the %d served", len(got), len(download))
			}
			if n := opened.Load(); n != 1 {
				t.Errorf("three sequential requests opened %d connections, want 1 kept alive", n)
			}
		})
	}
}

// A stack reaches its own address inside itself, as Linux does over
// loopback: nothing goes out on the device (a peer would drop a packet
// addressed back to its sender, and the stack drops one that comes in
// from its own address).
func TestConnectToOwnAddress(t *testing.T) {
	p := newStackPair(t, tun.PipeOptions{})
	ctx := stacksContext(t)
	lfd, addr := p.listen(t, 4)
	out := p.server.Stats().PacketsOut
	cfd := socket(t, p.ss, sockets.SOCK_STREAM)
	check(t, p.ss.Connect(ctx, cfd, addr))
	sfd, peer, err := p.ss.Accept(ctx, lfd)
	check(t, err)
	if peer.Addr() != serverIP {
		t.Errorf("accepted a connection from %v, want the stack's own %v", peer, serverIP)
	}
	if n, err := p.ss.Send(ctx, cfd, []byte("self"), 0); err != nil || n != 4 {
		t.Fatalf("Send = %d, %v", n, err)
	}
	buf := make([]byte, 8)
	if n, err := p.ss.Recv(ctx, sfd, buf, 0); err != nil || string(buf[:n]) != "self" {
		t.Fatalf("Recv = %q, %v; want \"self\"", buf[:n], err)
	}
	if now := p.server.Stats().PacketsOut; now != out {
		t.Errorf("%d packets went out on the device for a connection to the stack's own address", now-out)
	}
	check(t, p.ss.Close(sfd))
	check(t, p.ss.Close(cfd))
	check(t, p.ss.Close(lfd))
}
