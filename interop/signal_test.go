package interop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/ws"
)

// TestServeStopSignals sends each signal that ends serve in an orderly
// way, as a terminal or a service manager does: SIGINT (^C), SIGTERM and
// SIGHUP (the terminal or ssh session closed). Each must close the
// WebSockets with 1001, exit with status 0 and remove the control socket.
// SIGHUP used to kill serve at once (exit 129), without a close frame and
// leaving the control socket behind.
func TestServeStopSignals(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		stack := netip.MustParseAddr("10.247.31.2")
		const port = 19780
		for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
			t.Run(sig.String(), func(t *testing.T) {
				name := fmt.Sprintf("gnsg%d-%d", os.Getpid()%100000, i)
				s := startServeArgs(t, "serve", "--tun", name, "--addr", netip.PrefixFrom(stack, 24).String(), "--port", fmt.Sprint(port))
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				c, _, err := ws.Dial(ctx, fmt.Sprintf("ws://%s/echo", netip.AddrPortFrom(stack, port)), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				sock := filepath.Join("/run/glassnet", name+".sock")
				if _, err := os.Stat(sock); err != nil {
					t.Fatalf("control socket: %v", err)
				}
				if err := s.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				_, _, err = c.ReadMessage(ctx)
				var ce *ws.CloseError
				if !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway {
					t.Errorf("after %v the client read %v, want close 1001", sig, err)
				}
				select {
				case <-s.done:
				case <-time.After(15 * time.Second):
					t.Fatalf("glassnet serve did not exit within 15s of %v", sig)
				}
				if s.err != nil {
					t.Errorf("glassnet serve after %v: %v, want exit status 0", sig, s.err)
				}
				if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("control socket after %v: %v, want it removed", sig, err)
				}
			})
		}
	})
}
