package sockets

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/netstack"
)

// SocketInfo is one row of Table or Snapshot, the columns ss(8) shows.
type SocketInfo struct {
	// FD is the descriptor, or -1 for a connection the stack has and no
	// descriptor refers to, and for one in TIME-WAIT (Snapshot only, as
	// ss lists them).
	FD     int
	Domain int // AF_INET or AF_INET6
	Type   int // SOCK_STREAM or SOCK_DGRAM
	// State is the TCP state as netstack names it (LISTEN, SYN-SENT,
	// ESTABLISHED, CLOSE-WAIT, FIN-WAIT1, TIME-WAIT, CLOSED...; INITIAL
	// and BOUND before connect or listen), or INITIAL, BOUND, CONNECTED or
	// CLOSED for a datagram socket.
	State   string
	Local   netip.AddrPort // the local address, as GetSockName returns it
	Peer    netip.AddrPort // the connected peer, or the address a SYN-SENT socket connects to (as ss shows it); zero otherwise
	Backlog int            // for a listener, as passed to Listen
	RecvQ   int            // bytes received and not yet read; in Snapshot, as in ss, and the peer's FIN until a recv returns the end of the stream
	SendQ   int            // TCP: bytes written and not yet acknowledged, and an unacknowledged FIN (Linux's SIOCOUTQ)

	// The rest is filled in by Snapshot only.

	// AcceptQ is, for a listener, the number of established connections
	// waiting in its accept queue (the rows with Queued set).
	AcceptQ int `json:",omitempty"`
	// Queued marks a connection waiting in a listener's accept queue.
	Queued bool `json:",omitempty"`
	// TCP holds the ss -ti details of a TCP endpoint.
	TCP *TCPInfo `json:",omitempty"`
}

// SSState returns a socket's state as ss(8) names it, given its type
// (SOCK_STREAM or SOCK_DGRAM) and its State: ESTAB, SYN-RECV, FIN-WAIT-1,
// FIN-WAIT-2, and UNCONN for a socket with no connection (INITIAL, BOUND,
// CLOSED, ERROR; a datagram socket that is not CONNECTED); SYN-SENT for
// CONNECTING, a connect whose SYN is not yet out. The other TCP states
// are named alike (LISTEN, SYN-SENT, CLOSE-WAIT, LAST-ACK, CLOSING,
// TIME-WAIT).
func SSState(typ int, state string) string {
	if typ == SOCK_DGRAM {
		if state == "CONNECTED" {
			return "ESTAB"
		}
		return "UNCONN"
	}
	switch state {
	case "ESTABLISHED":
		return "ESTAB"
	case "SYN-RCVD":
		return "SYN-RECV"
	case "CONNECTING":
		return "SYN-SENT"
	case "FIN-WAIT1":
		return "FIN-WAIT-1"
	case "FIN-WAIT2":
		return "FIN-WAIT-2"
	case "INITIAL", "BOUND", "CLOSED", "ERROR":
		return "UNCONN"
	}
	return state
}

// SSState returns the row's state as ss(8) names it (the function
// SSState).
func (i SocketInfo) SSState() string { return SSState(i.Type, i.State) }

// Network returns "tcp", "tcp6", "udp" or "udp6", as ss and netstat label
// rows.
func (i SocketInfo) Network() string {
	n := "tcp"
	if i.Type == SOCK_DGRAM {
		n = "udp"
	}
	if i.Domain == AF_INET6 {
		n += "6"
	}
	return n
}

// Table lists the open descriptors in ascending order.
func (s *Sockets) Table() []SocketInfo {
	rows, _ := s.table()
	return rows
}

// table returns the rows of Table and the sockets they describe.
func (s *Sockets) table() ([]SocketInfo, []*socket) {
	s.mu.Lock()
	socks := make([]*socket, 0, len(s.fds))
	for _, so := range s.fds {
		if so != nil {
			socks = append(socks, so)
		}
	}
	s.mu.Unlock()

	rows := make([]SocketInfo, 0, len(socks))
	for _, so := range socks {
		row := SocketInfo{FD: so.fd, Domain: so.domain, Type: so.typ, Local: s.local(so)}
		row.Peer, _ = s.peer(so)
		if so.stream() {
			st := tcp.EndpointState(so.ep.State())
			row.State = netstack.TCPStateName(st)
			if !row.Peer.IsValid() && connecting(st) {
				row.Peer = connectingTo(so)
			}
		} else {
			row.State = transport.DatagramEndpointState(so.ep.State()).String()
		}
		so.mu.Lock()
		row.Backlog = so.backlog
		so.mu.Unlock()
		if v, err := so.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption); err == nil {
			row.RecvQ = v
		}
		if v, err := so.ep.GetSockOptInt(tcpip.SendQueueSizeOption); err == nil {
			row.SendQ = v
		}
		rows = append(rows, row)
	}
	return rows, socks
}

// connecting reports whether a TCP endpoint in state st has started its
// handshake and not finished it.
func connecting(st tcp.EndpointState) bool {
	return st == tcp.StateConnecting || st == tcp.StateSynSent || st == tcp.StateSynRecv
}

// connectingTo returns the address a connecting stream socket sends its
// SYN to. getpeername has none until the handshake completes (ENOTCONN,
// as in Linux); the endpoint's ID has it from Connect on.
func connectingTo(so *socket) netip.AddrPort {
	info, ok := so.ep.Info().(*stack.TransportEndpointInfo)
	if !ok || info.ID.RemotePort == 0 {
		return netip.AddrPort{}
	}
	return addrPort(so.domain, tcpip.FullAddress{Addr: info.ID.RemoteAddress, Port: info.ID.RemotePort})
}
