// Package wsdiff is a differential RFC 6455 probe: its tests send the same
// raw client byte streams to glassnet's WebSocket echo server and to the
// echo servers of gorilla/websocket, coder/websocket and gobwas/ws, each
// over kernel loopback, and compare what each answers: the status and the
// negotiated headers of the opening handshake, the frames sent back (the
// close code and reason above all), and how the TCP connection then ends
// (a FIN, a reset, or left open).
//
// glassnet's answer to every case is asserted; the other libraries' are
// recorded. `go test -run TestDifferential -table FILE` writes the table
// of the cases where they differ, with the RFC section that decides each.
// ws/conformance checks glassnet alone and more strictly; this package is
// the side-by-side view.
package wsdiff
