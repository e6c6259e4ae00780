// Rewrite changes packets in flight: the server stack's egress runs a rule
// from the command-line syntax ("ttl 42") and a hook written in Go that
// clamps the TCP window it advertises; glassnet fixes the IP and TCP
// checksums after each change. An ingress hook on the client checks what
// arrives: the new TTL and window, and checksums that still verify. The
// client downloads 256 KiB through the rewritten segments. It needs no
// privileges.
//
//	go run ./examples/rewrite
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rewrite:", err)
		os.Exit(1)
	}
}

// clampWindow is a hook in Go: it lowers the window of every TCP segment
// that is not a SYN (whose window is never scaled) to at most max.
func clampWindow(max uint16) hook.PacketHook {
	return hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		h := p.Headers()
		if h.Proto != hook.ProtoTCP || h.L4 == 0 || h.Flags&hook.FlagSYN != 0 {
			return hook.Verdict{}
		}
		w := p.Data[h.L4+14:]
		if binary.BigEndian.Uint16(w) <= max {
			return hook.Verdict{}
		}
		binary.BigEndian.PutUint16(w, max)
		return hook.Verdict{Action: hook.Modify, Reason: "clamp-window", Rule: "clampWindow"}
	})
}

func run(ctx context.Context, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	rule, err := hook.ParseRule("ttl 42")
	if err != nil {
		return err
	}
	ttl, err := rule.Hook()
	if err != nil {
		return err
	}
	const window = 2000
	var seen, badTTL, badWindow, badSum atomic.Int64
	check := hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		h := p.Headers()
		if h.Proto != hook.ProtoTCP || h.L4 == 0 {
			return hook.Verdict{}
		}
		seen.Add(1)
		if h.TTL != 42 {
			badTTL.Add(1)
		}
		if h.Flags&hook.FlagSYN == 0 && binary.BigEndian.Uint16(p.Data[h.L4+14:]) > window {
			badWindow.Add(1)
		}
		if !hook.ChecksumsValid(p.Data) {
			badSum.Add(1)
		}
		return hook.Verdict{}
	})

	clientDev, serverDev := tun.Pipe(tun.PipeOptions{})
	server, err := netstack.New(netstack.Options{
		Device: serverDev,
		Addrs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")},
		Egress: hook.NewChain(ttl, clampWindow(window)),
	})
	if err != nil {
		clientDev.Close()
		return err
	}
	defer server.Close()
	client, err := netstack.New(netstack.Options{
		Device:  clientDev,
		Addrs:   []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")},
		Ingress: hook.NewChain(check),
	})
	if err != nil {
		return err
	}
	defer client.Close()

	// The server sends 256 KiB to whoever connects.
	data := bytes.Repeat([]byte("rewritten in flight, checksums fixed. "), 256<<10/38+1)[:256<<10]
	ln, err := sockets.New(server.Stack(), sockets.Options{}).Listener("tcp", "10.0.0.2:9000")
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
		c.Write(data)
	}()

	c, err := sockets.New(client.Stack(), sockets.Options{}).DialContext(ctx, "tcp", "10.0.0.2:9000")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	fmt.Fprintf(out, "client received %d bytes intact\n", len(got))

	st := server.Stats()
	fmt.Fprintf(out, "server egress rewrote: TTL on %d packets (rule %q), window on %d segments (a Go hook)\n",
		st.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Modify, Reason: "rewrite"}], rule.String(),
		st.Verdicts[hook.VerdictKey{Point: hook.LinkEgress, Action: hook.Modify, Reason: "clamp-window"}])
	fmt.Fprintf(out, "client ingress saw %d segments: %d with another TTL, %d with a wider window, %d with a bad checksum\n",
		seen.Load(), badTTL.Load(), badWindow.Load(), badSum.Load())
	fmt.Fprintf(out, "client's TCP checksum errors: %d\n", client.Stack().Stats().TCP.ChecksumErrors.Value())
	if seen.Load() == 0 || badTTL.Load()+badWindow.Load()+badSum.Load() != 0 {
		return fmt.Errorf("the rewrite did not hold")
	}
	return nil
}
