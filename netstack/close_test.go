package netstack

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/tun"
)

func TestCloseClosesDevice(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{})
	defer db.Close()
	st, err := New(Options{Device: da, Addrs: []netip.Prefix{addrA4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := da.Write([][]byte{{0x45}}); !errors.Is(err, tun.ErrClosed) {
		t.Errorf("device Write after Close = %v, want ErrClosed", err)
	}
}

func TestNewFailsClosesDevice(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{CongestionControl: "vegas"},
		{Addrs: []netip.Prefix{{}}},
		{Routes: []Route{{}}},
	} {
		da, db := tun.Pipe(tun.PipeOptions{})
		o.Device = da
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
		if _, err := da.Write([][]byte{{0x45}}); !errors.Is(err, tun.ErrClosed) {
			t.Errorf("device left open after failed New: %v", err)
		}
		db.Close()
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a device succeeded")
	}
}

// TestCloseDuringTransfer closes both stacks while data is in flight: the
// writers must not block forever and nothing may race.
func TestCloseDuringTransfer(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{QueueLen: 8})
	a, err := New(Options{Device: da, Addrs: []netip.Prefix{addrA4}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Device: db, Addrs: []netip.Prefix{addrB4}})
	if err != nil {
		t.Fatal(err)
	}
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	var wg sync.WaitGroup
	for _, c := range []interface{ Write([]byte) (int, error) }{server, client} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		a.Close()
		b.Close()
		server.Close()
		client.Close()
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close with traffic in flight did not finish")
	}
}

// stuckDevice stops accepting writes once stuck is set: Write blocks until
// Close, like a full device that nobody drains.
type stuckDevice struct {
	*tun.PipeEnd
	stuck  atomic.Bool
	closed chan struct{}
	once   sync.Once
}

func (d *stuckDevice) Write(pkts [][]byte) (int, error) {
	if d.stuck.Load() {
		<-d.closed
		return 0, tun.ErrClosed
	}
	return d.PipeEnd.Write(pkts)
}

func (d *stuckDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	return d.PipeEnd.Close()
}

// TestCloseStuckDevice: Close must finish even when aborting a connection
// has to write a RST to a device that never drains.
func TestCloseStuckDevice(t *testing.T) {
	t.Parallel()
	ma, mb := tun.Pipe(tun.PipeOptions{})
	da := &stuckDevice{PipeEnd: ma, closed: make(chan struct{})}
	a, err := New(Options{Device: da, Addrs: []netip.Prefix{addrA4}})
	if err != nil {
		t.Fatal(err)
	}
	b := mustNew(t, Options{Device: mb, Addrs: []netip.Prefix{addrB4}})
	connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	da.stuck.Store(true)
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on a stuck device")
	}
	if d := a.Stats().Drops[DropDeviceClosed]; d == 0 {
		t.Error("the RST stuck in the device was not counted as dropped")
	}
}
