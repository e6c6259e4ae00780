package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/glassnet/glassnet/internal/retry"
	"github.com/glassnet/glassnet/sockets"
)

// Options configures a Server. The zero value works.
type Options struct {
	// Node names the stack in replies ("glassnet").
	Node string
	// Counters, if set, is asked on every query for the stack's counters
	// (drops by reason, hook verdicts), which ss prints under the table.
	Counters func() map[string]uint64
	// Log, if set, is told when the control socket stops answering
	// because its accepts keep failing (retry.Loop).
	Log io.Writer
}

// request is what a client sends.
type request struct {
	Op string `json:"op"`
}

// reply is what the server answers.
type reply struct {
	Node     string               `json:"node,omitempty"`
	Sockets  []sockets.SocketInfo `json:"sockets"`
	Counters map[string]uint64    `json:"counters,omitempty"`
	Process  *Process             `json:"process,omitempty"`
	Error    string               `json:"error,omitempty"`
}

// ioTimeout bounds one request and its reply.
const ioTimeout = 5 * time.Second

// maxRequest bounds a request: one is a few dozen bytes, and a longer one
// is answered "bad request" without being read whole.
const maxRequest = 4 << 10

// maxClients bounds the clients answered at once. Each holds a
// descriptor for up to ioTimeout; past the bound a client is told at once
// that the server is busy, so that clients that connect and never send
// cannot use up the process's descriptors (which the stack's other
// sockets, --kernel, the view and the pcap need too).
const maxClients = 64

// errBusy is the reply to a client past maxClients.
const errBusy = "busy: %d clients are being answered; try again"

// Server answers queries about one socket table on a unix socket.
type Server struct {
	socks *sockets.Sockets
	opts  Options
	ln    *net.UnixListener
	path  string
	// accept is ln, or a wrapper of it in tests.
	accept net.Listener
	// clients holds a token for each client being answered.
	clients chan struct{}

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Listen opens the control socket NAME.sock in the first of Dirs where it
// can (creating the directory), and serves socks on it until Close. A
// stale socket left by a server that died is replaced; one that still
// answers is an error.
func Listen(name string, socks *sockets.Sockets, opts Options) (*Server, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range Dirs() {
		if err := ownDir(d); err != nil {
			errs = append(errs, err)
			continue
		}
		sweepStale(d, name)
		srv, err := ListenPath(filepath.Join(d, name+suffix), socks, opts)
		if err == nil {
			return srv, nil
		}
		var inUse *InUseError
		if errors.As(err, &inUse) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("ctl: no place for control socket %s: %w", name, errors.Join(errs...))
}

// ownDir makes sure d exists and is checkDir's.
func ownDir(d string) error {
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return checkDir(d)
}

// InUseError is returned by Listen and ListenPath when another server
// already answers on the path.
type InUseError struct{ Path string }

func (e *InUseError) Error() string {
	return "ctl: " + e.Path + " is in use by another running glassnet"
}

// ListenPath is Listen on an exact socket path.
func ListenPath(path string, socks *sockets.Sockets, opts Options) (*Server, error) {
	return listenPath(path, socks, opts, nil)
}

// listenPath is ListenPath; wrap, if set, wraps the listener the server
// accepts on.
func listenPath(path string, socks *sockets.Sockets, opts Options, wrap func(net.Listener) net.Listener) (*Server, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("ctl: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, &InUseError{Path: path}
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("ctl: %s: %w", path, err)
		}
		os.Remove(path)
	}
	// The socket is created with the umask applied and then narrowed:
	// the control socket is for the user running the stack.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{socks: socks, opts: opts, ln: ln, path: path, accept: ln, clients: make(chan struct{}, maxClients)}
	if wrap != nil {
		s.accept = wrap(ln)
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Path is where the control socket is.
func (s *Server) Path() string { return s.path }

// Close stops serving, waits for the replies in progress and removes the
// socket file.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		// Closing a UnixListener created by ListenUnix unlinks the file.
		// The accept loop closed it already if it gave up.
		if err = s.ln.Close(); errors.Is(err, net.ErrClosed) {
			err = nil
		}
		s.wg.Wait()
	})
	return err
}

func (s *Server) serve() {
	defer s.wg.Done()
	loop := retry.Loop{What: "the control socket " + s.path, Log: s.opts.Log}
	for {
		c, err := s.accept.Accept()
		if err != nil {
			if loop.Again(err) {
				continue
			}
			// Given up (or closed): a client that connected now would
			// wait for a reply that never comes; without the file it
			// is told at once that nothing serves here.
			s.ln.Close()
			return
		}
		loop.OK()
		select {
		case s.clients <- struct{}{}:
		default:
			s.busy(c)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.clients }()
			s.handle(c)
		}()
	}
}

// busy tells a client past maxClients to come back, without reading its
// request: the reply fits in the socket's buffer, so the write does not
// block the accept loop.
func (s *Server) busy(c net.Conn) {
	c.SetDeadline(time.Now().Add(100 * time.Millisecond))
	json.NewEncoder(c).Encode(reply{Node: s.opts.Node, Error: fmt.Sprintf(errBusy, maxClients)})
	c.Close()
}

// handle answers one request.
func (s *Server) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	// One JSON value, however it ends: a newline, the end of the
	// client's writing, or nothing (`printf '{"op":"sockets"}' | nc -U`
	// without -N), which a line reader waited on until the timeout.
	lr := &io.LimitedReader{R: c, N: maxRequest}
	var req request
	rep := reply{Node: s.opts.Node}
	switch err := json.NewDecoder(lr).Decode(&req); {
	case errors.Is(err, io.EOF):
		return // nothing was asked
	case err != nil && lr.N == 0:
		rep.Error = fmt.Sprintf("bad request: longer than %d bytes", maxRequest)
	case err != nil:
		rep.Error = "bad request: " + err.Error()
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			rep.Error += fmt.Sprintf(" at byte %d", se.Offset)
		}
	case req.Op == "sockets":
		rep.Sockets = s.socks.Snapshot()
		if s.opts.Counters != nil {
			rep.Counters = s.opts.Counters()
		}
		p := ReadProcess(len(rep.Sockets))
		rep.Process = &p
	default:
		rep.Error = fmt.Sprintf("unknown op %q", req.Op)
	}
	json.NewEncoder(c).Encode(rep)
	// Closing with bytes the client sent still unread resets the
	// connection: it would read the reply and then ECONNRESET, not the
	// end. What is left of a request within maxRequest is read first,
	// for as long as the client goes on sending, at most drainWait.
	if lr.N > 0 {
		c.SetReadDeadline(time.Now().Add(drainWait))
		io.Copy(io.Discard, lr)
	}
}

// drainWait bounds how long a connection is kept open after the reply
// for the rest of what its client sent.
const drainWait = 100 * time.Millisecond
