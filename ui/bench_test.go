package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
	"github.com/glassnet/glassnet/ui"
	"github.com/glassnet/glassnet/ws"
)

// BenchmarkStackWithUI moves 1 MiB per op between two stacks over the
// in-memory pair: with tracing off (a nil Tracer), with every event going
// into a ring (the tracer's own cost), with the browser view's sink
// attached and no page, and with a page on the live stream that draws
// everything it is sent (free run: it is thinned when it falls behind).
// Compare them side by side in one run; cpu-ms/MiB, the process's CPU
// time per MiB, moves less than MB/s with other work on the machine.
func BenchmarkStackWithUI(b *testing.B) {
	for _, mode := range []string{"trace-off", "ring", "ui", "ui+page"} {
		b.Run(mode, func(b *testing.B) {
			var tr *trace.Tracer
			var view *ui.Server
			var count func() uint64
			switch mode {
			case "ring":
				// The tracer's own cost, correlating as the view's runs do.
				ring := trace.NewRing(1 << 16)
				tr, count = trace.New(ring), ring.Total
				tr.Correlate()
			case "ui", "ui+page":
				var err error
				if view, err = ui.New(ui.Options{Live: true, Run: true}); err != nil {
					b.Fatal(err)
				}
				defer view.Close()
				if _, err := view.Start("127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
				tr = trace.New(view.Sink())
				tr.Correlate()
				count = func() uint64 { return view.State().Count }
			}
			da, db := tun.Pipe(tun.PipeOptions{})
			x, err := netstack.New(netstack.Options{Device: da, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}, Tracer: tr, Node: "client"})
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			y, err := netstack.New(netstack.Options{Device: db, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}, Tracer: tr, Node: "server"})
			if err != nil {
				b.Fatal(err)
			}
			defer y.Close()
			cs := sockets.New(x.Stack(), sockets.Options{Tracer: tr, Node: "client"})
			ss := sockets.New(y.Stack(), sockets.Options{Tracer: tr, Node: "server"})
			if view != nil {
				view.AddNode(ui.Node{Name: "client", Stack: x, Sockets: cs})
				view.AddNode(ui.Node{Name: "server", Stack: y, Sockets: ss})
			}
			if mode == "ui+page" {
				stop := drawPage(b, view)
				defer stop()
			}
			l, err := ss.Listener("tcp", "10.0.0.2:80")
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			client, err := cs.DialContext(ctx, "tcp", "10.0.0.2:80")
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			server, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			buf := make([]byte, 1<<20)
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, server, int64(b.N)*int64(len(buf)))
				done <- err
			}()
			var before uint64
			if count != nil {
				before = count()
			}
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := client.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			// The process's CPU time per MiB moved, which other work on
			// the machine changes less than the rate.
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/MiB")
			if count != nil {
				b.ReportMetric(float64(count()-before)/b.Elapsed().Seconds(), "events/s")
			}
			if view != nil {
				b.ReportMetric(float64(view.State().Skipped), "skipped")
			}
		})
	}
}

