package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

var (
	clientIP = netip.MustParseAddr("10.0.0.1")
	serverIP = netip.MustParseAddr("10.0.0.2")
)

// synRecvPort is a client port whose handshakes never complete on the
// server: the server's device drops the client's ACK of the SYN-ACK, so the
// server keeps that connection in SYN-RCVD.
const synRecvPort = 40999

// ackFilter is a tun.Device that drops the IPv4 TCP segments without SYN
// coming from synRecvPort.
type ackFilter struct{ tun.Device }

func (d ackFilter) Read(bufs [][]byte, sizes []int) (int, error) {
	for {
		n, err := d.Device.Read(bufs, sizes)
		kept := 0
		for i := range n {
			if dropACK(bufs[i][:sizes[i]]) {
				continue
			}
			if kept != i {
				sizes[kept] = copy(bufs[kept], bufs[i][:sizes[i]])
			}
			kept++
		}
		if kept > 0 || err != nil {
			return kept, err
		}
	}
}

func dropACK(p []byte) bool {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != 6 {
		return false
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+14 {
		return false
	}
	srcPort := int(p[ihl])<<8 | int(p[ihl+1])
	const syn = 0x02
	return srcPort == synRecvPort && p[ihl+13]&syn == 0
}

// stacks is a client and a server stack over tun.Pipe, each with a socket
// table, closed when the test ends.
func stacks(t *testing.T) (client, server *sockets.Sockets) {
	t.Helper()
	cdev, sdev := tun.Pipe(tun.PipeOptions{NameA: "client0", NameB: "server0"})
	sst, err := netstack.New(netstack.Options{Device: ackFilter{sdev}, Addrs: []netip.Prefix{netip.PrefixFrom(serverIP, 24)}})
	if err != nil {
		cdev.Close()
		t.Fatal(err)
	}
	cst, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{netip.PrefixFrom(clientIP, 24)}})
	if err != nil {
		sst.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cst.Close()
		sst.Close()
	})
	return sockets.New(cst.Stack(), sockets.Options{}), sockets.New(sst.Stack(), sockets.Options{})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// scene is, on the server stack, a listener on :80 with backlog 4 and
// connections in several states (named by the client's address), and a
// UDP socket.
type scene struct {
	listener                                  int
	estab, queued, finWait, timeWait, synRecv netip.AddrPort
	server                                    *sockets.Sockets
}

func newScene(t *testing.T) *scene {
	t.Helper()
	ctx := testContext(t)
	cs, ss := stacks(t)
	sc := &scene{server: ss}
	listenAddr := netip.AddrPortFrom(serverIP, 80)
	sc.listener, _ = ss.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	must(t, ss.Bind(sc.listener, listenAddr))
	must(t, ss.Listen(sc.listener, 4))

	dial := func() (int, netip.AddrPort) {
		fd, err := cs.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
		must(t, err)
		must(t, cs.Connect(ctx, fd, listenAddr))
		a, _ := cs.GetSockName(fd)
		return fd, a
	}
	accept := func() int {
		fd, _, err := ss.Accept(ctx, sc.listener)
		must(t, err)
		return fd
	}

	// ESTAB with five unread bytes.
	var c int
	c, sc.estab = dial()
	accept()
	_, err := cs.Send(ctx, c, []byte("hello"), 0)
	must(t, err)

	// FIN-WAIT-2: the server closes, the client does not.
	_, sc.finWait = dial()
	must(t, ss.Close(accept()))

	// TIME-WAIT: the server closes first, then the client.
	c, sc.timeWait = dial()
	fd := accept()
	must(t, ss.Close(fd))
	buf := make([]byte, 16)
	if n, err := cs.Recv(ctx, c, buf, 0); n != 0 || err != nil {
		t.Fatalf("client Recv after the server's FIN = %d, %v", n, err)
	}
	must(t, cs.Close(c))

	// Waiting in the accept queue.
	_, sc.queued = dial()

	// SYN-RCVD: the client thinks it is connected, the server never
	// hears the ACK.
	fd, err = cs.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	must(t, err)
	sc.synRecv = netip.AddrPortFrom(clientIP, synRecvPort)
	must(t, cs.Bind(fd, sc.synRecv))
	must(t, cs.Connect(ctx, fd, listenAddr))

	// A UDP socket.
	udp, _ := ss.Socket(sockets.AF_INET, sockets.SOCK_DGRAM)
	must(t, ss.Bind(udp, netip.AddrPortFrom(serverIP, 53)))
	return sc
}

