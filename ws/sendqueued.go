package ws

import "net"

// SendQueued returns the bytes written to the transport and not yet
// acknowledged by the peer (Linux's SIOCOUTQ, ss's Send-Q), and whether the
// transport tells: a *net.TCPConn on Linux does, and so does a connection
// with a SendQueued() (int, error) method, such as glassnet's
// sockets.Conn. A number that falls while nothing else moves says that
// the peer still takes what was sent: an echo it reads slowly, whose last
// megabytes wait in the transport after the write has returned. The
// keepalive reads it for a ping that waits behind them.
func (c *Conn) SendQueued() (int, bool) { return sendQueued(c.nc) }

func sendQueued(nc net.Conn) (int, bool) {
	if q, ok := nc.(interface{ SendQueued() (int, error) }); ok {
		n, err := q.SendQueued()
		return n, err == nil
	}
	return osSendQueued(nc)
}
