package tun

import "net"

// ErrClosed is returned by Read and Write after the device has been closed.
// It matches net.ErrClosed with errors.Is, as the sockets, the stack
// (netstack.Stack.Continue) and the net package report their own Close.
var ErrClosed error = closedError{}

// closedError is ErrClosed: its own message, and net.ErrClosed's meaning.
type closedError struct{}

func (closedError) Error() string        { return "tun: device closed" }
func (closedError) Is(target error) bool { return target == net.ErrClosed }

// DropReason names why a packet was dropped on its way between a device
// and a stack. It is one set for the whole path: the devices' reasons are
// here (DropVnetShort, ...), the stack's in package netstack, which uses
// this type (netstack.DropReason); a hook's drops carry the hook's reason.
type DropReason string

// Device moves IP packets (no link-layer header) in batches.
//
// Read blocks until at least one packet is available, then fills as many of
// bufs as it can without blocking again, storing each packet's length in the
// matching element of sizes. It returns the number of packets read. A packet
// longer than its buffer is truncated and reported with its full length in
// sizes, so the caller can count it as malformed.
//
// Write sends every packet in pkts, blocking while the device is full (a
// Device never drops silently), and returns how many were written.
//
// Read, Write and Close are safe to call from different goroutines. After
// Close, Read and Write return ErrClosed.
type Device interface {
	// Name is the interface name ("glass0") or a descriptive name for
	// devices that have none in the kernel.
	Name() string
	// MTU is the largest IP packet the device carries, in bytes.
	MTU() int
	// BatchSize is the most packets one Read or Write moves at once.
	BatchSize() int
	Read(bufs [][]byte, sizes []int) (int, error)
	Write(pkts [][]byte) (int, error)
	Close() error
}

// BatchWriter is implemented by a Device whose Write hands a whole batch
// of packets to the kernel with one system call (sendmmsg(2) on a
// PacketSocket), so that a writer gains from handing it several packets
// at once: package netstack then lets the packets of other connections
// wait behind a write under way and go out with the next one. A TUN does
// not implement it: its write(2) and writev(2) carry one packet each.
type BatchWriter interface {
	Device
	// WritesBatched reports whether one Write moves several packets per
	// system call.
	WritesBatched() bool
}

// SerialWriter is implemented by a Device whose writes from several
// goroutines take turns: a TUN, whose write(2) and writev(2) carry one
// packet each under the Go runtime's write lock of its descriptor. Package
// netstack then lets small packets (ACKs, short replies) of other
// connections wait, copied, behind a write under way instead of parking
// their senders on that lock.
type SerialWriter interface {
	Device
	// WritesSerialized reports whether concurrent writes wait for each
	// other.
	WritesSerialized() bool
}

// MaxSuperPacket is the longest packet ReadGSO returns: an IPv6 header and
// the largest payload length it can state. A buffer for ReadGSO needs this
// many bytes to take every packet whole.
const MaxSuperPacket = 40 + 65535

// OffloadDevice is implemented by a Device that can move super-packets
// with their offload metadata: a TUN opened with IFF_VNET_HDR. Read and
// Write of Device keep their contract on it (IP packets no longer than the
// MTU, checksums complete): Read cuts super-packets from the kernel into
// packets in software and completes partial checksums, Write hands packets
// over without offload metadata.
type OffloadDevice interface {
	Device
	// Offloads returns the offloads agreed with the kernel; 0 when the
	// device runs without (the kernel refused, or Config.NoOffload).
	Offloads() Offload
	// ReadGSO reads like Read and stores each packet's metadata in the
	// matching element of gso. Packets may be super-packets up to
	// MaxSuperPacket bytes, and may carry partial checksums.
	ReadGSO(bufs [][]byte, sizes []int, gso []GSO) (int, error)
	// WriteGSO writes like Write, each packet with the metadata in the
	// matching element of gso: a super-packet is segmented, and a partial
	// checksum completed, by the kernel.
	WriteGSO(pkts [][]byte, gso []GSO) (int, error)
	// OffloadStats returns the device's counters of super-packets and of
	// packets dropped for bad metadata.
	OffloadStats() OffloadStats
}

// VectorWriter is implemented by an OffloadDevice that writes a packet
// gathered from several buffers in one call (writev), so that a stack
// whose packets are lists of views need not copy each into one buffer
// first. pkts[i] holds the parts of packet i in order.
type VectorWriter interface {
	WriteGSOVec(pkts [][][]byte, gso []GSO) (int, error)
}

// ScatterReader is implemented by an OffloadDevice that reads a packet into
// two buffers in one call (readv): its first bytes into heads[i], the rest
// into tails[i]. A stack that owns the memory of tails[i] takes the bulk
// of a super-packet without copying it; heads[i] holds the headers (give
// it room for the IP and transport headers with options). Otherwise it is
// ReadGSO: sizes[i] is the packet's length, more than both buffers hold
// when it was truncated.
type ScatterReader interface {
	ReadGSOScatter(heads, tails [][]byte, sizes []int, gso []GSO) (int, error)
}

// MultiQueue is implemented by a device whose packets move on several
// queues (a TUN with Config.Queues > 1). Every queue must be read: the
// device's own Read, ReadGSO and ReadGSOScatter read queue 0 only. One
// goroutine per queue can read at once.
//
// The kernel puts a packet on the queue its flow was last written on
// (the TUN's automatic steering), so a writer that writes each flow on a
// queue of its own choosing, the same one for both directions of a
// connection, spreads the flows over the queues; one that writes all on
// queue 0 has all flows read there.
type MultiQueue interface {
	Queues() int
	// ReadQueueGSO and ReadQueueScatter are ReadGSO and ReadGSOScatter
	// on queue q.
	ReadQueueGSO(q int, bufs [][]byte, sizes []int, gso []GSO) (int, error)
	ReadQueueScatter(q int, heads, tails [][]byte, sizes []int, gso []GSO) (int, error)
	// WriteQueueGSO and WriteQueueVec are WriteGSO and WriteGSOVec on
	// queue q.
	WriteQueueGSO(q int, pkts [][]byte, gso []GSO) (int, error)
	WriteQueueVec(q int, pkts [][][]byte, gso []GSO) (int, error)
	// QueuePackets returns how many packets were read from each queue.
	QueuePackets() []uint64
}

// KernelDropper is implemented by a Device whose kernel side drops packets
// meant for the stack when the stack does not read them fast enough,
// before the stack sees them: a TUN when its queue to the stack is full, a
// PacketSocket when its receive buffer is. The stack cannot count them;
// the kernel does.
type KernelDropper interface {
	Device
	// KernelDrops returns why and how many packets for the stack the
	// kernel has dropped since the device was opened.
	KernelDrops() (DropReason, uint64, error)
}

// Why the kernel dropped packets for the stack (KernelDropper).
const (
	// DropTUNQueueFull: the TUN's queue to the stack was full (its
	// tx_dropped, which ip -s link shows; Config.TxQueueLen sizes it).
	DropTUNQueueFull DropReason = "tun-queue-full"
	// DropPacketSocketFull: the AF_PACKET socket's receive buffer was
	// full (PACKET_STATISTICS' tp_drops).
	DropPacketSocketFull DropReason = "packet-socket-full"
)
