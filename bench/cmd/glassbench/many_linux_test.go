package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

// loopbackWS serves h on kernel loopback for the test's lifetime.
func loopbackWS(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(serveHTTP(l, h))
	return l.Addr().String()
}

func newEchoClient(t *testing.T, addr string, n, workers int) *echoClient {
	t.Helper()
	cl, err := dialEchoClient(addr, n, 64, workers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.close)
	if cl.live() != n {
		t.Fatalf("%d of %d connections open; first failure: %s", cl.live(), n, cl.firstErr)
	}
	return cl
}

func TestEchoClientRound(t *testing.T) {
	t.Parallel()
	for _, h := range []struct {
		name string
		h    http.HandlerFunc
	}{{"glassnet", glassnetHandler}, {"gorilla", gorillaHandler}} {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			cl := newEchoClient(t, loopbackWS(t, h.h), 8, 2)
			for range 2 {
				r := cl.round(20*time.Millisecond, 10*time.Second)
				if r.msgs < 8 || r.stalled != 0 || r.failed != 0 || r.firstErr != "" {
					t.Fatalf("round: %+v; want at least one message per connection and no failure", r)
				}
				if r.p50 <= 0 || r.p99 < r.p50 || r.elapsed <= 0 {
					t.Fatalf("round: %+v; want positive round trips, p99 >= p50", r)
				}
			}
			if cl.live() != 8 {
				t.Fatalf("%d connections left, want 8", cl.live())
			}
		})
	}
}

// upgradeThen accepts the WebSocket upgrade and hands the connection to fn.
func upgradeThen(fn func(c *ws.Conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		fn(c)
	}
}

// TestEchoClientStalls checks that a message whose echo never comes is
// counted as stalled, not dropped, and that its connection is left out
// of later rounds.
func TestEchoClientStalls(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	addr := loopbackWS(t, upgradeThen(func(*ws.Conn) { <-release }))
	defer close(release)
	cl := newEchoClient(t, addr, 3, 1)
	r := cl.round(time.Millisecond, 50*time.Millisecond)
	if r.stalled != 3 || r.msgs != 0 || r.failed != 0 || !strings.Contains(r.firstErr, "not back") {
		t.Fatalf("round: %+v; want 3 stalled, nothing echoed", r)
	}
	if cl.live() != 0 {
		t.Fatalf("%d connections still counted live after their messages stalled", cl.live())
	}
}

// TestEchoClientFailures checks that a connection the server ends, or one
// that echoes something else, is counted as failed.
func TestEchoClientFailures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, want string
		fn         func(c *ws.Conn)
	}{
		{"closed", "closed by the server", func(c *ws.Conn) {
			c.ReadMessage(context.Background())
		}},
		{"other bytes", "echo differs", func(c *ws.Conn) {
			ctx := context.Background()
			typ, p, err := c.ReadMessage(ctx)
			if err == nil {
				p[0] ^= 0xff
				c.WriteMessage(ctx, typ, p)
				c.ReadMessage(ctx)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl := newEchoClient(t, loopbackWS(t, upgradeThen(tt.fn)), 2, 1)
			r := cl.round(time.Millisecond, 10*time.Second)
			if r.failed != 2 || r.msgs != 0 || !strings.Contains(r.firstErr, tt.want) {
				t.Fatalf("round: %+v; want 2 failed with %q", r, tt.want)
			}
		})
	}
}

