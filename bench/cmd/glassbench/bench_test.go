package main

import (
	"context"
	"testing"
)

// BenchmarkEcho is one WebSocket echo round trip per op on one connection,
// for every server and message size; allocations are the whole process's
// (the client allocates nothing per message).
//
//	go test -run '^$' -bench Echo -benchmem ./cmd/glassbench
func BenchmarkEcho(b *testing.B) {
	for _, k := range serverKinds {
		for _, size := range sizes {
			b.Run(k.name+"/"+sizeName(size), func(b *testing.B) {
				t, err := startWS(k)
				if err != nil {
					b.Fatal(err)
				}
				defer t.close()
				c, err := dialRaw(context.Background(), t, size)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.echo(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
