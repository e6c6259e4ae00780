package tun

import "errors"

// ErrClosed is returned by Read and Write after the device has been closed.
var ErrClosed = errors.New("tun: device closed")

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
