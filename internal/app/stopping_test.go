package app

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// goneOnDemand is a device whose reads fail as a deleted interface's do
// (ENODEV) once gone is closed.
type goneOnDemand struct {
	*tun.PipeEnd
	gone chan struct{}
}

func (d *goneOnDemand) Read(bufs [][]byte, sizes []int) (int, error) {
	n, err := d.PipeEnd.Read(bufs, sizes)
	select {
	case <-d.gone:
		return 0, syscall.ENODEV
	default:
		return n, err
	}
}

// heldWriter is a capture reader that stops reading once hold is set: a
// write then waits for release, after closing blocked.
type heldWriter struct {
	hold    atomic.Bool
	blocked chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *heldWriter) Write(p []byte) (int, error) {
	if w.hold.Load() {
		w.once.Do(func() { close(w.blocked) })
		<-w.release
	}
	return len(p), nil
}

// syncBuilder is a strings.Builder for several writers.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeStoppingWhileStackCloses deletes the device under serve while
// the stack's close takes its time (here a capture whose reader stopped,
// under load a busy machine): the services' accepts fail as the stack
// aborts its endpoints, before its Done. They are the stack stopping, not
// errors to count, retry and announce ("http on ... stopped", "tcp accept
// ... gives up"): serve said that beside the real reason, the device gone,
// when the close took longer than a tenth of a second.
func TestServeStoppingWhileStackCloses(t *testing.T) {
	t.Parallel()
	cdev, sdev := tun.Pipe(tun.PipeOptions{NameA: "stopping0-c", NameB: "stopping0"})
	dev := &goneOnDemand{PipeEnd: sdev, gone: make(chan struct{})}
	pcap := &heldWriter{blocked: make(chan struct{}), release: make(chan struct{})}
	released := sync.OnceFunc(func() { close(pcap.release) })
	t.Cleanup(released)
	var log syncBuilder
	ready := make(chan struct{})
	s, err := startStack(ServeConfig{Addrs: []netip.Prefix{demoServerAddr}, Port: DefaultPort, PCAP: pcap, Log: &log, Ready: func() { close(ready) }}, dev, "in memory")
	if err != nil {
		cdev.Close()
		t.Fatal(err)
	}
	client, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{demoClientAddr}})
	if err != nil {
		s.st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	served := make(chan error, 1)
	go func() { served <- s.run(context.Background()) }()
	<-ready
	m := &memServe{server: s, client: sockets.New(client.Stack(), sockets.Options{}), addr: demoServerAddr.Addr()}
	c := m.dial(t, EchoPort)
	echoOnce(t, c)

	// The capture's reader stops; the device goes away at the next
	// packet. The stack's close aborts the connection, whose RST waits
	// for the capture.
	pcap.hold.Store(true)
	close(dev.gone)
	c.Write([]byte("x"))
	<-pcap.blocked
	select {
	case <-s.st.Done():
		t.Fatal("the stack closed with its capture held")
	default:
	}
	// What an accept says on a stack that aborts its endpoints.
	if !s.stopping(&netErr{syscall.EINVAL}) {
		t.Errorf("stopping(EINVAL) = false while the stack closes after its device went away (Err: %v)", s.st.Err())
	}
	released()
	if err := <-served; !errors.Is(err, netstack.ErrDeviceGone) {
		t.Fatalf("serve = %v, want the device gone", err)
	}
	for _, bad := range []string{"stopped", "gives up"} {
		if strings.Contains(log.String(), bad) {
			t.Errorf("serve said %q besides the device gone:\n%s", bad, log.String())
		}
	}
}

// netErr is an accept's error as the sockets package returns it.
type netErr struct{ errno syscall.Errno }

func (e *netErr) Error() string { return "accept tcp: " + e.errno.Error() }
func (e *netErr) Unwrap() error { return e.errno }
