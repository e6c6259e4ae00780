//go:build !linux

package tun

// TUN is a kernel TUN interface. On this platform Open always fails.
type TUN struct{}

var _ Device = (*TUN)(nil)

// Open returns ErrNotSupported on this platform.
func Open(cfg Config) (*TUN, error) { return nil, ErrNotSupported }

func (*TUN) Name() string                                 { return "" }
func (*TUN) MTU() int                                     { return 0 }
func (*TUN) BatchSize() int                               { return 0 }
func (*TUN) Read(bufs [][]byte, sizes []int) (int, error) { return 0, ErrNotSupported }
func (*TUN) Write(pkts [][]byte) (int, error)             { return 0, ErrNotSupported }
func (*TUN) Close() error                                 { return nil }

var _ OffloadDevice = (*TUN)(nil)

func (*TUN) Offloads() Offload                                          { return 0 }
func (*TUN) OffloadStats() OffloadStats                                 { return OffloadStats{} }
func (*TUN) ReadGSO(bufs [][]byte, sizes []int, gso []GSO) (int, error) { return 0, ErrNotSupported }
func (*TUN) WriteGSO(pkts [][]byte, gso []GSO) (int, error)             { return 0, ErrNotSupported }

var _ VectorWriter = (*TUN)(nil)

func (*TUN) WriteGSOVec(pkts [][][]byte, gso []GSO) (int, error) { return 0, ErrNotSupported }

var _ ScatterReader = (*TUN)(nil)

func (*TUN) ReadGSOScatter(heads, tails [][]byte, sizes []int, gso []GSO) (int, error) {
	return 0, ErrNotSupported
}

var _ SerialWriter = (*TUN)(nil)

// WritesSerialized implements SerialWriter.
func (*TUN) WritesSerialized() bool { return false }
