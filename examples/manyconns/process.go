package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	"github.com/glassnet/glassnet/tun"
)

// With -client-process the client stack runs in a child process (this
// program again, told so by clientEnv) and the link between the stacks is
// a SOCK_SEQPACKET socket pair, one IP packet per message. The server's
// process then holds the server and nothing else, so its heap spans, its
// stacks and its peak RSS are the server's own.

// clientEnv marks the child process that runs the client stack.
const clientEnv = "MANYCONNS_CLIENT"

// clientReady is the child's last line: every connection is open, pinged
// and echoed, and it waits to be told to go.
const clientReady = "client: ready"

// packetPair returns the two ends of a SOCK_SEQPACKET socket pair.
func packetPair() (a, b *os.File, err error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair(AF_UNIX, SOCK_SEQPACKET): %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "link-server"), os.NewFile(uintptr(fds[1]), "link-client"), nil
}

// packetDevice is a tun.Device on one end of a SOCK_SEQPACKET socket: each
// message is one IP packet. Writes block while the socket's buffer is full.
// When the other end is gone (the child exited) the wire is cut: Read
// waits for Close, and each packet written is refused, which netstack
// counts as a drop.
type packetDevice struct {
	name   string
	c      *net.UnixConn
	closed chan struct{}
	once   sync.Once
}

var _ tun.Device = (*packetDevice)(nil)

func newPacketDevice(name string, f *os.File) (*packetDevice, error) {
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("%s: not a unix socket", name)
	}
	return &packetDevice{name: name, c: uc, closed: make(chan struct{})}, nil
}

func (d *packetDevice) Name() string   { return d.name }
func (d *packetDevice) MTU() int       { return 1500 }
func (d *packetDevice) BatchSize() int { return 1 }
func (d *packetDevice) isClosed() bool { return isDone(d.closed) }

func (d *packetDevice) Read(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	n, err := d.c.Read(bufs[0])
	if err != nil || n == 0 {
		// A zero-length read is the other end closing.
		if !d.isClosed() {
			<-d.closed
		}
		return 0, tun.ErrClosed
	}
	sizes[0] = n
	return 1, nil
}

func (d *packetDevice) Write(pkts [][]byte) (int, error) {
	for i, p := range pkts {
		if _, err := d.c.Write(p); err != nil {
			if d.isClosed() {
				return i, tun.ErrClosed
			}
			return i, err
		}
	}
	return len(pkts), nil
}

func (d *packetDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	return d.c.Close()
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// runClientProcess starts the client in a child process on link, with the
// same arguments, copies its report to out until it is ready, then lets it
// exit. The child exits without closing its connections or its stack, so
// nothing is sent: the server's connections stay established and idle.
func runClientProcess(ctx context.Context, link *os.File, args []string, out io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), clientEnv+"=1")
	cmd.ExtraFiles = []*os.File{link} // fd 3 in the child
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	link.Close()
	ready := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == clientReady {
			ready = true
			break
		}
		fmt.Fprintln(out, sc.Text())
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("client process: %w", err)
	}
	if !ready {
		return errors.New("client process ended before its connections were ready")
	}
	return nil
}

// clientMain is the child process: the client stack on the link at fd 3.
func clientMain(ctx context.Context, args []string) int {
	o, err := parseOptions(args, os.Stderr)
	if err != nil {
		return 2
	}
	dev, err := newPacketDevice("client", os.NewFile(3, "link"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "manyconns client:", err)
		return 1
	}
	client, conns, err := clientSide(ctx, dev, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manyconns client:", err)
		return 1
	}
	fmt.Println(clientReady)
	// Wait until the server side closes stdin, then exit with every
	// connection open: the process ends and the link with it, and the
	// client stack never sends a FIN or a RST.
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(client)
	runtime.KeepAlive(conns)
	return 0
}
