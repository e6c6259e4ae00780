package trace

import (
	"bytes"
	"strings"
	"testing"
)

// packetEvent is shaped like a link packet event: a tcpdump-style summary
// and the fields netstack gives a TCP segment.
func packetEvent(seq uint32, n int) Event {
	return Event{Node: "server", Layer: LayerLink, Dir: In, Name: "packet", Conn: "10.0.0.1:40000->10.0.0.2:80",
		Summary: "IP 10.0.0.1.40000 > 10.0.0.2.80: Flags [.], seq 1:1449, ack 1, win 4096, length 1448",
		Fields: []Field{{"src", "10.0.0.1"}, {"dst", "10.0.0.2"}, {"len", 1500}, {"proto", "tcp"},
			{"sport", 40000}, {"dport", 80}, {"flags", "."}, {"seq", seq}, {"ack", uint32(1)},
			{"rel_seq", seq}, {"rel_ack", uint32(1)}, {"win", 4096}, {"payload_len", n}}}
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEmit measures one event into a Tracer: off (nil), into a Ring,
// and into a Ring with frame/packet correlation (one frame per packet).
func BenchmarkEmit(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		var tr *Tracer
		e := packetEvent(1, 1448)
		b.ReportAllocs()
		for range b.N {
			if tr.Enabled() {
				tr.Emit(e)
			}
		}
		reportRate(b)
	})
	b.Run("ring", func(b *testing.B) {
		tr := New(NewRing(1 << 16))
		e := packetEvent(1, 1448)
		b.ReportAllocs()
		for range b.N {
			tr.Emit(e)
		}
		reportRate(b)
	})
	b.Run("ring-deferred", func(b *testing.B) {
		// As a link egress packet under gVisor's lock: queued with a copy
		// of its bytes and delivered by the Tracer's goroutine.
		tr := New(NewRing(1 << 16))
		e := packetEvent(1, 1448)
		e.Data = make([]byte, 1500)
		b.ReportAllocs()
		for range b.N {
			tr.EmitDeferred(e)
		}
		tr.Emit(Event{}) // delivers what is left
		reportRate(b)
	})
	b.Run("ring-parallel", func(b *testing.B) {
		tr := New(NewRing(1 << 16))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			e := packetEvent(1, 1448)
			for pb.Next() {
				tr.Emit(e)
			}
		})
		reportRate(b)
	})
	b.Run("ring-correlated", func(b *testing.B) {
		tr := New(NewRing(1 << 16))
		tr.Correlate()
		b.ReportAllocs()
		for i := range b.N {
			if i%2 == 0 {
				tr.Emit(packetEvent(uint32(i/2*1448+1), 1448))
			} else {
				tr.Emit(frm("server", In, "10.0.0.2:80->10.0.0.1:40000", i/2*1448, 4, 1444))
			}
		}
		reportRate(b)
	})
}

// BenchmarkReadPCAP reads back a classic capture of a handshake and 1000
// data segments with their ACKs, as glassnet view does.
func BenchmarkReadPCAP(b *testing.B) {
	const syn, ack, psh = 0x02, 0x10, 0x08
	pkts := [][]byte{
		tcpPacket(ipClient, ipServer, 40000, 80, 1000, 0, syn, ""),
		tcpPacket(ipServer, ipClient, 80, 40000, 5000, 1001, syn|ack, ""),
	}
	payload := strings.Repeat("x", 1448)
	for i := range uint32(1000) {
		pkts = append(pkts,
			tcpPacket(ipServer, ipClient, 80, 40000, 5001+i*1448, 1001, ack|psh, payload),
			tcpPacket(ipClient, ipServer, 40000, 80, 1001, 5001+(i+1)*1448, ack, ""))
	}
	in := classicPCAP(pkts...)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for range b.N {
		evs, err := ReadPCAP(bytes.NewReader(in), "n")
		if err != nil || len(evs) != len(pkts) {
			b.Fatalf("%d packets, %v", len(evs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/packet")
}
