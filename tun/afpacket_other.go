//go:build !linux

package tun

import "net"

// PacketSocket is an AF_PACKET socket bound to an Ethernet interface. On this
// platform OpenPacketSocket always fails.
type PacketSocket struct{}

var (
	_ Device      = (*PacketSocket)(nil)
	_ LinkLayer   = (*PacketSocket)(nil)
	_ BatchWriter = (*PacketSocket)(nil)
)

// OpenPacketSocket returns ErrNotSupported on this platform.
func OpenPacketSocket(cfg PacketSocketConfig) (*PacketSocket, error) { return nil, ErrNotSupported }

func (*PacketSocket) Name() string                                 { return "" }
func (*PacketSocket) MTU() int                                     { return 0 }
func (*PacketSocket) BatchSize() int                               { return 0 }
func (*PacketSocket) HardwareAddr() net.HardwareAddr               { return nil }
func (*PacketSocket) MaxFrameSize() int                            { return 0 }
func (*PacketSocket) Promiscuous() bool                            { return false }
func (*PacketSocket) WritesBatched() bool                          { return false }
func (*PacketSocket) Read(bufs [][]byte, sizes []int) (int, error) { return 0, ErrNotSupported }
func (*PacketSocket) Write(pkts [][]byte) (int, error)             { return 0, ErrNotSupported }
func (*PacketSocket) Close() error                                 { return nil }
