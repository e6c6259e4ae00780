package netstack

import (
	"net/netip"
	"strconv"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/trace"
)

// probe turns gVisor's TCP probe, called after every segment a connected
// endpoint receives, into LayerTCP "state" events.
type probe struct {
	tracer *trace.Tracer
	node   string
	flows  *flowTable
	nicID  tcpip.NICID
	stack  atomic.Pointer[stack.Stack] // set once the stack exists
}

// fire runs with the endpoint locked, on a TCP processor goroutine or on
// the goroutine of a call that unlocks it; it only reads the copy it is
// given and takes read locks in the demuxer, and its event is deferred.
func (p *probe) fire(st *tcp.TCPEndpointState) {
	local, ok1 := addrPort(st.ID.LocalAddress, st.ID.LocalPort)
	remote, ok2 := addrPort(st.ID.RemoteAddress, st.ID.RemotePort)
	if !ok1 || !ok2 {
		return
	}
	state := p.state(st)
	snd, rcv := st.Sender, st.Receiver
	// RcvAcc is the right edge of the window last advertised.
	rcvWnd := uint32(0)
	if w := uint32(rcv.RcvAcc) - uint32(rcv.RcvNxt); int32(w) > 0 {
		rcvWnd = w
	}
	ts := trace.TCPState{
		State:      state,
		SndUna:     uint32(snd.SndUna),
		SndNxt:     uint32(snd.SndNxt),
		RcvNxt:     uint32(rcv.RcvNxt),
		SndWnd:     int(snd.SndWnd),
		RcvWnd:     rcvWnd,
		Cwnd:       snd.SndCwnd,
		Ssthresh:   snd.Ssthresh,
		SRTT:       snd.RTTState.SRTT,
		RTO:        snd.RTO,
		Outstand:   snd.Outstanding,
		RcvBufUsed: st.RcvBufState.RcvBufUsed,
		SndBufUsed: st.SndBufState.SndBufUsed,
	}
	// Show sequence numbers relative to the ISNs the link saw, as the
	// packet events do, when the handshake was traced.
	una, nxt, rnxt := ts.SndUna, ts.SndNxt, ts.RcvNxt
	if isn, ok := p.flows.isn(local, remote); ok {
		una, nxt = una-isn, nxt-isn
		ts.RelSndUna, ts.RelSndNxt = trace.Some(una), trace.Some(nxt)
	}
	if isn, ok := p.flows.isn(remote, local); ok {
		rnxt -= isn
		ts.RelRcvNxt = trace.Some(rnxt)
	}
	p.tracer.EmitDeferred(trace.Event{
		Node:  p.node,
		Layer: trace.LayerTCP,
		Dir:   trace.In,
		Name:  "state",
		// The segment that caused this came from remote to local, so the
		// connection is named as on that packet's link event.
		Conn:    remote.String() + "->" + local.String(),
		Summary: state + " snd_una " + u32(una) + " snd_nxt " + u32(nxt) + " rcv_nxt " + u32(rnxt) + " snd_wnd " + u32(uint32(snd.SndWnd)) + " rcv_wnd " + u32(rcvWnd) + " cwnd " + u32(uint32(snd.SndCwnd)) + " srtt " + snd.RTTState.SRTT.String(),
		Fields:  ts.Fields(),
	})
}

// state finds the endpoint's current state name; the probe's copy does
// not carry it.
func (p *probe) state(st *tcp.TCPEndpointState) string {
	s := p.stack.Load()
	if s == nil {
		return "UNKNOWN"
	}
	netProto := header.IPv4ProtocolNumber
	if st.ID.LocalAddress.Len() == header.IPv6AddressSize {
		netProto = header.IPv6ProtocolNumber
	}
	ep := s.FindTransportEndpoint(netProto, tcp.ProtocolNumber, stack.TransportEndpointID{
		LocalPort:     st.ID.LocalPort,
		LocalAddress:  st.ID.LocalAddress,
		RemotePort:    st.ID.RemotePort,
		RemoteAddress: st.ID.RemoteAddress,
	}, p.nicID)
	te, ok := ep.(*tcp.Endpoint)
	if !ok {
		// The segment arrived as the endpoint left the demuxer: the
		// connection is gone.
		return "CLOSED"
	}
	es := te.EndpointState()
	if es == tcp.StateListen && st.ID.RemotePort != 0 {
		// The same: with the connection gone, the demuxer matched the
		// listener on its port (the last ACK of LAST-ACK, say).
		return "CLOSED"
	}
	return TCPStateName(es)
}

// TCPStateName is tcp.EndpointState.String ("ESTABLISHED", "TIME-WAIT",
// ...) without its panic on values it does not know: those are "UNKNOWN".
func TCPStateName(s tcp.EndpointState) string {
	if s < tcp.StateEstablished || s > tcp.StateError {
		return "UNKNOWN"
	}
	return s.String()
}

func addrPort(a tcpip.Address, port uint16) (netip.AddrPort, bool) {
	ip, ok := netip.AddrFromSlice(a.AsSlice())
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, port), true
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
