// Package sockets is a BSD-style socket API on a gVisor netstack, with
// net.Conn and net.Listener adapters on top so that net/http and the ws
// package run over the stack unchanged.
//
// A Sockets value is a descriptor table: Socket returns small integers
// starting at 3, and a closed descriptor is reused lowest-first, as in the
// kernel. The calls mirror the system calls (Bind, Listen, Accept, Connect,
// Send, Recv, SendTo, RecvFrom, Shutdown, Close, SetSockOpt, GetSockOpt,
// Poll); blocking ones take a context.Context first, and errors are
// syscall.Errno values (ECONNREFUSED, ECONNRESET, EPIPE, EAGAIN...) that
// errors.Is can match. Recv returns 0 and a nil error at end of stream, as
// recv(2) does.
//
// Accept takes connections from the endpoint's own accept queue, and every
// blocking call sleeps on the endpoint's waiter.Queue, so a trace shows the
// steps the kernel hides: "would-block" (nothing to read, going to sleep),
// "woken" (EventIn notified) and "recv" (copied N bytes at stream offset X).
//
// With a Tracer, every socket also keeps one entry on its wait queue that
// reports each notification netstack delivers ("wake", with the event
// mask), whether or not a call is asleep; a listener reports each
// connection made ready in its accept queue ("accept-queue", with the
// depth). Without a Tracer no such entry exists.
//
// Options.CallLog (and, with a Tracer, "call" events) records every call
// as strace -T prints a system call, including the calls the adapters
// make:
//
//	accept(3, 10.0.0.1:51072) = 4 <0.000950>
//	recv(4, 4096, MSG_DONTWAIT) = -1 EAGAIN (Resource temporarily unavailable) <0.000003>
//
// Snapshot is Table with what ss -tani shows: TCP details (rtt, rto,
// cwnd, mss, windows, retransmissions) and the connections the stack has
// without a descriptor (SYN-RCVD, waiting in an accept queue, TIME-WAIT).
//
// Raw API:
//
//	s := sockets.New(stack, sockets.Options{Tracer: tr, Node: "server"})
//	fd, _ := s.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
//	_ = s.Bind(fd, netip.MustParseAddrPort("10.200.0.2:7"))
//	_ = s.Listen(fd, 16)
//	for {
//		cfd, peer, err := s.Accept(ctx, fd)
//		if err != nil {
//			return err
//		}
//		go func() {
//			defer s.Close(cfd)
//			buf := make([]byte, 32<<10)
//			for {
//				n, err := s.Recv(ctx, cfd, buf, 0)
//				if n == 0 || err != nil { // 0, nil is end of stream
//					return
//				}
//				s.Send(ctx, cfd, buf[:n], 0)
//			}
//		}()
//	}
//
// Adapters:
//
//	ln, _ := s.Listener("tcp", ":8080")
//	go http.Serve(ln, handler)
//	client := &http.Client{Transport: &http.Transport{DialContext: s.DialContext}}
//
// A server with many idle connections need not park a goroutine on each:
// Conn.NotifyReadable puts a one-shot callback on the endpoint's wait
// queue, which costs one small entry while it waits and starts a goroutine
// only when data (or EOF, a reset, Close) arrives:
//
//	var serve func()
//	serve = func() {
//		n, err := c.Read(buf) // does not block: the socket is readable
//		if err != nil {
//			c.Close()
//			return
//		}
//		c.Write(buf[:n])
//		c.NotifyReadable(serve)
//	}
//	c.NotifyReadable(serve)
//
// The adapters follow the net package's error contract: *net.OpError with
// the errno inside, io.EOF at orderly end of stream, os.ErrDeadlineExceeded
// for deadlines, net.ErrClosed after Close.
//
// What sockets is not: it does not build the stack or move packets. A
// Sockets takes a *stack.Stack that netstack made (netstack.Stack.Stack)
// on a device from tun; link, IP and TCP hooks, drop counters and TCP
// state names are netstack's. It speaks no protocol above TCP and UDP: the
// WebSocket layer is ws, which runs over the net.Conn adapters here. The
// control socket that shows Snapshot to `glassnet ss` is ctl.
package sockets
