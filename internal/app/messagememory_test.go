package app

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/ws"
)

// rawFragment opens a WebSocket to addr's /echo by hand and sends the
// first, unfinished fragment of a binary message of n bytes; it returns the
// connection and a reader past the 101.
func rawFragment(t *testing.T, addr string, n int) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, br := rawUpgrade(t, addr)
	f := ws.NewFrame(false, ws.OpBinary, make([]byte, n))
	f.Header.Masked = true
	var b bytes.Buffer
	ws.WriteFrame(&b, f)
	if _, err := nc.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return nc, br
}

// rawUpgrade opens a WebSocket to serve's /echo at addr by hand, with a
// minute to live, and returns the connection and its reader past the 101.
func rawUpgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(nc, "GET /echo HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return nc, br
}

// TestWSEndsMessageMemory: WebSockets share serve's message memory; one
// whose message does not fit what the others hold is failed with 1013,
// which glassnet ss counts, and the memory is all given back when the
// connections end.
func TestWSEndsMessageMemory(t *testing.T) {
	budget := ws.NewMemoryBudget(1 << 20)
	h := &Handlers{MessageMemory: budget}
	t.Cleanup(func() { h.CloseAll() })
	_, _, addr := serveHandlers(t, h, "/echo")

	first, _ := rawFragment(t, addr, 700<<10)
	for deadline := time.Now().Add(10 * time.Second); budget.InUse() < 512<<10; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes charged for the first connection's fragment", budget.InUse())
		}
	}
	second, br := rawFragment(t, addr, 700<<10)
	for {
		f, err := ws.ReadFrame(br)
		if err != nil {
			t.Fatalf("second connection: %v before a close frame", err)
		}
		if f.Header.Opcode == ws.OpClose {
			if code := ws.StatusCode(uint16(f.Payload[0])<<8 | uint16(f.Payload[1])); code != ws.StatusTryAgainLater {
				t.Fatalf("second connection closed with %v %q, want 1013", code, f.Payload[2:])
			}
			break
		}
	}
	second.Close()
	first.Close()
	waitEnds(t, h, map[string]uint64{
		"ws ends: failed 1013 (message memory full)":       1,
		"ws ends: tcp closed without a close frame (1006)": 1,
	})
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes still charged after every WebSocket ended", n)
	}
}

// TestServeConfigMessageMemory: the message memory defaults to 256 MiB, or
// to MaxMessage when that is larger, and is refused below MaxMessage or
// negative.
func TestServeConfigMessageMemory(t *testing.T) {
	t.Parallel()
	base := ServeConfig{TUN: "glass0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")}}
	for _, tc := range []struct {
		maxMessage, memory int64
		want               int64
		err                string
	}{
		{want: DefaultMaxMessageMemory},
		{maxMessage: 1 << 30, want: 1 << 30},
		{memory: 32 << 20, want: 32 << 20},
		{memory: -1, err: "--max-message-memory -1: want a positive number of bytes"},
		{memory: 1 << 20, err: "--max-message-memory 1048576 is less than --max-message 16777216"},
		{maxMessage: 64 << 20, memory: 32 << 20, err: "--max-message-memory 33554432 is less than --max-message 67108864"},
	} {
		cfg := base
		cfg.MaxMessage, cfg.MaxMessageMemory = tc.maxMessage, tc.memory
		got, err := cfg.withDefaults()
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("MaxMessage %d, MaxMessageMemory %d: %v, want an error saying %q", tc.maxMessage, tc.memory, err, tc.err)
		case tc.err == "" && (err != nil || got.MaxMessageMemory != tc.want):
			t.Errorf("MaxMessage %d, MaxMessageMemory %d: got %d, %v; want %d", tc.maxMessage, tc.memory, got.MaxMessageMemory, err, tc.want)
		}
	}
}
