package interop

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/ctl"
	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/sockets"
	"github.com/glassnet/glassnet/tun"
)

// TestSSClosedAsLinux makes the same socket calls on the kernel's TCP (on
// loopback, in this test's network namespace) and on two glassnet stacks
// (client and server over an in-memory link, each answering on a control
// socket), and holds what `glassnet ss` lists after each call to what
// Linux's `ss -tanp` lists: the state, Recv-Q and Send-Q, the two ends
// (named by role: the listener's port, the client's), and whether a
// descriptor holds the socket. A connection closed here and still
// finishing keeps a row in its state without a descriptor; a socket with
// no connection left (reset, refused, its listener closed) has none,
// where glassnet listed it UNCONN (one never used is listed UNCONN still,
// on purpose: ssKept); a connection in TIME-WAIT has neither descriptor
// nor queues while one still holds the socket, where glassnet kept them;
// the peer's FIN counts in Recv-Q until it is read, where it did not.
func TestSSClosedAsLinux(t *testing.T) {
	needProgram(t, "/usr/bin/ss", "iproute2")
	for _, tc := range ssCloseCases {
		t.Run(tc.name, func(t *testing.T) {
			// A namespace for each case, so that no TIME-WAIT of
			// another case is listed.
			netnstest.Run(t, func(t *testing.T) {
				for _, side := range []ssSide{&kernelSide{}, newGlassnetSide(t)} {
					c := &ssCase{side: side, roles: map[uint16]string{}}
					for _, st := range tc.steps {
						st.do(t, c)
						want, as := st.want, "as Linux's ss -tanp lists it"
						if k, ok := ssKept[tc.name+"/"+st.what]; ok && side.name() == "glassnet ss" {
							want, as = k.rows, k.why
						}
						want = slices.Sorted(slices.Values(want))
						got, ok := waitSSRows(side, c.roles, want)
						t.Logf("%s, %s: %s lists %q", tc.name, st.what, side.name(), got)
						if !ok {
							t.Errorf("%s, %s: %s lists\n\t%s\nwant, %s,\n\t%s", tc.name, st.what, side.name(), rowsText(got), as, rowsText(want))
							break
						}
					}
					side.closeAll()
				}
			})
		})
	}
}

// ssStep is a call (or a few) and the rows Linux lists after it.
type ssStep struct {
	what string
	do   func(t *testing.T, c *ssCase)
	want []string
}

// ssKept are the steps after which glassnet lists otherwise than Linux on
// purpose, by case and step: what it lists, and why.
var ssKept = map[string]struct {
	rows []string
	why  string
}{
	"created and closed without connecting/created": {[]string{"UNCONN 0 0 * * fd"},
		"a socket not yet connecting or listening is listed UNCONN, as README's glassnet ss section says (Linux's ss -ta lists none)"},
}

