//go:build !linux

package ws

import "net"

// osSendQueued: only Linux's kernel is asked.
func osSendQueued(net.Conn) (int, bool) { return 0, false }
