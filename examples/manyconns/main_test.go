package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestMain runs the client side when this binary is the child process of
// -client-process.
func TestMain(m *testing.M) {
	if os.Getenv(clientEnv) == "1" {
		os.Exit(clientMain(context.Background(), os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestRun(t *testing.T) {
	check(t, "-n", "2000", "-per-addr", "500", "-owners")
}

// TestRunClientProcess: the same with the client stack in a child process
// over a socket pair.
func TestRunClientProcess(t *testing.T) {
	check(t, "-n", "2000", "-per-addr", "500", "-client-process")
}

func check(t *testing.T, args ...string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	owners := args[len(args)-1] == "-owners"
	for _, want := range []string{
		`server 10\.0\.0\.1:80 \(one port\); client 4 source addresses 10\.1\.0\.1\.\.10\.1\.0\.4`,
		`established 2000 WebSocket connections in `,
		// Every connection answered its ping and echoed its message.
		`pinged every connection and echoed a message on each in .*: 2000 pongs, 2000 echoes`,
		`server, 2000 idle connections: heap .* B/conn\), goroutine stacks .* total \d+ B/conn`,
		`heap spans in use \d+ B/conn`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if owners {
		// The table is sorted by bytes; gVisor's endpoint and the
		// ws.Conn are within a tenth of each other, so their order is
		// the sampling's: each must be listed, in either order.
		for _, want := range []string{
			`server heap by owner .*\n(?s:.*)  gVisor tcp\.Endpoint +\d+ B\n(?s:.*)  total +\d+ B`,
			`server heap by owner .*\n(?s:.*)  ws\.Conn +\d+ B\n(?s:.*)  total +\d+ B`,
		} {
			if !regexp.MustCompile(want).Match(out.Bytes()) {
				t.Errorf("output lacks %s:\n%s", want, out.String())
			}
		}
	}
	// An idle connection is served from notifications: it holds no
	// goroutine.
	m := regexp.MustCompile(`goroutines per connection: (\d+\.\d+) \((\d+) in the process over a baseline of (\d+)\)`).FindSubmatch(out.Bytes())
	if m == nil {
		t.Fatalf("output lacks the goroutine count:\n%s", out.String())
	}
	now, _ := strconv.Atoi(string(m[2]))
	base, _ := strconv.Atoi(string(m[3]))
	if extra := now - base; extra > 20 {
		t.Errorf("%d goroutines more than the baseline with 2000 idle connections, want about 0:\n%s", extra, out.String())
	}
}