var ssCloseCases = []struct {
	name  string
	steps []ssStep
}{
	{"client closes first", []ssStep{
		{"connected", connectCase, []string{"LISTEN 0 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client fd"}},
		{"the client closes", func(t *testing.T, c *ssCase) { c.side.close(t, true, c.client) },
			[]string{"LISTEN 0 8 listener * fd", "FIN-WAIT-2 0 0 client listener -", "CLOSE-WAIT 1 0 listener client fd"}},
		{"then the server", func(t *testing.T, c *ssCase) { c.side.close(t, false, c.server) },
			[]string{"LISTEN 0 8 listener * fd", "TIME-WAIT 0 0 client listener -"}},
	}},
	{"server closes first", []ssStep{
		{"connected", connectCase, []string{"LISTEN 0 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client fd"}},
		{"the server closes", func(t *testing.T, c *ssCase) { c.side.close(t, false, c.server) },
			[]string{"LISTEN 0 8 listener * fd", "FIN-WAIT-2 0 0 listener client -", "CLOSE-WAIT 1 0 client listener fd"}},
		{"then the client", func(t *testing.T, c *ssCase) { c.side.close(t, true, c.client) },
			[]string{"LISTEN 0 8 listener * fd", "TIME-WAIT 0 0 listener client -"}},
	}},
	{"client resets", []ssStep{
		{"connected", connectCase, []string{"LISTEN 0 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client fd"}},
		{"the client closes with SO_LINGER 0", func(t *testing.T, c *ssCase) {
			c.side.linger0(t, true, c.client)
			c.side.close(t, true, c.client)
		}, []string{"LISTEN 0 8 listener * fd"}},
		{"then the server", func(t *testing.T, c *ssCase) { c.side.close(t, false, c.server) },
			[]string{"LISTEN 0 8 listener * fd"}},
	}},
	{"server resets, a byte unread", []ssStep{
		{"connected", connectCase, []string{"LISTEN 0 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client fd"}},
		{"the client sends a byte", func(t *testing.T, c *ssCase) { c.side.send(t, true, c.client, "x") },
			[]string{"LISTEN 0 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 1 0 listener client fd"}},
		{"the server closes without reading it", func(t *testing.T, c *ssCase) { c.side.close(t, false, c.server) },
			[]string{"LISTEN 0 8 listener * fd"}},
		{"then the client", func(t *testing.T, c *ssCase) { c.side.close(t, true, c.client) },
			[]string{"LISTEN 0 8 listener * fd"}},
	}},
	{"client shuts down sending, server closes", []ssStep{
		{"connected", connectCase, []string{"LISTEN 0 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client fd"}},
		{"the client shuts down sending", func(t *testing.T, c *ssCase) { c.side.shutdownWrite(t, c.client) },
			[]string{"LISTEN 0 8 listener * fd", "FIN-WAIT-2 0 0 client listener fd", "CLOSE-WAIT 1 0 listener client fd"}},
		{"the server reads the end of the stream", func(t *testing.T, c *ssCase) {
			if got := c.side.recvAll(t, false, c.server); got != "" {
				t.Fatalf("%s: the server read %q, want the end of the stream", c.side.name(), got)
			}
		}, []string{"LISTEN 0 8 listener * fd", "FIN-WAIT-2 0 0 client listener fd", "CLOSE-WAIT 0 0 listener client fd"}},
		{"the server sends 3 bytes", func(t *testing.T, c *ssCase) { c.side.send(t, false, c.server, "abc") },
			[]string{"LISTEN 0 8 listener * fd", "FIN-WAIT-2 3 0 client listener fd", "CLOSE-WAIT 0 0 listener client fd"}},
		{"the server closes", func(t *testing.T, c *ssCase) { c.side.close(t, false, c.server) },
			[]string{"LISTEN 0 8 listener * fd", "TIME-WAIT 0 0 client listener -"}},
		{"the client reads the 3 bytes and the end", func(t *testing.T, c *ssCase) {
			if got := c.side.recvAll(t, true, c.client); got != "abc" {
				t.Fatalf("%s: the client read %q, want \"abc\"", c.side.name(), got)
			}
		}, []string{"LISTEN 0 8 listener * fd", "TIME-WAIT 0 0 client listener -"}},
		{"then closes", func(t *testing.T, c *ssCase) { c.side.close(t, true, c.client) },
			[]string{"LISTEN 0 8 listener * fd", "TIME-WAIT 0 0 client listener -"}},
	}},
	{"created and closed without connecting", []ssStep{
		{"created", func(t *testing.T, c *ssCase) { c.client = c.side.socket(t, true) }, nil},
		{"closed", func(t *testing.T, c *ssCase) { c.side.close(t, true, c.client) }, nil},
	}},
	{"connect refused", []ssStep{
		{"refused", func(t *testing.T, c *ssCase) {
			c.client = c.side.socket(t, true)
			if err := c.side.connect(t, c.client, ssClosedPort); err == nil {
				t.Fatalf("%s: connect to port %d, where nothing listens, succeeded", c.side.name(), ssClosedPort)
			}
		}, nil},
		{"closed", func(t *testing.T, c *ssCase) { c.side.close(t, true, c.client) }, nil},
	}},
	{"listener closed with a connection queued", []ssStep{
		{"queued", func(t *testing.T, c *ssCase) {
			c.listener = c.side.listen(t, ssListenPort)
			c.roles[ssListenPort] = "listener"
			c.client = c.side.socket(t, true)
			if err := c.side.connect(t, c.client, ssListenPort); err != nil {
				t.Fatal(err)
			}
			c.roles[c.side.localPort(t, c.client)] = "client"
		}, []string{"LISTEN 1 8 listener * fd", "ESTAB 0 0 client listener fd", "ESTAB 0 0 listener client -"}},
		{"the listener closes", func(t *testing.T, c *ssCase) { c.side.close(t, false, c.listener) }, nil},
		{"then the client", func(t *testing.T, c *ssCase) { c.side.close(t, true, c.client) }, nil},
	}},
}

