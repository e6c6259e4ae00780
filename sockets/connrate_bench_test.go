package sockets_test

import (
	"context"
	"io"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/tun"
)

// BenchmarkConnOpenClose opens a TCP connection across the link, has the
// server accept it, and closes it as glassbench's connections-per-second
// client does after the 101: the client closes first, the server reads end
// of stream and closes. Allocations per operation are both stacks' and
// both socket tables'. The client's TIME-WAIT lasts a millisecond, so that
// its ports are free again for a long run.
func BenchmarkConnOpenClose(b *testing.B) {
	p := newStackPair(b, tun.PipeOptions{})
	tw := tcpip.TCPTimeWaitTimeoutOption(1e6)
	if err := p.client.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, &tw); err != nil {
		b.Fatal(err)
	}
	ln, err := p.ss.Listener("tcp4", "10.0.0.2:80")
	check(b, err)
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		var buf [16]byte
		for {
			c, err := ln.Accept()
			if err != nil {
				done <- nil
				return
			}
			if _, err := c.Read(buf[:]); err != io.EOF {
				c.Close()
				done <- err
				return
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := p.cs.DialContext(ctx, "tcp4", "10.0.0.2:80")
		check(b, err)
		check(b, c.Close())
	}
	ln.Close()
	check(b, <-done)
}
