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

// The relay row of the TUN table measures what a TUN costs without a stack
// behind it: the kernel client's packets leave through one TUN, a relay
// that does nothing but copy each packet with its offload metadata reads
// them and writes them into a second TUN, in a network namespace of its
// own, and the kernel's TCP there answers. The server there runs the same
// loop as every other row. Each packet crosses two TUNs where glassnet's
// cross one, so the row is not a bound on the glassnet rows; it shows what
// the device alone costs the kernel's own TCP on this machine, under the
// same congestion control.

// The relay's addresses: the client's side of the first TUN, and the
// server's side of the second, in one prefix.
var (
	relayClient = netip.MustParsePrefix("10.202.0.1/24")
	relayServer = netip.MustParsePrefix("10.202.0.2/24")
)

// relay is a running relay with its kernel server.
type relay struct {
	a, b   *tun.TUN
	target *tcpTarget // the server in the second namespace
	wg     sync.WaitGroup
	// toServer counts the bytes of the packets relayed towards the
	// server: the check that the transfers went through the relay.
	toServer atomic.Int64
}

// startRelay opens the first TUN in this namespace and the second in a new
// one, starts serve's echo and discard listeners there on relayServer, and
// relays packets both ways until close.
func startRelay(mtu int, noOffload bool) (*relay, error) {
	a, err := tun.Open(tun.Config{Name: "gbrelay0", MTU: mtu, HostAddr: relayClient, NoOffload: noOffload})
	if err != nil {
		return nil, err
	}
	type opened struct {
		b      *tun.TUN
		target *tcpTarget
		err    error
	}
	ch := make(chan opened, 1)
	go func() {
		// This thread moves to a new network namespace and never
		// comes back: it is locked and not unlocked, so it ends with
		// the goroutine. The TUN and the listeners made on it stay in
		// that namespace; the runtime starts new threads from a thread
		// of its own, not from this one.
		runtime.LockOSThread()
		var o opened
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			o.err = fmt.Errorf("unshare CLONE_NEWNET: %w", err)
			ch <- o
			return
		}
		o.b, o.err = tun.Open(tun.Config{Name: "gbrelay1", MTU: mtu, HostAddr: relayServer, NoOffload: noOffload})
		if o.err == nil {
			o.target, o.err = kernelTCPAt(relayServer.Addr().String(), serveTCP)
			if o.err != nil {
				o.b.Close()
			}
		}
		ch <- o
	}()
	o := <-ch
	if o.err != nil {
		a.Close()
		return nil, o.err
	}
	o.target.name = "kernel -> TUN -> relay -> TUN -> kernel"
	r := &relay{a: a, b: o.b, target: o.target}
	r.wg.Add(2)
	go r.pump(a, o.b, &r.toServer)
	go r.pump(o.b, a, nil)
	return r, nil
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
			// A packet the second TUN refuses is lost, as on a
			// link; TCP sends it again.
			w, _ := to.WriteGSO(pkts[:k], gso[:k])
			if count != nil {
				for _, p := range pkts[:w] {
					count.Add(int64(len(p)))
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// close stops the server and the relay and closes both TUNs (the second
// namespace goes with its last reference).
func (r *relay) close() {
	r.target.close()
	r.a.Close()
	r.b.Close()
	r.wg.Wait()
}
