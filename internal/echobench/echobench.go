// Package echobench is the loop of the small-message echo benchmarks that
// compare stacks and socket layers: a message written, echoed by the
// peer from a goroutine of its own, and read back, b.N times.
package echobench

import (
	"io"
	"net"
	"testing"
)

// Run echoes b.N messages of size bytes from client through server and
// back, timing only the loop, then closes client and waits for the
// server's goroutine to end.
func Run(b *testing.B, client, server net.Conn, size int) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(server, buf); err != nil {
				return
			}
			if _, err := server.Write(buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, size)
	buf := make([]byte, size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := client.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	client.Close()
	<-done
}
