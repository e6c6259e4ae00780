// Package ctl is the control socket of a running glassnet stack: a unix
// socket that answers questions about the stack while it runs, and the
// client that asks them. Today it answers one, the socket table, which is
// what `glassnet ss` prints.
//
// The socket lives at /run/glassnet/NAME.sock, where NAME is usually the
// TUN interface's name. When /run/glassnet cannot be created or written
// (not root), the server uses $XDG_RUNTIME_DIR/glassnet and then
// os.TempDir()/glassnet instead, and the client looks in the same places
// in the same order. The socket is mode 0600: query it as the user that
// runs the server (root for a serve on a TUN).
//
// The protocol is one JSON object per line, one request per connection:
//
//	→ {"op":"sockets"}
//	← {"node":"glassnet","sockets":[{"FD":3,"State":"LISTEN",...},...]}
//
// Server side:
//
//	srv, err := ctl.Listen("glass0", socks, ctl.Options{Node: "glassnet"})
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//
// Client side:
//
//	rows, err := ctl.Query(ctx, "glass0") // "" finds the only running one
//	if err != nil {
//		return err
//	}
//	ctl.Render(os.Stdout, rows, ctl.RenderOptions{Info: true})
//
// What ctl is not: it does not run or change a stack, and the rows it
// returns are sockets.Snapshot's (the socket table and TCP details are
// gathered there). Starting a stack is internal/app's (glassnet serve);
// the live event stream of a running stack is the trace package's sinks
// and the browser view, not this socket.
package ctl
