package netstack

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/tun"
)

// TestPCAPReaderStops: a capture written into a pipe whose reader stopped
// reading (a paused Wireshark behind a FIFO) ends after PCAPStall, and the
// connection goes on; Close says why the capture ended. The record was
// written under the connection's locks, so that once the pipe was full
// the transfer stood still, and with it serve's shutdown, for as long as
// the reader stayed stopped.
func TestPCAPReaderStops(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	da, db := tun.Pipe(tun.PipeOptions{})
	a, err := New(Options{Device: da, Addrs: []netip.Prefix{addrA4}, Node: "a", PCAP: w, PCAPStall: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := mustNew(t, Options{Device: db, Addrs: []netip.Prefix{addrB4}, Node: "b"})
	// Runs first: a writer still blocked (without the bound) is let go,
	// so that a failing test ends.
	t.Cleanup(func() { r.Close() })

	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	sent := bytes.Repeat([]byte("glassnet"), 512<<10) // 4 MiB: the pipe holds 64 KiB
	werr := make(chan error, 1)
	go func() {
		_, err := client.Write(sent)
		werr <- err
	}()
	server.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, len(sent))
	if n, err := io.ReadFull(server, got); err != nil {
		t.Fatalf("read %d of %d bytes: %v (the capture held the connection)", n, len(sent), err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("the bytes read differ from those sent")
	}
	err = a.Close()
	if err == nil || !strings.Contains(err.Error(), "netstack: pcap: its reader took no data for 200ms, so the capture stops there") {
		t.Errorf("Close = %v, want the capture's end said", err)
	}
}
