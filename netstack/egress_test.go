package netstack

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/glassnet/glassnet/trace"
	"github.com/glassnet/glassnet/tun"
)

// batchDevice is one end of a pipe that says its Write moves a batch with
// one system call (tun.BatchWriter), as an AF_PACKET socket does. It
// records, for every Write, the source ports of the UDP packets to
// batchPort it carried. The k-th Write that carries such packets waits,
// when gates[k] is set, until gates[k] is closed (or the device is), so
// that other senders come while a write is under way; entered[k] is
// closed when it starts waiting.
type batchDevice struct {
	tun.Device
	hdr            int // bytes of link header before the IP packet
	gates, entered []chan struct{}
	done           chan struct{}
	once           sync.Once

	mu      sync.Mutex
	writes  [][]uint16
	changed chan struct{} // a value after a Write is recorded, if none is waiting
}

const batchPort = 7

// newBatchDevice returns p as a batchDevice whose first gated Writes wait.
func newBatchDevice(p tun.Device, gated int) *batchDevice {
	d := &batchDevice{Device: p, done: make(chan struct{}), changed: make(chan struct{}, 1)}
	for range gated {
		d.gates = append(d.gates, make(chan struct{}))
		d.entered = append(d.entered, make(chan struct{}))
	}
	return d
}

func (d *batchDevice) WritesBatched() bool { return true }

func (d *batchDevice) Write(pkts [][]byte) (int, error) {
	var ports []uint16
	for _, p := range pkts {
		if len(p) < d.hdr {
			continue
		}
		if sp, ok := udpTo(p[d.hdr:], batchPort); ok {
			ports = append(ports, sp)
		}
	}
	if len(ports) > 0 {
		d.mu.Lock()
		k := len(d.writes)
		d.writes = append(d.writes, nil)
		d.mu.Unlock()
		if k < len(d.gates) {
			close(d.entered[k])
			select {
			case <-d.gates[k]:
			case <-d.done:
			}
		}
		d.mu.Lock()
		d.writes[k] = ports
		d.mu.Unlock()
		select {
		case d.changed <- struct{}{}:
		default:
		}
	}
	select {
	case <-d.done:
		return 0, tun.ErrClosed
	default:
	}
	return d.Device.Write(pkts)
}

func (d *batchDevice) Close() error {
	d.once.Do(func() { close(d.done) })
	return d.Device.Close()
}

// wait waits until the k-th gated Write is under way.
func (d *batchDevice) wait(t *testing.T, k int) {
	t.Helper()
	select {
	case <-d.entered[k]:
	case <-time.After(10 * time.Second):
		t.Fatalf("write %d never reached the device", k)
	}
}

// waitPackets waits until the device has recorded n packets.
func (d *batchDevice) waitPackets(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		got := 0
		for _, w := range d.recorded() {
			got += len(w)
		}
		if got >= n {
			return
		}
		select {
		case <-d.changed:
		case <-timeout:
			t.Fatalf("the device got %d packets, want %d: %v", got, n, d.recorded())
		}
	}
}

// recorded returns the source ports of each Write, in order.
func (d *batchDevice) recorded() [][]uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.writes)
}

// udpTo returns the source port of the IPv4 UDP packet b if it goes to
// port.
func udpTo(b []byte, port uint16) (uint16, bool) {
	if len(b) < header.IPv4MinimumSize || header.IPVersion(b) != header.IPv4Version {
		return 0, false
	}
	ip := header.IPv4(b)
	if ip.TransportProtocol() != header.UDPProtocolNumber || len(b) < int(ip.HeaderLength())+header.UDPMinimumSize {
		return 0, false
	}
	u := header.UDP(b[ip.HeaderLength():])
	return u.SourcePort(), u.DestinationPort() == port
}

