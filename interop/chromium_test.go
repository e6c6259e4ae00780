package interop

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestChromium proves that a real browser, headless Debian chromium, loads
// the chat page from glassnet's userspace stack and that the page's
// JavaScript WebSocket to /chat works over it in both directions.
func TestChromium(t *testing.T) {
	needProgram(t, chromiumBin, "chromium")
	needPythonWebsockets(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		startServe(t)

		// The command line a person would type: the DOM after five
		// seconds of virtual time shows the page's WebSocket open.
		t.Run("dump-dom", func(t *testing.T) {
			cmd, stdout, stderr := chromium(t, "--virtual-time-budget=5000", "--dump-dom", stackHTTP+"/")
			if err := cmd.Run(); err != nil {
				t.Fatalf("chromium --dump-dom: %v\nstderr:\n%s", err, stderr.Bytes())
			}
			// Only the status: virtual time pauses for the handshake, a
			// network request, but not for the messages that follow it,
			// so the log may still be empty when the DOM is dumped.
			if dom, want := stdout.String(), `<p id="status">connected</p>`; !strings.Contains(dom, want) {
				t.Errorf("the DOM lacks %s:\n%s", want, dom)
			}
		})

		// Driven over the DevTools protocol: a python /chat member and the
		// page exchange a line each way, the page through its own form.
		t.Run("chat round trip", func(t *testing.T) {
			peer := exec.Command(pythonBin, "testdata/chatpeer.py", stackWS+"/chat")
			peerOut, err := peer.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var peerErr bytes.Buffer
			peer.Stderr = &peerErr
			if err := peer.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { peer.Process.Kill() })
			peerLines := lines(peerOut)
			if l := <-peerLines; l != "ready" {
				peer.Wait()
				t.Fatalf("chat peer printed %q, want ready\nstderr:\n%s", l, peerErr.Bytes())
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			page, stderr := chromiumCDP(t, ctx, stackHTTP+"/")
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf(format+"\nchromium stderr:\n%s\nchat peer stderr:\n%s", append(args, stderr.Bytes(), peerErr.Bytes())...)
			}
			if got, err := page.wait(ctx, `document.getElementById("status").textContent === "connected" && "connected"`); err != nil || got != "connected" {
				fail("page status: %q, %v", got, err)
			}
			got, err := page.wait(ctx, `document.getElementById("log").textContent.includes(": hello from python") && document.getElementById("log").textContent`)
			if err != nil {
				fail("page log: %v", err)
			}
			t.Logf("the page's log:\n%s", got)
			got, err = page.eval(ctx, `(() => {
				const msg = document.getElementById("msg");
				msg.value = "hello from chromium";
				document.getElementById("form").requestSubmit();
				return msg.value === "" ? "sent" : "not sent";
			})()`)
			if err != nil || got != "sent" {
				fail("submit the form: %q, %v", got, err)
			}
			select {
			case l := <-peerLines:
				if want := "heard 'hello from chromium'"; l != want {
					fail("chat peer printed %q, want %q", l, want)
				}
			case <-ctx.Done():
				fail("the chat peer did not hear the page")
			}
			if err := peer.Wait(); err != nil {
				fail("chat peer: %v", err)
			}
		})
	})
}

// chromiumFlags are what headless chromium needs here: running as root
// without a sandbox, in a namespace without a route to the internet.
func chromiumFlags(t *testing.T) []string {
	t.Helper()
	profile, err := os.MkdirTemp("", "glassnet-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	return chromiumFlagsIn(profile)
}

// chromiumFlagsIn are chromiumFlags with the profile directory profile.
func chromiumFlagsIn(profile string) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-proxy-server",
		"--user-data-dir=" + profile,
	}
}

// chromiumLifetime is how long chromium may run before it is killed.
var chromiumLifetime = 30 * time.Second

// chromium returns a chromium command with the flags and args, in its own
// process group, which is killed when the test ends or after
// chromiumLifetime, and which gets SIGKILL from the kernel when the test's
// process dies first (see groupCommand).
func chromium(t *testing.T, args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer) {
	t.Helper()
	return chromiumArgs(t, append(chromiumFlags(t), args...)...)
}

// chromiumArgs is chromium with all its arguments given: a groupCommand
// with a time limit of chromiumLifetime.
func chromiumArgs(t *testing.T, args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumLifetime)
	t.Cleanup(cancel)
	cmd = groupCommand(t, ctx, chromiumBin, args...)
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd, stdout, stderr
}

// cdpPage is one page of a chromium driven over the DevTools protocol.
type cdpPage struct {
	cdp     *cdp
	session string
}

// chromiumCDP starts chromium with --remote-debugging-pipe and opens url
// in a new page.
func chromiumCDP(t *testing.T, ctx context.Context, url string) (*cdpPage, *bytes.Buffer) {
	t.Helper()
	cmd, _, stderr := chromium(t, "--remote-debugging-pipe", "about:blank")
	toChromium, chromiumIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	chromiumOut, fromChromium, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{toChromium, fromChromium} // fds 3 and 4
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	toChromium.Close()
	fromChromium.Close()
	c := newCDP(chromiumIn, chromiumOut)
	t.Cleanup(func() {
		c.call(context.Background(), "", "Browser.close", nil, nil)
		chromiumIn.Close()
		chromiumOut.Close()
		cmd.Wait()
	})

	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatalf("%v\nchromium stderr:\n%s", err, stderr.Bytes())
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		t.Fatal(err)
	}
	page := &cdpPage{cdp: c, session: attached.SessionID}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := c.call(ctx, page.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %v %s\nchromium stderr:\n%s", url, err, nav.ErrorText, stderr.Bytes())
	}
	return page, stderr
}

// eval runs a JavaScript expression in the page and returns its value.
func (p *cdpPage) eval(ctx context.Context, expr string) (string, error) {
	return p.cdp.evaluate(ctx, p.session, expr)
}

// wait polls a JavaScript expression in the page until it is truthy and
// returns that value. A poll that outlives the document it started in (the
// navigation had not committed yet) is started again in the new one.
func (p *cdpPage) wait(ctx context.Context, expr string) (string, error) {
	js := fmt.Sprintf(`new Promise((resolve, reject) => {
		const start = Date.now();
		(function poll() {
			let v;
			try { v = (%s); } catch (e) {}
			if (v) return resolve(v);
			if (Date.now() - start > 10000) return reject(new Error("timed out waiting for " + %s + " in " + document.body.innerHTML));
			setTimeout(poll, 20);
		})();
	})`, expr, strconv.Quote(expr))
	for {
		v, err := p.eval(ctx, js)
		gone := err != nil && (strings.Contains(err.Error(), "context was destroyed") || strings.Contains(err.Error(), "Cannot find context") ||
			strings.Contains(err.Error(), "navigated or closed"))
		if !gone || ctx.Err() != nil {
			return v, err
		}
	}
}

// lines sends each line r yields, without its newline, and closes the
// channel at EOF.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}
