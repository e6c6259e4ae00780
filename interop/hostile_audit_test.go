package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/internal/rawws"
)

// TestHostileAudit is a hostile client against glassnet serve on a TUN,
// for what TestHostile and TestHostileWebSocket leave out: request heads
// that RFC 9112 has a server refuse with 400 (the smuggling kinds among
// them), the 16 KiB bound on a head, frames after the upgrade that are an
// HTTP request, a pong too long for a control frame, a client that
// half-closes right after its upgrade, and a WebSocket closed for being
// idle whose peer answers pings but never the close. Each is answered as
// the RFC says, counted in glassnet ss under its reason and nothing
// else, and serve exits cleanly at the end.
func TestHostileAudit(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		name := fmt.Sprintf("gnha%d", os.Getpid()%100000)
		const idle = 3 * time.Second // pings every second
		srv := startServeArgs(t, "serve", "--tun", name, "--addr", netip.PrefixFrom(hostileStack, 24).String(),
			"--port", fmt.Sprint(hostilePort), "--idle-timeout", idle.String())
		addr := netip.AddrPortFrom(hostileStack, hostilePort).String()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		base := ssTable(ctx, t, name).Process.Goroutines
		want := map[string]uint64{} // the counters the cases should leave

		// exchange sends req on a connection of its own and returns the
		// status line of the answer and how the connection ended.
		exchange := func(t *testing.T, req string) (string, string) {
			t.Helper()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			go io.WriteString(c, req)
			b, err := io.ReadAll(c)
			end := "eof"
			if err != nil {
				end = endOf(err)
			}
			line, _, _ := strings.Cut(string(b), "\r\n")
			return line, end
		}

		for _, tc := range []struct {
			name, req string
		}{
			// RFC 9112 §6.3: a Content-Length of several values that
			// differ, or a list, is unrecoverable.
			{"two Content-Lengths", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello"},
			{"a Content-Length list", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello"},
			{"a Content-Length with a sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"},
			// RFC 9112 §3.2: no Host, two, or one that is not a host.
			{"no Host", "GET / HTTP/1.1\r\n\r\n"},
			{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
			{"a Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
			{"a Host with userinfo", "GET / HTTP/1.1\r\nHost: evil@x\r\n\r\n"},
			// RFC 9112 §5.1: whitespace between a name and its colon.
			{"a space before a colon", "GET /echo HTTP/1.1\r\nHost: x\r\nHost : evil\r\n\r\n"},
			// RFC 9112 §5.2: a head that begins with obs-fold.
			{"obs-fold on the first field", "GET / HTTP/1.1\r\n Host: x\r\n\r\n"},
			// RFC 9110 §5.5: NUL in a field value; RFC 9112 §2.2: a
			// bare CR.
			{"NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n"},
			{"a bare CR", "GET / HTTP/1.1\rHost: x\r\r\n\r\n"},
			{"a request line with a tab", "GET\t/\tHTTP/1.1\r\nHost: x\r\n\r\n"},
			// README: a head over 16 KiB is answered 431.
			{"a head of 16 KiB and a byte", sizedHead(16<<10 + 1)},
		} {
			t.Run("refused: "+tc.name, func(t *testing.T) {
				line, end := exchange(t, tc.req)
				if !strings.HasPrefix(line, "HTTP/1.1 4") || end != "eof" {
					t.Errorf("%q, then %s; want a 4xx and the connection ended", line, end)
				}
			})
			want["http requests refused (400, 417, 431, 501, 505) or cut short"]++
		}
		t.Run("a head of 16 KiB", func(t *testing.T) {
			if line, _ := exchange(t, sizedHead(16<<10)); !strings.HasPrefix(line, "HTTP/1.1 200 ") {
				t.Errorf("%q, want 200", line)
			}
		})

		for _, tc := range []struct {
			name string
			send []byte
		}{
			// What follows the upgrade is frames: an HTTP request
			// there begins with "G" (0x47), RSV1 set and opcode 7.
			{"a request after the upgrade", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
			{"a pong of 126 bytes", rawws.ClientFrame(true, 0, 10, make([]byte, 126))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, br := hostileUpgrade(t, addr, "/echo", "", nil)
				defer c.Close()
				c.Write(tc.send)
				frames, end := readServerFrames(c, br)
				if code, reason, _ := closeOf(frames); code != 1002 || end != "eof" {
					t.Errorf("close %d %q, then %s; want 1002 and a FIN", code, reason, end)
				}
			})
			want["ws ends: failed 1002 (protocol error)"]++
		}

		t.Run("FIN right after the upgrade", func(t *testing.T) {
			c, br := hostileUpgrade(t, addr, "/echo", "", nil)
			defer c.Close()
			c.(*net.TCPConn).CloseWrite()
			if frames, end := readServerFrames(c, br); len(frames) != 0 || end != "eof" {
				t.Errorf("%s, then %s; want the connection ended with a FIN and nothing sent", frameList(frames), end)
			}
		})
		want["ws ends: tcp closed without a close frame (1006)"]++

		t.Run("idle, the close never answered", func(t *testing.T) {
			c, br := hostileUpgrade(t, addr, "/echo", "", nil)
			defer c.Close()
			c.SetDeadline(time.Now().Add(idle + 20*time.Second))
			// Answer every ping, never the close: serve closes for
			// idleness (1001), waits the close timeout, and resets.
			var got []serverFrame
			var end string
			for {
				f, err := readServerFrame(br)
				if err != nil {
					end = endOf(err)
					break
				}
				got = append(got, f)
				if f.op == 9 {
					c.Write(rawws.ClientFrame(true, 0, 10, f.payload))
				}
			}
			if code, _, _ := closeOf(got); code != 1001 || end != "reset" {
				t.Errorf("%s, then %s; want close 1001 and a reset", frameList(got), end)
			}
		})
		want["ws ends: close not answered (reset)"]++
		want["conns closed idle (idle-timeout)"]++

		t.Run("counted", func(t *testing.T) {
			watched := func(k string) bool {
				return strings.HasPrefix(k, "ws ends: ") || strings.HasPrefix(k, "ws upgrades refused ") ||
					strings.HasPrefix(k, "http requests refused") || k == "conns closed idle (idle-timeout)"
			}
			waitCounters(ctx, t, name, watched, want)
		})

		waitGoroutines(ctx, t, name, base, "the audit")
		if err := srv.interrupt(t); err != nil {
			t.Errorf("glassnet serve exited with %v", err)
		}
		if out := srv.out.String(); strings.Contains(out, "panic:") || strings.Contains(out, "fatal error:") {
			t.Errorf("glassnet serve:\n%s", out)
		}
	})
}

// sizedHead returns a GET / request whose head is n bytes long, blank line
// included.
func sizedHead(n int) string {
	const start, end = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ", "\r\n\r\n"
	return start + strings.Repeat("a", n-len(start)-len(end)) + end
}

// readServerFrame reads one frame serve sent (unmasked, as a server's
// are).
func readServerFrame(br *bufio.Reader) (serverFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return serverFrame{}, err
	}
	size := uint64(h[1] & 0x7f)
	if size >= 126 {
		ext := make([]byte, 2)
		if size == 127 {
			ext = make([]byte, 8)
		}
		if _, err := io.ReadFull(br, ext); err != nil {
			return serverFrame{}, err
		}
		size = 0
		for _, b := range ext {
			size = size<<8 | uint64(b)
		}
	}
	if h[1]&0x80 != 0 || size > 1<<24 {
		return serverFrame{}, fmt.Errorf("a frame no server sends (% x, length %d)", h, size)
	}
	p := make([]byte, size)
	if _, err := io.ReadFull(br, p); err != nil {
		return serverFrame{}, err
	}
	return serverFrame{op: h[0] & 0x0f, payload: p}, nil
}
