//go:build linux

package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

// snmp reads the kernel's counters from /proc/net/snmp as "Tcp.InCsumErrors".
func snmp(t *testing.T) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := 1; j < len(names) && j < len(values); j++ {
			v, _ := strconv.ParseInt(values[j], 10, 64)
			m[strings.TrimSuffix(names[0], ":")+"."+names[j]] = v
		}
	}
	return m
}

// serveTUN runs Serve on a TUN with rules until the test ends; it returns
// what Serve logged, complete once stop has returned.
func serveTUN(t *testing.T, name, addr string, rules Rules) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := &logBuffer{ch: make(chan string, 1)}
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ServeConfig{TUN: name, Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}, Port: 8080, Log: ready, Rules: rules})
	}()
	select {
	case <-ready.ch:
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready line")
	}
	done := false
	stop = func() string {
		if !done {
			done = true
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
		return ready.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// logBuffer keeps everything written to it and hands the first line to
// a channel.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func (w *logBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok {
		select {
		case w.ch <- line:
		default:
		}
	}
	return len(p), nil
}

func (w *logBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// udpTTL sends one datagram to addr from a kernel socket and returns the
// reply and the TTL it arrived with.
func udpTTL(t *testing.T, addr string, wait time.Duration) ([]byte, int, error) {
	t.Helper()
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	to, _ := net.ResolveUDPAddr("udp4", addr)
	if _, err := c.WriteToUDP([]byte("what is my ttl"), to); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf, oob := make([]byte, 1500), make([]byte, 128)
	n, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		return nil, 0, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	ttl := -1
	for _, m := range msgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TTL && len(m.Data) >= 4 {
			ttl = int(binary.NativeEndian.Uint32(m.Data))
		}
	}
	return buf[:n], ttl, nil
}

// TestRewriteKernelChecksums serves on a TUN with egress rules that
// rewrite the TTL of every packet and the TCP window of every segment;
// the kernel on the other side talks TCP and UDP with it and counts no
// checksum error, and the datagrams it gets carry the new TTL. A second
// stack that corrupts its UDP instead makes the kernel count one, which
// shows the counters would have seen a bad checksum.
func TestRewriteKernelChecksums(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		stop := serveTUN(t, "glass0", "10.200.0.2/24", Rules{Egress: []string{"ttl 33", "tcp : window 8000"}})
		before := snmp(t)

		tc, err := net.DialTimeout("tcp", "10.200.0.2:7", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		data := bytes.Repeat([]byte("rewritten in flight "), 20000) // 400 kB
		go tc.Write(data)
		got := make([]byte, len(data))
		if _, err := io.ReadFull(tc, got); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("tcp echo through the rewrite: %v", err)
		}
		tc.Close()

		reply, ttl, err := udpTTL(t, "10.200.0.2:8080", 5*time.Second)
		if err != nil || string(reply) != "what is my ttl" {
			t.Fatalf("udp echo = %q, %v", reply, err)
		}
		if ttl != 33 {
			t.Errorf("the echo arrived with TTL %d, want 33 (the rewrite)", ttl)
		}

		after := snmp(t)
		for _, k := range []string{"Tcp.InCsumErrors", "Udp.InCsumErrors", "Ip.InHdrErrors"} {
			if after[k] != before[k] {
				t.Errorf("kernel %s went from %d to %d", k, before[k], after[k])
			}
		}
		t.Logf("kernel received %d TCP segments and %d datagrams; checksum errors: Tcp %d, Udp %d",
			after["Tcp.InSegs"]-before["Tcp.InSegs"], after["Udp.InDatagrams"]-before["Udp.InDatagrams"],
			after["Tcp.InCsumErrors"]-before["Tcp.InCsumErrors"], after["Udp.InCsumErrors"]-before["Udp.InCsumErrors"])
		if log := stop(); !strings.Contains(log, "link-egress modify rewrite") {
			t.Errorf("serve did not report the rewrites:\n%s", log)
		}

		serveTUN(t, "glass1", "10.201.0.2/24", Rules{Egress: []string{"udp : corrupt 100%"}})
		before = snmp(t)
		if _, _, err := udpTTL(t, "10.201.0.2:8080", time.Second); err == nil {
			t.Error("a corrupted datagram was delivered")
		} else if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Logf("udp read: %v", err)
		}
		after = snmp(t)
		if after["Udp.InCsumErrors"] <= before["Udp.InCsumErrors"] {
			t.Errorf("kernel Udp.InCsumErrors stayed at %d after a corrupted datagram", after["Udp.InCsumErrors"])
		}
	})
}

// TestServeRulesKernelClient is the check from outside: serve on a TUN
// with --egress 'loss 20%' keeps every message of a client on the
// kernel's TCP stack intact and in order, and with --egress 'delay 100ms'
// the client's ping round trip grows by 100 ms.
func TestServeRulesKernelClient(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()

		stop := serveTUN(t, "glass0", "10.200.0.2/24", Rules{Egress: []string{"loss 20%"}})
		c, _, err := ws.Dial(ctx, "ws://10.200.0.2:8080/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		const n = 1000
		msg := func(i int) []byte { return fmt.Appendf(nil, "kernel message %04d %s", i, strings.Repeat("k", i%500)) }
		go func() {
			for i := range n {
				if c.WriteMessage(ctx, ws.MessageText, msg(i)) != nil {
					return
				}
			}
		}()
		start := time.Now()
		for i := range n {
			_, got, err := c.ReadMessage(ctx)
			if err != nil || !bytes.Equal(got, msg(i)) {
				t.Fatalf("message %d: %.30q, %v", i, got, err)
			}
		}
		elapsed := time.Since(start)
		c.Close(ws.StatusNormalClosure, "")
		log := stop()
		t.Logf("loss 20%%: %d messages from a kernel client intact in %v; serve said:\n%s", n, elapsed.Round(time.Millisecond), log)
		if !strings.Contains(log, "link-egress drop loss") {
			t.Error("serve did not report the losses")
		}

		rtt := func(addr string) time.Duration {
			t.Helper()
			c, _, err := ws.Dial(ctx, "ws://"+addr+":8080/echo", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			go c.ReadMessage(ctx)
			var rtts []time.Duration
			for range 7 {
				start := time.Now()
				if err := c.Ping(ctx, nil); err != nil {
					t.Fatal(err)
				}
				rtts = append(rtts, time.Since(start))
			}
			slices.Sort(rtts)
			return rtts[len(rtts)/2]
		}
		serveTUN(t, "glass1", "10.201.0.2/24", Rules{})
		serveTUN(t, "glass2", "10.202.0.2/24", Rules{Egress: []string{"delay 100ms"}})
		clean, slow := rtt("10.201.0.2"), rtt("10.202.0.2")
		t.Logf("kernel client's median ping round trip: %v without rules, %v with delay 100ms", clean, slow)
		if slow-clean < 90*time.Millisecond || slow > 5*time.Second {
			t.Errorf("delay 100ms added %v to the round trip", slow-clean)
		}
	})
}
