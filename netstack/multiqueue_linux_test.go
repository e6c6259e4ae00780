package netstack

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/tun"
)

// TestTUNMultiQueueEcho runs a stack on a TUN with two queues (one read
// loop each) and 16 kernel connections at once through an echo on the
// stack: every byte comes back in order, both queues carried a share of
// the packets, and nothing was dropped.
func TestTUNMultiQueueEcho(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev, err := tun.Open(tun.Config{Name: "gmq0", HostAddr: tun.HostAddrFor(tunStack4), Queues: 2})
		if err != nil {
			t.Fatalf("tun.Open: %v", err)
		}
		st := mustNew(t, Options{Device: dev, Addrs: []netip.Prefix{tunStack4}, Node: "glass"})
		la := tcpip.FullAddress{NIC: st.NICID(), Addr: tcpip.AddrFromSlice(tunStack4.Addr().AsSlice()), Port: 7}
		ln, err := gonet.ListenTCP(st.Stack(), la, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.Copy(c, c)
				}()
			}
		}()
		const conns, size = 16, 512 << 10
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- echoOnce(netip.AddrPortFrom(tunStack4.Addr(), 7), payload(size, byte(i+1)))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		q := dev.QueuePackets()
		s := st.Stats()
		t.Logf("packets per queue %v; stack: %d in, %d out, drops %+v", q, s.PacketsIn, s.PacketsOut, s.Drops)
		// The stack writes each flow on its own queue, and the kernel
		// answers on the queue a flow was written on: with 16 flows
		// each queue carries at least one flow, a sixteenth of the
		// packets, unless the hash put all 16 on one (a chance of
		// 2^-15). Written all on queue 0, only the first packets of
		// each flow reach queue 1: under 1%.
		if len(q) != 2 || min(q[0], q[1]) < (q[0]+q[1])/32 {
			t.Errorf("packets per queue %v: want both queues to carry at least 1/32", q)
		}
		for reason, n := range s.Drops {
			if n != 0 {
				t.Errorf("the stack dropped %d packets: %s", n, reason)
			}
		}
	})
}

// echoOnce sends data over a kernel connection to addr and checks that
// the same bytes come back.
func echoOnce(addr netip.AddrPort, data []byte) error {
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if err := <-werr; err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echo returned %d bytes that differ from the %d sent", len(got), len(data))
	}
	return nil
}

// TestFlowQueue: both directions of a flow go on the same queue, IPv4 and
// IPv6, and different flows spread over the queues.
func TestFlowQueue(t *testing.T) {
	per := make([]int, 4)
	for port := range uint16(64) {
		for _, v6 := range []bool{false, true} {
			a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
			if v6 {
				a, b = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
			}
			out := tcpHeaders(a, b, 40000+port, 80)
			back := tcpHeaders(b, a, 80, 40000+port)
			q := flowQueue(out, 4)
			if r := flowQueue(back, 4); r != q {
				t.Fatalf("port %d v6 %v: queue %d one way, %d back", port, v6, q, r)
			}
			per[q]++
		}
	}
	for q, n := range per {
		if n == 0 {
			t.Errorf("queue %d got none of 128 flows: %v", q, per)
		}
	}
	if q := flowQueue([]byte{0x45, 0}, 4); q != 0 {
		t.Errorf("a truncated header went on queue %d, want 0", q)
	}
}

// tcpHeaders builds an IPv4 or IPv6 header and the first bytes of a TCP
// header, enough for flowQueue.
func tcpHeaders(src, dst netip.Addr, sport, dport uint16) []byte {
	var b []byte
	if src.Is4() {
		b = make([]byte, 24)
		b[0], b[9] = 0x45, 6
		copy(b[12:16], src.AsSlice())
		copy(b[16:20], dst.AsSlice())
	} else {
		b = make([]byte, 44)
		b[0], b[6] = 0x60, 6
		copy(b[8:24], src.AsSlice())
		copy(b[24:40], dst.AsSlice())
	}
	l4 := b[len(b)-4:]
	l4[0], l4[1], l4[2], l4[3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	return b
}
