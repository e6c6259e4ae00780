package sockets

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/glassnet/glassnet/trace"
)

// Moving bytes without copying them: a stream Conn implements io.WriterTo
// and io.ReaderFrom, so io.Copy between two of them (an echo, a proxy)
// hands the views a segment arrived in from one endpoint's receive queue to
// the other's send queue by reference, as splice(2) moves pages between
// kernel sockets. Into any other writer the views' bytes go as they are
// (io.Discard takes them without a copy); from any other reader the bytes
// are read straight into views that go to the send queue, one copy instead
// of two. Both need glassnet patch 5 in third_party/gvisor.
//
// The trace and the call log see the same recv and send calls as with
// Read and Write; the events say the bytes moved by reference. With call
// hooks installed on either socket, which see and may change the bytes of
// each call, both fall back to io.Copy through a buffer.

// maxMove is the most bytes one receive of WriteTo takes from the receive
// queue: what a 256 KiB read would take, without its copy.
const maxMove = 256 << 10

var (
	_ io.WriterTo   = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
)

// WriteTo implements io.WriterTo on a stream socket: it writes everything
// the peer sends to w until end of stream (a nil error, as io.Copy wants)
// or an error. Into a stream Conn, the bytes move by reference. A read
// deadline passing ends it with os.ErrDeadlineExceeded, as Read does.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	c.roomOnce()
	if !c.so.stream() || c.s.hooks.Load() != nil {
		return io.Copy(w, readerOnly{c})
	}
	dst, _ := w.(*Conn)
	if dst != nil && (!dst.so.stream() || dst.s.hooks.Load() != nil) {
		dst = nil
	}
	var total int64
	for {
		buf, err := c.readViews()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		var n int64
		if dst != nil {
			n, err = dst.writeViews(&buf)
		} else {
			n, err = writeViewsTo(w, &buf)
		}
		buf.Release()
		total += n
		if err != nil {
			return total, err
		}
	}
}

