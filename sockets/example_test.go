package sockets_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/trace"
)

// newLoopbackStack builds a gVisor stack with a loopback NIC that holds
// 127.0.0.1/8 and ::1.
func newLoopbackStack() *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	s.CreateNIC(1, loopback.New())
	s.AddProtocolAddress(1, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8},
	}, stack.AddressProperties{})
	s.AddProtocolAddress(1, tcpip.ProtocolAddress{
		Protocol:          ipv6.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16(netip.IPv6Loopback().As16()), PrefixLen: 128},
	}, stack.AddressProperties{})
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: 1},
		{Destination: header.IPv6EmptySubnet, NIC: 1},
	})
	return s
}

// The system-call style API: a listener, a client, one echo.
func Example() {
	st := newLoopbackStack()
	defer st.Destroy()
	s := sockets.New(st, sockets.Options{})
	ctx := context.Background()

	lfd, _ := s.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	s.Bind(lfd, netip.MustParseAddrPort("127.0.0.1:7"))
	s.Listen(lfd, 16)

	go func() {
		cfd, _, err := s.Accept(ctx, lfd)
		if err != nil {
			return
		}
		defer s.Close(cfd)
		buf := make([]byte, 1024)
		for {
			n, err := s.Recv(ctx, cfd, buf, 0)
			if n == 0 || err != nil { // 0, nil: the peer sent FIN
				return
			}
			s.Send(ctx, cfd, buf[:n], 0)
		}
	}()

	fd, _ := s.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err := s.Connect(ctx, fd, netip.MustParseAddrPort("127.0.0.1:7")); err != nil {
		fmt.Println("connect:", err)
		return
	}
	s.Send(ctx, fd, []byte("hello"), 0)
	buf := make([]byte, 5)
	n, _ := s.Recv(ctx, fd, buf, sockets.MSG_WAITALL)
	fmt.Printf("fd %d got %q\n", fd, buf[:n])

	s.Shutdown(fd, sockets.SHUT_WR)
	n, err := s.Recv(ctx, fd, buf, 0)
	fmt.Println("after FIN:", n, err)
	s.Close(fd)
	s.Close(lfd)
	// Output:
	// fd 4 got "hello"
	// after FIN: 0 <nil>
}

// net/http over the stack: the server on Listener, the client dialing with
// DialContext.
func ExampleSockets_Listener() {
	st := newLoopbackStack()
	defer st.Destroy()
	s := sockets.New(st, sockets.Options{})

	ln, err := s.Listener("tcp", "127.0.0.1:8080")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "served by glassnet")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	tr := &http.Transport{DialContext: s.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://127.0.0.1:8080/")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, ": ", string(body))
	// Output:
	// 200 OK: served by glassnet
}

// A nonblocking connect finishes when Poll reports POLLOUT; SO_ERROR holds
// the outcome.
func ExampleSockets_Poll() {
	st := newLoopbackStack()
	defer st.Destroy()
	s := sockets.New(st, sockets.Options{})
	ctx := context.Background()

	fd, _ := s.Socket(sockets.AF_INET, sockets.SOCK_STREAM|syscall.SOCK_NONBLOCK)
	err := s.Connect(ctx, fd, netip.MustParseAddrPort("127.0.0.1:9")) // nothing listens there
	fmt.Println("connect:", err)

	fds := []sockets.PollFD{{FD: fd, Events: sockets.POLLOUT}}
	n, _ := s.Poll(ctx, fds, time.Second)
	soErr, _ := s.GetSockOpt(fd, sockets.SOL_SOCKET, sockets.SO_ERROR)
	fmt.Println("ready:", n, "POLLERR:", fds[0].Revents&sockets.POLLERR != 0, "SO_ERROR:", syscall.Errno(soErr))
	s.Close(fd)
	// Output:
	// connect: operation now in progress
	// ready: 1 POLLERR: true SO_ERROR: connection refused
}

// Every step of the receive path is a trace event.
func ExampleOptions_tracer() {
	st := newLoopbackStack()
	defer st.Destroy()
	tr := trace.New(trace.SinkFunc(func(e *trace.Event) {
		if e.Name == "recv" || e.Name == "send" {
			fmt.Printf("%s %s: %s\n", e.Layer, e.Name, e.Summary)
		}
	}))
	s := sockets.New(st, sockets.Options{Tracer: tr, Node: "demo"})
	ctx := context.Background()

	ln, _ := s.Listener("tcp4", "127.0.0.1:0")
	defer ln.Close()
	c, _ := s.Dial(ctx, "tcp", ln.Addr().String())
	defer c.Close()
	srv, _ := ln.Accept()
	defer srv.Close()

	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(srv, buf)
	// Output:
	// socket send: copied 5 bytes into the send buffer at offset 0
	// socket recv: copied 5 bytes at offset 0
}

func ExampleSockets_Table() {
	st := newLoopbackStack()
	defer st.Destroy()
	s := sockets.New(st, sockets.Options{})

	ln, _ := s.Listener("tcp4", "127.0.0.1:80")
	defer ln.Close()
	c, _ := s.Dial(context.Background(), "tcp", "127.0.0.1:80")
	defer c.Close()

	for _, row := range s.Table() {
		if row.State == "LISTEN" {
			fmt.Printf("%d %s %s on %s, backlog %d\n", row.FD, row.Network(), row.State, row.Local, row.Backlog)
		} else {
			fmt.Printf("%d %s %s to %s\n", row.FD, row.Network(), row.State, row.Peer)
		}
	}
	// Output:
	// 3 tcp LISTEN on 127.0.0.1:80, backlog 1024
	// 4 tcp ESTABLISHED to 127.0.0.1:80
}
