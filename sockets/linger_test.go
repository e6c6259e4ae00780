package sockets_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/stacktest"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// TestCloseResetsWhatItLeaves: closing a connection drops what it still
// holds with a RST, as Linux does, in two cases: received data the
// application never read (tcp_close), and data not yet acknowledged when
// SO_LINGER is 0 (Conn.SetLinger(0), as on a *net.TCPConn). The peer
// reads ECONNRESET, and the closing stack keeps nothing of the
// connection; a FIN would leave it in FIN-WAIT-1 with its send queue.
func TestCloseResetsWhatItLeaves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		leave func(t *testing.T, srv, cli net.Conn, ss *sockets.Sockets)
	}{
		{"unread data", func(t *testing.T, srv, cli net.Conn, ss *sockets.Sockets) {
			if _, err := cli.Write([]byte("never read")); err != nil {
				t.Fatal(err)
			}
			waitRow(t, ss, srv, func(r sockets.SocketInfo) bool { return r.RecvQ == len("never read") })
		}},
		{"linger 0", func(t *testing.T, srv, cli net.Conn, ss *sockets.Sockets) {
			go srv.Write(make([]byte, 4<<20)) // more than the window and the send buffer; ends with the close
			waitRow(t, ss, srv, func(r sockets.SocketInfo) bool { return r.SendQ >= 256<<10 })
			if err := srv.(*sockets.Conn).SetLinger(0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, server, _ := stacktest.Pair(t, tun.PipeOptions{})
			cs := sockets.New(client.Stack(), sockets.Options{})
			ss := sockets.New(server.Stack(), sockets.Options{})
			ln, err := ss.Listener("tcp4", serverIP.String()+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cli, err := cs.Dial(stacksContext(t), "tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			tc.leave(t, srv, cli, ss)
			peer := cli.LocalAddr().(*net.TCPAddr).AddrPort()
			srv.Close()
			for _, r := range ss.Snapshot() {
				if r.Peer == peer {
					t.Fatalf("after close the server's stack holds the connection: %s Send-Q %d Recv-Q %d", r.State, r.SendQ, r.RecvQ)
				}
			}
			cli.SetReadDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 64<<10)
			for {
				if _, err = cli.Read(buf); err != nil {
					break
				}
			}
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the peer read %v, want ECONNRESET", err)
			}
		})
	}
}

// waitRow waits until c's row in s's table satisfies ok (the stack
// moves the data on its own goroutines); it fails the test after 10 s.
func waitRow(t *testing.T, s *sockets.Sockets, c net.Conn, ok func(sockets.SocketInfo) bool) {
	t.Helper()
	fd := c.(*sockets.Conn).FD()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		for _, r := range s.Snapshot() {
			if r.FD == fd && ok(r) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fd %d never reached the state awaited", fd)
		}
	}
}
