package netstack

import (
	"context"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/tun"
)

// TestIPHookDrop drops SYNs at b's IP input: a connection cannot be made
// until the hook is removed, and the drops are counted under their reason.
func TestIPHookDrop(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, tun.PipeOptions{}, nil)
	ln, err := gonet.ListenTCP(b.Stack(), fullAddr(addrB4, 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := hook.ParseRules([]string{"tcp and syn and not ack : drop"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetIPHook(hook.IPInput, chain); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	c, err := gonet.DialContextTCP(ctx, a.Stack(), fullAddr(addrB4, 80), ipv4.ProtocolNumber)
	cancel()
	if err == nil {
		c.Close()
		t.Fatal("connected although b's IP input drops every SYN")
	}
	if got := b.Stats().Drops["drop"]; got == 0 {
		t.Fatalf("no IP-input drops counted: %v", b.Stats().Drops)
	}
	if err := b.SetIPHook(hook.IPInput, nil); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	exchange(t, client, server, 10000)
	if err := b.SetIPHook("nowhere", nil); err == nil {
		t.Fatal("SetIPHook accepted an unknown hook point")
	}
}

// TestIPHookModify rewrites the TTL of everything a sends at its IP
// output: b sees the new TTL, and the connection works (checksums were
// fixed).
func TestIPHookModify(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, tun.PipeOptions{}, nil)
	chain, err := hook.ParseRules([]string{"ttl 7"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetIPHook(hook.IPOutput, chain); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		n, wrong int
	)
	b.SetIngress(hook.NewChain(hook.PacketFunc(func(p *hook.Packet) hook.Verdict {
		mu.Lock()
		n++
		if p.Headers().TTL != 7 {
			wrong++
		}
		mu.Unlock()
		return hook.Verdict{}
	})))
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	exchange(t, client, server, 100000)
	mu.Lock()
	defer mu.Unlock()
	if n == 0 || wrong != 0 {
		t.Fatalf("b received %d packets, %d without the TTL of 7", n, wrong)
	}
	if s := b.Stats(); s.Dropped() != 0 || s.Malformed.TCPChecksum != 0 {
		t.Fatalf("b dropped %d packets, %d with bad TCP checksums", s.Dropped(), s.Malformed.TCPChecksum)
	}
}

// TestIPHookUnsupported: an IP hook point carries out pass, drop and
// modify only; another verdict (a delay here) lets the packet pass and is
// counted as unsupported at that point, not as what the hook asked.
func TestIPHookUnsupported(t *testing.T) {
	t.Parallel()
	a, b := newPair(t, tun.PipeOptions{}, nil)
	chain := hook.NewChain(hook.PacketFunc(func(*hook.Packet) hook.Verdict {
		return hook.Verdict{Action: hook.Delay, Delay: time.Hour, Reason: "slow"}
	}))
	if err := a.SetIPHook(hook.IPOutput, chain); err != nil {
		t.Fatal(err)
	}
	server, client := connect(t, a, b, addrB4, ipv4.ProtocolNumber)
	exchange(t, client, server, 1000)
	key := hook.VerdictKey{Point: hook.IPOutput, Action: hook.Delay, Reason: "unsupported " + hook.Delay.String() + " at " + hook.IPOutput}
	if v := a.Stats().Verdicts; v[key] == 0 {
		t.Errorf("verdicts %v, want %v counted", v, key)
	}
}

// TestIPHookCorrupt: corrupt at an IP hook point flips a bit of the TCP
// payload and leaves the checksum wrong, as at the link: every packet it
// corrupts is one the receiving TCP drops as a checksum error, none is
// taken as data (exchange compares what arrives), and the IP header is
// never what is hit. Over IPv4 and IPv6, and on an offload pair too, where
// TCP leaves its checksum partial on the way out and the device vouches
// for it on the way in.
func TestIPHookCorrupt(t *testing.T) {
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		for _, offload := range []bool{false, true} {
			for _, tc := range []struct {
				point string
				in    bool // at b's ingress; else at a's egress
			}{
				{hook.IPOutput, false},
				{hook.IPPostrouting, false},
				{hook.IPPrerouting, true},
				{hook.IPInput, true},
			} {
				name := tc.point
				if offload {
					name += "/offload"
				}
				srv, proto := addrB4, tcpip.NetworkProtocolNumber(ipv4.ProtocolNumber)
				if v6 {
					name += "/ipv6"
					srv, proto = addrB6, ipv6.ProtocolNumber
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					a, b := newPair(t, tun.PipeOptions{Offload: offload}, nil)
					// Only segments that carry data, whose payload is hit;
					// on an offload pair, a few super-packets.
					rule := "tcp and len > 100 : corrupt 10%"
					if offload {
						rule = "tcp and len > 100 : corrupt 25%"
					}
					chain, err := hook.ParseRules([]string{rule})
					if err != nil {
						t.Fatal(err)
					}
					at := a
					if tc.in {
						at = b
					}
					if err := at.SetIPHook(tc.point, chain); err != nil {
						t.Fatal(err)
					}
					server, client := connect(t, a, b, srv, proto)
					exchange(t, client, server, 100000)
					key := hook.VerdictKey{Point: tc.point, Action: hook.Modify, Reason: "corrupt"}
					corrupted := at.Stats().Verdicts[key]
					if corrupted == 0 {
						t.Fatalf("no packet corrupted: %v", at.Stats().Verdicts)
					}
					// a's egress and b's ingress see what a sends: b
					// receives every packet corrupted.
					m := b.Stats().Malformed
					if m.TCPChecksum != corrupted || m.IPChecksum != 0 || m.IP != 0 {
						t.Errorf("%d packets corrupted; the receiver counted %d TCP checksum errors, %d IP checksum errors, %d malformed IP packets; want %d, 0, 0",
							corrupted, m.TCPChecksum, m.IPChecksum, m.IP, corrupted)
					}
				})
			}
		}
	}
}
