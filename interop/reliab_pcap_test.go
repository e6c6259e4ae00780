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

// TestReliabPCAPReaderStops: serve capturing into a FIFO whose reader
// stopped reading still echoes a megabyte to the kernel's TCP (after the
// capture gives up on the reader) and ends on SIGINT, saying why its
// capture ended. It held every connection and never exited before.
func TestReliabPCAPReaderStops(t *testing.T) {
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
		s := startServeArgs(t, "serve", "--tun", "reliab1", "--addr", "10.202.0.2/24", "--pcap", fifo)

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
			t.Error("serve exited 0 with its capture cut short")
		}
		if out := s.out.String(); !strings.Contains(out, "its reader took no data for 5s, so the capture stops there") {
			t.Errorf("serve did not say why the capture ended:\n%s", out)
		}
	})
}