// The listener's port in every case (each case has a fresh kernel
// namespace or pair of stacks), and a port nothing listens on.
const (
	ssListenPort = 8080
	ssClosedPort = 8081
)

// connectCase opens the listener, connects the client and accepts.
func connectCase(t *testing.T, c *ssCase) {
	c.listener = c.side.listen(t, ssListenPort)
	c.roles[ssListenPort] = "listener"
	c.client = c.side.socket(t, true)
	if err := c.side.connect(t, c.client, ssListenPort); err != nil {
		t.Fatal(err)
	}
	c.roles[c.side.localPort(t, c.client)] = "client"
	c.server = c.side.accept(t, c.listener)
}

// ssCase is one case's descriptors on one side and the roles of its ports.
type ssCase struct {
	side                     ssSide
	listener, client, server int
	roles                    map[uint16]string
}

// ssSide is the kernel or glassnet: the socket calls of the cases, and the
// rows its ss lists. client says on which stack a call acts (glassnet's
// client and server are two stacks; the kernel's are one).
type ssSide interface {
	name() string
	socket(t *testing.T, client bool) int
	listen(t *testing.T, port uint16) int
	connect(t *testing.T, fd int, port uint16) error
	accept(t *testing.T, lfd int) int
	localPort(t *testing.T, fd int) uint16
	send(t *testing.T, client bool, fd int, data string)
	shutdownWrite(t *testing.T, clientFD int)
	// recvAll reads until the end of the stream.
	recvAll(t *testing.T, client bool, fd int) string
	linger0(t *testing.T, client bool, fd int)
	close(t *testing.T, client bool, fd int)
	// rows is what ss lists: "STATE RECV-Q SEND-Q LOCAL PEER fd|-",
	// each address given by port: its role, or the address itself.
	rows(roles map[uint16]string) ([]string, error)
	// closeAll closes what the case left open.
	closeAll()
}

// waitSSRows waits until side lists want, for at most 10 s, and returns
// what it listed last.
func waitSSRows(side ssSide, roles map[uint16]string, want []string) ([]string, bool) {
	var got []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rows, err := side.rows(roles)
		if err != nil {
			got = []string{err.Error()}
		} else {
			got = slices.Sorted(slices.Values(rows))
			if slices.Equal(got, want) {
				return got, true
			}
		}
		if time.Now().After(deadline) {
			return got, false
		}
	}
}

func rowsText(rows []string) string {
	if len(rows) == 0 {
		return "(no row)"
	}
	return strings.Join(rows, "\n\t")
}

