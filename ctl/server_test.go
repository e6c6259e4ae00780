package ctl

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/retry"
)

// failFirst is a listener whose first n accepts fail with err.
type failFirst struct {
	net.Listener
	mu  sync.Mutex
	n   int // -1: every accept fails
	err error
}

func (l *failFirst) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.n != 0
	if l.n > 0 {
		l.n--
	}
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", l.err)}
	}
	return l.Listener.Accept()
}

// logLines is a Log that tests can wait on.
type logLines struct {
	mu   sync.Mutex
	text strings.Builder
	more chan struct{}
}

func newLogLines() *logLines { return &logLines{more: make(chan struct{}, 1)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.Write(p)
	select {
	case l.more <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// waitFor waits until the log holds want.
func (l *logLines) waitFor(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for !strings.Contains(l.String(), want) {
		select {
		case <-l.more:
		case <-timeout:
			t.Fatalf("log %q never said %q", l.String(), want)
		}
	}
}

// TestAcceptShortageWaitedOut: accepts that fail with EMFILE, as when the
// process's descriptors are used up for a moment, do not end the control
// socket (they did after ten, for good, while clients still connected and
// waited for a reply that never came); once descriptors are back, ss is
// answered.
func TestAcceptShortageWaitedOut(t *testing.T) {
	t.Parallel()
	_, ss := stacks(t)
	log := newLogLines()
	path := filepath.Join(t.TempDir(), "short0.sock")
	srv, err := listenPath(path, ss, Options{Log: log}, func(l net.Listener) net.Listener {
		return &failFirst{Listener: l, n: retry.MaxErrors + 2, err: syscall.EMFILE}
	})
	must(t, err)
	defer srv.Close()
	if _, err := QueryPath(testContext(t), path); err != nil {
		t.Fatalf("query after a run of EMFILE: %v (log %q)", err, log.String())
	}
	if got := log.String(); strings.Contains(got, "gives up") || !strings.Contains(got, "waits for the shortage to pass") {
		t.Errorf("log %q", got)
	}
}

// TestGiveUpRemovesSocket: when the accept loop gives up on errors that
// are no shortage, the socket file goes with it, so that a client is told
// at once that nothing serves there instead of waiting for a reply.
func TestGiveUpRemovesSocket(t *testing.T) {
	t.Parallel()
	_, ss := stacks(t)
	log := newLogLines()
	path := filepath.Join(t.TempDir(), "broken0.sock")
	srv, err := listenPath(path, ss, Options{Log: log}, func(l net.Listener) net.Listener {
		return &failFirst{Listener: l, n: -1, err: syscall.EPROTO}
	})
	must(t, err)
	defer srv.Close()
	log.waitFor(t, "gives up after 10 errors in a row")
	// The loop closes the listener right after it says so.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the socket file is still there after the loop gave up: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		t.Error("a client still connects after the loop gave up")
	}
	// Close has nothing left to report.
	if err := srv.Close(); err != nil {
		t.Errorf("Close after the loop gave up: %v", err)
	}
}

// TestBusyPastMaxClients: clients that connect and never send hold at
// most maxClients descriptors of the serve process; one more is told at
// once that the server is busy (it waited, holding another descriptor,
// however many there were), and once they go ss is answered again.
func TestBusyPastMaxClients(t *testing.T) {
	t.Parallel()
	_, ss := stacks(t)
	path := filepath.Join(t.TempDir(), "busy0.sock")
	srv, err := ListenPath(path, ss, Options{})
	must(t, err)
	defer srv.Close()
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range maxClients {
		c, err := net.Dial("unix", path)
		must(t, err)
		idle = append(idle, c)
	}
	// Wait until the server holds every one of them.
	deadline := time.Now().Add(20 * time.Second)
	for len(srv.clients) < maxClients {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d idle clients, want %d", len(srv.clients), maxClients)
		}
		time.Sleep(time.Millisecond)
	}
	_, err = QueryPath(testContext(t), path)
	if err == nil || !strings.Contains(err.Error(), "busy: 64 clients are being answered; try again") {
		t.Fatalf("query past %d idle clients: %v, want busy", maxClients, err)
	}
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	for len(srv.clients) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds %d clients that went away", len(srv.clients))
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := QueryPath(testContext(t), path); err != nil {
		t.Errorf("query once the idle clients went: %v", err)
	}
}

// leaveSocket makes the socket file a serve killed with SIGKILL leaves in
// runDir: nothing accepts on it. old backdates it past staleAge.
func leaveSocket(t *testing.T, name string, old bool) string {
	t.Helper()
	p := filepath.Join(runDir, name+suffix)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	must(t, err)
	l.SetUnlinkOnClose(false)
	l.Close()
	if old {
		then := time.Now().Add(-2 * staleAge)
		must(t, os.Chtimes(p, then, then))
	}
	return p
}

// TestStaleRenamedSwept: the NAME-PID sockets of serves killed with
// SIGKILL, which no later serve takes over, are removed by the next serve
// of NAME (they stayed for ever, one more for each killed serve, and ss
// named them among the running stacks); a live one, a fresh one (its
// serve may be between bind and listen) and other names are left alone;
// and Find looks past stale ones to the live one.
func TestStaleRenamedSwept(t *testing.T) {
	// Not parallel: it points the search path at temporary directories.
	tempDirs(t)
	_, ss := stacks(t)
	dead := leaveSocket(t, "tun9-4242", true)
	dead2 := leaveSocket(t, "tun9-4242-2", true)
	fresh := leaveSocket(t, "tun9-4343", false)
	other := leaveSocket(t, "tun90-4444", true)
	live, err := Listen("tun9-4545", ss, Options{})
	must(t, err)
	defer live.Close()

	srv, err := Listen("tun9", ss, Options{})
	must(t, err)
	defer srv.Close()
	for _, p := range []string{dead, dead2} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left by a killed serve is still there: %v", p, err)
		}
	}
	for _, p := range []string{fresh, other, live.Path()} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	srv.Close()
	// tun9.sock is gone; of tun9-4343 (stale, fresh) and tun9-4545
	// (live), Find takes the live one.
	if p, err := Find("tun9"); err != nil || p != live.Path() {
		t.Errorf("Find(tun9) = %q, %v; want the live %s", p, err, live.Path())
	}
}
