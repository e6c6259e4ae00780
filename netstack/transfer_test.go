package netstack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/glassnet/glassnet/tun"
)

const transferSize = 4 << 20

func TestTCPTransfer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pipe tun.PipeOptions
		v6   bool
		edit func(string, *Options)
	}{
		{name: "v4"},
		{name: "v6", v6: true},
		{name: "v4-mtu1280-1ms", pipe: tun.PipeOptions{MTU: 1280, Latency: time.Millisecond}},
		{name: "v6-mtu1280-1ms", pipe: tun.PipeOptions{MTU: 1280, Latency: time.Millisecond}, v6: true},
		{name: "v4-queue16", pipe: tun.PipeOptions{QueueLen: 16}},
		{name: "v4-cubic", edit: func(_ string, o *Options) { o.CongestionControl = Cubic }},
		{name: "v4-reno-nosack", edit: func(_ string, o *Options) {
			o.CongestionControl = Reno
			o.DisableSACK = true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t, tc.pipe, tc.edit)
			srv, proto := addrB4, tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber)
			if tc.v6 {
				srv, proto = addrB6, ipv6.ProtocolNumber
			}
			server, client := connect(t, a, b, srv, proto)
			start := time.Now()
			exchange(t, client, server, transferSize)
			if testing.Verbose() {
				for _, st := range []*Stack{a, b} {
					ts := st.Stack().Stats().TCP
					t.Logf("%v: retransmits %d, fast %d, timeouts %d, segments sent %d, segs dropped by queue %d",
						time.Since(start), ts.Retransmits.Value(), ts.FastRetransmit.Value(), ts.Timeouts.Value(), ts.SegmentsSent.Value(), st.Stack().Stats().DroppedPackets.Value())
				}
			}

			sa, sb := a.Stats(), b.Stats()
			if sa.PacketsOut == 0 || sa.PacketsIn == 0 || sb.PacketsOut == 0 || sb.PacketsIn == 0 {
				t.Errorf("stats did not move: a=%+v b=%+v", sa, sb)
			}
			if d := sa.Dropped() + sb.Dropped(); d != 0 {
				t.Errorf("drops during transfer: a=%v b=%v", sa.Drops, sb.Drops)
			}
			if mtu := tc.pipe.MTU; mtu != 0 && sa.BytesOut > sa.PacketsOut*uint64(mtu) {
				t.Errorf("average packet above MTU %d", mtu)
			}
		})
	}
}

// connect listens on b at srv:80 and dials it from a.
func connect(t testing.TB, a, b *Stack, srv netip.Prefix, proto tcpip.NetworkProtocolNumber) (server, client net.Conn) {
	t.Helper()
	ln, err := gonet.ListenTCP(b.Stack(), fullAddr(srv, 80), proto)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err = gonet.DialContextTCP(ctx, a.Stack(), fullAddr(srv, 80), proto)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	select {
	case server = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("accept timed out")
	}
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// exchange sends n bytes each way at the same time and checks both.
func exchange(t *testing.T, x, y net.Conn, n int) {
	t.Helper()
	dx, dy := pattern(1, n), pattern(2, n)
	errc := make(chan error, 4)
	send := func(c net.Conn, d []byte) {
		_, err := c.Write(d)
		errc <- err
	}
	recv := func(c net.Conn, want []byte) {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			errc <- err
			return
		}
		if !bytes.Equal(got, want) {
			errc <- errors.New("received data differs from what was sent")
			return
		}
		errc <- nil
	}
	deadline := time.Now().Add(60 * time.Second)
	x.SetDeadline(deadline)
	y.SetDeadline(deadline)
	go send(x, dx)
	go send(y, dy)
	go recv(x, dy)
	go recv(y, dx)
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func pattern(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestUDP(t *testing.T) {
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		name, srv, cli, proto := "v4", addrB4, addrA4, tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber)
		if v6 {
			name, srv, cli, proto = "v6", addrB6, addrA6, ipv6.ProtocolNumber
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := newPair(t, tun.PipeOptions{}, nil)
			la, lb := fullAddr(cli, 5000), fullAddr(srv, 5001)
			cb, err := gonet.DialUDP(b.Stack(), &lb, nil, proto)
			if err != nil {
				t.Fatalf("bind: %v", err)
			}
			defer cb.Close()
			ca, err := gonet.DialUDP(a.Stack(), &la, &lb, proto)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer ca.Close()
			msg := []byte("hello over udp")
			if _, err := ca.Write(msg); err != nil {
				t.Fatalf("write: %v", err)
			}
			cb.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 100)
			n, from, err := cb.ReadFrom(buf)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(buf[:n], msg) {
				t.Errorf("got %q, want %q", buf[:n], msg)
			}
			if ua, ok := from.(*net.UDPAddr); !ok || ua.Port != 5000 || !ua.IP.Equal(net.IP(cli.Addr().AsSlice())) {
				t.Errorf("from %v, want %v:5000", from, cli.Addr())
			}
		})
	}
}