// ssRow is one row in the form the sides compare.
func ssRow(state, recvQ, sendQ, local, peer string, fd bool, roles map[uint16]string) string {
	role := func(a string) string {
		i := strings.LastIndexByte(a, ':')
		if i < 0 || a[i+1:] == "*" {
			return "*"
		}
		p, err := strconv.ParseUint(a[i+1:], 10, 16)
		if err != nil {
			return a
		}
		if r, ok := roles[uint16(p)]; ok {
			return r
		}
		return a
	}
	f := "-"
	if fd {
		f = "fd"
	}
	return fmt.Sprintf("%s %s %s %s %s %s", state, recvQ, sendQ, role(local), role(peer), f)
}

// kernelSide makes the calls on kernel sockets on 127.0.0.1, in the
// case's network namespace, and reads ss -tanp there.
type kernelSide struct {
	fds []int
}

func (k *kernelSide) closeAll() {
	for _, fd := range k.fds {
		syscall.Close(fd)
	}
	k.fds = nil
}

func (k *kernelSide) name() string { return "Linux" }

func (k *kernelSide) socket(t *testing.T, client bool) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	k.fds = append(k.fds, fd)
	return fd
}

var loopback4 = [4]byte{127, 0, 0, 1}

func (k *kernelSide) listen(t *testing.T, port uint16) int {
	t.Helper()
	fd := k.socket(t, false)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(port), Addr: loopback4}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	return fd
}

func (k *kernelSide) connect(t *testing.T, fd int, port uint16) error {
	return syscall.Connect(fd, &syscall.SockaddrInet4{Port: int(port), Addr: loopback4})
}

func (k *kernelSide) accept(t *testing.T, lfd int) int {
	t.Helper()
	fd, _, err := syscall.Accept4(lfd, syscall.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	k.fds = append(k.fds, fd)
	return fd
}

func (k *kernelSide) localPort(t *testing.T, fd int) uint16 {
	t.Helper()
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(sa.(*syscall.SockaddrInet4).Port)
}

func (k *kernelSide) send(t *testing.T, client bool, fd int, data string) {
	t.Helper()
	if _, err := syscall.Write(fd, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func (k *kernelSide) shutdownWrite(t *testing.T, fd int) {
	t.Helper()
	if err := syscall.Shutdown(fd, syscall.SHUT_WR); err != nil {
		t.Fatal(err)
	}
}

func (k *kernelSide) recvAll(t *testing.T, client bool, fd int) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := syscall.Read(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return string(got)
		}
		got = append(got, buf[:n]...)
	}
}

func (k *kernelSide) linger0(t *testing.T, client bool, fd int) {
	t.Helper()
	if err := syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0}); err != nil {
		t.Fatal(err)
	}
}

func (k *kernelSide) close(t *testing.T, client bool, fd int) {
	t.Helper()
	if err := syscall.Close(fd); err != nil {
		t.Fatal(err)
	}
	k.fds = slices.DeleteFunc(k.fds, func(f int) bool { return f == fd })
}

func (k *kernelSide) rows(roles map[uint16]string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/ss", "-tanpH").Output()
	if err != nil {
		return nil, fmt.Errorf("ss -tanpH: %v", err)
	}
	var rows []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		rows = append(rows, ssRow(f[0], f[1], f[2], f[3], f[4], len(f) > 5 && strings.HasPrefix(f[5], "users:"), roles))
	}
	return rows, nil
}

// glassnetSide makes the calls on two glassnet stacks over tun.Pipe, the
// client's 10.0.0.1 and the server's 10.0.0.2, each with a control
// socket, and runs glassnet ss on both.
type glassnetSide struct {
	cs, ss     *sockets.Sockets
	cName, sNm string
	opened     []func() // closes what the case opened
}

func (g *glassnetSide) closeAll() {
	for _, c := range g.opened {
		c()
	}
	g.opened = nil
}

