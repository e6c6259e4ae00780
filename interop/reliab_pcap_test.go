package interop

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestReliabPCAPReaderStops: serve capturing (--pcap) or tracing
// (--trace) into a FIFO whose reader stopped reading still echoes a
// megabyte to the kernel's TCP (after the output gives up on the reader)
// and ends on SIGINT, saying why its output ended. It held every
// connection and never exited before.
func TestReliabPCAPReaderStops(t *testing.T) {
	for _, flag := range []string{"--pcap", "--trace"} {
		t.Run(strings.TrimPrefix(flag, "--"), func(t *testing.T) { outputReaderStops(t, flag) })
	}
}

func outputReaderStops(t *testing.T, flag string) {
	netnstest.RunTUN(t, func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "capture")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		// The reader: open, never read.
		r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		s := startServeArgs(t, "serve", "--tun", "reliab1", "--addr", "10.202.0.2/24", flag, fifo)

		c := dialTCP(t, "10.202.0.2:7")
		sent := bytes.Repeat([]byte("glassnet"), 128<<10)
		go func() {
			c.Write(sent)
			c.CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, sent) {
			t.Fatalf("echo: %d of %d bytes, %v", len(got), len(sent), err)
		}
		err = s.interrupt(t)
		if err == nil {
			t.Errorf("serve exited 0 with its %s output cut short", flag)
		}
		if out := s.out.String(); !strings.Contains(out, "its reader took no data for 5s") {
			t.Errorf("serve did not say why its %s output ended:\n%s", flag, out)
		}
	})
}
