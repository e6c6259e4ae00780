package tun

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PipeOptions configures an in-memory device pair. The zero value works.
type PipeOptions struct {
	// MTU of both ends; 0 means 1500.
	MTU int
	// Latency delays every packet by this much, one way.
	Latency time.Duration
	// QueueLen bounds the packets in flight in each direction; a writer
	// blocks while its direction is full. 0 means 1024. With Offload a
	// super-packet counts as one packet, so a direction may then hold up
	// to QueueLen*MaxSuperPacket bytes.
	QueueLen int
	// Names of the two ends; empty means "mem0" and "mem1".
	NameA, NameB string
	// Offload makes both ends OffloadDevices with checksum offload and
	// TSO for IPv4 and IPv6, like two stacks over a veth pair with GSO
	// and GRO: WriteGSO queues a TCP super-packet of up to
	// MaxSuperPacket bytes whole, with its metadata, and ReadGSO on the
	// other end returns it so. Each segment it stands for still fits the
	// MTU. Plain Read cuts super-packets into packets and completes
	// partial checksums in software (Device's contract); plain Write sends
	// packets without metadata. Off, the ends report no offloads and
	// refuse metadata.
	Offload bool
}

// PipeStats counts what one end of a pair has moved.
type PipeStats struct {
	PacketsRead, PacketsWritten uint64
	// Discarded counts packets written after the other end was closed:
	// the wire was unplugged, so they went nowhere.
	Discarded uint64
}

type memPacket struct {
	buf *[]byte // from the pair's pools; back to one once read
	due time.Time
	gso GSO // with Offload only
}

// PipeEnd is one end of an in-memory device pair made by Pipe; the zero
// value is not usable.
type PipeEnd struct {
	name    string
	mtu     int
	latency time.Duration
	in      chan memPacket // packets for this end to read
	peer    *PipeEnd
	pool    *sync.Pool // *[]byte packet buffers of MTU bytes, shared by both ends
	big     *sync.Pool // *[]byte of MaxSuperPacket bytes, with Offload
	offload bool
	split   pipeSplit // plain Read with Offload
	oc      offloadCounters

	closeOnce sync.Once
	done      chan struct{}

	read, written, discarded atomic.Uint64
}

// Pipe returns two devices wired back to back: what one writes, the other
// reads, in order, after opts.Latency. It needs no privileges, so tests and
// the demo run two stacks in one process over it.
func Pipe(opts PipeOptions) (a, b *PipeEnd) {
	if opts.MTU <= 0 {
		opts.MTU = 1500
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 1024
	}
	if opts.NameA == "" {
		opts.NameA = "mem0"
	}
	if opts.NameB == "" {
		opts.NameB = "mem1"
	}
	mtu := opts.MTU
	pool := &sync.Pool{New: func() any {
		b := make([]byte, 0, mtu)
		return &b
	}}
	big := &sync.Pool{New: func() any {
		b := make([]byte, 0, MaxSuperPacket)
		return &b
	}}
	mk := func(name string) *PipeEnd {
		return &PipeEnd{
			name:    name,
			pool:    pool,
			big:     big,
			offload: opts.Offload,
			mtu:     opts.MTU,
			latency: opts.Latency,
			in:      make(chan memPacket, opts.QueueLen),
			done:    make(chan struct{}),
		}
	}
	a, b = mk(opts.NameA), mk(opts.NameB)
	a.peer, b.peer = b, a
	return a, b
}

func (m *PipeEnd) Name() string   { return m.name }
func (m *PipeEnd) MTU() int       { return m.mtu }
func (m *PipeEnd) BatchSize() int { return 64 }

// Stats returns the counters of this end.
func (m *PipeEnd) Stats() PipeStats {
	return PipeStats{PacketsRead: m.read.Load(), PacketsWritten: m.written.Load(), Discarded: m.discarded.Load()}
}

// Read implements Device.
func (m *PipeEnd) Read(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if m.offload {
		return m.readOffload(bufs, nil, sizes, nil)
	}
	var p memPacket
	select {
	case <-m.done:
		return 0, ErrClosed
	case p = <-m.in:
	}
	n := 0
	for {
		if err := m.wait(p); err != nil {
			m.release(p)
			return 0, err
		}
		sizes[n] = len(*p.buf)
		copy(bufs[n], *p.buf)
		m.release(p)
		n++
		if n == len(bufs) || n == len(sizes) {
			break
		}
		select {
		case p = <-m.in:
			continue
		default:
		}
		break
	}
	m.read.Add(uint64(n))
	return n, nil
}

// Write implements Device. It copies each packet, so the caller may reuse
// its buffers at once.
func (m *PipeEnd) Write(pkts [][]byte) (int, error) {
	for i, pkt := range pkts {
		if len(pkt) > m.mtu {
			return i, fmt.Errorf("tun: %s: packet of %d bytes exceeds MTU %d", m.name, len(pkt), m.mtu)
		}
		buf := m.pool.Get().(*[]byte)
		*buf = append((*buf)[:0], pkt...)
		if err := m.send(memPacket{buf: buf}); err != nil {
			return i, err
		}
	}
	return len(pkts), nil
}

// send queues p for the peer, blocking while its queue is full. It takes
// p.buf: to the peer, or back to a pool.
func (m *PipeEnd) send(p memPacket) error {
	if m.latency > 0 {
		p.due = time.Now().Add(m.latency)
	}
	// Check in order (a select picks at random among ready cases): a
	// closed device refuses, an unplugged peer discards, else send.
	select {
	case <-m.done:
		m.release(p)
		return ErrClosed
	default:
	}
	select {
	case <-m.peer.done:
		m.release(p)
		m.discarded.Add(1)
		return nil
	default:
	}
	select {
	case <-m.done:
		m.release(p)
		return ErrClosed
	case <-m.peer.done:
		m.release(p)
		m.discarded.Add(1)
	case m.peer.in <- p:
		m.written.Add(1)
	}
	return nil
}

// wait blocks until p is due, or the device is closed.
func (m *PipeEnd) wait(p memPacket) error {
	d := time.Until(p.due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.done:
		return ErrClosed
	case <-t.C:
		return nil
	}
}

// release returns the buffer of p to the pool it came from.
func (m *PipeEnd) release(p memPacket) {
	if cap(*p.buf) > m.mtu {
		m.big.Put(p.buf)
		return
	}
	m.pool.Put(p.buf)
}

// Close implements Device. Packets the other end writes afterwards are
// discarded and counted.
func (m *PipeEnd) Close() error {
	m.closeOnce.Do(func() { close(m.done) })
	return nil
}

var _ Device = (*PipeEnd)(nil)
