package sockets

import (
	"cmp"
	"slices"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/glassnet/glassnet/netstack"
)

// TCPInfo is the per-connection detail ss -ti shows, read from gVisor's
// endpoint: TCPInfoOption (RTT, RTO, congestion window), the endpoint's
// counters, and the sender and receiver state.
type TCPInfo struct {
	CC       string        // congestion control algorithm ("reno", "cubic")
	CAState  string        // Open, Disorder, Recovery (fast or SACK), Loss (after an RTO)
	RTT      time.Duration // smoothed round-trip time; 0 until measured
	RTTVar   time.Duration
	RTO      time.Duration // retransmission timeout
	Cwnd     uint32        // congestion window, in segments
	Ssthresh uint32        // slow-start threshold, in segments
	// MSS is the largest payload the sender puts in one segment. SndWnd is
	// the peer's receive window (scaled), RcvWnd the window last advertised
	// to the peer; the scales are the shifts agreed in the handshake.
	MSS       int
	SndWnd    uint32
	RcvWnd    uint32
	SndWScale uint8
	RcvWScale uint8
	// TS and SACK report the options agreed in the handshake: timestamps
	// (RFC 7323) and selective acknowledgments (RFC 2018).
	TS, SACK bool
	Unacked  int // segments sent and not yet acknowledged
	// RetransOut counts the segments sent again and not yet acknowledged
	// (Linux's tcpi_retrans), Retrans every segment sent again
	// (tcpi_total_retrans): ss's retrans:RetransOut/Retrans.
	RetransOut int
	Retrans    uint64
	Timeouts   uint64 // retransmission timer expirations
	// SegsIn and SegsOut count segments as Linux does: a super-packet
	// (GSO, GRO) counts the segments it stands for.
	SegsIn  uint64
	SegsOut uint64
	// BytesReceived and BytesSent are Linux's tcpi_bytes_received and
	// tcpi_bytes_sent: the data TCP has received in order, read or not
	// (what the application read and Recv-Q), and the data it has sent,
	// retransmissions included (not what the application wrote, which
	// may wait in the send buffer behind a closed window). BytesReceived
	// is zero for a row without a descriptor.
	BytesReceived int64
	BytesSent     int64
	// Windows reports whether MSS, SndWnd, RcvWnd, the scales, TS, SACK
	// and Unacked were read (the connection is synchronized and the
	// gVisor layout is the known one).
	Windows bool
}

// Snapshot is the socket table as ss -tuan shows the kernel's: the TCP
// details of every stream socket, and the connections the stack has that
// no descriptor refers to, with FD -1: handshakes in progress (SYN-RCVD),
// connections waiting in a listener's accept queue (Queued), connections
// closed here and still finishing (FIN-WAIT, TIME-WAIT, LAST-ACK,
// CLOSING), and endpoints opened on the same stack outside this table. A
// listener's AcceptQ counts the queued ones.
//
// A connection that has had the peer's FIN counts it in Recv-Q until a
// recv returns the end of the stream, and one in TIME-WAIT is listed with
// FD -1 and empty queues, as Linux lists them (asLinuxLists).
//
// A stream socket whose connection is gone (reset, refused, timed out,
// or past TIME-WAIT) is left out, as Linux's ss -ta leaves it out: the
// kernel has such a socket in none of the tables ss reads. Table still
// lists its descriptor. A socket created or bound and not yet connecting
// or listening is listed, UNCONN, where Linux's ss -ta lists none (ss -B,
// Linux 6.9 and later, lists a bound one): the table shows every
// descriptor that may still be used.
func (s *Sockets) Snapshot() []SocketInfo {
	rows, socks := s.table()
	known := make(map[tcpip.Endpoint]bool, len(socks))
	for _, so := range socks {
		known[so.ep] = true
	}
	rows, socks = withoutGone(rows, socks)
	for i, so := range socks {
		if te, ok := so.ep.(*tcp.Endpoint); ok {
			info := tcpDetails(te)
			if info != nil {
				read, _ := so.offsets()
				info.BytesReceived = read + int64(rows[i].RecvQ)
			}
			rows[i].TCP = info
			asLinuxLists(&rows[i], so)
		}
	}

	var orphans []SocketInfo
	for _, te := range s.stack.RegisteredEndpoints() {
		ep, ok := te.(tcpip.Endpoint)
		if !ok || known[ep] {
			continue
		}
		known[ep] = true // a dual-stack endpoint is registered once per protocol
		row, ok := orphanRow(ep)
		if ok && !connectionGone(row.Type, row.State) {
			orphans = append(orphans, row)
		}
	}
	slices.SortFunc(orphans, func(a, b SocketInfo) int {
		if c := cmp.Compare(a.Local.Port(), b.Local.Port()); c != 0 {
			return c
		}
		if c := a.Local.Addr().Compare(b.Local.Addr()); c != 0 {
			return c
		}
		return a.Peer.Compare(b.Peer)
	})
	for i := range rows {
		if rows[i].Type != SOCK_STREAM || rows[i].State != tcp.StateListen.String() {
			continue
		}
		for j := range orphans {
			if waitingFor(&rows[i], &orphans[j]) {
				orphans[j].Queued = true
				rows[i].AcceptQ++
				if orphans[j].State == tcp.StateCloseWait.String() {
					orphans[j].RecvQ++ // the FIN, which nothing has read
				}
			}
		}
	}
	return append(rows, orphans...)
}

