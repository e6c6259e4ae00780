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
// The protocol is one JSON object each way, one request per connection
// (a newline after the request is allowed, not needed):
//
//	→ {"op":"sockets"}
//	← {"node":"glassnet","sockets":[{"FD":3,"State":"LISTEN",...},...],
//	   "counters":{"drop loss":12,...},
//	   "process":{"heap_inuse":12976128,"heap_alloc":9543680,"heap_idle":...,
//	              "heap_released":...,"rss":32505856,"goroutines":14,"sockets":7}}
//
// The process part (Process) is the serving process's Go heap, RSS,
// goroutines and socket count, so that anyone can watch whether they come
// back after load.
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
