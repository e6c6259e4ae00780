package sockets

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

// rowFor finds the row with the given local and peer addresses.
func rowFor(rows []SocketInfo, local, peer netip.AddrPort) (SocketInfo, bool) {
	for _, r := range rows {
		if r.Local == local && r.Peer == peer {
			return r, true
		}
	}
	return SocketInfo{}, false
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	ctx := testContext(t)
	lfd, laddr := listenFD(t, s, AF_INET, 8)
	defer s.Close(lfd)

	// Two connections wait in the accept queue; a third is accepted and
	// has five unread bytes.
	var (
		queued []netip.AddrPort
		cfds   []int
	)
	for range 2 {
		c := mustSocket(t, s, AF_INET, SOCK_STREAM)
		defer s.Close(c)
		must(t, s.Connect(ctx, c, laddr))
		a, _ := s.GetSockName(c)
		queued = append(queued, a)
		cfds = append(cfds, c)
	}
	srv, peer, err := s.Accept(ctx, lfd)
	must(t, err)
	defer s.Close(srv)
	// Accept took one of the two (netstack's processors may queue them in
	// either order); the other still waits.
	cfd, waiting := cfds[0], queued[1]
	switch peer {
	case queued[0]:
	case queued[1]:
		cfd, waiting = cfds[1], queued[0]
	default:
		t.Fatalf("accepted %v, want one of %v", peer, queued)
	}
	c3 := mustSocket(t, s, AF_INET, SOCK_STREAM)
	defer s.Close(c3)
	must(t, s.Connect(ctx, c3, laddr))
	c3addr, _ := s.GetSockName(c3)
	if _, err := s.Send(ctx, cfd, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	// Connect returns when the client is ESTABLISHED; the listener's side
	// of c3 leaves SYN-RCVD when it has processed the handshake's last
	// ACK, which may come later.
	waitFor(t, "five bytes in the receive queue, and c3 queued", func() bool {
		rows := s.Snapshot()
		r, _ := rowFor(rows, laddr, peer)
		q, _ := rowFor(rows, laddr, c3addr)
		return r.RecvQ == 5 && q.State == "ESTABLISHED"
	})

	rows := s.Snapshot()
	l, ok := rowFor(rows, laddr, netip.AddrPort{})
	if !ok || l.State != "LISTEN" || l.Backlog != 8 || l.AcceptQ != 2 || l.FD != lfd {
		t.Errorf("listener row = %+v, want LISTEN backlog 8 with 2 queued", l)
	}
	for _, p := range []netip.AddrPort{waiting, c3addr} {
		r, ok := rowFor(rows, laddr, p)
		if !ok || r.FD != -1 || !r.Queued || r.State != "ESTABLISHED" {
			t.Errorf("queued row for %v = %+v, want fd -1, ESTABLISHED, queued", p, r)
		}
	}
	r, ok := rowFor(rows, laddr, peer)
	if !ok || r.FD != srv || r.Queued || r.TCP == nil {
		t.Fatalf("accepted row = %+v", r)
	}
	ti := r.TCP
	if !ti.Windows || ti.MSS <= 0 || ti.SndWnd == 0 || ti.RcvWnd == 0 || ti.RTO <= 0 || ti.Cwnd == 0 || ti.SegsIn == 0 || ti.CC == "" {
		t.Errorf("accepted row TCP = %+v", ti)
	}
	if ti.BytesReceived != 5 {
		t.Errorf("bytes received = %d before any Recv, want the 5 in Recv-Q (tcpi_bytes_received counts what TCP took)", ti.BytesReceived)
	}
	c, ok := rowFor(rows, peer, laddr)
	if !ok || c.FD != cfd || c.TCP == nil || c.TCP.BytesSent != 5 {
		t.Errorf("client row = %+v (TCP %+v)", c, c.TCP)
	}

	// Closing the accepted side first (after reading, or it would reset)
	// leaves it in FIN-WAIT-2, then TIME-WAIT once the client closes too:
	// a row without a descriptor.
	buf := make([]byte, 5)
	if n, err := s.Recv(ctx, srv, buf, MSG_WAITALL); n != 5 || err != nil {
		t.Fatalf("Recv = %d, %v", n, err)
	}
	if r, _ := rowFor(s.Snapshot(), laddr, peer); r.RecvQ != 0 || r.TCP.BytesReceived != 5 {
		t.Errorf("after Recv: RecvQ %d, bytes received %d", r.RecvQ, r.TCP.BytesReceived)
	}
	must(t, s.Close(srv))
	must(t, s.Close(cfd))
	waitFor(t, "TIME-WAIT without a descriptor", func() bool {
		r, ok := rowFor(s.Snapshot(), laddr, peer)
		return ok && r.FD == -1 && r.State == "TIME-WAIT"
	})
}

// TestConnectingPeer: a stream socket whose SYN got no answer is in
// SYN-SENT, and its row shows the address it connects to, as ss does,
// while getpeername still has none (ENOTCONN, as in Linux). The loopback
// stack does not forward, so the SYN to an address it lacks goes nowhere.
func TestConnectingPeer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		domain int
		to     netip.AddrPort
		peer   netip.AddrPort
	}{
		{"ipv4", AF_INET, netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.2:80")},
		{"ipv6", AF_INET6, netip.MustParseAddrPort("[2001:db8::2]:80"), netip.MustParseAddrPort("[2001:db8::2]:80")},
		{"ipv4 on a dual-stack socket", AF_INET6, netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("[::ffff:10.0.0.2]:80")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSockets(t, Options{})
			fd := mustSocket(t, s, tc.domain, SOCK_STREAM|syscall.SOCK_NONBLOCK)
			defer s.Close(fd)
			if err := s.Connect(testContext(t), fd, tc.to); !errors.Is(err, syscall.EINPROGRESS) {
				t.Fatalf("Connect = %v, want EINPROGRESS", err)
			}
			if p, err := s.GetPeerName(fd); !errors.Is(err, syscall.ENOTCONN) {
				t.Errorf("GetPeerName = %v, %v; want ENOTCONN during the handshake", p, err)
			}
			for name, rows := range map[string][]SocketInfo{"Table": s.Table(), "Snapshot": s.Snapshot()} {
				var row SocketInfo
				for _, r := range rows {
					if r.FD == fd {
						row = r
					}
				}
				if row.State != "SYN-SENT" || row.Peer != tc.peer {
					t.Errorf("%s row = %+v, want SYN-SENT with peer %v", name, row, tc.peer)
				}
			}
		})
	}
}
