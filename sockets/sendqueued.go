package sockets

import "gvisor.dev/gvisor/pkg/tcpip"

// SendQueued returns the bytes written to the connection and not yet
// acknowledged by the peer, sent or not (Linux's SIOCOUTQ, ss's Send-Q),
// counting a FIN while it is queued or unacknowledged. A number that falls
// while a writer waits tells it that the peer is still taking what was
// sent: ws's keepalive reads it for a ping that waits behind a long echo.
func (c *Conn) SendQueued() (int, error) {
	n, err := c.so.ep.GetSockOptInt(tcpip.SendQueueSizeOption)
	if err != nil {
		return 0, errno(err)
	}
	return n, nil
}
