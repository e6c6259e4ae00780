package sockets

import "testing"

// TestRecvGrowsReceiveBuffer: a bulk transfer read through Conn.Read grows
// the receiving socket's buffer past its default, as Linux's receive buffer
// auto-tuning does (tcp_rcv_space_adjust). The read moderates the buffer
// inside TCP's Read (third_party/gvisor patch 47); the test fails when the
// reads no longer moderate it at all.
func TestRecvGrowsReceiveBuffer(t *testing.T) {
	t.Parallel()
	s := newSockets(t, Options{})
	c, srv := pipe(t, s, "tcp", "127.0.0.1:0")
	fd := srv.(*Conn).FD()
	before, err := s.GetSockOpt(fd, SOL_SOCKET, SO_RCVBUF)
	must(t, err)
	const total = 32 << 20
	go func() {
		buf := make([]byte, 64<<10)
		for sent := 0; sent < total; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	buf := make([]byte, 16<<10)
	for got := 0; got < total; {
		n, err := srv.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	after, err := s.GetSockOpt(fd, SOL_SOCKET, SO_RCVBUF)
	must(t, err)
	if after <= before {
		t.Errorf("SO_RCVBUF after %d MiB read: %d, want more than the %d it started with", total>>20, after, before)
	}
}