// drawPage connects a page to the live stream that acknowledges every
// batch as soon as it has decoded it; stop ends it and returns.
func drawPage(b *testing.B, view *ui.Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	base := "ws://" + view.Addr().String()
	if view.Addr() == nil {
		b.Fatal("the view is not started")
	}
	c, _, err := ws.Dial(ctx, base+"/api/live?token="+view.Token(), &ws.DialOptions{Header: http.Header{"Origin": {strings.Replace(base, "ws:", "http:", 1)}}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		readPage(ctx, c, nil)
	}()
	return func() { cancel(); c.CloseNow(); <-done }
}

// readPage reads the live stream, decodes each batch (as far as the IDs: a
// browser's JSON.parse does the page's real work) and acknowledges it, and
// reports the last event ID it drew on seen.
func readPage(ctx context.Context, c *ws.Conn, seen chan<- uint64) {
	for {
		_, msg, err := c.ReadMessage(ctx)
		if err != nil {
			return
		}
		var m struct {
			Type   string
			Events []struct{ ID uint64 }
			To     uint64
		}
		if json.Unmarshal(msg, &m) != nil {
			return
		}
		var last uint64
		switch {
		case m.Type == "events" && len(m.Events) > 0:
			last = m.Events[len(m.Events)-1].ID
		case m.Type == "skipped":
			last = m.To
		default:
			continue
		}
		c.WriteMessage(ctx, ws.MessageText, fmt.Appendf(nil, `{"type":"ack","last":%d}`, last))
		if seen != nil {
			seen <- last
		}
	}
}

// BenchmarkLiveStream measures the events per second the live stream
// carries to a page that decodes and acknowledges every batch, in free
// run, from a tracer emitting as fast as it can (typical TCP segment
// events). "drawn/s" counts the events the page received, "skipped" the
// ones it was told it skipped.
func BenchmarkLiveStream(b *testing.B) {
	view, err := ui.New(ui.Options{Live: true, Run: true})
	if err != nil {
		b.Fatal(err)
	}
	defer view.Close()
	if _, err := view.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := "ws://" + view.Addr().String()
	c, _, err := ws.Dial(ctx, base+"/api/live?token="+view.Token(), &ws.DialOptions{Header: http.Header{"Origin": {strings.Replace(base, "ws:", "http:", 1)}}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	seen := make(chan uint64, 1024)
	go readPage(ctx, c, seen)
	tr := trace.New(view.Sink())
	b.ResetTimer()
	start := time.Now()
	var last uint64
	for i := range b.N {
		last = tr.Emit(trace.Event{Node: "server", Layer: trace.LayerTCP, Dir: trace.In, Name: "segment", Conn: "10.0.0.1:40000->10.0.0.2:80",
			Summary: "[.] seq=1 ack=1 win=65535 len=1448",
			Fields: []trace.Field{{Key: "flags", Value: "."}, {Key: "seq", Value: uint32(i)}, {Key: "ack", Value: uint32(1)},
				{Key: "rel_seq", Value: uint32(i)}, {Key: "win", Value: 65535}, {Key: "payload_len", Value: 1448}}})
	}
	emitted := time.Since(start)
	for got := uint64(0); got < last; {
		select {
		case got = <-seen:
		case <-time.After(30 * time.Second):
			b.Fatalf("the page drew up to %d of %d", got, last)
		}
	}
	b.StopTimer()
	skipped := view.State().Skipped
	b.ReportMetric(float64(last-skipped)/b.Elapsed().Seconds(), "drawn/s")
	b.ReportMetric(float64(last)/emitted.Seconds(), "emitted/s")
	b.ReportMetric(float64(skipped), "skipped")
}

// BenchmarkLiveStreamDrain measures how fast the live stream carries a
// history to a page that decodes and acknowledges every batch, with no
// stack competing for the CPU: a recorded run of b.N events, from the
// first.
func BenchmarkLiveStreamDrain(b *testing.B) {
	view, err := ui.New(ui.Options{History: max(b.N, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer view.Close()
	for i := range b.N {
		view.Emit(&trace.Event{ID: uint64(i + 1), Node: "server", Layer: trace.LayerTCP, Dir: trace.In, Name: "segment", Conn: "10.0.0.1:40000->10.0.0.2:80",
			Summary: "[.] seq=1 ack=1 win=65535 len=1448",
			Fields: []trace.Field{{Key: "flags", Value: "."}, {Key: "seq", Value: uint32(i)}, {Key: "ack", Value: uint32(1)},
				{Key: "rel_seq", Value: uint32(i)}, {Key: "win", Value: 65535}, {Key: "payload_len", Value: 1448}}})
	}
	if _, err := view.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	base := "ws://" + view.Addr().String()
	c, _, err := ws.Dial(ctx, base+"/api/live?token="+view.Token(), &ws.DialOptions{Header: http.Header{"Origin": {strings.Replace(base, "ws:", "http:", 1)}}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	seen := make(chan uint64, 1024)
	go readPage(ctx, c, seen)
	for got := uint64(0); got < uint64(b.N); {
		select {
		case got = <-seen:
		case <-time.After(30 * time.Second):
			b.Fatalf("the page drew up to %d of %d", got, b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

var _ net.Conn // the sockets' adapters are net.Conns

// BenchmarkIdleCPU measures the CPU the process uses per second of wall
// time (cpu-ms/s) while two stacks sit idle: with tracing off, and with
// the browser view attached, a page connected, and the stacks paused at a
// step (what --ui costs while a person reads); and, to tell the view's
// share from its clock's, with tracing off on the pausable clock that
// --step and --ui use. Each op is 10 ms of wall time.
func BenchmarkIdleCPU(b *testing.B) {
	for _, mode := range []string{"trace-off", "pausable-clock", "ui-paused"} {
		b.Run(mode, func(b *testing.B) {
			var tr *trace.Tracer
			var view *ui.Server
			var clock *netstack.PausableClock
			if mode != "trace-off" {
				clock = netstack.NewPausableClock(netstack.PausableClockOptions{})
				defer clock.Stop()
			}
			if mode == "ui-paused" {
				var err error
				if view, err = ui.New(ui.Options{Live: true, Clock: clock}); err != nil {
					b.Fatal(err)
				}
				defer view.Close()
				if _, err := view.Start("127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
				tr = trace.New(view.Sink())
			}
			opts := func(dev tun.Device, addr, node string) netstack.Options {
				o := netstack.Options{Device: dev, Addrs: []netip.Prefix{netip.MustParsePrefix(addr)}, Tracer: tr, Node: node}
				if clock != nil {
					o.Clock = clock
				}
				return o
			}
			da, db := tun.Pipe(tun.PipeOptions{})
			x, err := netstack.New(opts(da, "10.0.0.1/24", "client"))
			if err != nil {
				b.Fatal(err)
			}
			defer x.Close()
			y, err := netstack.New(opts(db, "10.0.0.2/24", "server"))
			if err != nil {
				b.Fatal(err)
			}
			defer y.Close()
			ss := sockets.New(y.Stack(), sockets.Options{Tracer: tr, Node: "server"})
			listened := make(chan error, 1)
			go func() {
				l, err := ss.Listener("tcp", "10.0.0.2:80")
				if err == nil {
					defer l.Close()
				}
				listened <- err
			}()
			if view != nil {
				view.AddNode(ui.Node{Name: "server", Stack: y, Sockets: ss})
				stop := drawPage(b, view)
				defer stop()
				for view.State().Current == 0 { // paused at the listen step
					time.Sleep(time.Millisecond)
				}
			}
			var before, after syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ResetTimer()
			for range b.N {
				time.Sleep(10 * time.Millisecond)
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(cpu.Milliseconds())/b.Elapsed().Seconds(), "cpu-ms/s")
			if view != nil {
				view.Stepper().Run()
			}
			if err := <-listened; err != nil {
				b.Fatal(err)
			}
		})
	}
}
