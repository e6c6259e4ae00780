package interop

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestCurl proves that curl, over the kernel's TCP stack and the TUN, gets
// the chat page from glassnet's HTTP server, and that the WebSocket
// endpoints refuse requests that are not a valid RFC 6455 upgrade.
func TestCurl(t *testing.T) {
	needProgram(t, curlBin, "curl")
	netnstest.RunTUN(t, func(t *testing.T) {
		startServe(t)
		tests := []struct {
			name   string
			path   string
			header []string
			check  func(t *testing.T, resp *http.Response, body string)
		}{
			{
				name: "GET / is the chat page",
				path: "/",
				check: func(t *testing.T, resp *http.Response, body string) {
					wantStatus(t, resp, http.StatusOK)
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
						t.Errorf("Content-Type %q, want text/html", ct)
					}
					if !strings.Contains(body, "<title>glassnet chat</title>") || !strings.Contains(body, `new WebSocket(`) {
						t.Errorf("body is not the chat page:\n%s", body)
					}
				},
			},
			{
				// RFC 6455 §4.4: an unsupported version gets 426 and the
				// versions the server speaks.
				name: "upgrade with version 8",
				path: "/echo",
				header: []string{
					"Connection: Upgrade",
					"Upgrade: websocket",
					"Sec-WebSocket-Version: 8",
					"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
				},
				check: func(t *testing.T, resp *http.Response, body string) {
					wantStatus(t, resp, http.StatusUpgradeRequired)
					if v := resp.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
						t.Errorf("Sec-WebSocket-Version %q, want [13]", v)
					}
				},
			},
			{
				name: "plain GET /echo",
				path: "/echo",
				check: func(t *testing.T, resp *http.Response, body string) {
					if resp.StatusCode < 400 || resp.StatusCode > 499 {
						t.Errorf("status %s, want 4xx", resp.Status)
					}
				},
			},
			{
				name: "plain GET /chat",
				path: "/chat",
				check: func(t *testing.T, resp *http.Response, body string) {
					if resp.StatusCode < 400 || resp.StatusCode > 499 {
						t.Errorf("status %s, want 4xx", resp.Status)
					}
				},
			},
			{
				name: "GET /nowhere",
				path: "/nowhere",
				check: func(t *testing.T, resp *http.Response, body string) {
					wantStatus(t, resp, http.StatusNotFound)
				},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				args := []string{"--silent", "--show-error", "--include", "--noproxy", "*", "--max-time", "10"}
				for _, h := range tt.header {
					args = append(args, "--header", h)
				}
				out := run(t, 15*time.Second, curlBin, append(args, stackHTTP+tt.path)...)
				resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
				if err != nil {
					t.Fatalf("curl printed no HTTP response (%v):\n%s", err, out)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("read the body curl printed: %v", err)
				}
				tt.check(t, resp, string(body))
			})
		}
	})
}

func wantStatus(t *testing.T, resp *http.Response, code int) {
	t.Helper()
	if resp.StatusCode != code {
		t.Errorf("status %s, want %d", resp.Status, code)
	}
}
