package app

import (
	"testing"
	"time"
)

// TestServeCountsUDPReceiveBufferDrops: datagrams that reach a socket of
// serve's stack whose receive buffer is full are dropped, and `glassnet ss`
// must count them (as Linux's UdpRcvbufErrors): a flood faster than the
// UDP echo reads lost most of its datagrams there, and no counter said
// so. Here a socket that reads nothing takes a flood; every datagram sent
// is either queued on it or counted.
func TestServeCountsUDPReceiveBufferDrops(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "udpfull0", ServeConfig{})
	const port = 9999
	pc, err := m.socks.ListenPacket("udp", m.hostPort(port))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx := testCtx(t)
	c, err := m.client.Dial(ctx, "udp", m.hostPort(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const sent = 2000
	p := make([]byte, 1000)
	for range sent {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2000)
	queued := 0
	for {
		pc.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, _, err := pc.ReadFrom(buf); err == nil {
			queued++
			continue
		}
		dropped := m.counters()["drop udp-receive-buffer"]
		if queued+int(dropped) == sent {
			if dropped == 0 {
				t.Fatalf("all %d datagrams were queued; the test needs a receive buffer that fills", sent)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("of %d datagrams sent, %d were queued and %d counted as dropped (drop udp-receive-buffer)", sent, queued, dropped)
		}
	}
}
