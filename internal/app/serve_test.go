package app

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/retry"
	"github.com/glassnet/glassnet/sockets"
)

// scriptedPacketConn answers ReadFrom from a script: each entry is an error
// or, when nil, a datagram "ping"; after the script it reports the close.
type scriptedPacketConn struct {
	net.PacketConn // nil: only the methods below are called
	mu             sync.Mutex
	script         []error
	reads          int
	written        [][]byte
}

func (c *scriptedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reads == len(c.script) {
		return 0, nil, net.ErrClosed
	}
	err := c.script[c.reads]
	c.reads++
	if err != nil {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: err}
	}
	return copy(b, "ping"), &net.UDPAddr{IP: net.IPv4(10, 200, 0, 1), Port: 5000}, nil
}

func (c *scriptedPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, bytes.Clone(b))
	return len(b), nil
}

func (c *scriptedPacketConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(10, 200, 0, 2), Port: 8080}
}

// TestEchoUDPGivesUp checks that UDP echo counts read errors it does not
// expect, keeps echoing after a few, and gives up with a message after a
// run of them instead of spinning.
func TestEchoUDPGivesUp(t *testing.T) {
	t.Parallel()
	eio := syscall.EIO
	t.Run("recovers", func(t *testing.T) {
		t.Parallel()
		pc := &scriptedPacketConn{script: []error{eio, eio, nil, eio, nil}}
		var errs atomic.Uint64
		var log bytes.Buffer
		echoUDP(pc, &errs, &log)
		if got := errs.Load(); got != 3 {
			t.Errorf("counted %d errors, want 3", got)
		}
		if len(pc.written) != 2 || log.Len() != 0 {
			t.Errorf("echoed %d datagrams (want 2), logged %q", len(pc.written), log.String())
		}
	})
	t.Run("gives up", func(t *testing.T) {
		t.Parallel()
		script := []error{nil}
		for range retry.MaxErrors + 5 {
			script = append(script, eio)
		}
		pc := &scriptedPacketConn{script: script}
		var errs atomic.Uint64
		var log bytes.Buffer
		echoUDP(pc, &errs, &log)
		if got := errs.Load(); got != retry.MaxErrors {
			t.Errorf("counted %d errors, want %d", got, retry.MaxErrors)
		}
		if pc.reads != retry.MaxErrors+1 {
			t.Errorf("read %d times after giving up, want %d", pc.reads, retry.MaxErrors+1)
		}
		want := "glassnet: udp echo on 10.200.0.2:8080 gives up after 10 errors in a row; the last: read udp: input/output error"
		if !strings.Contains(log.String(), want) {
			t.Errorf("logged %q, want %q", log.String(), want)
		}
	})
	t.Run("close is no error", func(t *testing.T) {
		t.Parallel()
		pc := &scriptedPacketConn{}
		var errs atomic.Uint64
		var log bytes.Buffer
		echoUDP(pc, &errs, &log)
		if errs.Load() != 0 || log.Len() != 0 {
			t.Errorf("a close counted %d errors, logged %q", errs.Load(), log.String())
		}
	})
}

// TestServeConfigDefaults checks that a zero ServeConfig gets the safe
// limits and that negative ones mean "none", not a default.
func TestServeConfigDefaults(t *testing.T) {
	t.Parallel()
	base := ServeConfig{TUN: "glass0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")}}
	cfg, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != DefaultPort || cfg.IdleTimeout != DefaultIdleTimeout || cfg.MaxConns != DefaultMaxConns {
		t.Errorf("defaults: port %d, idle %v, max conns %d", cfg.Port, cfg.IdleTimeout, cfg.MaxConns)
	}
	base.IdleTimeout, base.MaxConns = -1, -1
	if cfg, err = base.withDefaults(); err != nil || cfg.IdleTimeout != -1 || cfg.MaxConns != -1 {
		t.Errorf("negative limits became idle %v, max conns %d (%v)", cfg.IdleTimeout, cfg.MaxConns, err)
	}
	base.MaxMessage = -1
	if _, err := base.withDefaults(); err == nil || !strings.Contains(err.Error(), "--max-message -1") {
		t.Errorf("MaxMessage -1: %v", err)
	}
}

// TestHostAddrsShared: two stack addresses on one network give the kernel
// side one address there, said once in the ready line, not twice.
func TestHostAddrsShared(t *testing.T) {
	t.Parallel()
	stack := []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24"), netip.MustParsePrefix("10.200.0.3/24"), netip.MustParsePrefix("fd00:200::2/64")}
	hosts, err := hostAddrs("serve", stack, nil)
	want := []netip.Prefix{netip.MustParsePrefix("10.200.0.1/24"), netip.MustParsePrefix("fd00:200::1/64")}
	if err != nil || !slices.Equal(hosts, want) {
		t.Fatalf("hostAddrs(%v) = %v, %v; want %v", stack, hosts, err, want)
	}
}

// TestReadyLineLinkLocal: the ready line gives a link-local address's URL
// with its zone, the interface, which curl and a browser need to reach it.
func TestReadyLineLinkLocal(t *testing.T) {
	t.Parallel()
	m := startMemServe(t, "gnll0", ServeConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("fe80::2/64"), netip.MustParsePrefix("10.200.0.2/24")}})
	line := m.readyLine()
	for _, want := range []string{"http://[fe80::2%25gnll0]:8080/", "http://10.200.0.2:8080/"} {
		if !strings.Contains(line, want) {
			t.Errorf("ready line %q lacks %q", line, want)
		}
	}
}

// TestControlSocketTaken: a stack whose control socket name and NAME-PID
// are both taken (two labs beside a serve of the same name: each lab's
// stack is PID 1 of its own PID namespace) still gets one, and says which.
func TestControlSocketTaken(t *testing.T) {
	t.Parallel()
	name := fmt.Sprintf("gnct%d", os.Getpid()%100000)
	st := stack.New(stack.Options{})
	defer st.Close()
	socks := sockets.New(st, sockets.Options{})
	for _, n := range []string{name, name + "-" + strconv.Itoa(os.Getpid())} {
		cs, err := ctl.Listen(n, socks, ctl.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
	}
	var log bytes.Buffer
	m := startMemServe(t, name, ServeConfig{Log: &syncWriter{w: &log}})
	alt := name + "-" + strconv.Itoa(os.Getpid()) + "-2"
	t2, err := ctl.QueryTable(testCtx(t), alt)
	if err != nil {
		t.Fatalf("glassnet ss %s: %v", alt, err)
	}
	if len(t2.Sockets) == 0 {
		t.Errorf("glassnet ss %s lists no sockets", alt)
	}
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	if want := "see this one with: glassnet ss " + alt; !strings.Contains(log.String(), want) {
		t.Errorf("serve said\n%s\nwithout %q", log.String(), want)
	}
}
