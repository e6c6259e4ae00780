package netstack

import (
	"io"
	"net/netip"
	"runtime"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// BenchmarkTCPThroughput moves 1 MiB per op from one stack to the other:
// packet by packet, traced, and as super-packets over a pipe with
// offloads.
func BenchmarkTCPThroughput(b *testing.B) {
	for _, v := range []struct {
		name            string
		traced, offload bool
	}{{"plain", false, false}, {"traced", true, false}, {"offload", false, true}} {
		b.Run(v.name, func(b *testing.B) {
			x, y := benchPipe(b, v.traced, tun.PipeOptions{Offload: v.offload})
			server, client := connect(b, x, y, addrB4, ipv4.ProtocolNumber)
			buf := make([]byte, 1<<20)
			done := make(chan error, 1)
			go func() {
				_, err := io.CopyN(io.Discard, server, int64(b.N)*int64(len(buf)))
				done <- err
			}()
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			pkts := x.Stats().PacketsOut + y.Stats().PacketsOut
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
			runtime.ReadMemStats(&ms)
			pkts = x.Stats().PacketsOut + y.Stats().PacketsOut - pkts
			// Every allocation in the process, both stacks' goroutines
			// included, per packet either stack wrote (data and ACKs).
			b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(pkts), "allocs/pkt")
		})
	}
}

func benchPair(b *testing.B, traced bool) (*Stack, *Stack) {
	b.Helper()
	return benchPipe(b, traced, tun.PipeOptions{})
}

func benchPipe(b *testing.B, traced bool, popts tun.PipeOptions) (*Stack, *Stack) {
	b.Helper()
	da, db := tun.Pipe(popts)
	var tr *trace.Tracer
	if traced {
		tr = trace.New(trace.SinkFunc(func(*trace.Event) {}))
	}
	x := mustNew(b, Options{Device: da, Addrs: []netip.Prefix{addrA4}, Tracer: tr, Node: "a"})
	y := mustNew(b, Options{Device: db, Addrs: []netip.Prefix{addrB4}, Tracer: tr, Node: "b"})
	return x, y
}

func BenchmarkClassify(b *testing.B) {
	p := synPacket4()
	for range b.N {
		if _, r := classify(p); r != "" {
			b.Fatal(r)
		}
	}
}

func BenchmarkDescribe(b *testing.B) {
	p := synPacket4()
	f := newFlowTable()
	b.ReportAllocs()
	for range b.N {
		_ = describe(p, f)
	}
}
