package netstack

import (
	"bytes"
	"sync"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// optionTap is a loopback link endpoint that records the IPv4 experiment
// option (its value, 0 for none) of every TCP segment written to it.
type optionTap struct {
	nested.Endpoint
	mu   sync.Mutex
	seen []uint16
}

func (o *optionTap) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	o.mu.Lock()
	for _, pkt := range pkts.AsSlice() {
		v, _ := pkt.ExperimentOptionValue()
		o.seen = append(o.seen, v)
	}
	o.mu.Unlock()
	return o.Endpoint.WritePackets(pkts)
}

// TestExperimentOptionOnSegments checks what glassnet patch 62 in
// third_party/gvisor (PATCHES.md there) must keep: TCP stamps its
// segments with the IP experiment option when the endpoint has a value for
// it and the route's interface has the option enabled, and otherwise sends
// none. The patch reads the endpoint's value before it looks the interface
// up, which changes only a cost (held by BenchmarkEtherEchoSmall and
// sockets' BenchmarkConnEchoSmall): upstream looked the interface up for
// every segment sent.
func TestExperimentOptionOnSegments(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		enabled bool
		value   uint16
		want    uint16
	}{
		{"enabled and set", true, 0x1234, 0x1234},
		{"enabled, not set", true, 0, 0},
		{"set, not enabled", false, 0x1234, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tap := &optionTap{}
			tap.Init(loopback.New(), tap)
			s, addr := loopStack(t, tap, stack.NICOptions{EnableExperimentIPOption: c.enabled})
			sendOnce(t, s, addr, func(ep tcpip.Endpoint) { ep.SocketOptions().SetExperimentOptionValue(c.value) })
			tap.mu.Lock()
			defer tap.mu.Unlock()
			withValue := 0
			for _, v := range tap.seen {
				switch v {
				case c.want:
					if v != 0 {
						withValue++
					}
				case 0:
				default:
					t.Errorf("a segment carries experiment option %#x, want %#x or none", v, c.want)
				}
			}
			if c.want != 0 && withValue < 3 {
				t.Errorf("%d segments of %d carry experiment option %#x, want the SYN, ACK and data at least", withValue, len(tap.seen), c.want)
			}
			if c.want == 0 && withValue != 0 {
				t.Errorf("%d segments carry an experiment option, want none", withValue)
			}
		})
	}
}

// loopStack is a stack with IPv4, TCP and UDP on link, with 127.0.0.1/8.
func loopStack(t *testing.T, link stack.LinkEndpoint, opts stack.NICOptions) (*stack.Stack, tcpip.Address) {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	t.Cleanup(func() {
		s.Close()
		s.Wait()
	})
	if err := s.CreateNICWithOptions(1, link, opts); err != nil {
		t.Fatal(err)
	}
	addr := tcpip.AddrFrom4([4]byte{127, 0, 0, 1})
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: addr, PrefixLen: 8}}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return s, addr
}

// sendOnce connects a TCP endpoint, set up by setup first, to a listener on
// addr and sends 5 bytes, and returns once the accepted side has read them
// and both are closed.
func sendOnce(t *testing.T, s *stack.Stack, addr tcpip.Address, setup func(tcpip.Endpoint)) {
	t.Helper()
	var lwq, cwq waiter.Queue
	l, err := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &lwq)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(tcpip.FullAddress{Addr: addr}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(1); err != nil {
		t.Fatal(err)
	}
	la, err := l.GetLocalAddress()
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &cwq)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	setup(c)
	we, connected := waiter.NewChannelEntry(waiter.WritableEvents)
	cwq.EventRegister(&we)
	defer cwq.EventUnregister(&we)
	if err := c.Connect(la); err != nil {
		if _, ok := err.(*tcpip.ErrConnectStarted); !ok {
			t.Fatal(err)
		}
		<-connected
	}
	var r bytes.Reader
	r.Reset([]byte("hello"))
	if _, err := c.Write(&r, tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	ae, accepted := waiter.NewChannelEntry(waiter.ReadableEvents)
	lwq.EventRegister(&ae)
	defer lwq.EventUnregister(&ae)
	srv, swq, err := l.Accept(nil)
	for ; err != nil; srv, swq, err = l.Accept(nil) {
		if _, ok := err.(*tcpip.ErrWouldBlock); !ok {
			t.Fatal(err)
		}
		<-accepted
	}
	defer srv.Close()
	re, readable := waiter.NewChannelEntry(waiter.ReadableEvents)
	swq.EventRegister(&re)
	defer swq.EventUnregister(&re)
	var got bytes.Buffer
	for got.Len() < len("hello") {
		if _, err := srv.Read(&got, tcpip.ReadOptions{}); err != nil {
			if _, ok := err.(*tcpip.ErrWouldBlock); !ok {
				t.Fatal(err)
			}
			<-readable
		}
	}
}
