package sockets_test

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/transport"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
)

// TestSSState: every state a socket table row can have is named as ss(8)
// names it, for a stream and a datagram socket, and a fresh or
// unconnected socket is UNCONN, as in ss.
func TestSSState(t *testing.T) {
	t.Parallel()
	ssNames := map[string]bool{"UNCONN": true, "ESTAB": true, "SYN-SENT": true, "SYN-RECV": true, "FIN-WAIT-1": true, "FIN-WAIT-2": true,
		"TIME-WAIT": true, "CLOSE-WAIT": true, "LAST-ACK": true, "LISTEN": true, "CLOSING": true}
	var rows []sockets.SocketInfo
	for st := tcp.StateEstablished; st <= tcp.StateError; st++ {
		for _, name := range []string{st.String(), netstack.TCPStateName(st)} {
			rows = append(rows, sockets.SocketInfo{Type: sockets.SOCK_STREAM, State: name})
		}
	}
	for st := transport.DatagramEndpointStateInitial; st <= transport.DatagramEndpointStateClosed; st++ {
		rows = append(rows, sockets.SocketInfo{Type: sockets.SOCK_DGRAM, State: st.String()})
	}
	for _, r := range rows {
		if got := r.SSState(); !ssNames[got] || sockets.SSState(r.Type, r.State) != got {
			t.Errorf("type %d state %s: %q, not a state ss(8) names", r.Type, r.State, got)
		}
	}
	for _, c := range []struct {
		typ         int
		state, want string
	}{
		{sockets.SOCK_STREAM, "INITIAL", "UNCONN"},
		{sockets.SOCK_STREAM, "BOUND", "UNCONN"},
		{sockets.SOCK_STREAM, "SYN-RCVD", "SYN-RECV"},
		{sockets.SOCK_STREAM, "FIN-WAIT1", "FIN-WAIT-1"},
		{sockets.SOCK_STREAM, "ESTABLISHED", "ESTAB"},
		{sockets.SOCK_STREAM, "TIME-WAIT", "TIME-WAIT"},
		{sockets.SOCK_STREAM, "CONNECTING", "SYN-SENT"},
		{sockets.SOCK_STREAM, "SYN-SENT", "SYN-SENT"},
		{sockets.SOCK_STREAM, "FIN-WAIT2", "FIN-WAIT-2"},
		{sockets.SOCK_STREAM, "CLOSE-WAIT", "CLOSE-WAIT"},
		{sockets.SOCK_STREAM, "LAST-ACK", "LAST-ACK"},
		{sockets.SOCK_STREAM, "CLOSING", "CLOSING"},
		{sockets.SOCK_STREAM, "LISTEN", "LISTEN"},
		{sockets.SOCK_STREAM, "CLOSED", "UNCONN"},
		{sockets.SOCK_DGRAM, "BOUND", "UNCONN"},
		{sockets.SOCK_DGRAM, "CONNECTED", "ESTAB"},
	} {
		if got := sockets.SSState(c.typ, c.state); got != c.want {
			t.Errorf("SSState(%d, %s) = %q, want %q", c.typ, c.state, got, c.want)
		}
	}
}
