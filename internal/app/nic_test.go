package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

var (
	stack4 = netip.MustParsePrefix("10.200.0.2/24")
	stack6 = netip.MustParsePrefix("fd00:200::2/64")
)

// TestServeOnNIC runs serve on one end of a veth pair through AF_PACKET,
// in a fresh network namespace, with the kernel as the client on the other
// end: WebSocket echo, ping and UDP echo over IPv4 and IPv6.
func TestServeOnNIC(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		hosts, err := hostAddrs("serve", []netip.Prefix{stack4, stack6}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := labVeth(hosts); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			mac  net.HardwareAddr
			want string
		}{
			{"interface-mac", nil, "on " + LabStackLink + " (AF_PACKET, MAC "},
			// A MAC of the stack's own: the interface goes promiscuous
			// and the kernel ignores the stack's frames as another host's.
			{"own-mac", net.HardwareAddr{0x02, 0x67, 0x6c, 0x61, 0x73, 0x73}, "on " + LabStackLink + " (AF_PACKET, MAC 02:67:6c:61:73:73, promiscuous"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// The stack's MAC may have changed since the kernel
				// last resolved it.
				flushNeighbors(t, LabLink)
				line := startServe(t, ServeConfig{NIC: LabStackLink, MAC: tc.mac, Addrs: []netip.Prefix{stack4, stack6}})
				if !strings.Contains(line, tc.want) {
					t.Errorf("ready line = %q, want it to contain %q", line, tc.want)
				}
				exerciseServer(t, []netip.Addr{stack4.Addr(), stack6.Addr()})
			})
		}
	})
}

func flushNeighbors(t *testing.T, name string) {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		neighs, err := netlink.NeighList(link.Attrs().Index, family)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range neighs {
			netlink.NeighDel(&n)
		}
	}
}

// TestServeOnNICRefusesKernelAddr checks that serve will not share an
// interface with a kernel that owns the stack's address.
func TestServeOnNICRefusesKernelAddr(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		// The kernel gets the stack's own address on its end.
		if err := labVeth([]netip.Prefix{stack4}); err != nil {
			t.Fatal(err)
		}
		err := Serve(context.Background(), ServeConfig{NIC: LabStackLink, Addrs: []netip.Prefix{stack4}, Log: io.Discard})
		want := "the kernel has the stack's address 10.200.0.2 on " + LabLink
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Serve = %v, want an error containing %q", err, want)
		}
		// A mistake in the command line: glassnet exits 2.
		if ce := (*ConfigError)(nil); !errors.As(err, &ce) {
			t.Errorf("Serve = %v (%T), want a ConfigError", err, err)
		}
	})
}

// TestServeOnTUNRefusesKernelAddr checks that serve on a TUN refuses an
// address the kernel owns on another interface: the kernel would keep the
// packets for itself and the stack would never see one.
func TestServeOnTUNRefusesKernelAddr(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		if err := addHostAddrs("lo", []netip.Prefix{netip.PrefixFrom(stack4.Addr(), 32)}); err != nil {
			t.Fatal(err)
		}
		// Were the address accepted, Serve would stop at once when ready.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		err := Serve(ctx, ServeConfig{TUN: "glass0", Addrs: []netip.Prefix{stack4}, Log: io.Discard, Ready: cancel})
		want := "the kernel has the stack's address 10.200.0.2 on lo and would keep every packet to it for itself"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Serve = %v, want an error containing %q", err, want)
		}
		if ce := (*ConfigError)(nil); !errors.As(err, &ce) {
			t.Errorf("Serve = %v (%T), want a ConfigError (exit 2)", err, err)
		}
		if _, err := netlink.LinkByName("glass0"); err == nil {
			t.Error("serve created glass0 before it refused the address")
		}
	})
}

// TestServeOnTUNDualStack is TestServeOnNIC over a TUN: both families at
// once, the kernel side given the first host address of each prefix.
func TestServeOnTUNDualStack(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		line := startServe(t, ServeConfig{TUN: "glass0", Addrs: []netip.Prefix{stack4, stack6}})
		want := "glassnet: serving http://10.200.0.2:8080/ and http://[fd00:200::2]:8080/ on glass0 (kernel side 10.200.0.1/24, fd00:200::1/64, MTU 1500, offloads csum,tso4,tso6"
		if !strings.HasPrefix(line, want) {
			t.Errorf("ready line = %q, want it to start with %q", line, want)
		}
		exerciseServer(t, []netip.Addr{stack4.Addr(), stack6.Addr()})
	})
}

// TestServeOnTUNNoOffload serves on a TUN opened without offloads: the
// ready line says so and everything still works. With offloads (the other
// tests), the same services run over super-packets.
func TestServeOnTUNNoOffload(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		line := startServe(t, ServeConfig{TUN: "glass0", Addrs: []netip.Prefix{stack4}, NoOffload: true})
		want := "glassnet: serving http://10.200.0.2:8080/ on glass0 (kernel side 10.200.0.1/24, MTU 1500, offloads off)"
		if !strings.HasPrefix(line, want) {
			t.Errorf("ready line = %q, want it to start with %q", line, want)
		}
		exerciseServer(t, []netip.Addr{stack4.Addr()})
	})
}