// asLinuxLists makes a stream socket's row what Linux's ss lists for the
// same socket. A connection that has had the peer's FIN counts it in
// Recv-Q until a recv returns the end of the stream (Linux's Recv-Q is
// rcv_nxt - copied_seq, and the FIN takes a sequence number; reading the
// end moves copied_seq past it). A connection in TIME-WAIT is listed
// without its descriptor and with empty queues: Linux hands the
// connection to a timewait socket of its own (tcp_time_wait), which no
// descriptor holds and which has no queues, and the socket the
// descriptor holds, now CLOSED, is not listed; the bytes left unread in
// it can still be read.
func asLinuxLists(row *SocketInfo, so *socket) {
	switch row.State {
	case tcp.StateTimeWait.String():
		row.FD, row.RecvQ, row.SendQ = -1, 0, 0
	case tcp.StateCloseWait.String(), tcp.StateLastAck.String(), tcp.StateClosing.String():
		if !so.finRead.Load() {
			row.RecvQ++
		}
	}
}

// finReceived reports whether a connection in state st has had the
// peer's FIN.
func finReceived(st tcp.EndpointState) bool {
	switch st {
	case tcp.StateCloseWait, tcp.StateLastAck, tcp.StateClosing, tcp.StateTimeWait:
		return true
	}
	return false
}

// withoutGone drops the rows, and their sockets, of stream sockets whose
// connection is gone (connectionGone).
func withoutGone(rows []SocketInfo, socks []*socket) ([]SocketInfo, []*socket) {
	keptRows, keptSocks := rows[:0], socks[:0]
	for i := range rows {
		if connectionGone(rows[i].Type, rows[i].State) {
			continue
		}
		keptRows = append(keptRows, rows[i])
		keptSocks = append(keptSocks, socks[i])
	}
	return keptRows, keptSocks
}

// connectionGone reports whether a row of the given type and State is a
// stream socket whose connection is gone: CLOSED (gVisor's error state,
// after a reset, a refused connect or a timeout, is CLOSED too). Linux's
// ss -ta lists none: the kernel unhashes a TCP socket when it reaches
// TCP_CLOSE (tcp_set_state), where a descriptor may still hold it.
func connectionGone(typ int, state string) bool {
	return typ == SOCK_STREAM && (state == "CLOSED" || state == "ERROR")
}

