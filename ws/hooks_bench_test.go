package ws

import (
	"context"
	"net"
	"testing"
	"time"
)

// BenchmarkFrameHookEcho is one 64-byte message each way between a client
// and a server Conn over net.Pipe: with no frame hook (the cost every
// connection pays for the hook points) and with a hook on both sides that
// passes every frame.
func BenchmarkFrameHookEcho(b *testing.B) {
	pass := FrameHookFunc(func(*HookFrame) FrameVerdict { return FrameVerdict{} })
	for _, bc := range []struct {
		name string
		h    FrameHook
	}{{"none", nil}, {"pass", pass}} {
		b.Run(bc.name, func(b *testing.B) {
			cn, sn := net.Pipe()
			cfg := newConfig(0, time.Second, nil, "")
			cfg.frameHook = bc.h
			cli, srv := newConn(cn, nil, true, "", cfg), newConn(sn, nil, false, "", cfg)
			defer cli.CloseNow()
			defer srv.CloseNow()
			ctx := context.Background()
			go func() {
				for {
					typ, msg, err := srv.ReadMessage(ctx)
					if err != nil {
						return
					}
					if srv.WriteMessage(ctx, typ, msg) != nil {
						return
					}
				}
			}()
			msg := make([]byte, 64)
			b.ReportAllocs()
			for range b.N {
				if err := cli.WriteMessage(ctx, MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := cli.ReadMessage(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
