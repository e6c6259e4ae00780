package app

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/ws"
)

// churnSize is how many WebSocket connections a churn cycle opens at once
// and how many cycles run; GLASSNET_CHURN="2000x6" asks for more.
func churnSize(t *testing.T) (conns, cycles int) {
	conns, cycles = 200, 4
	if v := os.Getenv("GLASSNET_CHURN"); v != "" {
		a, b, _ := strings.Cut(v, "x")
		var err1, err2 error
		conns, err1 = strconv.Atoi(a)
		cycles, err2 = strconv.Atoi(b)
		if err1 != nil || err2 != nil {
			t.Fatalf("GLASSNET_CHURN=%q: want CONNSxCYCLES", v)
		}
	}
	return conns, cycles
}

// TestServeChurnMemory runs cycles of many concurrent WebSocket
// connect, echo (compressed), close against serve's services and checks
// that the heap after GC comes back to within a few MB of where it was
// and that the goroutines come back, once the connections have left
// TIME-WAIT. It logs what the runtime holds besides: at 1000 connections
// at once the heap in use peaks near 275 MB (pooled flate writers, the
// stacks' buffers), comes back to a few MB of live objects after GC,
// and the runtime keeps most of the rest as idle heap that it returns to
// the OS over the following minutes: RSS, not a leak.
func TestServeChurnMemory(t *testing.T) {
	// Not parallel: it measures the process.
	m := startMemServe(t, "churn0", ServeConfig{})
	// TIME-WAIT lasts 60 s by default; a short one lets the test wait
	// for the sockets to go without waiting a minute.
	tw := tcpip.TCPTimeWaitTimeoutOption(50 * time.Millisecond)
	if err := m.st.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, &tw); err != nil {
		t.Fatal(err)
	}
	if err := m.clientStack.SetTransportProtocolOption(tcp.ProtocolNumber, &tw); err != nil {
		t.Fatal(err)
	}
	conns, cycles := churnSize(t)
	msg := bytes.Repeat([]byte("churn "), 200)

	cycle := func() {
		t.Helper()
		ctx := testCtx(t)
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- churnOnce(ctx, m, msg)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// settle waits until the sockets are back to the listeners and the
	// goroutines to at most n (when n >= 0), and returns the heap after
	// GC and the goroutines.
	settle := func(goroutines int) (heap uint64, g int) {
		t.Helper()
		ctx := testCtx(t)
		for {
			g = runtime.NumGoroutine()
			socks := len(m.socks.Snapshot())
			// Not more than before: a goroutine another test left may
			// end meanwhile, one a connection left would not.
			if socks == 4 && (goroutines < 0 || g <= goroutines) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("did not settle: %d goroutines (want %d), %d sockets (want 4: http, echo, discard, udp)", g, goroutines, socks)
			case <-time.After(20 * time.Millisecond):
			}
		}
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, g
	}

	startG := runtime.NumGoroutine()
	cycle() // pools, flate and the stacks' caches warm up
	baseHeap, baseG := settle(startG)
	t.Logf("baseline after one cycle of %d: heap %s, %d goroutines", conns, mb(baseHeap), baseG)
	var peak runtime.MemStats
	for i := range cycles {
		cycle()
		runtime.ReadMemStats(&peak)
		if testing.Verbose() {
			heap, g := settle(-1)
			t.Logf("after cycle %d: heap %s, %d goroutines", i+1, mb(heap), g)
		}
	}
	t.Logf("right after the last cycle: heap in use %s, stacks %s, obtained from the OS %s", mb(peak.HeapInuse), mb(peak.StackInuse), mb(peak.Sys))
	heap, g := settle(baseG)
	t.Logf("after %d cycles of %d: heap %s (baseline %s), %d goroutines", cycles, conns, mb(heap), mb(baseHeap), g)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("the runtime holds: heap in use %s, idle %s (returned to the OS %s), stacks %s, obtained from the OS %s",
		mb(ms.HeapInuse), mb(ms.HeapIdle), mb(ms.HeapReleased), mb(ms.StackInuse), mb(ms.Sys))
	const slack = 4 << 20
	if heap > baseHeap+slack {
		t.Errorf("heap after churn %s, baseline %s: grew by more than %s", mb(heap), mb(baseHeap), mb(slack))
	}
}

// churnOnce is one client: connect, one compressed echo, close.
func churnOnce(ctx context.Context, m *memServe, msg []byte) error {
	c, _, err := ws.Dial(ctx, "ws://"+m.hostPort(DefaultPort)+"/echo", &ws.DialOptions{
		NetDial:     m.client.DialContext,
		ConnOptions: ws.ConnOptions{Compression: ws.CompressionOptions{Enabled: true}},
	})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if err := c.WriteMessage(ctx, ws.MessageText, msg); err != nil {
		return err
	}
	if _, p, err := c.ReadMessage(ctx); err != nil || !bytes.Equal(p, msg) {
		return fmt.Errorf("echo: %d bytes, %v", len(p), err)
	}
	return c.Close(ws.StatusNormalClosure, "")
}

func mb(n uint64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
