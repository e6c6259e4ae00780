package netstack

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/tun"
)

// TestTUNEchoZeroWindow echoes bulk data from the kernel through a TUN to
// a stack whose echo server blocks in writes while its receive window is
// closed, and whose client pauses reading now and then, so that the
// window hits zero again and again. Before the endpoint let the peer's
// ACKs through at zero window (zerowindow.go), about one 256 MiB transfer
// in three stalled for good: the stack ignored every ACK the kernel sent,
// its send buffer never drained, and the server never read again.
func TestTUNEchoZeroWindow(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		stackAddr := netip.MustParsePrefix("10.203.0.2/24")
		dev, err := tun.Open(tun.Config{Name: "gzw0", MTU: 1500, HostAddr: tun.HostAddrFor(stackAddr)})
		if err != nil {
			t.Fatal(err)
		}
		st, err := New(Options{Device: dev, Addrs: []netip.Prefix{stackAddr}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		l, err := gonet.ListenTCP(st.Stack(), tcpip.FullAddress{NIC: st.NICID(), Port: 7}, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.Copy(c, c)
				}()
			}
		}()

		rounds, size := 8, int64(32<<20)
		if testing.Short() {
			rounds = 2
		}
		for i := range rounds {
			if err := echoOnce(size, 30*time.Second); err != nil {
				t.Fatalf("round %d of %d: %v; stack %+v", i+1, rounds, err, st.Stats())
			}
		}
	})
}

// echoOnce sends n bytes to 10.203.0.2:7 from a kernel socket and reads
// them back, pausing 20 ms after every 2 MiB read.
func echoOnce(n int64, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", "10.203.0.2:7")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	go func() {
		buf := make([]byte, 64<<10)
		for left := n; left > 0; {
			m, err := c.Write(buf[:min(left, int64(len(buf)))])
			if err != nil {
				return
			}
			left -= int64(m)
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	buf := make([]byte, 256<<10)
	var got int64
	for got < n {
		m, err := c.Read(buf[:min(int64(len(buf)), n-got)])
		if (got+int64(m))>>21 != got>>21 {
			time.Sleep(20 * time.Millisecond)
		}
		got += int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}
