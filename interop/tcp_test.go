package interop

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestKernelTCP proves that the kernel's TCP stack, as a client on the far
// side of the TUN, gets its bytes back from glassnet's echo service (RFC
// 862) and has a megabyte taken by discard (RFC 863), each ending with an
// orderly close in both directions.
func TestKernelTCP(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		startServe(t)
		t.Run("echo", func(t *testing.T) {
			t.Parallel()
			c := dialTCP(t, stackAddr+":7")
			sent := make([]byte, 256<<10)
			rand.Read(sent)
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(sent)
				if err == nil {
					err = c.CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("read the echo: %v (after %d bytes)", err, len(got))
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, sent) {
				t.Fatalf("echo returned %d bytes that differ from the %d sent", len(got), len(sent))
			}
		})
		t.Run("discard", func(t *testing.T) {
			t.Parallel()
			c := dialTCP(t, stackAddr+":9")
			if _, err := c.Write(make([]byte, 1<<20)); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || len(got) != 0 {
				t.Fatalf("after our FIN: read %d bytes, %v; want the server's FIN (EOF) and nothing else", len(got), err)
			}
		})
	})
}

func dialTCP(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}
