package netstack

import (
	"io"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// BenchmarkTCPThroughputTracing moves 1 MiB per op from one stack to the
// other with tracing compiled in but off (a nil Tracer: one nil check per
// hook) and with every event going into a ring buffer. Compare the two
// with benchstat.
func BenchmarkTCPThroughputTracing(b *testing.B) {
	for _, mode := range []string{"off", "ring"} {
		b.Run(mode, func(b *testing.B) {
			var tr *trace.Tracer
			var ring *trace.Ring
			if mode == "ring" {
				ring = trace.NewRing(1 << 16)
				tr = trace.New(ring)
			}
			da, db := tun.Pipe(tun.PipeOptions{})
			x := mustNew(b, Options{Device: da, Addrs: []netip.Prefix{addrA4}, Tracer: tr, Node: "a"})
			y := mustNew(b, Options{Device: db, Addrs: []netip.Prefix{addrB4}, Tracer: tr, Node: "b"})
			server, client := connect(b, x, y, addrB4, ipv4.ProtocolNumber)
			buf := make([]byte, 1<<20)
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, server, int64(b.N)*int64(len(buf)))
				done <- err
			}()
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
			if ring != nil {
				b.ReportMetric(float64(ring.Total())/b.Elapsed().Seconds(), "events/s")
			}
		})
	}
}
