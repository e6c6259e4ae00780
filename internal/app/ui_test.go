package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ui"
)

// lineLog keeps what Serve logs.
type lineLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeUI runs serve --ui on a TUN: the view holds the kernel's SYN at
// the stack's link ingress until it is released, lists the connections,
// and stops the running stack at a breakpoint; an interrupt while paused
// still shuts down.
func TestServeUI(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var log lineLog
		ready := make(chan struct{})
		served := make(chan error, 1)
		const token = "00112233445566778899aabbccddeeff"
		go func() {
			served <- Serve(ctx, ServeConfig{
				TUN:   "glass0",
				Addrs: []netip.Prefix{netip.MustParsePrefix("10.200.0.2/24")},
				Log:   &log,
				Ready: func() { close(ready) },
				UI:    &UIOptions{Addr: "127.0.0.1:0", Token: token},
				Rules: Rules{Egress: []string{"ws ping : drop"}},
			})
		}()
		select {
		case <-ready:
		case err := <-served:
			t.Fatalf("Serve: %v", err)
		}
		var base string
		for _, line := range strings.Split(log.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "glassnet: ui at "); ok {
				base = strings.TrimSuffix(u, "/?token="+token)
			}
		}
		if base == "" {
			t.Fatalf("no ui line in %q", log.String())
		}
		call := func(method, path, body string, out any) int {
			t.Helper()
			req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
			req.Header.Set("X-Glassnet-Token", token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if out != nil {
				if err := json.Unmarshal(b, out); err != nil {
					t.Fatalf("%s %s: %v in %q", method, path, err, b)
				}
			}
			return resp.StatusCode
		}
		var st ui.State
		if call("GET", "/api/state", "", &st); st.Paused || st.Mode != "free" || len(st.Nodes) != 1 {
			t.Fatalf("serve --ui state %+v: want a free run of one stack", st)
		}
		var rules struct{ Rules []struct{ Rule string } }
		if call("GET", "/api/rules", "", &rules); len(rules.Rules) != 1 || rules.Rules[0].Rule != "ws ping : drop" {
			t.Fatalf("rules %+v", rules)
		}
		if code := call("POST", "/api/hold", `{"point":"link-ingress","node":"glassnet","filter":"tcp and syn and dst port 7"}`, nil); code != 200 {
			t.Fatalf("arm: %d", code)
		}
		dialed := make(chan net.Conn, 1)
		go func() {
			c, err := net.DialTimeout("tcp", "10.200.0.2:7", 20*time.Second)
			if err != nil {
				t.Error(err)
			}
			dialed <- c
		}()
		var hs ui.Holds
		for deadline := time.Now().Add(20 * time.Second); len(hs.Holds) == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the SYN was not held")
			}
			call("GET", "/api/holds", "", &hs)
		}
		if h := hs.Holds[0]; h.Fields["flags"] != "S" || h.Point != "link-ingress" {
			t.Fatalf("held %+v", h)
		}
		var conns struct {
			Conns []ui.Conn
			Stale bool
		}
		call("GET", "/api/conns", "", &conns)
		listening := 0
		for _, c := range conns.Conns {
			if c.State == "LISTEN" && c.Node == "glassnet" {
				listening++
			}
		}
		if conns.Stale || listening == 0 {
			t.Fatalf("conns %+v", conns)
		}
		var out ui.Outcome
		// the hold stopped the stack: released, the SYN goes on when it runs
		if code := call("POST", fmt.Sprintf("/api/holds/%d", hs.Holds[0].ID), `{"action":"release"}`, &out); code != 200 || !strings.HasPrefix(out.Outcome, "released") {
			t.Fatalf("release: %d %+v", code, out)
		}
		call("POST", "/api/play", "", nil)
		c := <-dialed
		if c == nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "after the hold\n")
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "after the hold\n" {
			t.Fatalf("echo after the hold: %q %v", line, err)
		}
		call("POST", "/api/breakpoints", `{"breakpoints":["tcp and fin"]}`, nil)
		c.Close()
		for deadline := time.Now().Add(20 * time.Second); st.Hit == "" || st.Current == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no stop at the FIN: %+v", st)
			}
			call("GET", "/api/state", "", &st)
		}
		// Interrupted while paused: it shuts down all the same.
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not end while paused")
		}
	})
}

// TestLabUI runs glassnet lab --ui: the view listens in the namespace the
// lab was started from (standing in for the host), not in the lab's, and
// shows the lab's stack while its command runs.
func TestLabUI(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		var stderr lineLog
		done := make(chan error, 1)
		go func() {
			code, err := Lab(LabConfig{UI: true, UIAddr: "127.0.0.1:0", Command: []string{"/bin/sh", "-c", "read x"},
				Stdin: pr, Stdout: io.Discard, Stderr: &stderr})
			if err == nil && code != 0 {
				err = fmt.Errorf("exit status %d", code)
			}
			done <- err
		}()
		var url string
		for deadline := time.Now().Add(20 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no ui line in %q", stderr.String())
			}
			for _, line := range strings.Split(stderr.String(), "\n") {
				if u, ok := strings.CutPrefix(line, "glassnet: ui at "); ok {
					url = u
				}
			}
		}
		base, token, _ := strings.Cut(url, "/?token=")
		// The child serves once its stack is up: until then the
		// connection waits in the listener's backlog.
		req, _ := http.NewRequest("GET", base+"/api/state", nil)
		req.Header.Set("X-Glassnet-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st ui.State
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || !st.Live || len(st.Nodes) != 1 || st.Nodes[0] != "glassnet" {
			t.Fatalf("state %+v, %v", st, err)
		}
		io.WriteString(pw, "done\n")
		pw.Close()
		if err := <-done; err != nil {
			t.Fatalf("lab: %v", err)
		}
	})
}