// TestServerMain runs a server process's loop in this process: it listens
// on loopback, says where, serves upgrades, and answers its commands.
func TestServerMain(t *testing.T) {
	t.Parallel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serverMain([]byte(`{"Net":"kernel","App":"gorilla-ws"}`), inR, outW)
		outW.Close()
	}()
	out := bufio.NewReader(outR)
	ask := func(cmd string) string {
		t.Helper()
		if _, err := io.WriteString(inW, cmd+"\n"); err != nil {
			t.Fatal(err)
		}
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), serverReadyMsg+" ")
	if !ok {
		t.Fatalf("first line %q, want %q ADDR", line, serverReadyMsg)
	}
	var d net.Dialer
	c, err := dialUpgrade(context.Background(), &d, addr)
	if err != nil {
		t.Fatalf("upgrade at %s: %v", addr, err)
	}
	c.Close()
	if n, err := strconv.ParseInt(ask("cpu"), 10, 64); err != nil || n <= 0 {
		t.Errorf("cpu: %d, %v; want a positive number of nanoseconds", n, err)
	}
	if got := ask("tcp"); !strings.Contains(got, `"Stack":0`) {
		t.Errorf("tcp on the kernel's stack: %q, want zero counters", got)
	}
	if got := ask("stats"); got != "{}" {
		t.Errorf("stats without a stack: %q, want {}", got)
	}
	if got := ask("reboot"); got != "unknown command" {
		t.Errorf("an unknown command: %q", got)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatalf("serverMain after its input ended: %v", err)
	}
}

func TestServerMainBadSpec(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{`{`, `{"Net":"wifi","App":"glassnet-ws"}`, `{"Net":"kernel","App":"ftp"}`} {
		err := serverMain([]byte(spec), strings.NewReader(""), io.Discard)
		if err == nil {
			t.Errorf("spec %s: want an error", spec)
		}
	}
}

// requireNS turns a section child's reason for not running into a skip, or
// a failure with GLASSNET_REQUIRE_PRIVILEGED=1, and fails on a failure.
func requireNS(t *testing.T, why string) {
	t.Helper()
	if strings.HasPrefix(why, "skipped") {
		netnstest.SkipOrFail(t, "%s", why)
	}
	if why != "" {
		t.Fatal(why)
	}
}

// TestManyChild runs the many section's namespace child with a few
// connections per row: every row's server starts in the namespace, every
// connection opens and echoes, and the costs are counted per process.
func TestManyChild(t *testing.T) {
	p := manyParams{Conns: 4, Size: 64, Dur: 30 * time.Millisecond, Rounds: 2, Workers: 2, Drain: 10 * time.Second}
	var rows []manyRow
	requireNS(t, runNSChild("many", p, &rows))
	if len(rows) != len(manyRows) {
		t.Fatalf("%d rows, want %d", len(rows), len(manyRows))
	}
	for i, r := range rows {
		if r.Name != manyRows[i].name || r.Note != "" || r.FirstErr != "" {
			t.Errorf("row %d: %q, note %q, failure %q", i, r.Name, r.Note, r.FirstErr)
		}
		if r.Conns != 4 || r.Failed != 0 || r.Stalled != 0 || len(r.Rates) != 2 || r.Msgs < 8 {
			t.Errorf("%s: %d conns, %d failed, %d stalled, %d rounds, %d messages", r.Name, r.Conns, r.Failed, r.Stalled, len(r.Rates), r.Msgs)
		}
		if r.Server.CPU <= 0 || r.Client.CPU <= 0 {
			t.Errorf("%s: server CPU %v, client CPU %v; want both counted", r.Name, r.Server.CPU, r.Client.CPU)
		}
		if r.Server.SysErr != "" || r.Client.SysErr != "" || r.Server.Sys.Syscalls == 0 || r.Client.Sys.Named["sys_enter_write"] < uint64(r.Msgs) {
			t.Errorf("%s: system calls: server %+v (%s), client %+v (%s); want the client's writes, one per message",
				r.Name, r.Server.Sys, r.Server.SysErr, r.Client.Sys, r.Client.SysErr)
		}
	}
	// The servers are processes of their own: the client's counters do
	// not see the TUN's readv and writev, or AF_PACKET's recvmmsg.
	for _, k := range []string{"sys_enter_readv", "sys_enter_writev", "sys_enter_recvmmsg", "sys_enter_sendmmsg"} {
		if n := rows[0].Client.Sys.Named[k] + rows[1].Client.Sys.Named[k]; n != 0 {
			t.Errorf("the client made %d %s: counted with a server", n, k)
		}
	}
	if rows[0].Server.Sys.Named["sys_enter_writev"] == 0 || rows[1].Server.Sys.Named["sys_enter_recvmmsg"] == 0 {
		t.Errorf("TUN server writev %d, AF_PACKET server recvmmsg %d; want both counted",
			rows[0].Server.Sys.Named["sys_enter_writev"], rows[1].Server.Sys.Named["sys_enter_recvmmsg"])
	}
}

