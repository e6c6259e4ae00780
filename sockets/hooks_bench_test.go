package sockets

import (
	"context"
	"testing"
)

// BenchmarkSendRecvSmallCallHook is BenchmarkSendRecvSmall with a call hook
// installed that passes every call: the cost of asking a hook. Without a
// hook the calls cost what BenchmarkSendRecvSmall measures.
func BenchmarkSendRecvSmallCallHook(b *testing.B) {
	s := newSockets(b, Options{})
	c, srv := connectedPair(b, s, AF_INET)
	defer s.Close(c)
	defer s.Close(srv)
	s.SetCallHook(CallHookFunc(func(*Call) CallVerdict { return CallVerdict{} }))
	ctx := context.Background()
	msg := []byte("0123456789")
	buf := make([]byte, 64)
	b.ReportAllocs()
	for range b.N {
		if _, err := s.Send(ctx, c, msg, 0); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < len(msg); {
			m, err := s.Recv(ctx, srv, buf, 0)
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
	}
}
