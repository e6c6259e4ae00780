package interop

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
	"golang.org/x/sys/unix"
)

// The stack's address in the hostile tests' own namespace (the kernel
// side is 10.247.9.1).
var hostileStack = netip.MustParseAddr("10.247.9.2")

const hostilePort = 19770

// ssTable returns `glassnet ss NAME`'s table, or fails the test.
func ssTable(ctx context.Context, t *testing.T, name string) *ctl.Table {
	t.Helper()
	tb, err := ctl.QueryTable(ctx, name)
	if err != nil {
		t.Fatalf("glassnet ss %s: %v", name, err)
	}
	return tb
}

// waitCounters waits, for up to 30 s, until the counters of the serve
// named name that watched picks, those not zero, are exactly want, and
// fails the test with both when they do not get there: a count under a
// wrong key shows up as a surplus.
func waitCounters(ctx context.Context, t *testing.T, name string, watched func(key string) bool, want map[string]uint64) {
	t.Helper()
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		got := map[string]uint64{}
		for k, v := range ssTable(ctx, t, name).Counters {
			if watched(k) && v != 0 {
				got[k] = v
			}
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		select {
		case <-wait.Done():
			t.Fatalf("glassnet ss counters:\n%v\nwant:\n%v", got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitGoroutines waits until the serve named name has no more goroutines
// than base, as before what (the attacks, the probe).
func waitGoroutines(ctx context.Context, t *testing.T, name string, base int, what string) {
	t.Helper()
	for {
		tb := ssTable(ctx, t, name)
		if tb.Process.Goroutines <= base {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("glassnet serve has %d goroutines after %s, %d before", tb.Process.Goroutines, what, base)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestHostile attacks glassnet serve on a TUN from the kernel's side of it
// and checks that each attack is answered as the README says, counted in
// glassnet ss with a reason a user understands, and that a good client is
// served afterwards with the goroutines back where they were.
func TestHostile(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		// The control socket's directory is the host's: a name of
		// this process's own.
		name := fmt.Sprintf("gnhh%d", os.Getpid()%100000)
		startServeArgs(t, "serve", "--tun", name, "--addr", netip.PrefixFrom(hostileStack, 24).String(),
			"--port", fmt.Sprint(hostilePort))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		table := func(t *testing.T) *ctl.Table { return ssTable(ctx, t, name) }
		waitCounter := func(t *testing.T, what string, ok func(map[string]uint64) bool) {
			t.Helper()
			wait, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			for {
				c := table(t).Counters
				if ok(c) {
					return
				}
				select {
				case <-wait.Done():
					t.Fatalf("glassnet ss counters: no %s in %v", what, c)
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		base := table(t).Process.Goroutines
		url := fmt.Sprintf("http://%s/", netip.AddrPortFrom(hostileStack, hostilePort))
		// A client that keeps no connection open, so that none is
		// left to count at the end.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		good := func(t *testing.T) {
			t.Helper()
			resp, err := client.Get(url)
			if err != nil {
				t.Fatalf("a good client after the attack: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("a good client after the attack: %s", resp.Status)
			}
		}

		t.Run("SYN flood", func(t *testing.T) {
			// SYNs from addresses nobody answers for: each stays
			// half-open, and past the listener's backlog (1024)
			// the stack answers with SYN cookies.
			var pkts [][]byte
			for i := range 1500 {
				src := netip.AddrFrom4([4]byte{10, 247, 9, byte(100 + i%100)})
				pkts = append(pkts, tcpSegment(src, hostileStack, uint16(20000+i), hostilePort, 0x02))
			}
			sendRaw(t, pkts)
			waitCounter(t, "tcp syn cookies sent", func(c map[string]uint64) bool { return c["tcp syn cookies sent"] > 0 })
			good(t)
			// The kernel's connection that a cookie opened keeps
			// the window scaling and SACK of its SYN, carried in
			// the SYN-ACK's timestamp as Linux carries them.
			accepted := table(t).Counters["tcp syn cookies accepted"]
			c, err := net.Dial("tcp", netip.AddrPortFrom(hostileStack, hostilePort).String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			waitCounter(t, "tcp syn cookies accepted", func(c map[string]uint64) bool { return c["tcp syn cookies accepted"] > accepted })
			rc, err := c.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var ti *unix.TCPInfo
			var gerr error
			if err := rc.Control(func(fd uintptr) { ti, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || gerr != nil {
				t.Fatalf("TCP_INFO: %v %v", err, gerr)
			}
			// tcpi_options: TCPI_OPT_TIMESTAMPS 1, TCPI_OPT_SACK 2,
			// TCPI_OPT_WSCALE 4 (linux/tcp.h).
			if want := uint8(1 | 2 | 4); ti.Options&want != want {
				t.Errorf("the kernel's connection opened by a SYN cookie: options %#x, want wscale, SACK and timestamps (%#x)", ti.Options, want)
			}
		})

		t.Run("packets from a broadcast or multicast source", func(t *testing.T) {
			sendRaw(t, [][]byte{
				tcpSegment(netip.MustParseAddr("10.247.9.255"), hostileStack, 40000, hostilePort, 0x02),
				tcpSegment(netip.MustParseAddr("224.0.0.1"), hostileStack, 40001, hostilePort, 0x02),
			})
			waitCounter(t, "drop ip-invalid-source", func(c map[string]uint64) bool { return c["drop ip-invalid-source"] == 2 })
			good(t)
		})

		t.Run("malformed HTTP", func(t *testing.T) {
			for _, req := range []string{"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"} {
				c, err := net.Dial("tcp", netip.AddrPortFrom(hostileStack, hostilePort).String())
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(c, req)
				b, _ := io.ReadAll(c)
				c.Close()
				if !strings.HasPrefix(string(b), "HTTP/1.1 4") {
					t.Errorf("%.20q...: answered %.40q, want a 4xx", req, b)
				}
			}
			waitCounter(t, "http requests refused (400, 417, 431, 501, 505) or cut short", func(c map[string]uint64) bool {
				return c["http requests refused (400, 417, 431, 501, 505) or cut short"] == 2
			})
			good(t)
		})

		t.Run("a reset while the echo is on its way", func(t *testing.T) {
			for _, fin := range []bool{false, true} {
				c, _, err := ws.Dial(ctx, "ws://"+netip.AddrPortFrom(hostileStack, hostilePort).String()+"/echo", nil)
				if err != nil {
					t.Fatal(err)
				}
				// More than the buffers on the way hold: the echo
				// waits for room when the reset comes.
				if err := c.WriteMessage(ctx, ws.MessageBinary, make([]byte, 8<<20)); err != nil {
					t.Fatal(err)
				}
				tc := c.NetConn().(*net.TCPConn)
				if fin {
					tc.CloseWrite()
				}
				if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
					t.Fatal(err)
				}
				tc.SetLinger(0)
				tc.Close()
			}
			waitCounter(t, "two ws ends: tcp reset by the peer", func(c map[string]uint64) bool {
				return c["ws ends: tcp reset by the peer"] == 2
			})
			if n := table(t).Counters["ws ends: other errors"]; n != 0 {
				t.Errorf("ws ends: other errors %d, want the resets counted as resets", n)
			}
			good(t)
		})

		// Every connection the attacks made has ended; what served
		// them has too.
		waitGoroutines(ctx, t, name, base, "the attacks")
	})
}

// sendRaw sends IPv4 packets, headers and all, through the kernel, which
// routes them to the TUN.
func sendRaw(t *testing.T, pkts [][]byte) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	if err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	defer syscall.Close(fd)
	for _, p := range pkts {
		var to syscall.SockaddrInet4
		copy(to.Addr[:], p[16:20])
		if err := syscall.Sendto(fd, p, 0, &to); err != nil {
			t.Fatalf("send a raw packet: %v", err)
		}
	}
}

// tcpSegment builds an IPv4 packet carrying a TCP segment with no payload
// and the given flags.
func tcpSegment(src, dst netip.Addr, sport, dport uint16, flags byte) []byte {
	p := make([]byte, 40)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = syscall.IPPROTO_TCP
	s4, d4 := src.As4(), dst.As4()
	copy(p[12:16], s4[:])
	copy(p[16:20], d4[:])
	binary.BigEndian.PutUint16(p[10:], checksum(0, p[:20]))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	pseudo := make([]byte, 0, 12)
	pseudo = append(append(append(pseudo, s4[:]...), d4[:]...), 0, syscall.IPPROTO_TCP, 0, byte(len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], checksum(sum(0, pseudo), tcp))
	return p
}

func sum(acc uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		acc += uint32(b[len(b)-1]) << 8
	}
	return acc
}

func checksum(acc uint32, b []byte) uint16 {
	acc = sum(acc, b)
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}