// lineFor finds the rendered line with the given local and peer columns.
func lineFor(table, local, peer string) []string {
	for _, l := range strings.Split(table, "\n") {
		f := strings.Fields(l)
		if len(f) >= 7 && f[4] == local && f[5] == peer {
			return f
		}
	}
	return nil
}

func TestQueryAndRender(t *testing.T) {
	t.Parallel()
	sc := newScene(t)
	ctx := testContext(t)
	srv, err := ListenPath(filepath.Join(t.TempDir(), "server0.sock"), sc.server, Options{Node: "server"})
	must(t, err)
	defer srv.Close()

	// The connection states settle as the last ACKs cross the link: the
	// queued connection is ESTAB only once the server has taken its ACK.
	var rows []sockets.SocketInfo
	var table string
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err = QueryPath(ctx, srv.Path())
		must(t, err)
		var b bytes.Buffer
		must(t, Render(&b, rows, RenderOptions{Info: true}))
		table = b.String()
		f := lineFor(table, "10.0.0.2:80", sc.estab.String())
		tw := lineFor(table, "10.0.0.2:80", sc.timeWait.String())
		fw := lineFor(table, "10.0.0.2:80", sc.finWait.String())
		sr := lineFor(table, "10.0.0.2:80", sc.synRecv.String())
		q := lineFor(table, "10.0.0.2:80", sc.queued.String())
		if f != nil && f[2] == "5" && sr != nil && q != nil && q[1] == "ESTAB" && tw != nil && tw[1] == "TIME-WAIT" && fw != nil && fw[1] == "FIN-WAIT-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("states did not settle:\n%s", table)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("\n%s", table)
	if strings.Contains(table, "rto:0") {
		t.Errorf("info line under the listener:\n%s", table)
	}

	if !strings.HasPrefix(table, "Netid State ") || !strings.Contains(table, "Local Address:Port Peer Address:Port FD") {
		t.Errorf("header missing:\n%s", table)
	}
	for _, want := range []struct {
		name        string
		local, peer string
		cols        []string // Netid, State, Recv-Q, Send-Q
		fd          string
	}{
		{"listener", "10.0.0.2:80", "0.0.0.0:*", []string{"tcp", "LISTEN", "1", "4"}, "3"},
		{"established", "10.0.0.2:80", sc.estab.String(), []string{"tcp", "ESTAB", "5", "0"}, "4"},
		{"accept queue", "10.0.0.2:80", sc.queued.String(), []string{"tcp", "ESTAB", "0", "0"}, "-"},
		{"fin-wait-2", "10.0.0.2:80", sc.finWait.String(), []string{"tcp", "FIN-WAIT-2", "0", "0"}, "-"},
		{"time-wait", "10.0.0.2:80", sc.timeWait.String(), []string{"tcp", "TIME-WAIT", "0", "0"}, "-"},
		{"syn-recv", "10.0.0.2:80", sc.synRecv.String(), []string{"tcp", "SYN-RECV", "0", "0"}, "-"},
		{"udp", "10.0.0.2:53", "0.0.0.0:*", []string{"udp", "UNCONN", "0", "0"}, "5"},
	} {
		f := lineFor(table, want.local, want.peer)
		if f == nil {
			t.Errorf("%s: no row %s %s", want.name, want.local, want.peer)
			continue
		}
		if strings.Join(f[:4], " ") != strings.Join(want.cols, " ") || f[6] != want.fd {
			t.Errorf("%s: row %q, want %q ... fd %s", want.name, f, want.cols, want.fd)
		}
	}
	if f := lineFor(table, "10.0.0.2:80", sc.queued.String()); len(f) < 8 || f[7] != "accept-queue" {
		t.Errorf("queued row %q not marked accept-queue", f)
	}

	// The info line under the established row has the ss -ti details.
	lines := strings.Split(table, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 6 || f[5] != sc.estab.String() {
			continue
		}
		info := lines[i+1]
		if !strings.HasPrefix(info, "\t ") {
			t.Fatalf("no info line after the established row:\n%s", table)
		}
		for _, key := range []string{"wscale:", "rto:", "mss:", "cwnd:", "segs_out:", "segs_in:", "snd_wnd:", "rcv_wnd:"} {
			if !strings.Contains(info, key) {
				t.Errorf("info line %q has no %s", info, key)
			}
		}
	}

	// The rows carry the numbers behind the table.
	for _, r := range rows {
		if r.Peer == sc.estab {
			if r.TCP == nil || !r.TCP.Windows || r.TCP.MSS <= 0 || r.TCP.MSS > 1460 || r.TCP.RTO <= 0 {
				t.Errorf("established TCP info = %+v", r.TCP)
			}
		}
	}
}

