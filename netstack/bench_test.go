package netstack

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/header"
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

// BenchmarkDescribe measures what the observer does per traced packet
// before the event: a SYN, a full-sized data segment and an ACK with SACK
// blocks of a connection whose handshake the flow table saw (options as
// Linux sends them), an ICMP echo, and the data segment in an Ethernet
// frame.
func BenchmarkDescribe(b *testing.B) {
	const syn, ack, psh = header.TCPFlagSyn, header.TCPFlagAck, header.TCPFlagPsh
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	sack := append(bytes.Clone(ts), 1, 1, 5, 10, 0, 0, 0x13, 0xe8, 0, 0, 0x17, 0xd0)
	data := segment4(peer4, addrA4.Addr(), 1001, 5001, ack|psh, ts, make([]byte, 1448))
	cases := []struct {
		name  string
		pkt   []byte
		frame bool
	}{
		{"syn", synPacket4(), false},
		{"data", data, false},
		{"sack", segment4(addrA4.Addr(), peer4, 5001, 1001, ack, sack, nil), false},
		{"icmp", echoRequest4(peer4, addrA4.Addr(), 7, 3, make([]byte, 56)), false},
		{"frame", frame(macA, macB, header.IPv4ProtocolNumber, data), true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := newFlowTable()
			trace.DescribePacket(segment4(peer4, addrA4.Addr(), 1000, 0, syn, nil, nil), f)
			trace.DescribePacket(segment4(addrA4.Addr(), peer4, 5000, 1001, syn|ack, nil, nil), f)
			b.ReportAllocs()
			for range b.N {
				if c.frame {
					_ = trace.DescribeFrame(c.pkt, f)
				} else {
					_ = trace.DescribePacket(c.pkt, f)
				}
			}
		})
	}
}

// BenchmarkScatterPayload is the read loop's hand-off of one packet read
// into a scatter slot to gVisor as a buffer: a copy for a small packet (a
// pure ACK, a segment, the largest copied), the views for a large one.
func BenchmarkScatterPayload(b *testing.B) {
	for _, size := range []int{52, 1500, splitHeadOver, 16 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := newScatterSlots(1)
			defer s.release()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for range b.N {
				p := s.payload(0, size)
				p.Release()
			}
		})
	}
}
