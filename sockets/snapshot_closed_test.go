package sockets

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// ssRows writes s's Snapshot as ss -tanp would show it with the addresses
// put as roles: "FIN-WAIT-2 0 0 client listener -" is a connection from
// the client's port to the listener's with Recv-Q and Send-Q 0 and no
// descriptor ("fd" when one holds it); "*" is no peer. A listener's
// queues are its accept queue and backlog, as in ss.
func ssRows(s *Sockets, roles map[uint16]string) []string {
	var out []string
	for _, r := range s.Snapshot() {
		role := func(a netip.AddrPort) string {
			if !a.IsValid() || a.Port() == 0 {
				return "*"
			}
			if n, ok := roles[a.Port()]; ok {
				return n
			}
			return a.String()
		}
		fd := "-"
		if r.FD >= 0 {
			fd = "fd"
		}
		rq, sq := r.RecvQ, r.SendQ
		if r.SSState() == "LISTEN" {
			rq, sq = r.AcceptQ, r.Backlog
		}
		out = append(out, fmt.Sprintf("%s %d %d %s %s %s", r.SSState(), rq, sq, role(r.Local), role(r.Peer), fd))
	}
	slices.Sort(out)
	return out
}

// waitRows waits until ssRows gives want (sorted), and fails with what it
// gave last after 10 s.
func waitRows(t *testing.T, s *Sockets, roles map[uint16]string, step string, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if got = ssRows(s, roles); slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the table has\n\t%s\nwant, as Linux's ss -tanp has it,\n\t%s", step, listed(got), listed(want))
		}
	}
}

// listed joins rows one a line, or says there are none.
func listed(rows []string) string {
	if len(rows) == 0 {
		return "(no row)"
	}
	return strings.Join(rows, "\n\t")
}

// TestSnapshotClosedAsLinux: what the table lists as connections end, one
// sequence of calls at a time, as Linux's ss -tanp lists the same sequence
// on kernel sockets (interop's TestSSClosedAsLinux makes the same calls on
// both and compares). A connection closed here and still finishing is
// listed in its state (FIN-WAIT-2, TIME-WAIT) without a descriptor; a
// socket with no connection left (reset, refused, never connected) is not
// listed at all, descriptor or not, where it used to be UNCONN; a
// connection in TIME-WAIT has no descriptor and no queues even while one
// holds the socket, where it kept the descriptor; the peer's FIN counts
// in Recv-Q until it is read, where it did not.
func TestSnapshotClosedAsLinux(t *testing.T) {
	t.Parallel()
	type step struct {
		what string
		do   func(t *testing.T, c *closeCase)
		want []string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"client closes first", []step{
			{"the client closes", func(t *testing.T, c *closeCase) { must(t, c.s.Close(c.client)) },
				[]string{"FIN-WAIT-2 0 0 client listener -", "CLOSE-WAIT 1 0 listener client fd"}},
			{"then the server", func(t *testing.T, c *closeCase) { must(t, c.s.Close(c.server)) },
				[]string{"TIME-WAIT 0 0 client listener -"}},
		}},
		{"server closes first", []step{
			{"the server closes", func(t *testing.T, c *closeCase) { must(t, c.s.Close(c.server)) },
				[]string{"FIN-WAIT-2 0 0 listener client -", "CLOSE-WAIT 1 0 client listener fd"}},
			{"then the client", func(t *testing.T, c *closeCase) { must(t, c.s.Close(c.client)) },
				[]string{"TIME-WAIT 0 0 listener client -"}},
		}},
		{"client shuts down sending, server closes", []step{
			{"the client shuts down sending", func(t *testing.T, c *closeCase) { must(t, c.s.Shutdown(c.client, SHUT_WR)) },
				[]string{"FIN-WAIT-2 0 0 client listener fd", "CLOSE-WAIT 1 0 listener client fd"}},
			{"the server reads the end of the stream", func(t *testing.T, c *closeCase) {
				if n, err := c.s.Recv(testContext(t), c.server, make([]byte, 8), 0); n != 0 || err != nil {
					t.Fatalf("Recv = %d, %v; want the end of the stream", n, err)
				}
			}, []string{"FIN-WAIT-2 0 0 client listener fd", "CLOSE-WAIT 0 0 listener client fd"}},
			{"the server sends 3 bytes", func(t *testing.T, c *closeCase) {
				if _, err := c.s.Send(testContext(t), c.server, []byte("abc"), 0); err != nil {
					t.Fatal(err)
				}
			}, []string{"FIN-WAIT-2 3 0 client listener fd", "CLOSE-WAIT 0 0 listener client fd"}},
			// The client's descriptor is open, with 3 bytes to read.
			{"the server closes", func(t *testing.T, c *closeCase) { must(t, c.s.Close(c.server)) },
				[]string{"TIME-WAIT 0 0 client listener -"}},
			{"the client reads them and the end", func(t *testing.T, c *closeCase) {
				if got := string(recvAll(t, c.s, c.client)); got != "abc" {
					t.Fatalf("the client read %q, want \"abc\"", got)
				}
			}, []string{"TIME-WAIT 0 0 client listener -"}},
		}},
		{"client resets", []step{
			{"the client closes with SO_LINGER 0", func(t *testing.T, c *closeCase) {
				must(t, c.s.SetSockOpt(c.client, SOL_SOCKET, SO_LINGER, 0))
				must(t, c.s.Close(c.client))
			}, nil},
			{"then the server", func(t *testing.T, c *closeCase) { must(t, c.s.Close(c.server)) }, nil},
		}},
		{"server resets, data unread", []step{
			{"the server closes with a byte unread", func(t *testing.T, c *closeCase) {
				if _, err := c.s.Send(testContext(t), c.client, []byte("x"), 0); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the byte in the server's receive queue", func() bool {
					for _, r := range c.s.Table() {
						if r.FD == c.server {
							return r.RecvQ == 1
						}
					}
					return false
				})
				must(t, c.s.Close(c.server))
			}, nil},
			{"then the client", func(t *testing.T, c *closeCase) { must(t, c.s.Close(c.client)) }, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCloseCase(t)
			for _, st := range tc.steps {
				st.do(t, c)
				waitRows(t, c.s, c.roles, st.what, st.want)
			}
		})
	}
}

