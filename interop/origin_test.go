package interop

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// foreignPage opens a WebSocket to serve's /chat from whatever origin
// serves it, and writes what happened into #status.
const foreignPage = `<!doctype html>
<title>another site</title>
<p id="status">pending</p>
<script>
  const status = document.getElementById("status");
  const ws = new WebSocket("` + stackWS + `/chat");
  ws.onopen = () => { status.textContent = "open"; ws.close(1000); };
  ws.onerror = () => { if (status.textContent === "pending") status.textContent = "error"; };
  ws.onclose = (e) => { status.textContent += " closed " + e.code; };
</script>
`

// TestChromiumCrossOrigin proves in a real browser that serve refuses
// cross-site WebSocket hijacking: a page from another origin (a plain
// HTTP server on 127.0.0.1) cannot open serve's /chat, while serve's own
// chat page can; with --allow-origin naming that origin, it can.
func TestChromiumCrossOrigin(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	netnstest.RunTUN(t, func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		foreign := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(foreignPage))
		}), ReadHeaderTimeout: 10 * time.Second}
		go foreign.Serve(ln)
		t.Cleanup(func() { foreign.Close() })
		foreignURL := "http://" + ln.Addr().String() + "/"

		// openFrom loads url in a fresh chromium and returns the page's
		// #status once it has settled.
		openFrom := func(t *testing.T, url, settled string) string {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			page, stderr := chromiumCDP(t, ctx, url)
			got, err := page.wait(ctx, settled)
			if err != nil {
				t.Fatalf("%s: %v\nchromium stderr:\n%s", url, err, stderr.Bytes())
			}
			return got
		}
		const foreignSettled = `(s => s.includes("closed") && s)(document.getElementById("status").textContent)`

		t.Run("default", func(t *testing.T) {
			startServe(t)
			if got := openFrom(t, foreignURL, foreignSettled); got != "error closed 1006" {
				t.Errorf("the foreign page's WebSocket: %q, want \"error closed 1006\" (refused with 403)", got)
			}
			own := `document.getElementById("status").textContent === "connected" && "connected"`
			if got := openFrom(t, stackHTTP+"/", own); got != "connected" {
				t.Errorf("serve's own page: %q, want connected", got)
			}
		})
		t.Run("allow-origin", func(t *testing.T) {
			startServe(t, "--allow-origin", "127.0.0.1:*")
			if got := openFrom(t, foreignURL, foreignSettled); got != "open closed 1000" {
				t.Errorf("the allowed page's WebSocket: %q, want \"open closed 1000\"", got)
			}
		})
	})
}
