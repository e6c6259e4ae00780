package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ws"
)

// nodeDir holds package.json, package-lock.json and the two scripts; its
// node_modules is installed by npm ci when missing.
const nodeDir = "node"

// needNodeWS skips (or fails) the test unless node and Node's ws package
// are there, running npm ci first when node_modules is missing. It must be
// called before entering a namespace: npm needs the registry.
func needNodeWS(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		netnstest.SkipOrFail(t, "node is not installed (apt-get install nodejs npm): %v", err)
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "ws", "package.json")); err != nil {
		if _, ok := os.LookupEnv("GLASSNET_NETNSTEST_CHILD"); ok {
			netnstest.SkipOrFail(t, "%s/node_modules is missing and npm cannot reach the registry from a namespace", nodeDir)
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			netnstest.SkipOrFail(t, "npm is not installed to fetch Node's ws (apt-get install npm): %v", err)
		}
		ci := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		ci.Dir = nodeDir
		if out, err := ci.CombinedOutput(); err != nil {
			netnstest.SkipOrFail(t, "npm ci in %s: %v\n%s", nodeDir, err, out)
		}
	}
	out, err := exec.Command(node, "-e", `console.log(process.version, "ws", require("./`+nodeDir+`/node_modules/ws/package.json").version)`).CombinedOutput()
	if err != nil {
		netnstest.SkipOrFail(t, "node cannot load ws: %v: %s", err, out)
	}
	t.Logf("node %s", bytes.TrimSpace(out))
	return node
}

// TestNodeWSClient proves that Node's ws package, as a client, works with
// glassnet's ws server on both stacks: text and 1 MiB binary echo, a
// fragmented message, ping/pong, close handshakes it starts (1000 and an
// application code), /chat broadcast, and a permessage-deflate offer.
func TestNodeWSClient(t *testing.T) {
	node := needNodeWS(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		startServe(t, "--kernel", kernelAddr)
		cases := []struct{ name, want string }{
			{"text", `text text "hello κόσμε"`},
			{"binary", "binary binary 1048576 equal"},
			{"fragments", `fragments "frag-1 frag-2 frag-3"`},
			{"ping", `pong "node ping"`},
			{"close", `close 1000 ""`}, // the server echoes the code (RFC 6455 §5.5.1)
			{"close4001", `close 4001 ""`},
			{"chat", `chat "hello from b"`},
			// The message goes through whether or not deflate was agreed.
			{"deflate", "deflate 1000 "},
		}
		for _, st := range stacks {
			for _, tc := range cases {
				t.Run(st.name+"/"+tc.name, func(t *testing.T) {
					t.Parallel()
					out := strings.TrimSpace(run(t, 30*time.Second, node, filepath.Join(nodeDir, "client.js"), st.base, tc.name))
					if out != tc.want && !(strings.HasSuffix(tc.want, " ") && strings.HasPrefix(out, tc.want)) {
						t.Errorf("node printed %q, want %q", out, tc.want)
					}
				})
			}
		}
	})
}

// nodeServer is a running node/server.js.
type nodeServer struct {
	cmd  *exec.Cmd
	port string
	out  syncBuffer
	done chan struct{}
}

// startNodeServer starts node/server.js on host with a free port and
// returns once it listens. It is stopped when the test ends.
func startNodeServer(t *testing.T, node, host string) *nodeServer {
	t.Helper()
	s := &nodeServer{cmd: exec.Command(node, filepath.Join(nodeDir, "server.js"), host, "0"), done: make(chan struct{})}
	s.cmd.Stderr = &s.out
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start node server: %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, "listening "); ok {
				ready <- p
			}
			s.out.Write([]byte(line + "\n"))
		}
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("node server output:\n%s", s.out.String())
		}
	})
	select {
	case s.port = <-ready:
	case <-s.done:
		t.Fatalf("node server exited before it listened:\n%s", s.out.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("node server did not listen in 10s:\n%s", s.out.String())
	}
	return s
}

