// Hold takes a packet out of the path, lets Go code look at it and change
// it, and sends it on: the hold-edit-release of the browser view's hold
// queue, written as a program. The server stack's egress hook holds the
// first segment that carries data. While it is held the client waits, and
// the server's TCP, which hears no ACK for it, sends it again; the hook
// drops that copy. The program prints the held segment as tcpdump would,
// waits for the resend, changes the payload in place (same length, so the
// sequence numbers still agree), fixes the checksums and continues it from
// the same hook point. The client reads the edited bytes; the server's
// counters show one packet held and one continued. It needs no privileges.
//
//	go run ./examples/hold
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hold:", err)
		os.Exit(1)
	}
}

// holdFirstData holds the first TCP segment with a payload and hands a
// copy of it to held: the packet's buffer is reused once the hook returns.
// While it is held, the server's TCP, which has no answer for it, sends it
// again after a retransmission timeout (at least 200 ms): those copies are
// dropped, so that only the edited one reaches the client. release says
// the held segment went on; from then on everything passes.
func holdFirstData(held chan<- []byte) (h hook.PacketHook, release func()) {
	const (
		waiting = iota
		holding
		released
	)
	var state atomic.Int32
	var seq atomic.Uint32
	h = hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		h := p.Headers()
		if h.Proto != hook.ProtoTCP || h.Payload <= 0 {
			return hook.Verdict{}
		}
		switch state.Load() {
		case waiting:
			seq.Store(h.Seq)
			state.Store(holding)
			held <- bytes.Clone(p.Data)
			return hook.Verdict{Action: hook.Hold, Reason: "inspect", Rule: "holdFirstData"}
		case holding:
			if h.Seq == seq.Load() {
				return hook.Verdict{Action: hook.Drop, Reason: "resent-while-held", Rule: "holdFirstData"}
			}
		}
		return hook.Verdict{}
	})
	return h, func() { state.Store(released) }
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	held := make(chan []byte, 1)
	holder, release := holdFirstData(held)
	clientDev, serverDev := tun.Pipe(tun.PipeOptions{})
	server, err := netstack.New(netstack.Options{
		Device: serverDev,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
		Egress: hook.NewChain(holder),
	})
	if err != nil {
		clientDev.Close()
		return err
	}
	defer server.Close()
	client, err := netstack.New(netstack.Options{
		Device: clientDev,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
	})
	if err != nil {
		return err
	}
	defer client.Close()

	// The server greets whoever connects, then closes.
	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:7000")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello from the server\n"))
	}()

	c, err := sockets.New(client.Stack(), sockets.Options{}).DialContext(ctx, "tcp", "10.0.0.2:7000")
	if err != nil {
		return err
	}
	defer c.Close()

	var pkt []byte
	select {
	case pkt = <-held:
	case <-ctx.Done():
		return fmt.Errorf("no segment was held: %w", ctx.Err())
	}
	fmt.Fprintln(out, "held:     ", trace.DescribePacket(pkt, nil).Summary)
	// The server's TCP has no answer for the segment and sends it again
	// once its retransmission timer fires; the hook drops the copy.
	resendKey := hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Drop, Reason: "resent-while-held"}
	heldAt := time.Now()
	for server.Stats().Verdicts[resendKey] == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server never sent the held segment again: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	fmt.Fprintf(out, "resent:    the server sent it again within %v (its retransmission timeout); dropped\n", time.Since(heldAt).Round(100*time.Millisecond))
	h := hook.ParseHeaders(pkt)
	payload := pkt[len(pkt)-h.Payload:]
	fmt.Fprintf(out, "payload:   %q\n", payload)
	copy(payload, bytes.ToUpper(payload))
	if err := hook.FixChecksums(pkt); err != nil {
		return err
	}
	fmt.Fprintln(out, "continued:", trace.DescribePacket(pkt, nil).Summary)
	if err := server.Continue(trace.Out, pkt); err != nil {
		return err
	}
	release()

	c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "client read %q\n", got)
	if want := "HELLO FROM THE SERVER\n"; string(got) != want {
		return fmt.Errorf("the client read %q, want %q", got, want)
	}
	st := server.Stats()
	resent := st.Verdicts[resendKey]
	fmt.Fprintf(out, "server: %d held, %d continued; copies resent while held, dropped: %d\n", st.Held, st.Continued, resent)
	if st.Held != 1 || st.Continued != 1 {
		return fmt.Errorf("server counted %d held and %d continued, want 1 and 1", st.Held, st.Continued)
	}
	return nil
}
