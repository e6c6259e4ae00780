package interop

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestReliabControlSocketFlood: clients that connect to serve's control
// socket and never send, more of them than serve has descriptors left, do
// not end the control socket: once they go, glassnet ss is answered again.
// (The accept loop took EMFILE for an error to give up on after ten, and
// from then on every ss timed out.)
func TestReliabControlSocketFlood(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		const name = "reliab0"
		s := startServeArgs(t, "serve", "--tun", name, "--addr", "10.201.0.2/24")
		// Leave serve a few dozen descriptors: fewer than the clients.
		lim := unix.Rlimit{Cur: 48, Max: 48}
		if err := unix.Prlimit(s.cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
			t.Fatalf("prlimit: %v", err)
		}
		path, err := ctl.Find(name)
		if err != nil {
			t.Fatal(err)
		}
		var idle []net.Conn
		for range 120 {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatalf("connect to %s: %v", path, err)
			}
			idle = append(idle, c)
		}
		// Wait until serve runs out of descriptors.
		deadline := time.Now().Add(20 * time.Second)
		for out := s.out.String(); !strings.Contains(out, "shortage") && !strings.Contains(out, "gives up"); out = s.out.String() {
			if time.Now().After(deadline) {
				t.Fatalf("serve did not run out of descriptors with %d clients:\n%s", len(idle), out)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, c := range idle {
			c.Close()
		}
		out := run(t, 20*time.Second, glassnetBin, "ss", name)
		if !strings.Contains(out, "10.201.0.2:8080") {
			t.Errorf("ss after the clients went:\n%s", out)
		}
		if strings.Contains(s.out.String(), "gives up") {
			t.Errorf("serve gave up:\n%s", s.out.String())
		}
	})
}