// TestScaleChild runs the scale section's namespace child with little
// data: every bulk row moves all its bytes on every connection, and every
// server takes connections.
func TestScaleChild(t *testing.T) {
	p := scaleParams{Total: 1 << 20, ConnCounts: []int{1, 5}, Rounds: 2, ConnDur: 30 * time.Millisecond, ConnWorkers: 2}
	var res scaleResult
	requireNS(t, runNSChild("scale", p, &res))
	if len(res.Bulk) != 6 || len(res.Connect) != 3 {
		t.Fatalf("%d bulk rows, %d connection rows; want 6 (kernel, TUN, relay at 2 counts) and 3", len(res.Bulk), len(res.Connect))
	}
	for _, r := range res.Bulk {
		total := p.Total / int64(r.Conns) * int64(r.Conns)
		if r.Note != "" || r.Tally.Transfers != 2*r.Conns || r.Tally.Stalls+r.Tally.Errors != 0 || r.Bytes != 2*total || len(r.Rates) != 2 {
			t.Errorf("%s, %d conns: note %q, tally %+v, %d bytes (want %d), %d rates", r.Path, r.Conns, r.Note, r.Tally, r.Bytes, 2*total, len(r.Rates))
		}
		if r.Server.CPU <= 0 || r.Client.CPU <= 0 || r.Server.Sys.Syscalls == 0 {
			t.Errorf("%s, %d conns: server CPU %v, client CPU %v, server system calls %d", r.Path, r.Conns, r.Server.CPU, r.Client.CPU, r.Server.Sys.Syscalls)
		}
		// Every client socket reported its round trips, every round.
		if rt := r.RTT; rt.N != 2*r.Conns || rt.MinRTT <= 0 || rt.SRTT <= 0 || rt.SRTT99 < rt.SRTT {
			t.Errorf("%s, %d conns: round trips %+v, want %d reports", r.Path, r.Conns, rt, 2*r.Conns)
		}
	}
	for i, r := range res.Connect {
		if r.Note != "" || r.Conns == 0 || r.Tally.Errors+r.Tally.Stalls != 0 || r.Tally.Transfers != int(r.Conns) || len(r.Rates) != 2 {
			t.Errorf("connection row %d %q: note %q, %d conns, tally %+v", i, r.Name, r.Note, r.Conns, r.Tally)
		}
	}
}

// TestNSChildUnprivileged checks that without root the sections say they
// were skipped and why, instead of failing.
func TestNSChildUnprivileged(t *testing.T) {
	netnstest.RunUnprivileged(t, func(t *testing.T) {
		var rows []manyRow
		why := runNSChild("many", manyParams{Conns: 1, Size: 64, Dur: time.Millisecond, Rounds: 1, Workers: 1}, &rows)
		if !strings.HasPrefix(why, "skipped: needs root") {
			t.Fatalf("runNSChild without root: %q, want a skip that names root", why)
		}
		var out strings.Builder
		if err := manySection(&out, config{rounds: 1, short: true}); err != nil {
			t.Fatalf("manySection without root: %v", err)
		}
		if !strings.Contains(out.String(), "many: skipped") {
			t.Errorf("output lacks the skip:\n%s", out.String())
		}
	})
}
