package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

func TestDemo(t *testing.T) {
	var out, js bytes.Buffer
	if err := Demo(context.Background(), DemoOptions{Out: &out, Trace: &js}); err != nil {
		t.Fatalf("Demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"Flags [S]", "Flags [S.]", "Flags [F.]", // the TCP handshake and the FIN
		"accept", "would-block", "woken", "copied", // socket steps: the receive path
		"101 Switching Protocols",
		`message text "hello, glassnet"`,
		"3 frames",                        // the fragmented message
		"ping", "pong", "close sent 1000", // control frames
		"0 dropped",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo account lacks %q", want)
		}
	}

	// Every layer appears in both directions in the JSON trace.
	seen := map[string]bool{}
	dec := json.NewDecoder(&js)
	for {
		var e map[string]any
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen[e["layer"].(string)+"/"+e["dir"].(string)] = true
	}
	for _, k := range []string{"link/in", "link/out", "ip/in", "ip/out", "tcp/in", "tcp/out", "socket/in", "socket/out", "ws/in", "ws/out"} {
		if !seen[k] {
			t.Errorf("JSON trace has no %s events (has %v)", k, seen)
		}
	}
}

// TestDemoNoDelayedACK: with NoDelayedACK (--no-delayed-ack) the server
// acknowledges the client's first message with a pure ACK of its own before
// the echo, as upstream gVisor does; by default the echo carries the ACK.
func TestDemoNoDelayedACK(t *testing.T) {
	var js bytes.Buffer
	if err := Demo(context.Background(), DemoOptions{Trace: &js, NoDelayedACK: true}); err != nil {
		t.Fatalf("Demo: %v", err)
	}
	end := -1.0 // the relative end of the client's first segment with a frame
	for _, e := range jsonEvents(t, &js) {
		if e["layer"] != "link" || e["event"] != "packet" || e["dir"] != "out" {
			continue
		}
		switch {
		case end < 0 && e["node"] == "client" && e["frames"] != nil:
			end = e["rel_seq"].(float64) + e["payload_len"].(float64)
		case end >= 0 && e["node"] == "server" && e["payload_len"].(float64) == 0 && e["rel_ack"] == end:
			return
		case end >= 0 && e["node"] == "server" && e["frames"] != nil:
			t.Fatalf("the server's echo (%v) went out before a pure ACK of the client's message (up to %v)", e["summary"], end)
		}
	}
	t.Fatal("no client frame, or no ACK of it, in the trace")
}

// readyWriter hands the first line written to it to a channel.
type readyWriter struct {
	ch  chan string
	buf bytes.Buffer
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if line, err := w.buf.ReadString('\n'); err == nil {
		select {
		case w.ch <- line:
		default:
		}
	}
	return len(p), nil
}

// TestServeOnTUN runs serve on a real TUN in a fresh network namespace and
// talks to it from the kernel's own TCP stack, as a host program would.
func TestServeOnTUN(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ready := &readyWriter{ch: make(chan string, 1)}
		served := make(chan error, 1)
		go func() {
			served <- Serve(ctx, ServeConfig{
				TUN:    "glass0",
				Addrs:  []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")},
				Port:   8080,
				Kernel: "127.0.0.1:8081",
				Log:    ready,
			})
		}()
		select {
		case line := <-ready.ch:
			if !strings.HasPrefix(line, "glassnet: serving http://10.200.0.2:8080/ on glass0") {
				t.Fatalf("ready line = %q", line)
			}
		case err := <-served:
			t.Fatalf("Serve: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no ready line")
		}

		for _, base := range []string{"10.200.0.2:8080", "127.0.0.1:8081"} {
			resp, err := http.Get("http://" + base + "/")
			if err != nil {
				t.Fatalf("GET / on %s: %v", base, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(body, []byte("glassnet chat")) {
				t.Fatalf("GET / on %s = %d %q", base, resp.StatusCode, body)
			}
		}

		// A plain GET of a WebSocket endpoint is refused with a 4xx.
		resp, err := http.Get("http://10.200.0.2:8080/echo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Fatalf("GET /echo without upgrade = %d, want 4xx", resp.StatusCode)
		}

		c, _, err := ws.Dial(ctx, "ws://10.200.0.2:8080/echo", nil)
		if err != nil {
			t.Fatalf("dial /echo through the kernel: %v", err)
		}
		defer c.CloseNow()
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		for _, m := range []struct {
			typ ws.MessageType
			p   []byte
		}{{ws.MessageText, []byte("hello through a TUN")}, {ws.MessageBinary, big}} {
			if err := c.WriteMessage(ctx, m.typ, m.p); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.ReadMessage(ctx)
			if err != nil || typ != m.typ || !bytes.Equal(got, m.p) {
				t.Fatalf("echo = %v, %d bytes, %v; want %v, %d bytes", typ, len(got), err, m.typ, len(m.p))
			}
		}

		// TCP echo (port 7) through the kernel.
		tc, err := net.DialTimeout("tcp", "10.200.0.2:7", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(tc, "echo me\n")
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err != nil || line != "echo me\n" {
			t.Fatalf("tcp echo = %q, %v", line, err)
		}
		tc.Close()

		// Shutting down sends close 1001 to the WebSocket client.
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage(context.Background())
			readErr <- err
		}()
		cancel()
		select {
		case err := <-readErr:
			var ce *ws.CloseError
			if !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway {
				t.Fatalf("client read after shutdown = %v, want close 1001", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no close frame after shutdown")
		}
		if err := <-served; err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	})
}

func TestServeConfigErrors(t *testing.T) {
	err := Serve(context.Background(), ServeConfig{TUN: "glass0"})
	if err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Fatalf("Serve without an address = %v", err)
	}
	err = Serve(context.Background(), ServeConfig{Addrs: []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")}})
	if err == nil || !strings.Contains(err.Error(), "--nic") {
		t.Fatalf("Serve without a device = %v", err)
	}
	err = Serve(context.Background(), ServeConfig{NIC: "eth9", MTU: 1400, Addrs: []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")}})
	if err == nil || !strings.Contains(err.Error(), "--mtu applies to a TUN") {
		t.Fatalf("Serve --nic --mtu = %v", err)
	}
}
