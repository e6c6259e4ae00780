package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// contractAddr is the stack's address in TestUIContract's namespace.
const contractAddr = "10.251.0.2"

// TestUIContract checks the browser view against what README.md and
// `go doc ./ui` promise, with testdata/uicontract.py: a script that knows
// only those, driving the JSON API with urllib, the live stream with
// python3-websockets and the page in headless chromium over the DevTools
// protocol, as an outside checker would. It runs against a paused
// `glassnet demo --ui` (every endpoint and control, then hostile
// requests), another for the page (clicks by data-event-id, #event=ID,
// the keys, screenshots of a breakpoint hit and a held packet), a
// `glassnet serve --ui` with curl and python3-websockets as its peers,
// and `glassnet view` of a recorded trace. Each broken promise is a line
// starting "FAIL " in the script's output.
func TestUIContract(t *testing.T) {
	needPythonWebsockets(t)
	needProgram(t, chromiumBin, "chromium")
	needProgram(t, "/usr/bin/curl", "curl")
	netnstest.RunTUN(t, func(t *testing.T) {
		shots := os.Getenv(envScreenshots)
		if shots == "" {
			shots = t.TempDir()
		}
		script := func(t *testing.T, r *uiRun, args ...string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, pythonBin, append([]string{"testdata/uicontract.py", args[0], r.base, r.token}, args[1:]...)...)
			out, err := cmd.CombinedOutput()
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "FAIL ") {
					t.Error(strings.TrimPrefix(l, "FAIL "))
				}
			}
			if err != nil || t.Failed() {
				t.Errorf("uicontract.py %s: %v\n%s", args[0], err, out)
			} else {
				t.Logf("uicontract.py %s:\n%s", args[0], out)
			}
		}
		t.Run("demo", func(t *testing.T) {
			t.Parallel()
			script(t, startUI(t, "demo", "--ui", "127.0.0.1:0"), "api,hostile")
		})
		t.Run("page", func(t *testing.T) {
			t.Parallel()
			script(t, startUI(t, "demo", "--ui", "127.0.0.1:0"), "page", chromiumBin, "20150", shots)
		})
		t.Run("serve", func(t *testing.T) {
			t.Parallel()
			// serve prints its address on stdout, with its ready line
			s := startServeArgs(t, "serve", "--tun", "gnhz0", "--addr", contractAddr+"/24", "--port", "8080", "--ui", "127.0.0.1:0")
			var r uiRun
			for deadline := time.Now().Add(10 * time.Second); r.base == ""; time.Sleep(50 * time.Millisecond) {
				for _, l := range strings.Split(s.out.String(), "\n") {
					if u, ok := strings.CutPrefix(l, "glassnet: ui at "); ok {
						r.base, r.token, _ = strings.Cut(strings.TrimSpace(u), "/?token=")
					}
				}
				if r.base == "" && time.Now().After(deadline) {
					t.Fatalf("serve --ui printed no address:\n%s", s.out.String())
				}
			}
			script(t, &r, "serve", "http://"+contractAddr+":8080")
		})
		t.Run("view", func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "demo.jsonl")
			if out, err := exec.Command(glassnetBin, "demo", "--trace", file).CombinedOutput(); err != nil {
				t.Fatalf("glassnet demo --trace: %v\n%s", err, out)
			}
			script(t, startUI(t, "view", "--ui", "127.0.0.1:0", file), "offline")
		})
	})
}