// batchStack builds a stack on a batchDevice and n UDP sockets to
// 10.0.0.2:7, from ports 6000 on.
func batchStack(t *testing.T, gated, n int, edit func(*Options)) (*Stack, *batchDevice, []*gonet.UDPConn) {
	t.Helper()
	da, db := tun.Pipe(tun.PipeOptions{})
	t.Cleanup(func() { db.Close() })
	d := newBatchDevice(da, gated)
	o := Options{Device: d, Addrs: []netip.Prefix{addrA4}}
	if edit != nil {
		edit(&o)
	}
	st := mustNew(t, o)
	dst := fullAddr(addrB4, batchPort)
	conns := make([]*gonet.UDPConn, n)
	for i := range conns {
		src := fullAddr(addrA4, uint16(6000+i))
		c, err := gonet.DialUDP(st.Stack(), &src, &dst, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return st, d, conns
}

// sendWhileGated has conns[0] write a datagram that the device holds in
// its first Write, then every other socket write one while it waits. It
// returns conns[0]'s Write result, which comes once gate is closed (or
// never, if nothing opens it: the caller does).
func sendWhileGated(t *testing.T, d *batchDevice, conns []*gonet.UDPConn) <-chan error {
	t.Helper()
	first := make(chan error, 1)
	go func() {
		_, err := conns[0].Write([]byte("first"))
		first <- err
	}()
	d.wait(t, 0)
	writeQueued(t, conns[1:], "next")
	return first
}

// writeQueued has each of conns write a datagram while a write is under
// way: each must return without waiting for it.
func writeQueued(t *testing.T, conns []*gonet.UDPConn, msg string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		for _, c := range conns {
			if _, err := c.Write([]byte(msg)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a sender waited for the write under way")
	}
}

// TestEgressCombinesSenders: while one sender's write is in the device,
// the packets of other connections wait in the egress queue and leave
// together in the next Write, which that sender makes before it returns.
// The trace sees every packet, in the order they were sent.
func TestEgressCombinesSenders(t *testing.T) {
	t.Parallel()
	const n = 9
	rec := &recorder{}
	tr := trace.New(rec)
	st, d, conns := batchStack(t, 1, n, func(o *Options) { o.Tracer = tr })
	first := sendWhileGated(t, d, conns)
	close(d.gates[0])
	if err := <-first; err != nil {
		t.Fatalf("first write: %v", err)
	}
	// The first sender wrote the others' packets before it returned.
	want := [][]uint16{{6000}, {6001, 6002, 6003, 6004, 6005, 6006, 6007, 6008}}
	if got := d.recorded(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("device writes carried ports %v, want %v", got, want)
	}
	s := st.Stats()
	if s.QueuedOut != n-1 || s.PacketsOut < n || s.DeviceWrites < 2 || s.Dropped() != 0 {
		t.Errorf("QueuedOut %d (want %d), PacketsOut %d, DeviceWrites %d, drops %v", s.QueuedOut, n-1, s.PacketsOut, s.DeviceWrites, s.Drops)
	}
	tr.Flush()
	var traced []uint16
	for _, e := range rec.all() {
		if e.Dir != trace.Out || e.Name != "packet" {
			continue
		}
		if sp, ok := udpTo(e.Data, batchPort); ok {
			traced = append(traced, sp)
		}
	}
	if !slices.Equal(traced, slices.Concat(want...)) {
		t.Errorf("trace showed ports %v going out, want %v", traced, slices.Concat(want...))
	}
}

// TestEgressAloneWritesAtOnce: a sender that finds the device idle writes
// its own packet before its send returns, one Write per packet; nothing
// waits for another packet to come.
func TestEgressAloneWritesAtOnce(t *testing.T) {
	t.Parallel()
	st, d, conns := batchStack(t, 0, 1, nil)
	for i := range 5 {
		if _, err := conns[0].Write([]byte("alone")); err != nil {
			t.Fatal(err)
		}
		if got := d.recorded(); len(got) != i+1 || !slices.Equal(got[i], []uint16{6000}) {
			t.Fatalf("after %d writes the device had %v", i+1, got)
		}
	}
	if q := st.Stats().QueuedOut; q != 0 {
		t.Errorf("QueuedOut %d with one sender, want 0", q)
	}
}

// TestEgressHandsOver: the writer takes one round of the others' packets;
// what was queued meanwhile goes to the queue's goroutine, and the writer
// returns while that goroutine's write is still in the device.
func TestEgressHandsOver(t *testing.T) {
	t.Parallel()
	st, d, conns := batchStack(t, 3, 7, nil)
	first := sendWhileGated(t, d, conns[:4])
	close(d.gates[0])
	d.wait(t, 1) // the writer's round: ports 6001 to 6003
	writeQueued(t, conns[4:], "late")
	close(d.gates[1])
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer stayed at the device after its round")
	}
	d.wait(t, 2) // the queue's goroutine writes the rest
	close(d.gates[2])
	d.waitPackets(t, 7)
	want := [][]uint16{{6000}, {6001, 6002, 6003}, {6004, 6005, 6006}}
	if got := d.recorded(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("device writes carried ports %v, want %v", got, want)
	}
	if q := st.Stats().QueuedOut; q != 6 {
		t.Errorf("QueuedOut %d, want 6", q)
	}
}

// TestEgressQueuedDroppedOnClose: packets waiting behind a write when the
// device closes are counted as device-closed drops, the writer's own too.
func TestEgressQueuedDroppedOnClose(t *testing.T) {
	t.Parallel()
	const n = 5
	st, d, conns := batchStack(t, 1, n, nil)
	first := sendWhileGated(t, d, conns)
	if q := st.Stats().QueuedOut; q != n-1 {
		t.Fatalf("QueuedOut %d, want %d", q, n-1)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-first
	s := st.Stats()
	if got := s.Drops[DropDeviceClosed]; got != n {
		t.Errorf("device-closed drops %d, want %d (all: %v)", got, n, s.Drops)
	}
	if s.PacketsOut != 0 {
		t.Errorf("PacketsOut %d after the device closed under them", s.PacketsOut)
	}
}

// TestEgressQueueBounded: senders beyond the queue's bound wait for the
// writer to take the queue, and every packet still goes out once.
func TestEgressQueueBounded(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{})
	t.Cleanup(func() { db.Close() })
	d := newBatchDevice(da, 1)
	st := mustNew(t, Options{Device: d, Addrs: []netip.Prefix{addrA4}})
	limit := st.dev.tx.limit
	n := limit + 8
	dst := fullAddr(addrB4, batchPort)
	conns := make([]*gonet.UDPConn, n)
	for i := range conns {
		src := fullAddr(addrA4, uint16(6000+i))
		c, err := gonet.DialUDP(st.Stack(), &src, &dst, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	first := make(chan error, 1)
	go func() {
		_, err := conns[0].Write([]byte("first"))
		first <- err
	}()
	d.wait(t, 0)
	for _, c := range conns[1 : limit+1] {
		if _, err := c.Write([]byte("q")); err != nil {
			t.Fatal(err)
		}
	}
	// The queue is full: the rest wait for the writer.
	rest := make(chan error, n)
	for _, c := range conns[limit+1:] {
		go func() {
			_, err := c.Write([]byte("w"))
			rest <- err
		}()
	}
	close(d.gates[0])
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n - limit - 1 {
		if err := <-rest; err != nil {
			t.Fatal(err)
		}
	}
	d.waitPackets(t, n)
	var ports []uint16
	for _, w := range d.recorded() {
		ports = append(ports, w...)
	}
	slices.Sort(ports)
	if len(ports) != n || ports[0] != 6000 || ports[n-1] != uint16(6000+n-1) || len(slices.Compact(ports)) != n {
		t.Errorf("device got %d packets from ports %v..., want each of %d ports once", len(ports), ports[:min(len(ports), 4)], n)
	}
}

// TestEgressTransferOverBatchingDevice: TCP both ways on several
// connections at once between two stacks whose devices batch their writes,
// so that the egress queue is under concurrent load (run with -race).
func TestEgressTransferOverBatchingDevice(t *testing.T) {
	t.Parallel()
	da, db := tun.Pipe(tun.PipeOptions{})
	a := mustNew(t, Options{Device: newBatchDevice(da, 0), Addrs: []netip.Prefix{addrA4}, Node: "a"})
	b := mustNew(t, Options{Device: newBatchDevice(db, 0), Addrs: []netip.Prefix{addrB4}, Node: "b"})
	if a.dev.tx == nil || b.dev.tx == nil {
		t.Fatal("a device that batches its writes has no egress queue")
	}
	ln, err := gonet.ListenTCP(b.Stack(), fullAddr(addrB4, 80), ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const conns, size = 6, 256 << 10
	errc := make(chan error, 4*conns)
	for i := range conns {
		server, client := acceptDial(t, ln, a, fullAddr(addrB4, 80))
		deadline := time.Now().Add(60 * time.Second)
		server.SetDeadline(deadline)
		client.SetDeadline(deadline)
		dc, ds := pattern(int64(2*i), size), pattern(int64(2*i+1), size)
		go func() { _, err := client.Write(dc); errc <- err }()
		go func() { _, err := server.Write(ds); errc <- err }()
		go func() { errc <- readAll(server, dc) }()
		go func() { errc <- readAll(client, ds) }()
	}
	for range 4 * conns {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []*Stack{a, b} {
		s := st.Stats()
		if s.Dropped() != 0 {
			t.Errorf("drops: %v", s.Drops)
		}
		t.Logf("packets out %d in %d device writes, %d queued", s.PacketsOut, s.DeviceWrites, s.QueuedOut)
	}
}

// readAll reads len(want) bytes from c and compares them with want.
func readAll(c net.Conn, want []byte) error {
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("received data differs from what was sent")
	}
	return nil
}

// acceptDial dials ln's address from a and returns both ends.
func acceptDial(t *testing.T, ln *gonet.TCPListener, a *Stack, addr tcpip.FullAddress) (server, client *gonet.TCPConn) {
	t.Helper()
	acc := make(chan *gonet.TCPConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c.(*gonet.TCPConn)
	}()
	client, err := gonet.DialTCP(a.Stack(), addr, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = <-acc
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// serialDevice is a batchDevice whose writes take turns, one packet per
// system call, as a TUN's do (tun.SerialWriter): its Write does not move a
// batch.
type serialDevice struct{ *batchDevice }

func (serialDevice) WritesBatched() bool    { return false }
func (serialDevice) WritesSerialized() bool { return true }

// serialStack is batchStack on a serialDevice whose queue copies packets
// up to small bytes.
func serialStack(t *testing.T, gated, n, small int) (*Stack, *batchDevice, []*gonet.UDPConn) {
	t.Helper()
	st, d, conns := batchStack(t, gated, n, func(o *Options) {
		o.Device = serialDevice{o.Device.(*batchDevice)}
	})
	if st.dev.tx == nil || st.dev.tx.small != egressSmallMax {
		t.Fatalf("a device whose writes take turns has no small-packet egress queue")
	}
	st.dev.tx.small = small
	return st, d, conns
}

// TestEgressSerialSmallDoNotWait: on a device whose writes take turns (a
// TUN), the small packets of other senders do not wait for a write under
// way: they are queued and leave after it, from the writer, before it
// returns.
func TestEgressSerialSmallDoNotWait(t *testing.T) {
	t.Parallel()
	const n = 6
	st, d, conns := serialStack(t, 1, n, egressSmallMax)
	first := sendWhileGated(t, d, conns)
	close(d.gates[0])
	if err := <-first; err != nil {
		t.Fatalf("first write: %v", err)
	}
	want := [][]uint16{{6000}, {6001, 6002, 6003, 6004, 6005}}
	if got := d.recorded(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("device writes carried ports %v, want %v", got, want)
	}
	if s := st.Stats(); s.QueuedOut != n-1 || s.Dropped() != 0 {
		t.Errorf("QueuedOut %d (want %d), drops %v", s.QueuedOut, n-1, s.Drops)
	}
}

// TestEgressQueueHoldsTxqueuelen: the egress queue holds as many packets
// as Linux's default txqueuelen, not two device batches, on a device
// whose writes take turns (a TUN, small packets) and on one that batches
// them (AF_PACKET): the packets of many connections that come during one
// write are queued and their senders return, rather than parking until
// the writer takes the queue. The sender whose write was under way takes
// no round of them (more than two batches): it hands them to the queue's
// goroutine and returns. Every packet leaves once.
func TestEgressQueueHoldsTxqueuelen(t *testing.T) {
	t.Parallel()
	const senders = 8
	for _, serial := range []bool{true, false} {
		name := "batch"
		if serial {
			name = "serial"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var (
				st    *Stack
				d     *batchDevice
				conns []*gonet.UDPConn
			)
			if serial {
				st, d, conns = serialStack(t, 2, 1+senders, egressSmallMax)
			} else {
				st, d, conns = batchStack(t, 2, 1+senders, nil)
			}
			queueHoldsTxqueuelen(t, st, d, conns)
		})
	}
}

func queueHoldsTxqueuelen(t *testing.T, st *Stack, d *batchDevice, conns []*gonet.UDPConn) {
	senders := len(conns) - 1
	if st.dev.tx == nil || st.dev.tx.limit != egressQueueLen {
		t.Fatalf("the device's egress queue does not hold %d packets", egressQueueLen)
	}
	if egressQueueLen%senders != 0 || egressQueueLen <= egressQueueBatches*st.dev.wbatch {
		t.Fatalf("egressQueueLen %d: want a multiple of %d above two batches", egressQueueLen, senders)
	}
	first := make(chan error, 1)
	go func() {
		_, err := conns[0].Write([]byte("first"))
		first <- err
	}()
	d.wait(t, 0)
	for range egressQueueLen / senders {
		writeQueued(t, conns[1:], "q")
	}
	close(d.gates[0])
	// The queued packets' write is held at the device: the first
	// sender returns meanwhile.
	d.wait(t, 1)
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("first write: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sender whose write was under way writes the packets queued meanwhile")
	}
	close(d.gates[1])
	n := 1 + egressQueueLen
	d.waitPackets(t, n)
	var ports []uint16
	for _, w := range d.recorded() {
		ports = append(ports, w...)
	}
	if len(ports) != n || ports[0] != 6000 {
		t.Fatalf("device got %d packets starting with port %v, want %d starting with 6000", len(ports), ports[:min(len(ports), 1)], n)
	}
	count := map[uint16]int{}
	for _, p := range ports[1:] {
		count[p]++
	}
	for i := range senders {
		if c := count[uint16(6001+i)]; c != egressQueueLen/senders {
			t.Errorf("port %d: %d packets, want %d", 6001+i, c, egressQueueLen/senders)
		}
	}
	if s := st.Stats(); s.QueuedOut != uint64(egressQueueLen) || s.Dropped() != 0 {
		t.Errorf("QueuedOut %d (want %d), drops %v", s.QueuedOut, egressQueueLen, s.Drops)
	}
}

// TestEgressSerialLargeWaitsItsTurn: a packet longer than the queue copies
// is not queued: its sender waits for the packets queued before it and
// then writes it itself, so it leaves after them.
func TestEgressSerialLargeWaitsItsTurn(t *testing.T) {
	t.Parallel()
	// "first" and "next" make 33-byte packets; 100 bytes of payload do
	// not fit.
	st, d, conns := serialStack(t, 1, 4, 64)
	first := sendWhileGated(t, d, conns[:3])
	large := make(chan error, 1)
	go func() {
		_, err := conns[3].Write(make([]byte, 100))
		large <- err
	}()
	q := st.dev.tx
	for {
		q.mu.Lock()
		w := q.waiting
		q.mu.Unlock()
		if w == 1 {
			break
		}
		select {
		case err := <-large:
			t.Fatalf("the large packet's sender returned (%v) while packets queued before it waited", err)
		case <-time.After(time.Millisecond):
		}
	}
	close(d.gates[0])
	if err := <-large; err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	d.waitPackets(t, 4)
	want := [][]uint16{{6000}, {6001, 6002}, {6003}}
	if got := d.recorded(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("device writes carried ports %v, want %v", got, want)
	}
	if s := st.Stats(); s.QueuedOut != 2 || s.Dropped() != 0 {
		t.Errorf("QueuedOut %d (want 2), drops %v", s.QueuedOut, s.Drops)
	}
}

// fits holds gathered packets (a tun.VectorWriter's) to the same bound as
// packets in one piece: a packet over it is not queued.
func TestEgressPktsFits(t *testing.T) {
	t.Parallel()
	parts := [][]byte{make([]byte, 40), make([]byte, 60)}
	for _, tc := range []struct {
		p     egressPkts
		small int
		want  bool
	}{
		{egressPkts{bufs: [][]byte{make([]byte, 64), make([]byte, 10)}}, 64, true},
		{egressPkts{bufs: [][]byte{make([]byte, 10), make([]byte, 65)}}, 64, false},
		{egressPkts{vecs: [][][]byte{parts[:1], parts}, sizes: []int{40, 100}}, 100, true},
		{egressPkts{vecs: [][][]byte{parts[:1], parts}, sizes: []int{40, 100}}, 64, false},
		{egressPkts{bufs: [][]byte{make([]byte, 9000)}}, 0, true},
	} {
		if got := tc.p.fits(tc.small); got != tc.want {
			t.Errorf("%d packets (%d gathered) fit %d: %v, want %v", tc.p.len(), len(tc.p.vecs), tc.small, got, tc.want)
		}
	}
}
