package interop

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/internal/rawws"
)

// nextServerFrame reads one frame serve sent.
func nextServerFrame(br *bufio.Reader) (serverFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return serverFrame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return serverFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return serverFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 || n > 1<<25 {
		return serverFrame{}, fmt.Errorf("a frame no server sends (% x, length %d)", h, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return serverFrame{}, err
	}
	return serverFrame{op: h[0] & 0x0f, payload: p}, nil
}

// pongOrClose reads frames until a pong (true) or a close frame (false,
// with its code).
func pongOrClose(t *testing.T, br *bufio.Reader) (bool, uint16, string) {
	t.Helper()
	for {
		f, err := nextServerFrame(br)
		if err != nil {
			t.Fatalf("waiting for a pong or a close: %v", err)
		}
		switch f.op {
		case 10:
			return true, 0, ""
		case 8:
			code, reason, _ := closeOf([]serverFrame{f})
			return false, code, reason
		}
	}
}

// TestMessageMemoryBudget has connections to glassnet serve, one after
// another, each send the unfinished first fragment of a large message,
// with a ping behind it: the pong says that serve holds the fragment.
// Serve's message memory is 32 MiB, so four 8 MiB fragments are held and
// every later connection is failed with 1013 while the four stay; a
// compressed message a few kilobytes long on the wire is refused too,
// since what it inflates to does not fit. Once a held message is
// finished (and echoed) and the others closed, the memory is free again:
// the compressed message is echoed. ss counts every 1013, and the heap
// stays within the budget.
func TestMessageMemoryBudget(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		const (
			budget   = 32 << 20
			fragment = 8 << 20
			conns    = 12
			held     = budget / (fragment - 64<<10)
		)
		name := fmt.Sprintf("gnmb%d", os.Getpid()%100000)
		startServeArgs(t, "serve", "--tun", name, "--addr", netip.PrefixFrom(hostileStack, 24).String(),
			"--port", fmt.Sprint(hostilePort), "--max-message-memory", fmt.Sprint(budget))
		addr := netip.AddrPortFrom(hostileStack, hostilePort).String()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		base := ssTable(ctx, t, name).Process

		part := rawws.ClientFrame(false, 0, 2, make([]byte, fragment))
		ping := rawws.ClientFrame(true, 0, 9, []byte("held?"))
		type conn struct {
			c  net.Conn
			br *bufio.Reader
		}
		var kept []conn
		refused := 0
		for i := range conns {
			c, br := hostileUpgrade(t, addr, "/echo", "", nil)
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			if _, err := c.Write(append(part, ping...)); err != nil {
				t.Fatalf("connection %d: write: %v", i, err)
			}
			pong, code, reason := pongOrClose(t, br)
			switch {
			case pong && len(kept) < held:
				kept = append(kept, conn{c, br})
			case pong:
				t.Fatalf("connection %d holds its fragment with %d others holding theirs: %d bytes in a budget of %d", i, len(kept), (len(kept)+1)*fragment, budget)
			case code != 1013:
				t.Fatalf("connection %d closed with %d %q, want 1013", i, code, reason)
			default:
				refused++
				c.Close()
			}
		}
		if len(kept) != held {
			t.Fatalf("%d connections hold their fragment, want %d", len(kept), held)
		}

		// A compressed message a few KB long that inflates to 8 MiB.
		z := rawws.ClientFrame(true, 4, 2, rawws.Deflate(make([]byte, fragment)))
		t.Logf("a compressed message of %d bytes on the wire, %d inflated", len(z), fragment)
		c, br := hostileUpgrade(t, addr, "/echo", "permessage-deflate", nil)
		if _, err := c.Write(z); err != nil {
			t.Fatal(err)
		}
		if pong, code, reason := pongOrClose(t, br); pong || code != 1013 {
			t.Fatalf("a compressed message inflating to %d bytes, with %d bytes held: close %d %q, want 1013", fragment, held*fragment, code, reason)
		}
		c.Close()
		refused++

		tb := ssTable(ctx, t, name)
		t.Logf("serve before: RSS %.1f MiB, heap live %.1f MiB; with %d fragments of %d MiB held and %d connections refused: RSS %.1f MiB, heap live %.1f MiB, heap in use %.1f MiB",
			mib(base.RSS), mib(base.HeapLive), held, fragment>>20, refused, mib(tb.Process.RSS), mib(tb.Process.HeapLive), mib(tb.Process.HeapInUse))
		if limit := base.HeapLive + budget + 16<<20; tb.Process.HeapLive > limit {
			t.Errorf("serve's live heap is %.1f MiB, want at most %.1f (before, plus the budget and 16 MiB)", mib(tb.Process.HeapLive), mib(limit))
		}

		// The first held message finishes and comes back; the others end.
		if _, err := kept[0].c.Write(rawws.ClientFrame(true, 0, 0, []byte("end"))); err != nil {
			t.Fatal(err)
		}
		f, err := nextServerFrame(kept[0].br)
		if err != nil || f.op != 2 || len(f.payload) != fragment+3 {
			t.Fatalf("the finished message's echo: op %d, %d bytes, %v; want binary, %d bytes", f.op, len(f.payload), err, fragment+3)
		}
		for _, k := range kept {
			k.c.Write(rawws.CloseFrame(1000, ""))
			readServerFrames(k.c, k.br)
			k.c.Close()
		}
		// The budget is free again: the same compressed message is echoed.
		c, br = hostileUpgrade(t, addr, "/echo", "permessage-deflate", nil)
		defer c.Close()
		if _, err := c.Write(append(z, ping...)); err != nil {
			t.Fatal(err)
		}
		f, err = nextServerFrame(br)
		if err != nil || f.op != 2 {
			t.Fatalf("the compressed message, with the budget free: op %d (%q), %v; want its echo", f.op, f.payload, err)
		}

		want := uint64(refused)
		for {
			got := ssTable(ctx, t, name).Counters["ws ends: failed 1013 (message memory full)"]
			if got == want {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("glassnet ss counts %d WebSockets failed with 1013, want %d", got, want)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
