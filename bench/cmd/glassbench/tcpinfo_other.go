//go:build !linux

package main

import "net"

// senderTCPInfo reports nothing where TCP_INFO's layout is not Linux's.
func senderTCPInfo(net.Conn) senderInfo { return senderInfo{} }
