package ws

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// memPipe is one direction of a memConn pair.
type memPipe struct {
	mu       sync.Mutex
	buf      []byte
	eof      bool          // the writer has closed
	rclosed  bool          // the reader has closed
	wake     chan struct{} // closed and replaced whenever something changes
	deadline time.Time     // the reader's read deadline
	notify   map[int]func()
	nextID   int
	limit    int // the most bytes buf holds before writes block; 0: no limit
}

func newMemPipe(limit int) *memPipe {
	return &memPipe{wake: make(chan struct{}), notify: map[int]func(){}, limit: limit}
}

// changed wakes waiters and returns the notifications to call; mu is held.
func (p *memPipe) changed() []func() {
	close(p.wake)
	p.wake = make(chan struct{})
	var fns []func()
	if len(p.buf) > 0 || p.eof || p.rclosed {
		for id, fn := range p.notify {
			fns = append(fns, fn)
			delete(p.notify, id)
		}
	}
	return fns
}

func call(fns []func()) {
	for _, fn := range fns {
		fn()
	}
}

// memConn is an in-memory net.Conn without goroutines of its own whose
// reads can be waited for with NotifyReadable, as a *sockets.Conn's can.
// Writes block while the peer's unread bytes are over the pipe's limit.
type memConn struct {
	r, w *memPipe
}

// memConnPair returns the two ends of a connection; limit bounds each
// direction's unread bytes (0: no bound).
func memConnPair(limit int) (*memConn, *memConn) {
	a, b := newMemPipe(limit), newMemPipe(limit)
	return &memConn{r: a, w: b}, &memConn{r: b, w: a}
}

func (c *memConn) Read(b []byte) (int, error) {
	p := c.r
	p.mu.Lock()
	for {
		switch {
		case p.rclosed:
			p.mu.Unlock()
			return 0, net.ErrClosed
		case len(p.buf) > 0:
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			fns := p.changed()
			p.mu.Unlock()
			call(fns)
			return n, nil
		case p.eof:
			p.mu.Unlock()
			return 0, io.EOF
		case !p.deadline.IsZero() && !time.Now().Before(p.deadline):
			p.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		wake, d := p.wake, p.deadline
		p.mu.Unlock()
		var timeout <-chan time.Time
		if !d.IsZero() {
			t := time.NewTimer(time.Until(d))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wake:
		case <-timeout:
		}
		p.mu.Lock()
	}
}

func (c *memConn) Write(b []byte) (int, error) {
	p := c.w
	n := 0
	p.mu.Lock()
	for n < len(b) {
		if p.eof {
			p.mu.Unlock()
			return n, net.ErrClosed
		}
		if p.rclosed {
			p.mu.Unlock()
			return n, io.ErrClosedPipe
		}
		room := len(b) - n
		if p.limit > 0 {
			room = min(room, p.limit-len(p.buf))
		}
		if room <= 0 {
			wake := p.wake
			p.mu.Unlock()
			<-wake
			p.mu.Lock()
			continue
		}
		p.buf = append(p.buf, b[n:n+room]...)
		n += room
		fns := p.changed()
		p.mu.Unlock()
		call(fns)
		p.mu.Lock()
	}
	p.mu.Unlock()
	return n, nil
}

// NotifyReadable calls fn once, on a goroutine of its own, when a Read
// would not block.
func (c *memConn) NotifyReadable(fn func()) (stop func()) {
	p := c.r
	p.mu.Lock()
	if len(p.buf) > 0 || p.eof || p.rclosed {
		p.mu.Unlock()
		go fn()
		return func() {}
	}
	id := p.nextID
	p.nextID++
	p.notify[id] = func() { go fn() }
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.notify, id)
		p.mu.Unlock()
	}
}

// waiting reports how many notifications are armed on c's read side.
func (c *memConn) waiting() int {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return len(c.r.notify)
}

func (c *memConn) Close() error {
	c.r.mu.Lock()
	c.r.rclosed = true
	c.r.buf = nil
	fns := c.r.changed()
	c.r.mu.Unlock()
	call(fns)
	c.w.mu.Lock()
	c.w.eof = true
	fns = c.w.changed()
	c.w.mu.Unlock()
	call(fns)
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (c *memConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return nil
}

func (c *memConn) SetReadDeadline(t time.Time) error {
	c.r.mu.Lock()
	c.r.deadline = t
	fns := c.r.changed()
	c.r.mu.Unlock()
	call(fns)
	return nil
}

// SetWriteDeadline is not supported: writes block only on a full pipe,
// which tests that use a limit unblock by reading or closing.
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }
