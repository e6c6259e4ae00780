package app

import (
	"io"
	"net/netip"
	"testing"

	"github.com/glassnet/glassnet/tun"
)

// kernelDropping is a device whose kernel side says it dropped 7 packets
// for the stack.
type kernelDropping struct{ tun.Device }

func (kernelDropping) KernelDrops() (tun.DropReason, uint64, error) {
	return tun.DropTUNQueueFull, 7, nil
}

// TestServeCountsKernelDrops: what the device's kernel side dropped before
// the stack could read it (a TUN's queue full, an AF_PACKET socket's
// buffer full), which the stack never sees, is in glassnet ss's counters
// and serve's closing summary.
func TestServeCountsKernelDrops(t *testing.T) {
	t.Parallel()
	cdev, sdev := tun.Pipe(tun.PipeOptions{NameA: "kdrops0-c", NameB: "kdrops0"})
	defer cdev.Close()
	s, err := startStack(ServeConfig{Addrs: []netip.Prefix{demoServerAddr}, Port: DefaultPort, Log: io.Discard}, kernelDropping{sdev}, "in memory")
	if err != nil {
		t.Fatal(err)
	}
	defer s.st.Close()
	if n, ok := s.counters()["drop tun-queue-full"]; !ok || n != 7 {
		t.Fatalf("glassnet ss counters %v: drop tun-queue-full %d, want 7", s.counters(), n)
	}
	// And serve's closing summary of the link.
	if note, want := kernelDropNote(s.dev), "; 7 dropped by the kernel before the stack read them (tun-queue-full)"; note != want {
		t.Errorf("summary note %q, want %q", note, want)
	}
}
