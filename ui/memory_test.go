package ui

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// wsCapture writes a classic pcap (Ethernet, as tcpdump writes one on
// loopback) of n packets of one WebSocket conversation: the handshake,
// the HTTP upgrade, then masked text messages from the client, each
// echoed by the server and acknowledged, every segment with TCP
// timestamps. It is what a capture of a chat looks like to the view.
func wsCapture(n int) []byte {
	const syn, fin, psh, ack = 0x02, 0x01, 0x08, 0x10
	client := [4]byte{10, 0, 0, 1}
	server := [4]byte{10, 0, 0, 2}
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 262144)
	b = binary.LittleEndian.AppendUint32(b, 1) // Ethernet
	count := 0
	cseq, sseq := uint32(1000), uint32(900000)
	packet := func(fromClient bool, flags byte, payload []byte) {
		src, dst, sport, dport, seq, ackn := client, server, uint16(40000), uint16(80), cseq, sseq
		if !fromClient {
			src, dst, sport, dport, seq, ackn = server, client, 80, 40000, sseq, cseq
		}
		ipLen := 20 + 32 + len(payload)
		p := make([]byte, 14+ipLen)
		binary.BigEndian.PutUint16(p[12:], 0x0800)
		ip := p[14:]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		binary.BigEndian.PutUint16(ip[4:], uint16(count))
		ip[8], ip[9] = 64, 6
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		tcp := ip[20:]
		binary.BigEndian.PutUint16(tcp[0:], sport)
		binary.BigEndian.PutUint16(tcp[2:], dport)
		binary.BigEndian.PutUint32(tcp[4:], seq)
		if flags&ack != 0 {
			binary.BigEndian.PutUint32(tcp[8:], ackn)
		}
		tcp[12], tcp[13] = 8<<4, flags
		binary.BigEndian.PutUint16(tcp[14:], 512)
		copy(tcp[20:], []byte{1, 1, 8, 10})
		binary.BigEndian.PutUint32(tcp[24:], uint32(count))
		binary.BigEndian.PutUint32(tcp[28:], uint32(count/2))
		copy(tcp[32:], payload)
		us := uint32(count) * 137
		b = binary.LittleEndian.AppendUint32(b, 1700000000+us/1e6)
		b = binary.LittleEndian.AppendUint32(b, us%1e6)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
		count++
		step := uint32(len(payload))
		if flags&(syn|fin) != 0 {
			step++
		}
		if fromClient {
			cseq += step
		} else {
			sseq += step
		}
	}
	packet(true, syn, nil)
	packet(false, syn|ack, nil)
	packet(true, ack, nil)
	packet(true, psh|ack, []byte("GET /chat HTTP/1.1\r\nHost: 10.0.0.2\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	packet(false, psh|ack, []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
	for m := 0; count < n; m++ {
		text := fmt.Sprintf("message %d from the client of the chat", m)
		masked := append([]byte{0x81, 0x80 | byte(len(text)), 1, 2, 3, 4}, text...)
		for i := range text {
			masked[6+i] ^= masked[2+i%4]
		}
		packet(true, psh|ack, masked)
		if count < n {
			packet(false, psh|ack, append([]byte{0x81, byte(len(text))}, text...))
		}
		if count < n {
			packet(true, ack, nil)
		}
	}
	return b
}

// loadStats is what loading a capture cost the process: the heap in use
// after a collection, and the memory the runtime holds from the system
// (heap spans not returned), both less what they were before, and the
// bytes allocated on the way.
type loadStats struct {
	events      uint64
	inUse, held int64
	allocated   uint64
}

// loadCapture loads a capture into an offline Server, as glassnet view
// does, and measures it.
func loadCapture(tb testing.TB, capture []byte, history int) loadStats {
	tb.Helper()
	var before, after runtime.MemStats
	debug.FreeOSMemory()
	runtime.ReadMemStats(&before)
	s, err := New(Options{History: history})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Load(bytes.NewReader(capture)); err != nil {
		var many *TooManyError
		if !errors.As(err, &many) {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	_, _, total := s.hist.bounds()
	st := loadStats{
		events:    total,
		inUse:     int64(after.HeapInuse) - int64(before.HeapInuse),
		held:      int64(after.HeapSys-after.HeapReleased) - int64(before.HeapSys-before.HeapReleased),
		allocated: after.TotalAlloc - before.TotalAlloc,
	}
	runtime.KeepAlive(s)
	s.cancel()
	return st
}

// TestLoadMemory: a loaded capture of a WebSocket conversation costs the
// view a bounded number of bytes a packet, in use and held from the
// system once the load is done. A load of 20,000 packets (33,330 events
// with their frames) takes about 1,650 bytes a packet of each; the bounds
// are well above that. Before Load gave back what its reading needed,
// the process held about 4,900 bytes a packet after it.
func TestLoadMemory(t *testing.T) {
	const n = 20_000
	st := loadCapture(t, wsCapture(n), 2*n)
	t.Logf("%d packets (%d events): %d bytes in use (%d a packet), %d held from the system (%d a packet), %d allocated (%d a packet)",
		n, st.events, st.inUse, st.inUse/n, st.held, st.held/n, st.allocated, st.allocated/n)
	if st.events < n {
		t.Fatalf("%d events loaded from %d packets", st.events, n)
	}
	if st.inUse > 4000*n {
		t.Errorf("%d bytes a packet in use after the load, more than 4000", st.inUse/n)
	}
	if st.held > 4000*n {
		t.Errorf("%d bytes a packet held from the system after the load, more than 4000", st.held/n)
	}
}

// BenchmarkLoadCapture loads a capture of 200,000 packets of a WebSocket
// conversation (about 333,000 events with the frames, of which the view
// keeps its history's 200,000) and reports, per packet, the heap in use
// after the load, the memory held from the system and the bytes
// allocated; and the peak of the heap while loading, as sampled.
func BenchmarkLoadCapture(b *testing.B) {
	const n = 200_000
	capture := wsCapture(n)
	var st loadStats
	// The peak of the heap in use while it loads, sampled (so
	// approximate, and never asserted).
	var peak uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	for range b.N {
		st = loadCapture(b, capture, 0)
	}
	close(stop)
	<-done
	b.ReportMetric(float64(peak)/n, "peak-B/packet")
	b.ReportMetric(float64(st.inUse)/n, "inuse-B/packet")
	b.ReportMetric(float64(st.held)/n, "held-B/packet")
	b.ReportMetric(float64(st.allocated)/n, "alloc-B/packet")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}
