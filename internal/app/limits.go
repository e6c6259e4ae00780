package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/internal/httphead"
	"github.com/glassnet/glassnet/internal/retry"
	"github.com/glassnet/glassnet/sockets"
)

// connLimit counts the TCP connections serve's services hold (HTTP and
// WebSocket, echo, discard) and turns new ones away past max. A nil
// *connLimit counts nothing and bounds nothing.
type connLimit struct {
	max     int64 // 0 or less: no bound
	held    atomic.Int64
	refused atomic.Uint64 // turned away at the bound
	idle    atomic.Uint64 // closed for being silent past the idle timeout

	// refusing counts HTTP connections over the bound that wait for
	// their request, to be answered 503; past maxRefusing more are reset
	// at once, so that a flood cannot hold them either.
	refusing atomic.Int64
	// http records the HTTP connections the limit knows, for ConnState.
	http sync.Map // net.Conn -> httpAdmitted or httpRefused
	// reset closes a connection with RST instead of FIN.
	reset func(net.Conn)
}

// maxRefusing bounds the HTTP connections over the bound that are still
// read, to answer them 503.
const maxRefusing = 64

type httpConnKind int

const (
	httpAdmitted httpConnKind = iota
	httpRefused
)

// acquire takes a place for a new connection; false means the bound is
// reached, and counts the refusal.
func (l *connLimit) acquire() bool {
	if l == nil {
		return true
	}
	n := l.held.Add(1)
	if l.max > 0 && n > l.max {
		l.held.Add(-1)
		l.refused.Add(1)
		return false
	}
	return true
}

// hold takes a place without looking at the bound: for a WebSocket that
// takes over an HTTP connection that already had one.
func (l *connLimit) hold() {
	if l != nil {
		l.held.Add(1)
	}
}

// release gives a place back.
func (l *connLimit) release() {
	if l != nil {
		l.held.Add(-1)
	}
}

// idled counts a connection closed for being idle.
func (l *connLimit) idled() {
	if l != nil {
		l.idle.Add(1)
	}
}

// overLimitKey marks the context of an HTTP connection over the bound.
type overLimitKey struct{}

