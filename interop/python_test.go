package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// stacks are the two ways into the same handlers: glassnet's userspace
// stack on the TUN, and the kernel's own stack (serve --kernel).
var stacks = []struct{ name, base string }{
	{"userspace", stackWS},
	{"kernel", kernelWS},
}

// TestPythonWebsockets proves that Debian's python3-websockets, an
// independent RFC 6455 client, interoperates with glassnet's ws server on
// both stacks: text and 1 MiB binary echo, a fragmented message, ping/pong,
// a close handshake it starts, /chat broadcast between two clients, and the
// close 1001 every client gets when serve is interrupted.
func TestPythonWebsockets(t *testing.T) {
	needPythonWebsockets(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		tracePath := filepath.Join(t.TempDir(), "trace.json")
		srv := startServe(t, "--kernel", kernelAddr, "--trace", tracePath)

		cases := []struct{ name, want string }{
			{"text", "text 'hello κόσμε'"},
			{"binary", "binary bytes 1048576 equal"},
			{"fragments", "fragments 'frag-1 frag-2 frag-3'"},
			{"ping", "pong received"},
			{"close", "close 1000 ''"}, // the server echoes the code (RFC 6455 §5.5.1)
			{"chat", "chat 'hello from b'"},
		}
		t.Run("client", func(t *testing.T) {
			for _, st := range stacks {
				for _, tc := range cases {
					t.Run(st.name+"/"+tc.name, func(t *testing.T) {
						t.Parallel()
						out := run(t, 30*time.Second, pythonBin, "testdata/wsclient.py", st.base, tc.name)
						if got := strings.TrimSpace(out); got != tc.want {
							t.Errorf("python printed %q, want %q", got, tc.want)
						}
					})
				}
			}
		})

		// The server's side of the same exchanges, from its trace: what
		// python put on the wire, as glassnet parsed it.
		t.Run("server saw", func(t *testing.T) {
			events := readTrace(t, tracePath)
			for _, st := range stacks {
				t.Run(st.name, func(t *testing.T) {
					// Conn is "server->client".
					server := strings.TrimPrefix(st.base, "ws://") + "->"
					var closes, fragments, continuations int
					for _, e := range events {
						if e.Layer != "ws" || e.Dir != "in" || !strings.HasPrefix(e.Conn, server) {
							continue
						}
						switch {
						case e.Event == "close" && e.Code == 1000 && e.Reason == "client done":
							closes++
						case e.Event == "frame" && e.Opcode == "text" && e.Fin != nil && !*e.Fin:
							fragments++
						case e.Event == "frame" && e.Opcode == "continuation":
							continuations++
						}
					}
					if closes != 1 {
						t.Errorf("%d received close frames with code 1000 and reason \"client done\", want 1", closes)
					}
					if fragments != 1 || continuations < 1 {
						t.Errorf("%d text frames without FIN and %d continuation frames, want 1 and at least 1", fragments, continuations)
					}
				})
			}
		})

		t.Run("SIGINT closes with 1001", func(t *testing.T) {
			var clients []*waiter
			for _, st := range stacks {
				clients = append(clients, startWaiter(t, st.name, st.base))
			}
			if err := srv.interrupt(t); err != nil {
				t.Errorf("glassnet serve after SIGINT: %v, want exit status 0", err)
			}
			for _, c := range clients {
				got, err := c.result()
				if want := "closed by server 1001 'server shutting down'"; err != nil || got != want {
					t.Errorf("%s client: %q (%v), want %q\nstderr:\n%s", c.name, got, err, want, c.stderr.Bytes())
				}
			}
		})
	})
}

// waiter is a python client connected to /echo that waits for the server
// to close the connection.
type waiter struct {
	name   string
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr bytes.Buffer
}

// startWaiter starts the client and returns once it is connected.
func startWaiter(t *testing.T, name, base string) *waiter {
	t.Helper()
	w := &waiter{name: name, cmd: exec.Command(pythonBin, "testdata/wsclient.py", base, "wait_close")}
	w.cmd.Stderr = &w.stderr
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Kill() })
	w.stdout = bufio.NewReader(stdout)
	if line, err := w.stdout.ReadString('\n'); line != "ready\n" {
		w.cmd.Wait()
		t.Fatalf("%s client: read %q, %v; want ready\nstderr:\n%s", name, line, err, w.stderr.Bytes())
	}
	return w
}

// result waits for the client to exit and returns what it printed last.
func (w *waiter) result() (string, error) {
	rest, rerr := io.ReadAll(w.stdout)
	err := w.cmd.Wait()
	return strings.TrimSpace(string(rest)), errors.Join(rerr, err)
}

// traceEvent holds the fields of glassnet's JSON trace that the tests read.
type traceEvent struct {
	Layer  string `json:"layer"`
	Dir    string `json:"dir"`
	Event  string `json:"event"`
	Conn   string `json:"conn"`
	Opcode string `json:"opcode"`
	Fin    *bool  `json:"fin"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func readTrace(t *testing.T, path string) []traceEvent {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []traceEvent
	for line := range bytes.Lines(data) {
		var e traceEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		events = append(events, e)
	}
	return events
}
