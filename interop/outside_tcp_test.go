package interop

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
)

// TestOutsideEchoManyClients: three hundred kernel clients at once send
// 4 MiB each to glassnet's TCP echo, end their side and read the echo
// back, byte for byte, while thirty others reset their connection midway
// and twenty stop reading (the echo waits behind their shut windows) until
// the rest are done, then read theirs. Every echo must come back whole:
// closed as soon as it had the client's FIN, an echo connection with its
// last megabyte in flight was an orphan, and with that many ending at
// once the stack's bound on orphans reset dozens of them. Afterwards
// serve holds no connection on the echo port and as many goroutines as
// before.
func TestOutsideEchoManyClients(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		const (
			name    = "gnecho0"
			addr    = "10.203.0.2"
			clients = 300
			aborted = 30
			stalled = 20
			size    = 4 << 20
		)
		startServeArgs(t, "serve", "--tun", name, "--addr", addr+"/24")
		before := processLine(t, name)

		var (
			wg, stallers sync.WaitGroup
			others       = make(chan struct{}) // closed when the readers are done
			errs         = make(chan error, clients+aborted+stalled)
		)
		for i := range clients + aborted + stalled {
			w := &wg
			if i >= clients+aborted {
				w = &stallers
			}
			w.Add(1)
			go func() {
				defer w.Done()
				var err error
				switch {
				case i < clients:
					err = echoWhole(addr+":7", uint64(i), size)
				case i < clients+aborted:
					err = echoAbort(addr+":7", uint64(i), size)
				default:
					err = echoStalled(addr+":7", uint64(i), others)
				}
				if err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(others)
		stallers.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		// The connections leave serve's table as their FINs are
		// acknowledged; the goroutines that served them end with them.
		deadline := time.Now().Add(30 * time.Second)
		for {
			out := run(t, 20*time.Second, glassnetBin, "ss", name)
			rows := echoRows(out, addr)
			after := processLine(t, name)
			if len(rows) == 0 && after.goroutines <= before.goroutines {
				if n := counter(out, "tcp orphans reset"); n != 0 {
					t.Errorf("serve reset %d echo connections at their close:\n%s", n, out)
				}
				t.Logf("before: %s\nafter: %s", before.line, after.line)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("30 s after the clients ended serve still has %d connections on the echo port and %d goroutines (%d before):\n%s", len(rows), after.goroutines, before.goroutines, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// echoWhole sends size random bytes to the echo at addr, ends its side,
// and checks that the same bytes and then EOF come back.
func echoWhole(addr string, seed uint64, size int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	sent, got := sha256.New(), sha256.New()
	werr := make(chan error, 1)
	go func() {
		werr <- sendRandom(c, io.MultiWriter(c, sent), seed, size)
	}()
	n, err := io.Copy(got, c)
	if err != nil {
		return fmt.Errorf("read the echo: %w (after %d bytes)", err, n)
	}
	if err := <-werr; err != nil {
		return err
	}
	if n != int64(size) || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		return fmt.Errorf("the echo has %d bytes that differ from the %d sent", n, size)
	}
	return nil
}

// sendRandom writes size bytes from a generator seeded with seed to w,
// then ends c's sending side (FIN).
func sendRandom(c net.Conn, w io.Writer, seed uint64, size int) error {
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	buf := make([]byte, 64<<10)
	for left := size; left > 0; {
		p := buf[:min(left, len(buf))]
		src.Read(p)
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		left -= len(p)
	}
	return c.(*net.TCPConn).CloseWrite()
}

// echoAbort sends half of size to the echo, reading what comes back, and
// resets the connection (SO_LINGER 0).
func echoAbort(addr string, seed uint64, size int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	go io.Copy(io.Discard, c)
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	p := make([]byte, size/2)
	src.Read(p)
	if _, err := c.Write(p); err != nil {
		c.Close()
		return fmt.Errorf("write: %w", err)
	}
	c.(*net.TCPConn).SetLinger(0)
	return c.Close()
}

// echoStalled writes to the echo without reading until its writes no
// longer go through (the echo waits behind its shut window, and the
// client behind the echo's), waits until others is closed, then ends its
// side and reads the whole echo back.
func echoStalled(addr string, seed uint64, others <-chan struct{}) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	sent := sha256.New()
	buf := make([]byte, 64<<10)
	total := 0
	for {
		src.Read(buf)
		c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(buf)
		sent.Write(buf[:n])
		total += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	<-others
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	got := sha256.New()
	n, err := io.Copy(got, c)
	if err != nil {
		return fmt.Errorf("read the echo after the stall: %w (after %d bytes)", err, n)
	}
	if n != int64(total) || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		return fmt.Errorf("after the stall the echo has %d bytes that differ from the %d sent", n, total)
	}
	return nil
}

// echoRows returns the lines of ss's table for connections on the echo
// port of addr (not the listener).
func echoRows(ss, addr string) []string {
	var rows []string
	for _, l := range strings.Split(ss, "\n") {
		if strings.HasPrefix(l, "tcp") && strings.Contains(l, " "+addr+":7 ") && !strings.Contains(l, "LISTEN") {
			rows = append(rows, l)
		}
	}
	return rows
}

// counter sums the counters whose names start with prefix in ss's output.
func counter(ss, prefix string) uint64 {
	var n uint64
	for _, l := range strings.Split(ss, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		f := strings.Fields(l)
		v, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
		n += v
	}
	return n
}

// process is ss's "Process:" line.
type process struct {
	line       string
	goroutines int
}

var goroutinesRE = regexp.MustCompile(`(\d+) goroutines`)

func processLine(t *testing.T, name string) process {
	t.Helper()
	out := run(t, 20*time.Second, glassnetBin, "ss", name)
	for _, l := range strings.Split(out, "\n") {
		if m := goroutinesRE.FindStringSubmatch(l); strings.HasPrefix(l, "Process:") && m != nil {
			n, _ := strconv.Atoi(m[1])
			return process{line: l, goroutines: n}
		}
	}
	t.Fatalf("ss %s shows no Process line:\n%s", name, out)
	return process{}
}

// TestOutsideEchoClosesNoOrphans: 256 kernel clients with a small receive
// buffer each send 512 KiB to the echo and end their side, and only when
// every echo connection has its client's FIN do they read the echo back.
// serve must keep each connection until its client has the echo: it
// closed each as soon as it read the FIN, with most of the echo still
// waiting behind the client's window, and 256 such orphans passed the
// stack's bound on their bytes (64 MiB), so that it reset dozens of them
// and their clients lost the echo. The small buffers also make the kernel
// drop data it was sent and shut its window: the stack's ACKs, stamped
// past that window, were refused, and a connection crawled from one window
// probe to the next (TestPureACKWithinShrunkWindow in netstack).
func TestOutsideEchoClosesNoOrphans(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		const (
			name    = "gnorphan0"
			addr    = "10.204.0.2"
			clients = 256
			size    = 512 << 10
		)
		startServeArgs(t, "serve", "--tun", name, "--addr", addr+"/24")
		var (
			wg, sent sync.WaitGroup
			fins     = make(chan struct{}) // closed when serve has every FIN
			errs     = make(chan error, clients)
		)
		for i := range clients {
			wg.Add(1)
			sent.Add(1)
			go func() {
				defer wg.Done()
				if err := echoLate(addr+":7", uint64(i), size, &sent, fins); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
				}
			}()
		}
		sent.Wait()
		// Every echo connection has had its client's FIN once none is
		// ESTAB or CLOSE-WAIT any more.
		deadline := time.Now().Add(30 * time.Second)
		for {
			out := run(t, 20*time.Second, glassnetBin, "ss", "--brief", name)
			open := 0
			for _, r := range echoRows(out, addr) {
				if f := strings.Fields(r); f[1] == "ESTAB" || f[1] == "CLOSE-WAIT" {
					open++
				}
			}
			if open == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s %d echo connections have not ended their side:\n%s", open, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
		close(fins)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.Log(run(t, 20*time.Second, glassnetBin, "ss", name))
		}
	})
}

// echoLate connects to the echo at addr with a small receive buffer,
// sends size random bytes and its FIN without reading, says so on sent,
// waits until fins is closed and then reads the whole echo back.
func echoLate(addr string, seed uint64, size int, sent *sync.WaitGroup, fins <-chan struct{}) error {
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		sent.Done()
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	h := sha256.New()
	err = sendRandom(c, io.MultiWriter(c, h), seed, size)
	sent.Done()
	if err != nil {
		return err
	}
	<-fins
	got := sha256.New()
	n, err := io.Copy(got, c)
	if err != nil {
		return fmt.Errorf("read the echo: %w (after %d bytes)", err, n)
	}
	if n != int64(size) || !bytes.Equal(got.Sum(nil), h.Sum(nil)) {
		return fmt.Errorf("the echo has %d bytes that differ from the %d sent", n, size)
	}
	return nil
}
