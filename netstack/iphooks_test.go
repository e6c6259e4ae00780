package netstack

import (
	"net/netip"
	"strings"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// TestIPHookEvents checks that a traced stack reports the IP layer's steps
// (receive, local delivery, output) and the segments TCP hands to IP, in
// the order a packet takes through them, over IPv4 and IPv6.
func TestIPHookEvents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		srv  netip.Prefix
	}{{"ipv4", addrB4}, {"ipv6", addrB6}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			tr := trace.New(rec)
			a, b := newPair(t, tun.PipeOptions{}, func(which string, o *Options) {
				o.Tracer = tr
				o.Node = which
			})
			server, client := connect(t, a, b, tc.srv, protoOf(tc.srv.Addr()))
			exchange(t, client, server, 4000)
			tr.Flush()

			// For b's first data segment: tcp out, ip out, link out on
			// a; link in, ip receive, ip deliver on b.
			var steps []string
			for _, e := range rec.all() {
				if e.Layer == trace.LayerTCP && e.Name == "state" {
					continue
				}
				if e.Layer == trace.LayerLink || e.Layer == trace.LayerIP || e.Layer == trace.LayerTCP {
					steps = append(steps, e.Node+" "+string(e.Layer)+" "+string(e.Dir)+" "+e.Name)
				}
			}
			joined := strings.Join(steps, "\n")
			for _, want := range []string{
				"a tcp out segment\na ip out output\na link out packet",
				"b link in packet\nb ip in receive\nb ip in deliver",
			} {
				if !strings.Contains(joined, want) {
					t.Errorf("steps lack the sequence\n%s\nin:\n%s", want, joined)
				}
			}
			for _, e := range rec.all() {
				if e.Layer == trace.LayerIP && e.Name == "receive" {
					if f, _ := field(e, "proto"); f != "tcp" {
						t.Errorf("ip receive event proto = %v: %s", f, e.Summary)
					}
					break
				}
			}
			if s := a.Stats(); s.Dropped() != 0 {
				t.Errorf("drops with the IP hooks installed: %v", s.Drops)
			}
		})
	}
}

// TestWithFirstRule checks the rule insertion keeps every chain pointing
// at its own rules, for a chain that exists and one that does not.
func TestWithFirstRule(t *testing.T) {
	t.Parallel()
	s := stack.New(stack.Options{NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol}})
	defer func() {
		s.Close()
		s.Wait()
	}()
	tables := s.IPTables()
	for _, id := range []stack.TableID{stack.RawID, stack.FilterID, stack.MangleID, stack.NATID} {
		orig := tables.GetTable(id, false)
		for hook := stack.Hook(0); hook < stack.NumHooks; hook++ {
			got := withFirstRule(orig, hook, ipHookMatcher{}, false)
			at := got.BuiltinChains[hook]
			if len(got.Rules[at].Matchers) != 1 {
				t.Fatalf("table %v hook %v: rule %d is not the hook rule", id, hook, at)
			}
			for h := stack.Hook(0); h < stack.NumHooks; h++ {
				if h == hook || orig.BuiltinChains[h] == stack.HookUnset || orig.Underflows[h] == stack.HookUnset {
					continue
				}
				// Every other chain still starts at the same rule.
				if got.Rules[got.BuiltinChains[h]].Target != orig.Rules[orig.BuiltinChains[h]].Target {
					t.Errorf("table %v: inserting at hook %v moved chain %v", id, hook, h)
				}
			}
			if u := got.Underflows[hook]; u == stack.HookUnset || got.Rules[u].Matchers != nil {
				t.Errorf("table %v hook %v: underflow %d is not a plain rule", id, hook, u)
			}
		}
	}
}

// TestDeliverySummary: the INPUT step's summary names the protocol, and is
// made without an allocation for TCP, UDP and ICMP.
func TestDeliverySummary(t *testing.T) {
	for p, want := range map[tcpip.TransportProtocolNumber]string{
		header.TCPProtocolNumber:    "local delivery to tcp (INPUT)",
		header.UDPProtocolNumber:    "local delivery to udp (INPUT)",
		header.ICMPv4ProtocolNumber: "local delivery to icmp (INPUT)",
		132:                         "local delivery to " + trace.ProtoName(132) + " (INPUT)",
	} {
		if got := deliverySummary(p); got != want {
			t.Errorf("deliverySummary(%d) = %q, want %q", p, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { deliverySummary(header.TCPProtocolNumber) }); n != 0 {
		t.Errorf("the summary of a TCP delivery took %v allocations, want 0", n)
	}
}
