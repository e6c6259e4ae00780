package app

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/glassnet/glassnet/sockets"
)

// TestServeEchoHeldUntilDelivered: a client sends a megabyte to the TCP
// echo and ends its side without reading, so that the end of the echo
// waits in serve's send buffer behind the client's closed window. Having
// read the client's FIN, serve must end its own side (the FIN queued
// behind the echo) and keep the connection until the peer has it all. It
// closed it at once instead: an orphan, outside --max-conns, and past the
// stack's bound on orphans (many clients ending at once) a reset that
// lost the client its echo.
func TestServeEchoHeldUntilDelivered(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "echoheld0", ServeConfig{})
	c := m.dial(t, EchoPort).(*sockets.Conn)
	sent := make([]byte, 1<<20)
	rand.Read(sent)
	if _, err := c.Write(sent); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	server := func() (row sockets.SocketInfo, echoed bool) {
		var unread int
		for _, r := range m.client.Snapshot() {
			if r.FD == c.FD() {
				unread = r.RecvQ
			}
		}
		for _, r := range m.socks.Snapshot() {
			if r.Peer == local && r.Local.Port() == EchoPort {
				// Everything echoed, and the FIN queued behind it.
				return r, r.SendQ+unread == len(sent)+1
			}
		}
		return sockets.SocketInfo{}, false
	}
	ctx := testCtx(t)
	row, echoed := server()
	for ; !echoed; row, echoed = server() {
		select {
		case <-ctx.Done():
			t.Fatalf("serve did not echo %d bytes and queue its FIN: %+v", len(sent), row)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if row.FD < 0 {
		t.Fatalf("serve closed the echo connection with %d bytes of the echo unacknowledged (%s, no descriptor): it should hold it until the peer has them", row.SendQ-1, row.State)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the echo: %v (after %d bytes)", err, len(got))
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("echo returned %d bytes that differ from the %d sent", len(got), len(sent))
	}
}
