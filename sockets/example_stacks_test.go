package sockets_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// The BSD-style calls between two stacks wired back to back in memory, as
// a program builds them (the other examples use a bare gVisor loopback
// stack): a server on 10.0.0.2 echoes, a client on 10.0.0.1 connects,
// sends, reads the echo, shuts down its side and reads end of stream.
// A connect to a port nobody listens on fails with ECONNREFUSED, a
// syscall.Errno as connect(2) would return.
func ExampleSockets_Connect() {
	clientDev, serverDev := tun.Pipe(tun.PipeOptions{})
	server, err := netstack.New(netstack.Options{Device: serverDev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()
	client, err := netstack.New(netstack.Options{Device: clientDev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	srv := sockets.New(server.Stack(), sockets.Options{})
	cli := sockets.New(client.Stack(), sockets.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	lfd, _ := srv.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err := srv.Bind(lfd, netip.MustParseAddrPort("10.0.0.2:7")); err != nil {
		fmt.Println("bind:", err)
		return
	}
	srv.Listen(lfd, 16)
	go func() {
		for {
			cfd, _, err := srv.Accept(ctx, lfd)
			if err != nil {
				return // the listener closed
			}
			go func() {
				defer srv.Close(cfd)
				buf := make([]byte, 1024)
				for {
					n, err := srv.Recv(ctx, cfd, buf, 0)
					if n == 0 || err != nil { // 0, nil: the client shut down its side
						return
					}
					srv.Send(ctx, cfd, buf[:n], 0)
				}
			}()
		}
	}()
	defer srv.Close(lfd)

	fd, _ := cli.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err := cli.Connect(ctx, fd, netip.MustParseAddrPort("10.0.0.2:7")); err != nil {
		fmt.Println("connect:", err)
		return
	}
	local, _ := cli.GetSockName(fd)
	fmt.Println("fd", fd, "from", local.Addr())
	cli.Send(ctx, fd, []byte("hello"), 0)
	buf := make([]byte, 5)
	n, err := cli.Recv(ctx, fd, buf, sockets.MSG_WAITALL)
	fmt.Printf("echo %q %v\n", buf[:n], err)
	cli.Shutdown(fd, sockets.SHUT_WR)
	n, err = cli.Recv(ctx, fd, buf, 0)
	fmt.Println("end of stream:", n, err)
	cli.Close(fd)

	fd, _ = cli.Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	err = cli.Connect(ctx, fd, netip.MustParseAddrPort("10.0.0.2:9"))
	fmt.Println("port 9:", err, errors.Is(err, syscall.ECONNREFUSED))
	cli.Close(fd)

	// The same echo through the net.Conn adapter.
	c, err := cli.DialContext(ctx, "tcp", "10.0.0.2:7")
	if err != nil {
		fmt.Println(err)
		return
	}
	io.WriteString(c, "again")
	io.ReadFull(c, buf)
	fmt.Printf("net.Conn echo %q\n", buf)
	c.Close()
	// Output:
	// fd 3 from 10.0.0.1
	// echo "hello" <nil>
	// end of stream: 0 <nil>
	// port 9: connection refused true
	// net.Conn echo "again"
}
