//go:build !linux

package tun

import "net"

// NIC is an Ethernet interface seen through an AF_PACKET socket. On this
// platform OpenNIC always fails.
type NIC struct{}

var (
	_ Device    = (*NIC)(nil)
	_ LinkLayer = (*NIC)(nil)
)

// OpenNIC returns ErrNotSupported on this platform.
func OpenNIC(cfg NICConfig) (*NIC, error) { return nil, ErrNotSupported }

func (*NIC) Name() string                                 { return "" }
func (*NIC) MTU() int                                     { return 0 }
func (*NIC) BatchSize() int                               { return 0 }
func (*NIC) HardwareAddr() net.HardwareAddr               { return nil }
func (*NIC) MaxFrameSize() int                            { return 0 }
func (*NIC) Promiscuous() bool                            { return false }
func (*NIC) Read(bufs [][]byte, sizes []int) (int, error) { return 0, ErrNotSupported }
func (*NIC) Write(pkts [][]byte) (int, error)             { return 0, ErrNotSupported }
func (*NIC) Close() error                                 { return nil }
