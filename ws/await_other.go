//go:build !unix

package ws

// rawWait is only used on unix.
type rawWait struct{}

func (c *Conn) setupAwait() {}

func (c *Conn) awaitData() error { return nil }

func (c *Conn) canTryWrite() bool { return false }

func (c *Conn) tryWrite(b []byte) (int, error) { return 0, nil }
