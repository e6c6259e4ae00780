package ws

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// An idle connection holds no buffers. A read takes a bufio.Reader from a
// pool when it starts and gives it back when it ends with nothing
// buffered; a write encodes its frame into a pooled buffer and gives it
// back once the frame is on the transport. Only a connection with a frame
// hook keeps its reader, for the frame filter that sits under it
// (hooks.go).

// readBufSize is the size of a pooled read buffer.
const readBufSize = 8 << 10

var readers sync.Pool

func getReader(r io.Reader) *bufio.Reader {
	if br, _ := readers.Get().(*bufio.Reader); br != nil {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, readBufSize)
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readers.Put(br)
}

// reader returns the connection's buffered reader, taking one from the
// pool if it holds none. It is called with readLock held.
func (c *Conn) reader() *bufio.Reader {
	if c.br == nil {
		c.br = getReader(c.rsrc)
	}
	return c.br
}

// releaseReader gives the buffered reader back to the pool when nothing
// is buffered in it, or when the read side has ended. It is called with
// readLock held.
func (c *Conn) releaseReader() {
	if c.br == nil || c.readFilter || c.br.Buffered() > 0 && c.rerr == nil {
		return
	}
	putReader(c.br)
	c.br = nil
	if p, ok := c.rsrc.(*prefixReader); ok && len(p.p) == 0 {
		c.rsrc = c.srcBase
	}
}

// hasBuffered reports whether bytes of the stream have been read from the
// transport but not consumed yet. It is called with readLock held.
func (c *Conn) hasBuffered() bool {
	if c.br != nil && c.br.Buffered() > 0 {
		return true
	}
	p, ok := c.rsrc.(*prefixReader)
	return ok && len(p.p) > 0
}

// prefixReader reads p, then r: the bytes that arrived behind the
// handshake, then the connection.
type prefixReader struct {
	p []byte
	r io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.p) == 0 {
		return p.r.Read(b)
	}
	n := copy(b, p.p)
	p.p = p.p[n:]
	if len(p.p) == 0 {
		p.p = nil
	}
	return n, nil
}

// writeBuf is a pooled buffer a frame is encoded into, with room for the
// header and, for small frames, the payload, so that a frame goes out in
// one write.
type writeBuf struct {
	b    []byte
	vec  [2][]byte   // header and payload, for writev
	bufs net.Buffers // slice of vec handed to WriteTo
}

// writeBufSize is the size of a pooled write buffer: frames up to this
// size, header included, are copied and written at once; larger ones
// are written from the caller's slice (server) or masked through the
// buffer a piece at a time (client).
const writeBufSize = 8 << 10

var writeBufs = sync.Pool{New: func() any { return &writeBuf{b: make([]byte, writeBufSize)} }}

// bigWriteBufSize is the size of the buffer a client masks a large
// payload through.
const bigWriteBufSize = 64 << 10

var bigWriteBufs = sync.Pool{New: func() any { return &writeBuf{b: make([]byte, bigWriteBufSize)} }}
