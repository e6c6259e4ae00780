package netstack

import (
	"net/netip"
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/trace"
)

// probe turns gVisor's TCP probe into LayerTCP "state" events. gVisor calls
// it after every segment a connected endpoint receives and (change 25 in
// third_party/gvisor/PATCHES.md) when the endpoint enters a state by
// sending: its first SYN or SYN-ACK (SYN-SENT, SYN-RCVD), and its FIN
// (FIN-WAIT1, LAST-ACK).
type probe struct {
	tracer *trace.Tracer
	node   string
	flows  *flowTable
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
	state := TCPStateName(st.State)
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
		RcvWnd:     rcvWnd,
		Cwnd:       snd.SndCwnd,
		Ssthresh:   snd.Ssthresh,
		SRTT:       snd.RTTState.SRTT,
		RTO:        snd.RTO,
		Outstand:   snd.Outstanding,
		RcvBufUsed: st.RcvBufState.RcvBufUsed,
		SndBufUsed: st.SndBufState.SndBufUsed,
	}
	// In SYN-SENT the peer's window is not known yet (the handshake's
	// copy says 0).
	if ts.State != "SYN-SENT" {
		ts.SndWnd = trace.Some(int(snd.SndWnd))
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
	dir := trace.In
	if st.Sent {
		dir = trace.Out
	}
	conn, summary := stateText(local, remote, &ts, una, nxt, rnxt)
	p.tracer.EmitDeferred(trace.Event{
		Node:    p.node,
		Layer:   trace.LayerTCP,
		Dir:     dir,
		Name:    "state",
		Conn:    conn,
		Summary: summary,
		Fields:  ts.Fields(),
	})
}

// stateText writes a state event's connection, named local to peer as ss
// and the socket events name it, and its summary, with the sequence
// numbers una, nxt and rnxt as the event shows them: one string for both.
func stateText(local, remote netip.AddrPort, ts *trace.TCPState, una, nxt, rnxt uint32) (conn, summary string) {
	var buf [256]byte
	b := local.AppendTo(buf[:0])
	b = append(b, "->"...)
	b = remote.AppendTo(b)
	n := len(b)
	b = append(b, ts.State...)
	for _, v := range []struct {
		name string
		v    uint32
	}{{" snd_una ", una}, {" snd_nxt ", nxt}, {" rcv_nxt ", rnxt}} {
		b = append(b, v.name...)
		b = strconv.AppendUint(b, uint64(v.v), 10)
	}
	b = append(b, " snd_wnd "...)
	if ts.SndWnd.Set {
		b = strconv.AppendUint(b, uint64(uint32(ts.SndWnd.V)), 10)
	} else {
		b = append(b, '?')
	}
	b = append(b, " rcv_wnd "...)
	b = strconv.AppendUint(b, uint64(ts.RcvWnd), 10)
	b = append(b, " cwnd "...)
	b = strconv.AppendUint(b, uint64(uint32(ts.Cwnd)), 10)
	b = append(b, " srtt "...)
	b = append(b, ts.SRTT.String()...)
	s := string(b)
	return s[:n], s[n:]
}

// TCPStateName is tcp.EndpointState.String ("ESTABLISHED", "TIME-WAIT",
// ...) without its panic on values it does not know: those are "UNKNOWN".
// gVisor's error state (reset, or timed out) is CLOSED, as Linux's
// TCP_CLOSE: the trace's state events, the socket table (glassnet ss's
// JSON, the view's connections) and the view's timers name it alike.
func TCPStateName(s tcp.EndpointState) string {
	switch {
	case s == tcp.StateError:
		return "CLOSED"
	case s < tcp.StateEstablished || s > tcp.StateError:
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