func TestListenFindsAPlace(t *testing.T) {
	// Not parallel: it points the search path at temporary directories.
	old := runDir
	t.Cleanup(func() { runDir = old })
	_, ss := stacks(t)
	ctx := testContext(t)

	// /run/glassnet cannot be created (its parent is a file): the server
	// falls back to $XDG_RUNTIME_DIR/glassnet, and the client finds it
	// there, by name or as the only one.
	blocker := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(blocker, nil, 0o600))
	runDir = filepath.Join(blocker, "glassnet")
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)

	srv, err := Listen("glass0", ss, Options{})
	must(t, err)
	if want := filepath.Join(xdg, "glassnet", "glass0.sock"); srv.Path() != want {
		t.Errorf("Path = %s, want %s", srv.Path(), want)
	}
	if fi, err := os.Stat(srv.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := Query(ctx, "glass0"); err != nil {
		t.Errorf("Query by name: %v", err)
	}
	if _, err := Query(ctx, ""); err != nil {
		t.Errorf("Query of the only one: %v", err)
	}
	// A second server under the same name is refused.
	if _, err := Listen("glass0", ss, Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Listen = %v, want in use", err)
	}
	must(t, srv.Close())
	if _, err := os.Stat(srv.Path()); !os.IsNotExist(err) {
		t.Errorf("socket file still there after Close: %v", err)
	}
	if _, err := Query(ctx, "glass0"); err == nil || !strings.Contains(err.Error(), "is glassnet serve running") {
		t.Errorf("Query after Close = %v", err)
	}
	if _, err := Listen("../x", ss, Options{}); err == nil {
		t.Error("Listen accepted a name with a slash")
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	t.Parallel()
	_, ss := stacks(t)
	path := filepath.Join(t.TempDir(), "s.sock")
	srv, err := ListenPath(path, ss, Options{})
	must(t, err)
	// Leave the file behind as a crashed server would.
	srv.ln.SetUnlinkOnClose(false)
	must(t, srv.Close())
	srv, err = ListenPath(path, ss, Options{})
	must(t, err)
	defer srv.Close()
	if _, err := QueryPath(testContext(t), path); err != nil {
		t.Fatal(err)
	}
}

func TestRenderStates(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	rows := []sockets.SocketInfo{{
		FD: 7, Domain: sockets.AF_INET6, Type: sockets.SOCK_STREAM, State: "LISTEN",
		Local: netip.MustParseAddrPort("[::]:8080"), Backlog: 1024, AcceptQ: 2,
	}}
	must(t, Render(&b, rows, RenderOptions{}))
	want := "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port FD\n" +
		"tcp   LISTEN 2      1024   [::]:8080          [::]:*            7\n"
	if b.String() != want {
		t.Errorf("Render:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestFindRenamed finds a server that took NAME-PID because NAME was in
// use (a serve of the same name in another network namespace), and asks
// for a choice when there are several.
func TestFindRenamed(t *testing.T) {
	// Not parallel: it points the search path at a temporary directory.
	old := runDir
	t.Cleanup(func() { runDir = old })
	runDir = t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", "")
	_, ss := stacks(t)

	a, err := Listen("tun7-100", ss, Options{})
	must(t, err)
	defer a.Close()
	if p, err := Find("tun7"); err != nil || p != a.Path() {
		t.Fatalf("Find(tun7) = %q, %v; want %s", p, err, a.Path())
	}
	b, err := Listen("tun7-200", ss, Options{})
	must(t, err)
	defer b.Close()
	if _, err := Find("tun7"); err == nil || !strings.Contains(err.Error(), "tun7-100, tun7-200") {
		t.Fatalf("Find with two renamed servers = %v", err)
	}
	if _, err := Find("tun"); err == nil {
		t.Fatal("Find(tun) matched tun7-100")
	}
}

// TestNotFoundIsErrNotExist: a name no server has, and no server at all,
// are told from other failures with errors.Is(err, fs.ErrNotExist).
func TestNotFoundIsErrNotExist(t *testing.T) {
	// Not parallel: it points the search path at a temporary directory.
	old := runDir
	t.Cleanup(func() { runDir = old })
	runDir = t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", t.TempDir())
	ctx := testContext(t)
	if _, err := Query(ctx, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Query with no server = %v, want fs.ErrNotExist", err)
	}
	_, ss := stacks(t)
	srv, err := Listen("glass9", ss, Options{})
	must(t, err)
	defer srv.Close()
	if _, err := Query(ctx, "glass8"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no control socket glass8") {
		t.Errorf("Query(glass8) = %v, want fs.ErrNotExist naming glass8", err)
	}
	if _, err := Query(ctx, "glass9"); err != nil {
		t.Errorf("Query(glass9) = %v", err)
	}
}

// TestQueryProcess checks that a query reports the serving process's
// heap, RSS, goroutines and socket count, and that ss's line shows them.
func TestQueryProcess(t *testing.T) {
	t.Parallel()
	sc := newScene(t)
	srv, err := ListenPath(filepath.Join(t.TempDir(), "server0.sock"), sc.server, Options{Node: "server"})
	must(t, err)
	defer srv.Close()
	tab, err := QueryTablePath(testContext(t), srv.Path())
	must(t, err)
	p := tab.Process
	if p == nil {
		t.Fatal("no process in the reply")
	}
	// HeapLive is what the last collection found live (none before the
	// first): never more than the heap holds.
	if p.HeapInUse == 0 || p.HeapAlloc == 0 || p.HeapAlloc > p.HeapInUse || p.HeapLive > p.HeapInUse+p.HeapIdle || p.Goroutines < 2 || p.Sockets != len(tab.Sockets) || p.Sockets == 0 {
		t.Errorf("process %+v with %d sockets", *p, len(tab.Sockets))
	}
	if runtime.GOOS == "linux" && p.RSS < p.HeapInUse/2 {
		t.Errorf("RSS %d with %d heap in use", p.RSS, p.HeapInUse)
	}
	var b bytes.Buffer
	must(t, RenderProcess(&b, *p))
	want := fmt.Sprintf("goroutines, %d sockets\n", p.Sockets)
	if line := b.String(); !strings.HasPrefix(line, "\nProcess: heap in use ") || !strings.Contains(line, " MiB") || !strings.HasSuffix(line, want) {
		t.Errorf("process line %q", line)
	}
}

// TestQueryOnlyLiveOne: with the control socket of a serve killed with
// SIGKILL left beside a running one's, a query without a name goes to the
// running one (it said "several glassnet stacks are running").
func TestQueryOnlyLiveOne(t *testing.T) {
	// Not parallel: it points the search path at temporary directories.
	tempDirs(t)
	_, ss := stacks(t)
	ctx := testContext(t)

	l, err := net.Listen("unix", filepath.Join(runDir, "gone0.sock"))
	must(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	srv, err := Listen("live0", ss, Options{Node: "live"})
	must(t, err)
	defer srv.Close()
	tab, err := QueryTable(ctx, "")
	if err != nil || tab.Node != "live" {
		t.Fatalf("query without a name: %v, %v; want the running one's table", tab, err)
	}
}

// TestControlDirChecks: a directory of Dirs that others or its group may
// write to, or that belongs to another user, is neither used by the server nor
// searched by Find, which says why it did not look there; a socket in it
// is not listed by Names.
func TestControlDirChecks(t *testing.T) {
	// Not parallel: it points the search path at temporary directories.
	old := runDir
	t.Cleanup(func() { runDir = old })
	t.Setenv("XDG_RUNTIME_DIR", "")
	_, ss := stacks(t)
	for _, tc := range []struct {
		name string
		prep func(dir string) error
		why  string
	}{
		// made first by another user, say, who let everyone write there
		{"world-writable", func(d string) error { return os.Chmod(d, 0o777) }, "is writable by others (mode -rwxrwxrwx)"},
		{"group-writable", func(d string) error { return os.Chmod(d, 0o775) }, "is writable by others (mode -rwxrwxr-x)"},
		{"another user's", func(d string) error {
			if os.Geteuid() != 0 {
				netnstest.SkipOrFail(t, "needs root, to give a directory to another user")
			}
			return os.Chown(d, 65534, 65534)
		}, "belongs to another user (uid 65534)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runDir = filepath.Join(t.TempDir(), "glassnet")
			must(t, os.Mkdir(runDir, 0o755))
			must(t, tc.prep(runDir))
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)

			l, err := net.Listen("unix", filepath.Join(runDir, "planted0.sock"))
			must(t, err)
			defer l.Close()
			srv, err := Listen("glass0", ss, Options{})
			must(t, err)
			defer srv.Close()
			if want := filepath.Join(tmp, "glassnet", "glass0.sock"); srv.Path() != want {
				t.Errorf("control socket at %s, want %s", srv.Path(), want)
			}
			if names := Names(); !slices.Equal(names, []string{"glass0"}) {
				t.Errorf("Names() = %v, want [glass0]", names)
			}
			_, err = Find("planted0")
			if want := "planted0.sock (not searched: " + runDir + " " + tc.why + ")"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Find(planted0) = %v, want an error saying %s %s", err, runDir, tc.why)
			}
			// and says where a stack of that user's is seen
			if hint := "belongs to uid 65534, and ss sees the stacks there only as that user"; tc.name == "another user's" && (err == nil || !strings.Contains(err.Error(), hint)) {
				t.Errorf("Find(planted0) = %v, want the hint %q", err, hint)
			}
		})
	}
}

// TestListenPathNotASocket: a file that is not a socket where the control
// socket belongs is an error, and stays as it was.
func TestListenPathNotASocket(t *testing.T) {
	t.Parallel()
	_, ss := stacks(t)
	path := filepath.Join(t.TempDir(), "s.sock")
	must(t, os.WriteFile(path, []byte("keep me"), 0o600))
	if srv, err := ListenPath(path, ss, Options{}); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		if err == nil {
			srv.Close()
		}
		t.Errorf("ListenPath over a file = %v, want an error", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Errorf("the file is now %q, %v", b, err)
	}
}

// TestNames: CheckName refuses what is not one path element, and Find takes
// NAME-PID for NAME only when what follows the dash is a number.
func TestNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "a\x00b"} {
		if CheckName(name) == nil {
			t.Errorf("CheckName(%q) = nil, want an error", name)
		}
	}
	tempDirs(t)
	_, ss := stacks(t)
	srv, err := Listen("glass1-x", ss, Options{})
	must(t, err)
	defer srv.Close()
	if p, err := Find("glass1"); err == nil {
		t.Errorf("Find(glass1) = %s, want no match for glass1-x", p)
	}
}

