package tun

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/glassnet/glassnet/internal/netnstest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The interface and addresses of the tests in this file.
const goneName = "gnmv0"

var (
	goneHost  = netip.MustParsePrefix("10.236.0.1/24")
	goneStack = netip.MustParseAddr("10.236.0.2")
)

// TestTUNInterfaceGone moves the interface to another network namespace,
// or deletes it, under blocked reads: every queue's Read ends with an
// error IsGone recognizes that says which, and so does a Write after it.
// A moved TUN's descriptor stays open and valid, so without the link
// watch its Read would wait forever.
func TestTUNInterfaceGone(t *testing.T) {
	for _, dc := range []struct {
		name string
		cfg  Config
	}{
		{"offload", Config{}},
		{"no-offload", Config{NoOffload: true}},
		{"queues", Config{Queues: 2}},
	} {
		for _, how := range []struct {
			name string
			want string
			do   func(t *testing.T, l netlink.Link) error
		}{
			{"moved", "interface moved to another network namespace", func(t *testing.T, l netlink.Link) error {
				return netlink.LinkSetNsFd(l, netnstest.Another(t))
			}},
			{"deleted", "interface deleted", func(t *testing.T, l netlink.Link) error {
				return netlink.LinkDel(l)
			}},
		} {
			t.Run(dc.name+"/"+how.name, func(t *testing.T) {
				netnstest.RunTUN(t, func(t *testing.T) {
					cfg := dc.cfg
					cfg.Name, cfg.HostAddr = goneName, goneHost
					dev := openTUN(t, cfg)
					reads := make(chan error, dev.Queues())
					for q := range dev.Queues() {
						go func() {
							bufs := [][]byte{make([]byte, MaxSuperPacket)}
							sizes, gso := make([]int, 1), make([]GSO, 1)
							for {
								// IPv6 housekeeping may arrive; read on.
								if _, err := dev.ReadQueueGSO(q, bufs, sizes, gso); err != nil {
									reads <- err
									return
								}
							}
						}()
					}
					link, err := netlink.LinkByName(goneName)
					if err != nil {
						t.Fatal(err)
					}
					if err := how.do(t, link); err != nil {
						t.Fatal(err)
					}
					check := func(what string, err error) {
						t.Helper()
						if !IsGone(err) || !strings.Contains(err.Error(), goneName+": "+how.want) {
							t.Errorf("%s = %v, want an error IsGone recognizes that says %q", what, err, goneName+": "+how.want)
						}
					}
					for range dev.Queues() {
						select {
						case err := <-reads:
							check("Read", err)
						case <-time.After(5 * time.Second):
							t.Fatalf("Read still waiting 5 s after the interface was %s", how.name)
						}
					}
					_, err = dev.Write([][]byte{buildUDP4(goneStack, 1, goneHost.Addr(), 2, nil)})
					check("Write", err)
				})
			})
		}
	}
}

// TestTUNInterfaceDown sets the interface down under a blocked Read and
// up again. The kernel routes nothing to a down interface and refuses
// what the TUN writes (EIO), which is not "gone": the Read waits on, and
// gets the kernel's packets once the interface is up.
func TestTUNInterfaceDown(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		dev := openTUN(t, Config{Name: goneName, HostAddr: goneHost})
		got := make(chan struct{}, 1)
		reads := make(chan error, 1)
		go func() {
			bufs, sizes := [][]byte{make([]byte, 1500)}, []int{0}
			for {
				n, err := dev.Read(bufs, sizes)
				if err != nil {
					reads <- err
					return
				}
				for i := range n {
					if p, ok := parseUDP4(bufs[i][:sizes[i]]); ok && p.dstPort == 9999 {
						select {
						case got <- struct{}{}:
						default:
						}
					}
				}
			}
		}()
		link, err := netlink.LinkByName(goneName)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetDown(link); err != nil {
			t.Fatal(err)
		}
		_, err = dev.Write([][]byte{buildUDP4(goneStack, 1, goneHost.Addr(), 2, nil)})
		if !errors.Is(err, unix.EIO) || IsGone(err) {
			t.Errorf("Write on a down interface = %v, want EIO, which IsGone does not call gone", err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(goneStack, 9999)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(5 * time.Second)
		for done := false; !done; {
			if _, err := conn.Write([]byte("up")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
				done = true
			case err := <-reads:
				t.Fatalf("Read after down and up = %v, want it to wait and read on", err)
			case <-tick.C:
			case <-deadline:
				t.Fatal("no packet read within 5 s of setting the interface up again")
			}
		}
		if _, err := dev.Write([][]byte{buildUDP4(goneStack, 1, goneHost.Addr(), 2, nil)}); err != nil {
			t.Errorf("Write once up again = %v", err)
		}
	})
}

// TestLinkWatchOverflow deletes the interface while the watch's socket is
// full, so that the kernel drops its RTM_DELLINK: the watch learns of the
// loss (ENOBUFS), asks the kernel, and still reports the interface gone.
func TestLinkWatchOverflow(t *testing.T) {
	netnstest.RunTUN(t, func(t *testing.T) {
		openTUN(t, Config{Name: goneName, HostAddr: goneHost})
		gone := make(chan string, 1)
		w, err := newLinkWatch(goneName, func(why string) { gone <- why })
		if err != nil {
			t.Fatal(err)
		}
		rc, err := w.f.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) {
			// The kernel rounds it up to its minimum, a few messages.
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 0)
		})
		if err != nil {
			t.Fatal(err)
		}
		link, err := netlink.LinkByName(goneName)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 32 {
			if err := netlink.LinkSetMTU(link, 1400+i); err != nil {
				t.Fatal(err)
			}
		}
		if err := netlink.LinkDel(link); err != nil {
			t.Fatal(err)
		}
		go w.run()
		defer w.close()
		select {
		case why := <-gone:
			if why != whyVanished {
				t.Errorf("gone(%q), want %q: the socket did not overflow, or the watch did not ask", why, whyVanished)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the watch did not report the interface gone within 5 s")
		}
	})
}
