package sockets

import (
	"strconv"

	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/trace"
)

// emit sends one socket-layer event, with the fields of its kind's struct
// (trace.SocketIO, trace.SocketWoken, ...). Callers check s.tr.Enabled() first so that
// building the summary and fields costs nothing when tracing is off. An
// empty conn is filled in from the endpoint's addresses.
func (s *Sockets) emit(so *socket, conn string, dir trace.Dir, name, summary string, fields ...trace.Field) {
	if conn == "" {
		conn = s.connString(so)
	}
	s.tr.Emit(trace.Event{
		Node:    s.node,
		Layer:   trace.LayerSocket,
		Dir:     dir,
		Name:    name,
		Conn:    conn,
		Summary: summary,
		Fields:  fields,
	})
}

// connString is "local->peer", or just the local address when there is no
// peer.
func (s *Sockets) connString(so *socket) string {
	var local, peer tcpip.FullAddress
	var lerr, perr tcpip.Error
	local, lerr = so.ep.GetLocalAddress()
	peer, perr = so.ep.GetRemoteAddress()
	l := ""
	if lerr == nil {
		l = addrPort(so.domain, local).String()
	}
	if perr != nil {
		return l
	}
	return l + "->" + addrPort(so.domain, peer).String()
}

func itoa(n int) string { return strconv.Itoa(n) }
