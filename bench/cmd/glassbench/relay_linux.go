package main

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/glassnet/glassnet/tun"
	"golang.org/x/sys/unix"
)

// The relay rows (the TUN table's, and those of the serve, many and scale
// sections, whose server processes run on Net "relay") measure what a TUN
// costs without a stack behind it: the kernel client's packets leave
// through one TUN, a relay that does nothing but copy each packet with its
// offload metadata reads them and writes them into a second TUN, in a
// network namespace of its own, and the kernel's TCP there answers. The
// server there runs what the other rows' servers run. Each packet crosses
// two TUNs where glassnet's cross one, so a relay row is not a bound on
// the glassnet rows; it shows what the device alone costs the kernel's own
// TCP on this machine, under the same congestion control.

// relayNet is where a relay runs: the first TUN's name and the client's
// address on it, the second's and the server's, in one prefix.
type relayNet struct {
	clientTUN, serverTUN string
	client, server       netip.Prefix
}

// relayNets are the relays that can run at once in one namespace
// (serverSpec.Relay chooses one).
var relayNets = []relayNet{
	{"gbrelay0", "gbrelay1", netip.MustParsePrefix("10.206.0.1/24"), netip.MustParsePrefix("10.206.0.2/24")},
	{"gbrelay2", "gbrelay3", netip.MustParsePrefix("10.207.0.1/24"), netip.MustParsePrefix("10.207.0.2/24")},
}

// relayedAll checks that relays carried at least want bytes towards their
// servers, the bytes a row's transfers sent: fewer means the transfers
// reached a server another way, and the row measured that way instead.
func relayedAll(got, want int64) error {
	if got >= want {
		return nil
	}
	return fmt.Errorf("the relay carried %d bytes towards its server, fewer than the %d the transfers sent: they reached it another way "+
		"(is %v or %v in use in this namespace, or did the relay's new namespace fail?)", got, want, relayNets[0].client.Masked(), relayNets[1].client.Masked())
}

// relay is a running relay with what was started behind it.
type relay struct {
	a, b *tun.TUN
	stop func() // stops what inside started
	wg   sync.WaitGroup
	// toServer counts the bytes of the packets relayed towards the
	// server: the check that the transfers went through the relay.
	toServer atomic.Int64
}

// startRelay opens rn's first TUN, at mtu, in this namespace and the
// second in a new one, runs inside on a thread in the new namespace (the
// listeners it makes stay there; the stop it returns runs at close), and
// relays packets both ways until close.
func startRelay(rn relayNet, mtu int, noOffload bool, inside func() (stop func(), err error)) (*relay, error) {
	a, err := tun.Open(tun.Config{Name: rn.clientTUN, MTU: mtu, HostAddr: rn.client, NoOffload: noOffload})
	if err != nil {
		return nil, err
	}
	type opened struct {
		b    *tun.TUN
		stop func()
		err  error
	}
	ch := make(chan opened, 1)
	go func() {
		// This thread moves to a new network namespace for inside and
		// then back; the TUN and the sockets made there stay in the
		// new one. Should it fail to come back, it stays locked, and
		// the runtime retires it with the goroutine.
		runtime.LockOSThread()
		var o opened
		defer func() { ch <- o }()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			o.err = fmt.Errorf("this thread's network namespace: %w", err)
			return
		}
		defer unix.Close(home)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			o.err = fmt.Errorf("unshare CLONE_NEWNET: %w", err)
			return
		}
		o.b, o.err = tun.Open(tun.Config{Name: rn.serverTUN, MTU: mtu, HostAddr: rn.server, NoOffload: noOffload})
		if o.err == nil {
			o.stop, o.err = inside()
			if o.err != nil {
				o.b.Close()
			}
		}
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	o := <-ch
	if o.err != nil {
		a.Close()
		return nil, o.err
	}
	r := &relay{a: a, b: o.b, stop: o.stop}
	r.wg.Add(2)
	go r.pump(a, o.b, &r.toServer)
	go r.pump(o.b, a, nil)
	return r, nil
}

// relayTCP is a relay at mtu with the kernel servers of the TUN rows
// behind it: the 256 KiB loop's echo and discard, on the first relay
// network.
func relayTCP(mtu int, noOffload bool) (*relay, *tcpTarget, error) {
	var t *tcpTarget
	rn := relayNets[0]
	r, err := startRelay(rn, mtu, noOffload, func() (func(), error) {
		var err error
		if t, err = kernelTCPAt(rn.server.Addr().String(), serveTCP); err != nil {
			return nil, err
		}
		return t.close, nil
	})
	if err != nil {
		return nil, nil, err
	}
	t.name = "kernel -> TUN -> relay -> TUN -> kernel"
	return r, t, nil
}

// pump copies packets from one TUN to the other, each with the offload
// metadata it was read with, until a read fails (close), and adds the
// bytes it wrote to count when count is not nil.
func (r *relay) pump(from, to *tun.TUN, count *atomic.Int64) {
	defer r.wg.Done()
	n := from.BatchSize()
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, tun.MaxSuperPacket)
	}
	sizes := make([]int, n)
	gso := make([]tun.GSO, n)
	pkts := make([][]byte, n)
	for {
		k, err := from.ReadGSO(bufs, sizes, gso)
		for i := range k {
			pkts[i] = bufs[i][:min(sizes[i], len(bufs[i]))]
		}
		if k > 0 {
			// The packets are counted before they are written: once
			// the write is done the server may have them, and its
			// transfer may end and the count be read, before this
			// goroutine runs again. The ones the second TUN refuses
			// are taken off after; they are lost, as on a link, and
			// TCP sends them again.
			if count != nil {
				var n int64
				for _, p := range pkts[:k] {
					n += int64(len(p))
				}
				count.Add(n)
			}
			w, _ := to.WriteGSO(pkts[:k], gso[:k])
			if count != nil {
				for _, p := range pkts[w:k] {
					count.Add(-int64(len(p)))
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// close stops what was started behind the relay, and the relay, and
// closes both TUNs (the second namespace goes with its last reference).
func (r *relay) close() {
	r.stop()
	r.a.Close()
	r.b.Close()
	r.wg.Wait()
}