// waitLine waits until the server has printed line.
func (s *nodeServer) waitLine(t *testing.T, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for l := range strings.Lines(s.out.String()) {
			if strings.TrimSuffix(l, "\n") == line {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("node server did not print %q", line)
}

// userspaceStack opens the TUN (the kernel's side holds the prefix's
// first host address) and runs a glassnet stack at prefix on it.
func userspaceStack(t *testing.T, stack netip.Prefix) *sockets.Sockets {
	t.Helper()
	dev, err := tun.Open(tun.Config{Name: tunName, HostAddr: tun.HostAddrFor(stack)})
	if err != nil {
		t.Fatalf("open TUN: %v", err)
	}
	st, err := netstack.New(netstack.Options{Device: dev, Addrs: []netip.Prefix{stack}})
	if err != nil {
		dev.Close()
		t.Fatalf("netstack: %v", err)
	}
	t.Cleanup(func() {
		st.Close()
		dev.Close()
	})
	return sockets.New(st.Stack(), sockets.Options{})
}

// TestNodeWSServer proves glassnet's ws client against Node's ws server
// (permessage-deflate enabled on it), over kernel loopback and from a
// userspace glassnet stack on a TUN to the kernel's side of it: text and
// 1 MiB binary echo, a fragmented message, a ping from each side (the
// client's Ping with no reader running), and close handshakes started by
// each side.
func TestNodeWSServer(t *testing.T) {
	node := needNodeWS(t)
	netnstest.RunTUN(t, func(t *testing.T) {
		socks := userspaceStack(t, netip.MustParsePrefix(stackAddr+"/24"))
		srv := startNodeServer(t, node, "0.0.0.0")
		hostAddr := tun.HostAddrFor(netip.MustParsePrefix(stackAddr + "/24")).Addr().String()
		transports := []struct {
			name, url string
			opts      ws.DialOptions
			code      ws.StatusCode
		}{
			{"kernel", "ws://127.0.0.1:" + srv.port + "/", ws.DialOptions{}, 4001},
			{"userspace", "ws://" + hostAddr + ":" + srv.port + "/", ws.DialOptions{NetDial: socks.DialContext}, 4011},
		}
		for _, tr := range transports {
			t.Run(tr.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				dial := func(t *testing.T) *ws.Conn {
					t.Helper()
					opts := tr.opts
					c, resp, err := ws.Dial(ctx, tr.url, &opts)
					if err != nil {
						t.Fatalf("Dial %s: %v", tr.url, err)
					}
					if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
						t.Logf("server agreed to %q", ext)
					}
					t.Cleanup(func() { c.CloseNow() })
					return c
				}
				expect := func(t *testing.T, c *ws.Conn, typ ws.MessageType, want []byte) {
					t.Helper()
					gt, got, err := c.ReadMessage(ctx)
					if err != nil {
						t.Fatalf("ReadMessage: %v", err)
					}
					if gt != typ || !bytes.Equal(got, want) {
						t.Fatalf("ReadMessage = %v %d bytes %.40q, want %v %d bytes %.40q", gt, len(got), got, typ, len(want), want)
					}
				}

				c := dial(t)
				if err := c.WriteMessage(ctx, ws.MessageText, []byte("hello κόσμε")); err != nil {
					t.Fatal(err)
				}
				expect(t, c, ws.MessageText, []byte("hello κόσμε"))

				big := make([]byte, 1<<20)
				rand.Read(big)
				if err := c.WriteMessage(ctx, ws.MessageBinary, big); err != nil {
					t.Fatal(err)
				}
				expect(t, c, ws.MessageBinary, big)

				if err := c.WriteFragmented(ctx, ws.MessageText, []byte("frag-1 "), []byte("frag-2 "), []byte("frag-3")); err != nil {
					t.Fatal(err)
				}
				expect(t, c, ws.MessageText, []byte("frag-1 frag-2 frag-3"))

				// No ReadMessage is running: Ping reads the pong itself.
				if err := c.Ping(ctx, []byte("glassnet ping "+tr.name)); err != nil {
					t.Fatalf("Ping: %v", err)
				}

				// The server pings; ReadMessage answers, and the server
				// reports the pong it got.
				if err := c.WriteMessage(ctx, ws.MessageText, []byte("ping-me")); err != nil {
					t.Fatal(err)
				}
				expect(t, c, ws.MessageText, []byte("pong node ping"))

				// The client closes.
				reason := "client bye " + tr.name
				if err := c.Close(tr.code, reason); err != nil {
					t.Fatalf("Close: %v", err)
				}
				srv.waitLine(t, "close "+strconv.Itoa(int(tr.code))+" "+reason)

				// The server closes: its close frame ends ReadMessage.
				c2 := dial(t)
				if err := c2.WriteMessage(ctx, ws.MessageText, []byte("close-me")); err != nil {
					t.Fatal(err)
				}
				_, _, err := c2.ReadMessage(ctx)
				var ce *ws.CloseError
				if !errors.As(err, &ce) || ce.Code != 4002 || ce.Reason != "server bye" {
					t.Fatalf("ReadMessage after close-me = %v, want close 4002 \"server bye\"", err)
				}
			})
		}
	})
}