// ReadFrom implements io.ReaderFrom on a stream socket: it sends what r
// yields until io.EOF (a nil error) or an error. From a stream Conn this
// is r.WriteTo(c); from any other reader the bytes are read into a 64 KiB
// view that goes to the send queue as it is when a read filled more than
// half of it (a shorter read is copied into a view of its size).
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	c.roomOnce()
	if src, ok := r.(*Conn); ok {
		return src.WriteTo(c)
	}
	if !c.so.stream() || c.s.hooks.Load() != nil {
		return io.Copy(writerOnly{c}, r)
	}
	var (
		total int64
		v     *buffer.View
	)
	defer func() {
		if v != nil {
			v.Release()
		}
	}()
	for {
		if v == nil {
			v = buffer.NewView(buffer.MaxChunkSize)
			v.GrowUnzeroed(buffer.MaxChunkSize)
		}
		n, rerr := r.Read(v.AsSlice())
		n = max(n, 0)
		var buf buffer.Buffer
		if n > buffer.MaxChunkSize/2 {
			// The view itself goes to the send queue.
			v.CapLength(n)
			buf = buffer.MakeWithView(v)
			v = nil
		} else if n > 0 {
			// A short read is copied into a view of its size: a
			// 64 KiB chunk per small read would hold the send
			// buffer's memory many times over until it is acked.
			buf = buffer.MakeWithData(v.AsSlice()[:n])
		}
		var err error
		if n > 0 {
			var m int64
			m, err = c.writeViews(&buf)
			total += m
		}
		buf.Release()
		if err != nil {
			return total, err
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// readerOnly and writerOnly hide WriteTo and ReadFrom from io.Copy.
type (
	readerOnly struct{ io.Reader }
	writerOnly struct{ io.Writer }
)

// writeViewsTo writes buf's views to w one by one, without copying them.
func writeViewsTo(w io.Writer, buf *buffer.Buffer) (int64, error) {
	var total int64
	views := buf.AsViewList()
	for v := views.Front(); v != nil; v = v.Next() {
		n, err := w.Write(v.AsSlice())
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < v.Size() {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// readViews is Read for WriteTo: up to maxMove bytes of the receive queue
// as views. It returns io.EOF at end of stream.
func (c *Conn) readViews() (buffer.Buffer, error) {
	if c.so.closed() {
		return buffer.Buffer{}, c.opError("read", net.ErrClosed)
	}
	c.rd.enter()
	defer c.rd.leave()
	if c.rd.passed() {
		return buffer.Buffer{}, c.opError("read", os.ErrDeadlineExceeded)
	}
	start := c.s.callStart()
	col := viewCollector{max: maxMove}
	n, err := c.s.recvViews(&c.rd, c.so, &col)
	if c.s.logCalls {
		c.s.logCall(start, c.so, "recv", itoa(c.so.fd)+", "+itoa(maxMove)+", 0", n, moved(col.copied), err)
	}
	if err != nil {
		col.buf.Release()
		return buffer.Buffer{}, c.opError("read", err)
	}
	if n == 0 {
		return buffer.Buffer{}, io.EOF
	}
	return col.buf, nil
}

// recvViews is recv (flags 0) into a view collector.
func (s *Sockets) recvViews(dl *deadline, so *socket, col *viewCollector) (int, error) {
	var (
		res tcpip.ReadResult
		off uint64
	)
	terr, err := s.block(context.Background(), dl, so, "recv", readMask, so.nonblock.Load(), nil, func() tcpip.Error {
		var terr tcpip.Error
		off, terr = so.readTo(col, tcpip.ReadOptions{}, &res)
		return terr
	})
	if err != nil {
		return 0, err
	}
	switch terr.(type) {
	case nil:
	case *tcpip.ErrClosedForReceive:
		if s.tr.Enabled() {
			s.emit(so, "", trace.In, "recv", fmt.Sprintf("end of stream at offset %d", off),
				(&trace.SocketIO{FD: so.fd, N: trace.Some(0), Offset: trace.Some(off), EOF: trace.Some(true)}).Fields()...)
		}
		return 0, nil
	default:
		err := errno(terr)
		if s.tr.Enabled() && !isAgain(err) {
			s.emit(so, "", trace.In, "recv", "recv: "+err.Error(), (&trace.SocketIO{FD: so.fd, Err: err.Error()}).Fields()...)
		}
		return 0, err
	}
	if s.tr.Enabled() {
		s.emit(so, "", trace.In, "recv", fmt.Sprintf("%s %d bytes at offset %d", verb(col.copied), res.Count, off),
			(&trace.SocketIO{FD: so.fd, N: trace.Some(res.Count), Offset: trace.Some(off)}).Fields()...)
	}
	return res.Count, nil
}

// writeViews is Write for WriteTo and ReadFrom: it queues every byte of
// buf by reference, blocking while the send buffer is full, and trims
// what it queued from buf.
func (c *Conn) writeViews(buf *buffer.Buffer) (int64, error) {
	if c.so.closed() {
		return 0, c.opError("write", net.ErrClosed)
	}
	c.wd.enter()
	defer c.wd.leave()
	var total int64
	for buf.Size() > 0 {
		if c.wd.passed() {
			return total, c.opError("write", os.ErrDeadlineExceeded)
		}
		start := c.s.callStart()
		size := int(buf.Size())
		n, copied, err := c.s.sendViews(&c.wd, c.so, buf)
		if c.s.logCalls {
			c.s.logCall(start, c.so, "send", itoa(c.so.fd)+", "+itoa(size)+", 0", n, moved(copied), err)
		}
		total += int64(n)
		if err != nil {
			return total, c.opError("write", err)
		}
	}
	return total, nil
}

// sendViews is one send (flags 0) of buf's bytes by reference: it returns
// once some are in the send buffer, and trims them from buf. copied says
// the endpoint read the bytes instead (a gVisor without patch 5).
func (s *Sockets) sendViews(dl *deadline, so *socket, buf *buffer.Buffer) (n int, copied bool, err error) {
	var (
		w   int64
		off uint64
	)
	p := viewPayload{buf: buf}
	terr, err := s.block(context.Background(), dl, so, "send", writeMask, so.nonblock.Load(), nil, func() tcpip.Error {
		var terr tcpip.Error
		w, off, terr = so.writeFrom(&p, tcpip.WriteOptions{})
		return terr
	})
	if err != nil {
		return 0, false, err
	}
	if terr != nil {
		err := errno(terr)
		if s.tr.Enabled() && !isAgain(err) {
			s.emit(so, "", trace.Out, "send", "send: "+err.Error(), (&trace.SocketIO{FD: so.fd, Err: err.Error()}).Fields()...)
		}
		return 0, false, err
	}
	buf.TrimFront(w)
	if s.tr.Enabled() {
		s.emit(so, "", trace.Out, "send",
			fmt.Sprintf("%s %d bytes into the send buffer at offset %d", verb(p.read > 0), w, off),
			(&trace.SocketIO{FD: so.fd, N: trace.Some(int(w)), Offset: trace.Some(off)}).Fields()...)
	}
	return int(w), p.read > 0, nil
}

// moved is the call log's note on how a call moved its bytes.
func moved(copied bool) string {
	if copied {
		return "copied"
	}
	return "by reference"
}

// verb is the trace's word for it.
func verb(copied bool) string {
	if copied {
		return "copied"
	}
	return "moved by reference"
}

// viewCollector is the writer readViews reads the receive queue into: it
// keeps references to the views it is handed (buffer.ViewWriter), up to
// max bytes.
type viewCollector struct {
	buf    buffer.Buffer
	max    int
	copied bool // Write was called: bytes that were not a view
}

// WriteView implements buffer.ViewWriter.
func (c *viewCollector) WriteView(v *buffer.View) (int, error) {
	n := min(v.Size(), c.max-int(c.buf.Size()))
	if n > 0 {
		r := v.Clone()
		r.CapLength(n)
		// Merge, not Append: Append would copy into the free room of
		// the last view.
		b := buffer.MakeWithView(r)
		c.buf.Merge(&b)
	}
	if n < v.Size() {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// Write takes bytes that do not come as a view, by copying them.
func (c *viewCollector) Write(p []byte) (int, error) {
	c.copied = true
	n := min(len(p), c.max-int(c.buf.Size()))
	if n > 0 {
		b := buffer.MakeWithData(p[:n])
		c.buf.Merge(&b)
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// viewPayload hands buf's views to the endpoint's Write
// (tcpip.BufferPayloader). buf is trimmed by the caller, by the count
// Write returns: the endpoint may queue less than it was given.
type viewPayload struct {
	buf  *buffer.Buffer
	read int64 // bytes Read has copied out (the copying fallback)
}

// Len implements tcpip.Payloader.
func (p *viewPayload) Len() int { return int(p.buf.Size() - p.read) }

// Read implements tcpip.Payloader for an endpoint that copies.
func (p *viewPayload) Read(b []byte) (int, error) {
	if p.read >= p.buf.Size() {
		return 0, io.EOF
	}
	n, err := p.buf.ReadAt(b, p.read)
	p.read += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// PayloadBuffer implements tcpip.BufferPayloader: the first n bytes, by
// reference.
func (p *viewPayload) PayloadBuffer(n int) buffer.Buffer {
	b := p.buf.Clone()
	b.Truncate(int64(n))
	return b
}