// startServe runs Serve until the test ends and returns its ready line.
func startServe(t *testing.T, cfg ServeConfig) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := &serveLog{ch: make(chan string, 1)}
	cfg.Log = ready
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		// The rest of the log, after the ready line, ends with what the
		// link moved and dropped.
		rest := ready.String()
		t.Logf("serve log: %s", rest)
		if !strings.Contains(rest, " 0 dropped") {
			t.Errorf("the link dropped packets: %s", rest)
		}
	})
	select {
	case line := <-ready.ch:
		return line
	case err := <-served:
		served <- nil
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready line")
	}
	return ""
}

// serveLog keeps everything Serve logs and hands the first line, the
// ready line, to ch.
type serveLog struct {
	ch   chan string
	mu   sync.Mutex
	all  bytes.Buffer
	sent bool
}

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	if !l.sent {
		if line, ok := strings.CutSuffix(l.all.String(), "\n"); ok && !strings.Contains(line, "\n") {
			l.sent = true
			l.ch <- line + "\n"
		}
	}
	return len(p), nil
}

func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// exerciseServer talks to a running serve from the kernel's stack at each
// of addrs: WebSocket echo (a short text and 1 MiB of binary, which the
// kernel sends in large offloaded segments), ping and UDP echo.
func exerciseServer(t *testing.T, addrs []netip.Addr) {
	t.Helper()
	for _, a := range addrs {
		t.Run(familyName(a), func(t *testing.T) {
			hp := net.JoinHostPort(a.String(), "8080")
			t.Run("ping", func(t *testing.T) {
				for seq := 1; seq <= 3; seq++ {
					if err := ping(a, uint16(seq)); err != nil {
						t.Fatalf("ping %v seq %d: %v", a, seq, err)
					}
				}
			})
			t.Run("udp-echo", func(t *testing.T) {
				c, err := net.Dial("udp", hp)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				for _, msg := range []string{"hello over udp", strings.Repeat("u", 1200)} {
					c.SetDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Write([]byte(msg)); err != nil {
						t.Fatal(err)
					}
					buf := make([]byte, 2048)
					n, err := c.Read(buf)
					if err != nil || string(buf[:n]) != msg {
						t.Fatalf("udp echo = %d bytes, %v; want %d bytes back", n, err, len(msg))
					}
				}
			})
			t.Run("websocket-echo", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, _, err := ws.Dial(ctx, "ws://"+hp+"/echo", nil)
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer c.CloseNow()
				big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
				for _, m := range []struct {
					typ ws.MessageType
					p   []byte
				}{{ws.MessageText, []byte("hello over " + familyName(a))}, {ws.MessageBinary, big}} {
					if err := c.WriteMessage(ctx, m.typ, m.p); err != nil {
						t.Fatal(err)
					}
					typ, got, err := c.ReadMessage(ctx)
					if err != nil || typ != m.typ || !bytes.Equal(got, m.p) {
						t.Fatalf("echo = %v, %d bytes, %v; want %v, %d bytes", typ, len(got), err, m.typ, len(m.p))
					}
				}
				if err := c.Close(ws.StatusNormalClosure, ""); err != nil {
					t.Errorf("close: %v", err)
				}
			})
		})
	}
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// ping sends an ICMP or ICMPv6 echo request to dst from a raw socket of
// the kernel and waits for the matching reply, sending it again each second.
func ping(dst netip.Addr, seq uint16) error {
	network, laddr, typ, reply := "ip4:icmp", "0.0.0.0", byte(8), byte(0)
	if dst.Is6() {
		// The kernel fills in the ICMPv6 checksum on a raw socket.
		network, laddr, typ, reply = "ip6:ipv6-icmp", "::", 128, 129
	}
	c, err := net.ListenPacket(network, laddr)
	if err != nil {
		return err
	}
	defer c.Close()
	const id = 0x6c61
	msg := make([]byte, 8, 8+32)
	msg[0] = typ
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	msg = append(msg, "glassnet ping payload, 32 bytes!"...)
	if dst.Is4() {
		binary.BigEndian.PutUint16(msg[2:], ^onesSum(msg))
	}
	// As ping(8) does, the request goes again each second until a reply
	// comes, for 5 s: a reply can be lost on the kernel's side while it
	// still installs the route to a new IPv6 address (see tun's
	// waitLocal), which on a loaded host can take longer than serve
	// waits for it.
	end := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1500)
	for {
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		wait := time.Now().Add(time.Second)
		if wait.After(end) {
			wait = end
		}
		err := pingReply(c, buf, dst, id, seq, reply, msg[8:], wait)
		if !errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(end) {
			return err
		}
	}
}

// pingReply waits until deadline for the echo reply to the request
// id and seq sent to dst with payload.
func pingReply(c net.PacketConn, buf []byte, dst netip.Addr, id, seq uint16, reply byte, payload []byte, deadline time.Time) error {
	c.SetReadDeadline(deadline)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		b := buf[:n]
		if src.Unmap() != dst || len(b) < 8 || b[0] != reply {
			continue
		}
		if binary.BigEndian.Uint16(b[4:]) != id || binary.BigEndian.Uint16(b[6:]) != seq {
			continue
		}
		if !bytes.Equal(b[8:], payload) {
			return errors.New("echo reply with another payload")
		}
		return nil
	}
}

func onesSum(b []byte) uint16 {
	var s uint32
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(binary.BigEndian.Uint16(b))
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
