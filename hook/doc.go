// Package hook is the one vocabulary every layer of glassnet uses to let Go
// code change what happens to a unit (a packet, a TCP segment, a socket
// call, a WebSocket frame): a hook sees the unit and returns a Verdict.
//
// The layers own their hook points (netstack for link, IP and TCP; sockets
// for calls; ws for frames) and call the hooks installed there; this
// package holds what they share: the verdicts, chains, and the built-in
// actions that are ordinary hooks.
//
// For packets, a PacketHook sees a *Packet (the IP packet, which it may
// change in place) and a Chain runs several in order (see Chain for how
// their verdicts combine). netstack runs chains at its link ingress and
// egress (Stack.SetIngress, Stack.SetEgress); a Point holds the installed
// chain, so that one can be swapped while packets flow and an empty point
// costs one atomic load.
//
// The built-in actions (Loss, GilbertElliott, Latency, Duplicator,
// Reorder, Corrupt, Rate, Rewrite, RST) are seeded, so a run replays
// exactly. Rules in the command-line syntax (see Rule) build them behind a
// tcpdump-like Filter:
//
//	chain, err := hook.ParseRules([]string{
//		"loss 20%",
//		"delay 50ms jitter 10ms distribution normal",
//		"tcp and port 8080 and syn : drop",
//	})
//	if err != nil {
//		return err // rule "...": at column N: ...
//	}
//	st.SetEgress(chain)
//
// A hook in Go is a function:
//
//	st.SetEgress(hook.NewChain(hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
//		if h := p.Headers(); h.Proto == hook.ProtoTCP && h.Flags&hook.FlagFIN != 0 {
//			return hook.Verdict{Action: hook.Delay, Delay: time.Second, Reason: "slow-fin"}
//		}
//		return hook.Verdict{}
//	})))
//
// ParseExpr is the boolean filter grammar (and, or, not, parentheses)
// over primitives a layer brings, so frame filters can share the syntax.
// Every layer counts the verdicts that did something in a Counter, under
// one VerdictKey shape.
//
// What hook is not: it installs nothing and sees no traffic by itself.
// The hook points, and the units they hand over, belong to the layers:
// netstack (Stack.SetEgress, SetIngress, SetIPHook) for packets, sockets
// (CallHook, Sockets.SetCallHook) for socket calls, ws (FrameHook,
// ParseFrameRule; rules that start with "ws") for frames. It does not
// record what happened either: each layer emits a "verdict" event to the
// trace package. A packet hook sees the IP packet only, never the link
// header; Ethernet and device details are netstack's and tun's.
package hook