// closeCase is a connection on a loopback stack, the client's descriptor
// and the one accepted for it, with the listener closed; roles names
// their ports.
type closeCase struct {
	s              *Sockets
	client, server int
	roles          map[uint16]string
}

func newCloseCase(t *testing.T) *closeCase {
	t.Helper()
	s := newSockets(t, Options{})
	ctx := testContext(t)
	lfd, laddr := listenFD(t, s, AF_INET, 8)
	client := mustSocket(t, s, AF_INET, SOCK_STREAM)
	must(t, s.Connect(ctx, client, laddr))
	server, peer, err := s.Accept(ctx, lfd)
	must(t, err)
	must(t, s.Close(lfd))
	c := &closeCase{s: s, client: client, server: server,
		roles: map[uint16]string{laddr.Port(): "listener", peer.Port(): "client"}}
	waitRows(t, s, c.roles, "connected", []string{"ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client fd"})
	return c
}

// TestSnapshotConnectionGone: a stream socket whose connect was refused,
// or whose connection a closing listener reset while it waited in the
// queue, is not listed, as Linux's ss -ta does not list it; its
// descriptor is still in Table. A socket created or bound and not yet
// used is listed UNCONN (Linux lists it with ss -B only, and only bound):
// it may still connect or listen.
func TestSnapshotConnectionGone(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	ctx := testContext(t)
	created := mustSocket(t, s, AF_INET, SOCK_STREAM)
	bound := mustSocket(t, s, AF_INET, SOCK_STREAM)
	must(t, s.Bind(bound, netip.AddrPortFrom(lo4, 0)))
	baddr, err := s.GetSockName(bound)
	must(t, err)
	refused := mustSocket(t, s, AF_INET, SOCK_STREAM)
	if err := s.Connect(ctx, refused, netip.AddrPortFrom(lo4, closedPort(t, s))); err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	unused := []string{"UNCONN 0 0 * * fd", "UNCONN 0 0 bound * fd"}
	roles := map[uint16]string{baddr.Port(): "bound"}
	waitRows(t, s, roles, "created, bound and refused", unused)

	// A listener closed with a connection in its queue resets it.
	lfd, laddr := listenFD(t, s, AF_INET, 8)
	queued := mustSocket(t, s, AF_INET, SOCK_STREAM)
	must(t, s.Connect(ctx, queued, laddr))
	qaddr, err := s.GetSockName(queued)
	must(t, err)
	roles[laddr.Port()], roles[qaddr.Port()] = "listener", "client"
	waitRows(t, s, roles, "a connection queued", append([]string{"LISTEN 1 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client -"}, unused...))
	must(t, s.Close(lfd))
	waitRows(t, s, roles, "the listener closed", unused)

	var fds []int
	for _, r := range s.Table() {
		fds = append(fds, r.FD)
	}
	for _, fd := range []int{created, bound, refused, queued} {
		if !slices.Contains(fds, fd) {
			t.Errorf("Table lacks fd %d; it lists %v", fd, fds)
		}
		must(t, s.Close(fd))
	}
	waitRows(t, s, roles, "all closed", nil)
}