// limitHTTP makes srv take a place for each connection it accepts (its
// ConnContext and ConnState) and answer every request on a connection
// over the bound with 503 Service Unavailable, before any handler, so
// before any WebSocket upgrade. A connection leaves the count when it
// closes, or when a handler takes it over (a WebSocket, which takes its
// own place with hold).
func (l *connLimit) limitHTTP(srv *http.Server) {
	next := srv.Handler
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if l.acquire() {
			l.http.Store(c, httpAdmitted)
			return ctx
		}
		if l.refusing.Add(1) > maxRefusing {
			l.refusing.Add(-1)
			l.reset(c) // its server sees the read fail and forgets it
			return ctx
		}
		l.http.Store(c, httpRefused)
		return context.WithValue(ctx, overLimitKey{}, true)
	}
	srv.ConnState = func(c net.Conn, state http.ConnState) {
		if state != http.StateClosed && state != http.StateHijacked {
			return
		}
		switch kind, _ := l.http.LoadAndDelete(c); kind {
		case httpAdmitted:
			l.release()
		case httpRefused:
			l.refusing.Add(-1)
		}
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(overLimitKey{}) != nil {
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", "1")
			http.Error(w, "glassnet: too many connections (at most "+strconv.FormatInt(l.max, 10)+"); try again later", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// counters adds the limit's counters to what `glassnet ss` shows.
func (l *connLimit) counters(m map[string]uint64) {
	m["conns held by services"] = uint64(max(l.held.Load(), 0))
	m["conns refused (max-conns)"] = l.refused.Load()
	m["conns closed idle (idle-timeout)"] = l.idle.Load()
}

// serveTCP accepts connections until l is closed, or loop gives up on
// its errors, and runs fn on each; then it closes the connections still
// open and waits for their handlers. A connection past lim's bound is
// reset at once.
func serveTCP(l net.Listener, fn func(net.Conn), lim *connLimit, loop *retry.Loop) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = make(map[net.Conn]struct{})
	)
	for {
		c, err := l.Accept()
		if err != nil {
			if loop.Again(err) {
				continue
			}
			break
		}
		loop.OK()
		if !lim.acquire() {
			lim.reset(c)
			continue
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer lim.release()
			fn(c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
}

// copyIdle copies from c to dst until c ends or, with idle > 0, until no
// byte has moved for idle (a read or a write waits at most that long); it
// reports whether the connection went idle, and the copy's error: nil
// when the peer ended its side (FIN) and everything it sent was taken.
//
// Over a glassnet socket (a net.Conn with StreamOffsets) the copy is one
// io.Copy, which moves the stack's buffers without copying them
// (sockets.Conn's WriteTo), watched by a timer that ends it through the
// deadlines when neither stream offset has moved for idle (idleWatch). Otherwise it
// reads and writes through a buffer, with a deadline on each call.
func copyIdle(dst io.Writer, c net.Conn, idle time.Duration) (idled bool, err error) {
	if idle <= 0 {
		_, err := io.Copy(dst, c)
		return false, err
	}
	if oc, ok := c.(offsetConn); ok {
		return copyWatched(dst, c, oc, idle)
	}
	buf := make([]byte, 32<<10)
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Read(buf)
		if n > 0 {
			if dst == c {
				c.SetWriteDeadline(time.Now().Add(idle))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return isTimeout(werr), werr
			}
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return isTimeout(err), err
		}
	}
}

// offsetConn is a connection that counts the bytes read and written
// (sockets.Conn).
type offsetConn interface {
	StreamOffsets() (read, written int64)
}

// copyWatched is copyIdle over an offsetConn.
func copyWatched(dst io.Writer, c net.Conn, oc offsetConn, idle time.Duration) (idled bool, err error) {
	var (
		fired atomic.Bool
		timer atomic.Pointer[time.Timer]
		mu    sync.Mutex // w, for the timer's runs
	)
	w := newIdleWatch(idle, time.Now(), oc)
	period := w.period()
	timer.Store(time.AfterFunc(period, func() {
		mu.Lock()
		defer mu.Unlock()
		if !w.expired(time.Now(), oc) {
			for timer.Load() == nil {
				// AfterFunc has not returned yet: only with a
				// tiny idle.
				runtime.Gosched()
			}
			timer.Load().Reset(period)
			return
		}
		fired.Store(true)
		c.SetDeadline(time.Now()) // ends the blocked read or write
	}))
	_, err = io.Copy(dst, c)
	if t := timer.Load(); t != nil {
		t.Stop()
	}
	return fired.Load() && isTimeout(err), err
}

// idleWatch decides when a connection has been silent for idle, from its
// stream offsets looked at every period: the time it last saw them move
// stands for the last byte, late by a period at most, so the connection
// closes between idle and idle plus two periods after its last byte.
type idleWatch struct {
	idle         time.Duration
	lastR, lastW int64
	moved        time.Time // when lastR and lastW were first seen
}

func newIdleWatch(idle time.Duration, now time.Time, oc offsetConn) *idleWatch {
	w := &idleWatch{idle: idle, moved: now}
	w.lastR, w.lastW = oc.StreamOffsets()
	return w
}

// period is how often the offsets are looked at: a twentieth of idle,
// between 10 ms and 1 s.
func (w *idleWatch) period() time.Duration {
	return min(max(w.idle/20, 10*time.Millisecond), time.Second)
}

// expired reports whether, at now, the offsets have not moved for idle.
func (w *idleWatch) expired(now time.Time, oc offsetConn) bool {
	if r, wr := oc.StreamOffsets(); r != w.lastR || wr != w.lastW {
		w.lastR, w.lastW, w.moved = r, wr, now
		return false
	}
	return now.Sub(w.moved) >= w.idle
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tcpService returns fn for serveTCP: echo (RFC 862, write back what
// arrives) or discard (RFC 863, read and throw away), closing the
// connection when it is idle past idle and counting that in lim. An echo
// whose peer has ended its side is held until the peer has what was
// echoed (awaitDelivered).
func tcpService(echo bool, idle time.Duration, lim *connLimit, socks *sockets.Sockets) func(net.Conn) {
	return func(c net.Conn) {
		var dst io.Writer = io.Discard
		if echo {
			dst = c
		}
		idled, err := copyIdle(dst, c, idle)
		if echo && !idled && err == nil {
			idled = awaitDelivered(c, socks, idle)
		}
		if idled {
			lim.idled()
		}
	}
}

// awaitDelivered ends the sending side of an echo connection whose peer
// has ended its own (FIN after the echoed bytes, as a kernel echo does on
// shutdown) and waits until the peer has acknowledged all of it, the
// connection has failed, or idle has passed (idle <= 0: no limit); it
// reports whether idle passed. Closed at once, an echo whose last
// megabyte is still in flight becomes an orphan, outside --max-conns and
// within the stack's bound on orphans, past which its close is a reset:
// two hundred clients ending at once lost their echoes to it. Held here,
// the connection counts against --max-conns until it is done.
func awaitDelivered(c net.Conn, socks *sockets.Sockets, idle time.Duration) (idled bool) {
	sc, ok := c.(*sockets.Conn)
	if !ok || socks == nil || sc.CloseWrite() != nil {
		return false
	}
	timeout := idle
	if idle <= 0 {
		timeout = -1
	}
	// No event asked for: POLLHUP once the FIN is acknowledged (the
	// connection is closed), POLLERR if it fails, POLLNVAL once serve
	// closes it at shutdown.
	n, err := socks.Poll(context.Background(), []sockets.PollFD{{FD: sc.FD()}}, timeout)
	return err == nil && n == 0
}

// maxRequestHead bounds the head (request line and header fields) of a
// request to serve's and demo's HTTP servers, as ws bounds the upgrade
// it reads itself: with net/http's default of 1 MiB, 4,096 connections
// that never finish their heads held 4 GiB until ReadHeaderTimeout. A
// longer head is answered 431 Request Header Fields Too Large.
const maxRequestHead = 16 << 10

// newHTTPServer returns the HTTP server serve and demo run handler on:
// a request head must arrive within 10 s and fit in maxRequestHead.
func newHTTPServer(handler http.Handler) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: httphead.MaxHeaderBytes(maxRequestHead)}
}
