// Package conformance is a WebSocket (RFC 6455) conformance harness
// written from the RFC and the case descriptions of the Autobahn
// testsuite. It re-creates Autobahn's case groups 1 (framing), 2
// (ping/pong), 3 (reserved bits), 4 (opcodes), 5 (fragmentation), 6 (UTF-8,
// including fail-fast on the first invalid octet), 7 (close handling), 9
// (limits and sizes) and 10 (misc), with Autobahn's numbering, adds cases
// Autobahn lacks (marked Extra: opening handshake checks in group 0,
// non-minimal and bogus lengths, wrong masking, more close codes, messages
// over the size limit) and judges each case as Autobahn does: a behavior
// verdict (OK, NON-STRICT, INFORMATIONAL, FAILED) and a close verdict (the
// code received, who closed first, whether TCP ended cleanly), with
// stricter rules: a peer that must fail the connection has to send a close
// frame with the right code, and TCP has to end with a FIN from the side
// RFC 6455 §7.1.1 names.
//
// The harness runs both ways. Against a server it plays the client: it
// dials, sends the opening handshake and writes raw frames, masked or not,
// with any FIN, RSV, opcode and length, in one write, frame by frame, in
// chops of a fixed size or an octet at a time. Against a client it plays
// the server: it accepts the client's connection, answers the handshake
// and writes unmasked frames, and checks the client symmetrically (a
// masked server frame must be rejected, a bad Sec-WebSocket-Accept must
// fail the handshake). The peer under test echoes every message it reads.
//
//	results, err := conformance.Run(ctx, conformance.Target{
//		Name: "server over loopback",
//		Server: &conformance.ServerTarget{
//			Dial: func(ctx context.Context) (net.Conn, error) {
//				var d net.Dialer
//				return d.DialContext(ctx, "tcp", addr)
//			},
//			Host: addr, Path: "/echo",
//		},
//	}, conformance.Options{})
//	fmt.Print(conformance.Table("server over loopback", results))
//	for _, r := range results {
//		if !r.Passed() {
//			fmt.Println(r)
//		}
//	}
//
// Frame, Encode, ChopWriter and ReadFrame are the raw frame level, usable
// on their own.
package conformance
