package sockets_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// sharedTracerPair is two stacks over tun.Pipe sharing one Tracer, each with a
// traced socket table: every layer emits, including the TCP probe (under
// gVisor's endpoint lock) and the wait-queue watchers.
type sharedTracerPair struct {
	client, server *netstack.Stack
	cs, ss         *sockets.Sockets
	// stuck is set when the test found the stacks deadlocked: closing
	// them would hang too, so they are left behind.
	stuck atomic.Bool
}

func newSharedTracerPair(t *testing.T, tr *trace.Tracer) *sharedTracerPair {
	t.Helper()
	cdev, sdev := tun.Pipe(tun.PipeOptions{NameA: "client0", NameB: "server0"})
	server, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{serverPrefix}, Tracer: tr, Node: "server"})
	if err != nil {
		cdev.Close()
		t.Fatalf("server stack: %v", err)
	}
	client, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{clientPrefix}, Tracer: tr, Node: "client"})
	if err != nil {
		server.Close()
		t.Fatalf("client stack: %v", err)
	}
	p := &sharedTracerPair{
		client: client, server: server,
		cs: sockets.New(client.Stack(), sockets.Options{Tracer: tr, Node: "client"}),
		ss: sockets.New(server.Stack(), sockets.Options{Tracer: tr, Node: "server"}),
	}
	t.Cleanup(func() {
		if !p.stuck.Load() {
			client.Close()
			server.Close()
		}
	})
	return p
}

// echo connects, sends size bytes both ways (the server echoes), closes,
// and checks what came back.
func (p *sharedTracerPair) echo(ctx context.Context, size int) error {
	lfd, err := p.ss.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err != nil {
		return err
	}
	defer p.ss.Close(lfd)
	if err := p.ss.Bind(lfd, netip.AddrPortFrom(serverIP, 0)); err != nil {
		return err
	}
	if err := p.ss.Listen(lfd, 1); err != nil {
		return err
	}
	addr, err := p.ss.GetSockName(lfd)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			sfd, _, err := p.ss.Accept(ctx, lfd)
			if err != nil {
				return err
			}
			defer p.ss.Close(sfd)
			buf := make([]byte, 16<<10)
			for {
				n, err := p.ss.Recv(ctx, sfd, buf, 0)
				if err != nil || n == 0 {
					return err
				}
				if _, err := p.ss.Send(ctx, sfd, buf[:n], 0); err != nil {
					return err
				}
			}
		}()
	}()
	cfd, err := p.cs.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err != nil {
		return err
	}
	defer p.cs.Close(cfd)
	if err := p.cs.Connect(ctx, cfd, addr); err != nil {
		return err
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	sent := make(chan error, 1)
	go func() {
		_, err := p.cs.Send(ctx, cfd, data, 0)
		if err == nil {
			err = p.cs.Shutdown(cfd, sockets.SHUT_WR)
		}
		sent <- err
	}()
	got := make([]byte, len(data))
	if n, err := p.cs.Recv(ctx, cfd, got, sockets.MSG_WAITALL); err != nil || n != len(data) {
		return fmt.Errorf("echo: Recv = %d, %v; want %d", n, err, len(data))
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echo differs from what was sent")
	}
	if err := <-sent; err != nil {
		return err
	}
	return <-served
}

// snapshotter is a sink that takes both stacks' socket tables on every
// event, as a connections view does.
type snapshotter struct {
	p     atomic.Pointer[sharedTracerPair]
	calls atomic.Int64
	rows  atomic.Int64
}

func (s *snapshotter) Emit(*trace.Event) {
	p := s.p.Load()
	if p == nil {
		return
	}
	n := len(p.cs.Snapshot()) + len(p.ss.Snapshot())
	s.calls.Add(1)
	s.rows.Add(int64(n))
}

// noDeadlock runs f and fails the test, with every goroutine's stack, if
// it has not returned after a minute: what it waits for is a deadlock,
// not a slow run. The stacks of p are then left as they are.
func noDeadlock(t *testing.T, p *sharedTracerPair, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		p.stuck.Store(true)
		t.Fatalf("deadlocked:\n%s", buf)
	}
}

// TestSnapshotFromAsyncSink is the connections view's case: a sink that
// calls Snapshot from Emit, on the goroutine of trace.NewAsync, while real
// traffic flows and the TCP probe emits under gVisor's endpoint lock.
func TestSnapshotFromAsyncSink(t *testing.T) {
	t.Parallel()
	snap := &snapshotter{}
	async := trace.NewAsync(snap, trace.AsyncOptions{})
	tr := trace.New(async)
	p := newSharedTracerPair(t, tr)
	snap.p.Store(p)
	ctx := stacksContext(t)
	noDeadlock(t, p, func() error {
		if err := p.echo(ctx, 256<<10); err != nil {
			return err
		}
		async.Flush()
		return async.Close()
	})
	if snap.calls.Load() == 0 || snap.rows.Load() == 0 {
		t.Fatalf("the sink took %d snapshots with %d rows; want some", snap.calls.Load(), snap.rows.Load())
	}
	t.Logf("%d snapshots, %d events skipped", snap.calls.Load(), async.Skipped())
}

// TestSnapshotFromSink is the same with the sink called directly by the
// Tracer: events emitted inside gVisor's locks are delivered after the
// locks are released, so even a synchronous sink may look at the stack.
// The transfer stays small: a sender blocked on a full link would keep
// its endpoint locked (see trace.Sink).
func TestSnapshotFromSink(t *testing.T) {
	t.Parallel()
	snap := &snapshotter{}
	tr := trace.New(snap)
	p := newSharedTracerPair(t, tr)
	snap.p.Store(p)
	ctx := stacksContext(t)
	noDeadlock(t, p, func() error { return p.echo(ctx, 64<<10) })
	if snap.calls.Load() == 0 {
		t.Fatal("the sink took no snapshot")
	}
}

// TestSnapshotWhileStepperPaused holds every step of a traced echo with a
// Stepper and takes both socket tables while each is held, as a browser
// view asks for the connections while the stack is paused: the stepper
// must never hold a step inside a lock Snapshot needs. It also checks that
// the events still arrive in ID order.
func TestSnapshotWhileStepperPaused(t *testing.T) {
	t.Parallel()
	st := trace.NewStepper(trace.StepOptions{})
	var (
		mu     sync.Mutex
		lastID uint64
		order  error
		held   = map[string]int{}
	)
	tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
		mu.Lock()
		if e.ID <= lastID && order == nil {
			order = fmt.Errorf("event %d delivered after %d", e.ID, lastID)
		}
		lastID = e.ID
		mu.Unlock()
	}), st)
	p := newSharedTracerPair(t, tr)
	ctx := stacksContext(t)

	transfer := make(chan error, 1)
	go func() { transfer <- p.echo(ctx, 32<<10) }()
	noDeadlock(t, p, func() error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for {
			evc := make(chan trace.Event, 1)
			go func() {
				if e, err := st.Wait(wctx); err == nil {
					evc <- e
				}
			}()
			select {
			case err := <-transfer:
				st.Run()
				return err
			case e := <-evc:
				p.cs.Snapshot()
				p.ss.Snapshot()
				held[string(e.Layer)+" "+e.Name]++
				st.Next()
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if order != nil {
		t.Fatal(order)
	}
	// The steps that gVisor takes inside its locks were held too.
	for _, k := range []string{"tcp state", "tcp segment", "link packet", "ip output", "socket wake"} {
		if held[k] == 0 {
			t.Errorf("never held at a %q step; held at %v", k, held)
		}
	}
}