func newGlassnetSide(t *testing.T) *glassnetSide {
	t.Helper()
	cdev, sdev := tun.Pipe(tun.PipeOptions{NameA: "client0", NameB: "server0"})
	sst, err := netstack.New(netstack.Options{Device: sdev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24")}})
	if err != nil {
		cdev.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sst.Close() })
	cst, err := netstack.New(netstack.Options{Device: cdev, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cst.Close() })
	g := &glassnetSide{cs: sockets.New(cst.Stack(), sockets.Options{}), ss: sockets.New(sst.Stack(), sockets.Options{})}
	g.cName = fmt.Sprintf("gnssc%d", os.Getpid())
	g.sNm = fmt.Sprintf("gnsss%d", os.Getpid())
	for name, socks := range map[string]*sockets.Sockets{g.cName: g.cs, g.sNm: g.ss} {
		srv, err := ctl.Listen(name, socks, ctl.Options{Node: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
	}
	return g
}

func (g *glassnetSide) name() string { return "glassnet ss" }

func (g *glassnetSide) stack(client bool) *sockets.Sockets {
	if client {
		return g.cs
	}
	return g.ss
}

func (g *glassnetSide) socket(t *testing.T, client bool) int {
	t.Helper()
	fd, err := g.stack(client).Socket(sockets.AF_INET, sockets.SOCK_STREAM)
	if err != nil {
		t.Fatal(err)
	}
	g.opened = append(g.opened, func() { g.stack(client).Close(fd) })
	return fd
}

func (g *glassnetSide) listen(t *testing.T, port uint16) int {
	t.Helper()
	fd := g.socket(t, false)
	if err := g.ss.Bind(fd, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port)); err != nil {
		t.Fatal(err)
	}
	if err := g.ss.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	return fd
}

func (g *glassnetSide) connect(t *testing.T, fd int, port uint16) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return g.cs.Connect(ctx, fd, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port))
}

func (g *glassnetSide) accept(t *testing.T, lfd int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fd, _, err := g.ss.Accept(ctx, lfd)
	if err != nil {
		t.Fatal(err)
	}
	g.opened = append(g.opened, func() { g.ss.Close(fd) })
	return fd
}

func (g *glassnetSide) localPort(t *testing.T, fd int) uint16 {
	t.Helper()
	a, err := g.cs.GetSockName(fd)
	if err != nil {
		t.Fatal(err)
	}
	return a.Port()
}

func (g *glassnetSide) send(t *testing.T, client bool, fd int, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := g.stack(client).Send(ctx, fd, []byte(data), 0); err != nil {
		t.Fatal(err)
	}
}

func (g *glassnetSide) shutdownWrite(t *testing.T, fd int) {
	t.Helper()
	if err := g.cs.Shutdown(fd, sockets.SHUT_WR); err != nil {
		t.Fatal(err)
	}
}

func (g *glassnetSide) recvAll(t *testing.T, client bool, fd int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := g.stack(client).Recv(ctx, fd, buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return string(got)
		}
		got = append(got, buf[:n]...)
	}
}

func (g *glassnetSide) linger0(t *testing.T, client bool, fd int) {
	t.Helper()
	if err := g.stack(client).SetSockOpt(fd, sockets.SOL_SOCKET, sockets.SO_LINGER, 0); err != nil {
		t.Fatal(err)
	}
}

func (g *glassnetSide) close(t *testing.T, client bool, fd int) {
	t.Helper()
	if err := g.stack(client).Close(fd); err != nil {
		t.Fatal(err)
	}
}

// rows runs glassnet ss --brief on both stacks: the client's and the
// server's rows together are what the kernel's one stack lists.
func (g *glassnetSide) rows(roles map[uint16]string) ([]string, error) {
	var rows []string
	for _, name := range []string{g.cName, g.sNm} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, glassnetBin, "ss", "--brief", name).Output()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("glassnet ss %s: %v", name, err)
		}
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) < 7 || f[0] == "Netid" {
				continue
			}
			rows = append(rows, ssRow(f[1], f[2], f[3], f[4], f[5], f[6] != "-", roles))
		}
	}
	return rows, nil
}
