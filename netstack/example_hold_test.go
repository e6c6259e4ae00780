package netstack_test

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
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// Hold, edit, continue: the server's egress hook holds the first segment
// that carries data and hands a copy to the program, which changes its
// payload (same length, so the sequence numbers still agree), fixes the
// checksums and sends it on from the same hook point with Continue. While
// it is held, the server's TCP hears no ACK and sends the segment again
// after its retransmission timeout; the hook drops those copies, so that
// only the edited one reaches the client. examples/hold is the same as a
// program.
func ExampleStack_Continue() {
	held := make(chan []byte, 1)
	var first, holding atomic.Bool
	var heldSeq atomic.Uint32
	holdFirst := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		h := p.Headers()
		if h.Proto != hook.ProtoTCP || h.Payload <= 0 {
			return hook.Verdict{}
		}
		if first.CompareAndSwap(false, true) {
			heldSeq.Store(h.Seq)
			holding.Store(true)
			held <- bytes.Clone(p.Data) // p.Data is only lent to the hook
			return hook.Verdict{Action: hook.Hold, Reason: "inspect"}
		}
		if holding.Load() && h.Seq == heldSeq.Load() {
			return hook.Verdict{Action: hook.Drop, Reason: "resent-while-held"}
		}
		return hook.Verdict{}
	})

	clientDev, serverDev := tun.Pipe(tun.PipeOptions{})
	server, err := netstack.New(netstack.Options{
		Device: serverDev,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
		Egress: hook.NewChain(holdFirst),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()
	client, err := netstack.New(netstack.Options{
		Device: clientDev,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:7")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello\n"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := sockets.New(client.Stack(), sockets.Options{}).DialContext(ctx, "tcp", "10.0.0.2:7")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	pkt := <-held
	h := hook.ParseHeaders(pkt)
	payload := pkt[len(pkt)-h.Payload:]
	fmt.Printf("held %q\n", payload)
	copy(payload, "HELLO")
	if err := hook.FixChecksums(pkt); err != nil {
		fmt.Println(err)
		return
	}
	if err := server.Continue(trace.Out, pkt); err != nil {
		fmt.Println(err)
		return
	}
	holding.Store(false)

	got, err := io.ReadAll(c)
	fmt.Printf("client read %q %v\n", got, err)
	st := server.Stats()
	fmt.Println("held", st.Held, "continued", st.Continued)
	// Output:
	// held "hello\n"
	// client read "HELLO\n" <nil>
	// held 1 continued 1
}