// TestQueryCounters: the counters the server is given reach the client.
func TestQueryCounters(t *testing.T) {
	t.Parallel()
	_, ss := stacks(t)
	srv, err := ListenPath(filepath.Join(t.TempDir(), "c.sock"), ss, Options{Counters: func() map[string]uint64 {
		return map[string]uint64{"drops queue-full": 3}
	}})
	must(t, err)
	defer srv.Close()
	tab, err := QueryTablePath(testContext(t), srv.Path())
	must(t, err)
	if tab.Counters["drops queue-full"] != 3 || len(tab.Counters) != 1 {
		t.Errorf("counters %v, want drops queue-full 3", tab.Counters)
	}
}

// tempDirs points the control sockets' search path at temporary
// directories for the test (so it cannot run in parallel): runDir, and
// TMPDIR without XDG_RUNTIME_DIR.
func tempDirs(t *testing.T) {
	t.Helper()
	old := runDir
	t.Cleanup(func() { runDir = old })
	runDir = t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", t.TempDir())
}

// TestBadRequests: a request that is not JSON, one with an unknown op and
// one longer than a request can be each get an error reply; the long one
// is not read whole (its writer finds the socket closed). A request
// without a newline, whose client does not end its writing either, is
// answered at once.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	sc := newScene(t)
	srv, err := ListenPath(filepath.Join(t.TempDir(), "server0.sock"), sc.server, Options{Node: "server"})
	must(t, err)
	defer srv.Close()
	ask := func(req []byte) (string, error) {
		c, err := net.Dial("unix", srv.Path())
		must(t, err)
		defer c.Close()
		wrote := make(chan error, 1)
		go func() {
			_, err := c.Write(req)
			wrote <- err
		}()
		var rep reply
		if err := json.NewDecoder(c).Decode(&rep); err != nil {
			t.Fatalf("no reply to %.40q: %v", req, err)
		}
		return rep.Error, <-wrote
	}
	for _, tc := range []struct{ req, want string }{
		{"not json\n", "bad request: invalid character"},
		{`{"op":"nope"}` + "\n", `unknown op "nope"`},
	} {
		if got, _ := ask([]byte(tc.req)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: error %q, want %q...", tc.req, got, tc.want)
		}
	}
	got, werr := ask(append([]byte(`{"op":"`), bytes.Repeat([]byte("x"), 1<<20)...))
	if want := "bad request: longer than 4096 bytes"; got != want {
		t.Errorf("1 MiB without a newline: error %q, want %q", got, want)
	}
	if werr == nil {
		t.Error("the server read all of a 1 MiB request")
	}

	c, err := net.Dial("unix", srv.Path())
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second)) // the server waits 5 s
	if _, err := c.Write([]byte(`{"op":"sockets"}`)); err != nil {
		t.Fatal(err)
	}
	var rep reply
	if err := json.NewDecoder(c).Decode(&rep); err != nil || rep.Error != "" || rep.Process == nil {
		t.Errorf("a request without a newline: reply %+v, %v; want the table at once", rep, err)
	}
}
