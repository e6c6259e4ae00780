package hook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// A hook written in Go, on a stack: the client's link egress drops every
// third TCP segment that carries data, and TCP resends what was lost, so
// the server still reads every byte. The stack counts each drop under the
// hook point, the action and the reason.
func ExamplePacketFunc() {
	var n atomic.Int64
	everyThird := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		h := p.Headers()
		if h.Proto != hook.ProtoTCP || h.Payload <= 0 { // handshake, ACKs, FIN
			return hook.Verdict{}
		}
		if n.Add(1)%3 == 0 {
			return hook.Verdict{Action: hook.Drop, Reason: "every-third", Rule: "everyThird"}
		}
		return hook.Verdict{}
	})

	clientDev, serverDev := tun.Pipe(tun.PipeOptions{})
	client, err := netstack.New(netstack.Options{
		Device: clientDev,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
		Egress: hook.NewChain(everyThird),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	server, err := netstack.New(netstack.Options{
		Device: serverDev,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()

	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:9")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c) // until the client's FIN
		got <- n
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := sockets.New(client.Stack(), sockets.Options{}).DialContext(ctx, "tcp", "10.0.0.2:9")
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write(bytes.Repeat([]byte("x"), 20000)) // 14 segments at MTU 1500
	c.Close()

	fmt.Println("server read", <-got, "bytes")
	drops := client.Stats().Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Drop, Reason: "every-third"}]
	fmt.Println("dropped some:", drops > 0, drops == uint64(n.Load()/3))
	// Output:
	// server read 20000 bytes
	// dropped some: true true
}