// waitingFor reports whether o looks like a connection in l's accept
// queue: established (or already half-closed by the peer), on l's port and
// address, and without a descriptor. Accept gives a connection its
// descriptor as it takes it from the queue.
func waitingFor(l, o *SocketInfo) bool {
	if o.Type != SOCK_STREAM || o.Local.Port() != l.Local.Port() {
		return false
	}
	if o.State != tcp.StateEstablished.String() && o.State != tcp.StateCloseWait.String() {
		return false
	}
	la := l.Local.Addr().Unmap()
	return la.IsUnspecified() || la == o.Local.Addr().Unmap()
}

// orphanRow describes an endpoint found in the stack's demuxer.
func orphanRow(ep tcpip.Endpoint) (SocketInfo, bool) {
	info, ok := ep.Info().(*stack.TransportEndpointInfo)
	if !ok {
		return SocketInfo{}, false
	}
	row := SocketInfo{FD: -1, Domain: AF_INET}
	if info.NetProto == header.IPv6ProtocolNumber {
		row.Domain = AF_INET6
	}
	id := info.ID
	row.Local = addrPort(row.Domain, tcpip.FullAddress{Addr: id.LocalAddress, Port: id.LocalPort})
	if id.RemotePort != 0 {
		row.Peer = addrPort(row.Domain, tcpip.FullAddress{Addr: id.RemoteAddress, Port: id.RemotePort})
	}
	switch info.TransProto {
	case tcp.ProtocolNumber:
		te, ok := ep.(*tcp.Endpoint)
		if !ok {
			return SocketInfo{}, false
		}
		row.Type = SOCK_STREAM
		row.State = netstack.TCPStateName(te.EndpointState())
		row.TCP = tcpDetails(te)
	case udp.ProtocolNumber:
		row.Type = SOCK_DGRAM
		row.State = transport.DatagramEndpointState(ep.State()).String()
	default:
		return SocketInfo{}, false
	}
	if v, err := ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
		row.RecvQ = v
	}
	if v, err := ep.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
		row.SendQ = v
	}
	return row, true
}

// tcpDetails reads what ss -ti shows about one TCP endpoint.
func tcpDetails(ep *tcp.Endpoint) *TCPInfo {
	var ti tcpip.TCPInfoOption
	if err := ep.GetSockOpt(&ti); err != nil {
		return nil
	}
	info := &TCPInfo{
		CAState:  caState(ti.CcState),
		RTT:      ti.RTT,
		RTTVar:   ti.RTTVar,
		RTO:      ti.RTO,
		Cwnd:     ti.SndCwnd,
		Ssthresh: ti.SndSsthresh,
	}
	var cc tcpip.CongestionControlOption
	if err := ep.GetSockOpt(&cc); err == nil {
		info.CC = string(cc)
	}
	if st, ok := ep.Stats().(*tcp.Stats); ok {
		info.Retrans = st.SendErrors.Retransmits.Value()
		info.Timeouts = st.SendErrors.Timeouts.Value()
		info.SegsIn = st.SegmentsReceived.Value()
		info.SegsOut = st.SegmentsSent.Value()
		info.BytesSent = int64(st.BytesSent.Value())
	}
	if cs, ok := readConnState(ep); ok {
		info.Windows = true
		info.MSS = cs.mss
		info.SndWnd, info.RcvWnd = cs.sndWnd, cs.rcvWnd
		info.SndWScale, info.RcvWScale = cs.sndWndScale, cs.rcvWndScale
		info.Unacked = cs.unacked
		info.RetransOut = cs.retransOut
		info.TS, info.SACK = cs.ts, cs.sack
	}
	return info
}

// caState names a congestion control state the way ss and tcp_info do.
func caState(s tcpip.CongestionControlState) string {
	switch s {
	case tcpip.Open:
		return "Open"
	case tcpip.Disorder:
		return "Disorder"
	case tcpip.FastRecovery, tcpip.SACKRecovery:
		return "Recovery"
	case tcpip.RTORecovery:
		return "Loss"
	}
	return ""
}
