package sockets

import (
	"errors"
	"syscall"
	"testing"
)

// TestSnapshotBytesAsLinux: a client writes until its send buffer is full
// to a server that reads nothing, so that part of what it wrote waits
// behind the server's closed window. ss's bytes_sent and bytes_received
// are Linux's tcpi_bytes_sent and tcpi_bytes_received: what TCP sent
// (less than what the application wrote) and what it received (read or
// not). They were the stream offsets, so that a connection showed Recv-Q
// above its bytes_received, and bytes_sent the peer had never seen.
func TestSnapshotBytesAsLinux(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	ctx := testContext(t)
	lfd, laddr := listenFD(t, s, AF_INET, 8)
	defer s.Close(lfd)
	cfd := mustSocket(t, s, AF_INET, SOCK_STREAM)
	defer s.Close(cfd)
	must(t, s.Connect(ctx, cfd, laddr))
	srv, peer, err := s.Accept(ctx, lfd)
	must(t, err)
	defer s.Close(srv)

	// The client writes until the server's window is shut and everything
	// sent is acknowledged: the rest waits in the client's send buffer.
	buf := make([]byte, 64<<10)
	written := 0
	var client, server SocketInfo
	waitFor(t, "the server's window to shut, with the client's Send-Q and the server's Recv-Q holding what was written", func() bool {
		for {
			n, err := s.Send(ctx, cfd, buf, MSG_DONTWAIT)
			written += max(n, 0)
			if errors.Is(err, syscall.EAGAIN) {
				break
			}
			must(t, err)
		}
		rows := s.Snapshot()
		client, _ = rowFor(rows, peer, laddr)
		server, _ = rowFor(rows, laddr, peer)
		return client.TCP != nil && server.TCP != nil && server.TCP.Windows && server.TCP.RcvWnd == 0 &&
			client.SendQ+server.RecvQ == written
	})
	if client.SendQ == 0 {
		t.Fatalf("the client's send buffer is empty after EAGAIN: %+v", client)
	}
	if got := server.TCP.BytesReceived; got != int64(server.RecvQ) {
		t.Errorf("server: bytes_received %d with Recv-Q %d and nothing read; want %d", got, server.RecvQ, server.RecvQ)
	}
	if got := client.TCP.BytesSent; got < int64(server.RecvQ) || got >= int64(written) {
		t.Errorf("client: bytes_sent %d; the server has %d, and %d of the %d written wait unsent behind its window", got, server.RecvQ, client.SendQ, written)
	}
}
