package conformance

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune a run. The zero value runs every case with the defaults.
type Options struct {
	// Only, when not empty, runs the cases whose ID equals one of these
	// or starts with it followed by a dot ("6.4" runs 6.4.1-6.4.6).
	Only []string
	// Parallel is how many cases run at once; 0 means 4. Heavy cases
	// always run alone.
	Parallel int
	// Short scales group 9 down (sizes by 16, message counts by 10)
	// and groups 12 and 13 (messages of up to 16 KiB).
	Short bool
	// NoCompression skips groups 12 and 13 (permessage-deflate), for
	// peers that do not enable it.
	NoCompression bool
	// MaxMessageSize is the peer's message size limit, for the cases that
	// exceed it; 0 means ws.DefaultMaxMessageSize (16 MiB), negative
	// means the peer has none and those cases are skipped.
	MaxMessageSize int64
	// Quiet is how long a case waits to see that nothing happens, as in
	// Autobahn's fail-fast cases; 0 means 150 ms.
	Quiet time.Duration
	// FailTimeout is how long the harness waits for the peer to fail the
	// connection, to answer, or to finish the close handshake and close
	// TCP; 0 means 10 s. Passing cases never wait this long.
	FailTimeout time.Duration
	// FailFast is how soon after the first invalid octet of a text message
	// the peer must have failed the connection (cases 6.4.x); 0 means 2 s.
	FailFast time.Duration
	// OctetDelay is the pause between the bytes of octet-wise writes; 0
	// means 200 µs.
	OctetDelay time.Duration
	// Progress, if set, is called with each result as it is decided.
	Progress func(Result)
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = 16 << 20
	}
	if o.Quiet <= 0 {
		o.Quiet = 150 * time.Millisecond
	}
	if o.FailTimeout <= 0 {
		o.FailTimeout = 10 * time.Second
	}
	if o.FailFast <= 0 {
		o.FailFast = 2 * time.Second
	}
	if o.OctetDelay <= 0 {
		o.OctetDelay = 200 * time.Microsecond
	}
}

func (o *Options) selects(id string) bool {
	if len(o.Only) == 0 {
		return true
	}
	for _, p := range o.Only {
		if id == p || strings.HasPrefix(id, p+".") {
			return true
		}
	}
	return false
}

// ServerTarget is a server under test.
type ServerTarget struct {
	// Dial opens a new transport connection to the server.
	Dial func(ctx context.Context) (net.Conn, error)
	// Host is sent as the Host header; Path is the request target of an
	// endpoint that echoes every message it reads.
	Host, Path string
}

// ClientTarget is a client under test.
type ClientTarget struct {
	// Listener is where the harness accepts the client's connections. Run
	// takes it over and closes it before returning.
	Listener net.Listener
	// Connect makes the client under test open a WebSocket connection to
	// url, offering subprotocols, and echo every message it reads until
	// the connection ends. It returns the error that ended the client:
	// the handshake error, or the error of the read that ended the echo
	// loop.
	Connect func(ctx context.Context, url string, subprotocols []string) error
}

// Target is one implementation under test, reached over one transport.
type Target struct {
	Name   string
	Server *ServerTarget
	Client *ClientTarget
}

// Role returns the side under test.
func (t Target) Role() Role {
	if t.Client != nil {
		return Client
	}
	return Server
}

// Result is the outcome of one case against one target.
type Result struct {
	Case   *Case
	Target string
	Role   Role

	// Behavior judges what the peer sent; BehaviorClose how the
	// connection ended (empty for handshake cases).
	Behavior      Verdict
	BehaviorClose Verdict
	Detail        string
	CloseDetail   string

	Events      []Event // what arrived from the peer
	CloseCode   int     // code of the peer's close frame; -1: none, or no code
	CloseReason string
	ClosedFirst string // who sent the first close frame: "harness", "peer" or ""
	TCP         string // how TCP ended, from the harness's side
	ClientError string // for clients under test: what Connect returned
	Duration    time.Duration
}

// Verdict is the worse of Behavior and BehaviorClose.
func (r Result) Verdict() Verdict {
	if r.BehaviorClose.rank() > r.Behavior.rank() {
		return r.BehaviorClose
	}
	return r.Behavior
}

// Passed reports whether the case is OK, or INFORMATIONAL where Autobahn
// allows no other verdict.
func (r Result) Passed() bool { return r.Verdict().rank() <= 1 }

func (r Result) String() string {
	s := fmt.Sprintf("%s %-7s %s: %s", r.Target, r.Case.ID, r.Verdict(), r.Behavior)
	if r.Detail != "" {
		s += " (" + r.Detail + ")"
	}
	if r.BehaviorClose != "" {
		s += "; close " + string(r.BehaviorClose)
		if r.CloseDetail != "" {
			s += " (" + r.CloseDetail + ")"
		}
	}
	if r.ClientError != "" {
		s += "; client: " + r.ClientError
	}
	return s
}

// Run runs every case that applies to the target's role and returns the
// results in case order.
func Run(ctx context.Context, target Target, opts Options) ([]Result, error) {
	opts.defaults()
	r := &runner{ctx: ctx, target: target, role: target.Role(), opts: opts, keys: map[string]bool{}}
	switch {
	case target.Server != nil && target.Client != nil, target.Server == nil && target.Client == nil:
		return nil, errors.New("conformance: a target is a server or a client")
	case target.Client != nil:
		r.disp = &dispatcher{ln: target.Client.Listener, waiting: map[string]chan accepted{}}
		go r.disp.loop()
		defer r.disp.stop()
	}
	var cases []*Case
	for _, c := range Cases(opts) {
		if c.appliesTo(r.role) && opts.selects(c.ID) {
			cases = append(cases, c)
		}
	}
	results := make([]Result, len(cases))
	var (
		heavy sync.RWMutex
		sem   = make(chan struct{}, opts.Parallel)
		wg    sync.WaitGroup
	)
	for i, c := range cases {
		if ctx.Err() != nil {
			results[i] = Result{Case: c, Target: target.Name, Role: r.role, Behavior: Failed, Detail: ctx.Err().Error()}
			continue
		}
		if c.Heavy {
			heavy.Lock()
		} else {
			heavy.RLock()
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.runCase(c)
			<-sem
			if c.Heavy {
				heavy.Unlock()
			} else {
				heavy.RUnlock()
			}
			if opts.Progress != nil {
				opts.Progress(results[i])
			}
		}()
	}
	wg.Wait()
	return results, ctx.Err()
}

type runner struct {
	ctx    context.Context
	target Target
	role   Role
	opts   Options
	disp   *dispatcher
	seq    atomic.Int64

	keysMu sync.Mutex
	keys   map[string]bool // Sec-WebSocket-Key values a client under test sent
}

func (r *runner) runCase(c *Case) Result {
	start := time.Now()
	res := Result{Case: c, Target: r.target.Name, Role: r.role, CloseCode: -1}
	if c.Handshake != nil {
		h := &HandshakeExchange{r: r, c: c}
		res.Behavior, res.Detail = c.Handshake(h)
		if err := h.cleanup(); err != "" && res.Behavior == OK {
			res.Behavior, res.Detail = Failed, err
		}
		res.ClientError = h.clientErr
		res.Duration = time.Since(start)
		return res
	}
	var (
		s    *session
		err  error
		done <-chan error
	)
	if r.role == Server {
		s, err = r.openServer(c)
	} else {
		s, done, err = r.openClient(c)
	}
	if err != nil {
		res.Behavior, res.Detail = Failed, "opening handshake: "+err.Error()
		if done != nil {
			res.ClientError = waitClient(done, r.opts.FailTimeout)
		}
		res.Duration = time.Since(start)
		return res
	}
	t := &Exchange{s: s, opts: &r.opts, expect: maps.Clone(c.Expect)}
	if t.expect == nil {
		t.expect = map[Verdict][]Event{}
	}
	c.Run(t)
	killed := r.finish(c, t.expect, s)
	r.evaluate(c, t.expect, s, killed, &res)
	if done != nil {
		res.ClientError = waitClient(done, r.opts.FailTimeout)
		if res.ClientError == "client did not return" && res.Behavior == OK {
			res.Behavior, res.Detail = Failed, "the client under test did not return after the connection ended"
		}
	}
	res.Duration = time.Since(start)
	return res
}

func waitClient(done <-chan error, d time.Duration) string {
	select {
	case err := <-done:
		if err == nil {
			return ""
		}
		return err.Error()
	case <-time.After(d):
		return "client did not return"
	}
}

// newKey returns a fresh Sec-WebSocket-Key.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// acceptKey computes Sec-WebSocket-Accept (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// request builds an opening handshake request; extra lines are appended
// and lines named in drop are left out.
func request(host, path, key string, extra []string, drop ...string) []byte {
	lines := []string{
		"GET " + path + " HTTP/1.1",
		"Host: " + host,
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: " + key,
		"Sec-WebSocket-Version: 13",
	}
	var b strings.Builder
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		if slices.Contains(drop, name) {
			continue
		}
		b.WriteString(l + "\r\n")
	}
	for _, l := range extra {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// checkUpgrade validates a server's answer to a request with key (RFC
// 6455 §4.1, the client's checks).
func checkUpgrade(resp *http.Response, key string) error {
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return fmt.Errorf("status %s, want 101", resp.Status)
	case !hasToken(resp.Header, "Upgrade", "websocket"):
		return fmt.Errorf("header Upgrade is %q", resp.Header.Get("Upgrade"))
	case !hasToken(resp.Header, "Connection", "upgrade"):
		return fmt.Errorf("header Connection is %q", resp.Header.Get("Connection"))
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return fmt.Errorf("header Sec-WebSocket-Accept is %q, want %q", resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key))
	case len(resp.Header.Values("Sec-WebSocket-Extensions")) > 0:
		return fmt.Errorf("the server accepted extensions %q that were not offered", resp.Header.Values("Sec-WebSocket-Extensions"))
	case len(resp.Header.Values("Sec-WebSocket-Protocol")) > 0:
		return fmt.Errorf("the server chose subprotocol %q that was not offered", resp.Header.Values("Sec-WebSocket-Protocol"))
	}
	return nil
}

func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// dial opens a connection to the server under test.
func (r *runner) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	return r.target.Server.Dial(ctx)
}

// openServer connects to the server under test and runs the opening
// handshake.
func (r *runner) openServer(c *Case) (*session, error) {
	nc, err := r.dial()
	if err != nil {
		return nil, err
	}
	key := newKey()
	st := r.target.Server
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var extra []string
	if c.Deflate != nil {
		extra = append(extra, "Sec-WebSocket-Extensions: "+c.Deflate.offer())
	}
	if _, err := nc.Write(request(st.Host, st.Path, key, extra)); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	var p *pmd
	if err == nil && c.Deflate != nil {
		if p, err = checkDeflateAnswer(resp, c.Deflate); err == nil {
			resp.Header.Del("Sec-WebSocket-Extensions")
		}
	}
	if err == nil {
		err = checkUpgrade(resp, key)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return newDeflateSession(nc, br, true, p), nil
}

// accepted is a connection from a client under test, with its request.
type accepted struct {
	nc  net.Conn
	br  *bufio.Reader
	req *http.Request
}

// dispatcher accepts the connections of clients under test and hands each
// to the case whose path it requested.
type dispatcher struct {
	ln      net.Listener
	mu      sync.Mutex
	waiting map[string]chan accepted
	wg      sync.WaitGroup
}

func (d *dispatcher) loop() {
	for {
		nc, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.wg.Add(1)
		go d.serve(nc)
	}
}

func (d *dispatcher) serve(nc net.Conn) {
	defer d.wg.Done()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(nc, 64<<10)
	req, err := http.ReadRequest(br)
	if err != nil {
		nc.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	d.mu.Lock()
	ch := d.waiting[req.URL.Path]
	delete(d.waiting, req.URL.Path)
	d.mu.Unlock()
	if ch == nil {
		nc.Write([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		nc.Close()
		return
	}
	ch <- accepted{nc: nc, br: br, req: req}
}

// expect registers a path and returns the channel its connection arrives
// on.
func (d *dispatcher) expect(path string) chan accepted {
	ch := make(chan accepted, 1)
	d.mu.Lock()
	d.waiting[path] = ch
	d.mu.Unlock()
	return ch
}

// forget drops a registration and closes a connection that arrived too
// late.
func (d *dispatcher) forget(path string, ch chan accepted) {
	d.mu.Lock()
	delete(d.waiting, path)
	d.mu.Unlock()
	select {
	case a := <-ch:
		a.nc.Close()
	default:
	}
}

func (d *dispatcher) stop() {
	d.ln.Close()
	d.wg.Wait()
}

// clientURL returns a fresh URL for one connection of case c.
func (r *runner) clientURL(c *Case) (url, path string) {
	path = fmt.Sprintf("/%s/%d", c.ID, r.seq.Add(1))
	return "ws://" + r.disp.ln.Addr().String() + path, path
}

// startClient makes the client under test connect for case c and waits
// for its connection.
func (r *runner) startClient(c *Case) (accepted, <-chan error, error) {
	url, path := r.clientURL(c)
	ch := r.disp.expect(path)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute+c.Timeout)
		defer cancel()
		done <- r.target.Client.Connect(ctx, url, c.Subprotocols)
	}()
	select {
	case a := <-ch:
		return a, done, nil
	case err := <-done:
		r.disp.forget(path, ch)
		ch := make(chan error, 1)
		ch <- err
		return accepted{}, ch, fmt.Errorf("the client did not connect: %v", err)
	case <-time.After(10 * time.Second):
		r.disp.forget(path, ch)
		return accepted{}, done, errors.New("the client did not connect within 10 s")
	}
}

// checkClientRequest validates the opening handshake request of a client
// under test (RFC 6455 §4.1) and returns what is wrong, or "".
func (r *runner) checkClientRequest(req *http.Request, c *Case) string {
	key := req.Header.Get("Sec-WebSocket-Key")
	raw, err := base64.StdEncoding.DecodeString(key)
	switch {
	case req.Method != http.MethodGet:
		return "method " + req.Method
	case req.ProtoMajor != 1 || req.ProtoMinor < 1:
		return "protocol " + req.Proto
	case req.Host != r.disp.ln.Addr().String():
		return fmt.Sprintf("Host %q, want %q", req.Host, r.disp.ln.Addr().String())
	case !hasToken(req.Header, "Upgrade", "websocket"):
		return fmt.Sprintf("Upgrade %q", req.Header.Get("Upgrade"))
	case !hasToken(req.Header, "Connection", "upgrade"):
		return fmt.Sprintf("Connection %q", req.Header.Get("Connection"))
	case len(req.Header.Values("Sec-WebSocket-Key")) != 1 || err != nil || len(raw) != 16:
		return fmt.Sprintf("Sec-WebSocket-Key %q is not 16 bytes in base64", req.Header.Values("Sec-WebSocket-Key"))
	case req.Header.Get("Sec-WebSocket-Version") != "13":
		return fmt.Sprintf("Sec-WebSocket-Version %q", req.Header.Get("Sec-WebSocket-Version"))
	}
	var offered []string
	for _, v := range req.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			offered = append(offered, strings.TrimSpace(p))
		}
	}
	if !slices.Equal(offered, c.Subprotocols) && (len(offered) > 0 || len(c.Subprotocols) > 0) {
		return fmt.Sprintf("offered subprotocols %q, want %q", offered, c.Subprotocols)
	}
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	if r.keys[key] {
		return "Sec-WebSocket-Key " + key + " was used before"
	}
	r.keys[key] = true
	return ""
}

// switchingProtocols is the server's 101 answer to key.
func switchingProtocols(key string, extra ...string) []byte {
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	for _, l := range extra {
		s += l + "\r\n"
	}
	return []byte(s + "\r\n")
}

// openClient has the client under test connect and accepts it.
func (r *runner) openClient(c *Case) (*session, <-chan error, error) {
	a, done, err := r.startClient(c)
	if err != nil {
		return nil, done, err
	}
	if problem := r.checkClientRequest(a.req, c); problem != "" {
		a.nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		a.nc.Close()
		return nil, done, errors.New("bad request: " + problem)
	}
	var extra []string
	var p *pmd
	if c.Deflate != nil {
		if !hasToken(a.req.Header, "Sec-WebSocket-Extensions", "permessage-deflate") {
			a.nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			a.nc.Close()
			return nil, done, fmt.Errorf("the client did not offer permessage-deflate: %q", a.req.Header.Values("Sec-WebSocket-Extensions"))
		}
		extra = append(extra, "Sec-WebSocket-Extensions: "+c.Deflate.answer())
		p = c.Deflate.serverPMD()
	}
	if _, err := a.nc.Write(switchingProtocols(a.req.Header.Get("Sec-WebSocket-Key"), extra...)); err != nil {
		a.nc.Close()
		return nil, done, err
	}
	return newDeflateSession(a.nc, a.br, false, p), done, nil
}

// linger is how long a harness playing the server watches for the client
// closing TCP first, before closing it itself.
const linger = 30 * time.Millisecond

// finish ends the connection as Autobahn's fuzzer does: it closes once
// the expected events are in (or waits for the peer to fail the
// connection), completes the close handshake and lets the server close
// TCP first. It reports whether the harness had to give up on the peer.
func (r *runner) finish(c *Case, expect map[Verdict][]Event, s *session) (killed bool) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = r.opts.FailTimeout
	}
	if c.Close.ByPeer {
		if !s.wait(timeout, s.peerDone) {
			killed = true
		}
	} else {
		s.mu.Lock()
		sent := s.closeSent
		s.mu.Unlock()
		if !sent {
			n := len(expect[OK])
			s.wait(timeout, func() bool { return len(s.events) >= n || s.peerDone() })
			s.write(Encode(s.client, Close(1000, nil)), 0, 0, true)
		}
	}
	closeTimeout := r.opts.FailTimeout
	if !killed && !s.wait(closeTimeout, func() bool { return s.closeRecv && s.closeSent || s.tcpEnd != "" || s.violation != "" }) {
		killed = true
	}
	if killed {
		s.closeNow()
		return true
	}
	if s.client {
		// The server closes TCP first (RFC 6455 §7.1.1).
		if !s.wait(closeTimeout, s.tcpEnded) {
			s.mu.Lock()
			s.tcpEnd = "dropped by the harness: the server did not close TCP"
			s.mu.Unlock()
		}
		s.closeNow()
		return false
	}
	s.wait(linger, s.tcpEnded)
	s.closeWrite()
	s.wait(closeTimeout, s.tcpEnded)
	s.closeNow()
	return false
}

func containsInt(list []int, v int) bool { return slices.Contains(list, v) }

// evaluate decides the two verdicts, as Autobahn's Case.onConnectionLost
// does, with the stricter rules of this package: the peer must send a
// close frame whenever it fails the connection, and TCP must end with a
// FIN from the right side.
func (r *runner) evaluate(c *Case, expect map[Verdict][]Event, s *session, killed bool, res *Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res.Events = append([]Event(nil), s.events...)
	res.CloseCode, res.CloseReason = s.closeCode, s.closeReason
	switch {
	case s.closeRecv && s.peerCloseFirst:
		res.ClosedFirst = "peer"
	case s.closeSent:
		res.ClosedFirst = "harness"
	}
	res.TCP = s.tcpEnd
	if s.peerEndFirst && s.tcpEnd != "" && s.tcpEnd != "local" {
		res.TCP += " (peer first)"
	}
	if killed {
		res.TCP = "dropped by the harness after a timeout"
	}

	// Behavior: the events against the expected outcomes.
	switch {
	case s.violation != "":
		res.Behavior, res.Detail = Failed, s.violation
	case eventsEqual(s.events, expect[OK]):
		res.Behavior = OK
	default:
		if ns, ok := expect[NonStrict]; ok && eventsEqual(s.events, ns) {
			res.Behavior = NonStrict
		} else {
			res.Behavior = Failed
		}
		res.Detail = "got " + eventsString(s.events) + ", want " + eventsString(expect[OK])
	}

	// Close behavior.
	codes := c.Close.Codes
	if len(codes) == 0 {
		codes = []int{1000}
	}
	res.BehaviorClose = OK
	switch {
	case killed && !s.closeRecv && c.Close.ByPeer:
		res.BehaviorClose, res.CloseDetail = Failed, "the peer did not fail the connection"
	case killed && !s.closeRecv:
		res.BehaviorClose, res.CloseDetail = Failed, "the peer did not answer the close frame"
	case killed:
		res.BehaviorClose, res.CloseDetail = Failed, "the connection did not end"
	case !s.closeRecv:
		res.BehaviorClose, res.CloseDetail = NoClose, "TCP ended ("+s.tcpEnd+") without a close frame from the peer"
	case c.Close.ByPeer != s.peerCloseFirst:
		res.BehaviorClose, res.CloseDetail = Failed, "the connection was closed by the wrong endpoint"
	case s.closeCode < 0 && !c.Close.NoCode:
		res.BehaviorClose, res.CloseDetail = WrongCode, fmt.Sprintf("close frame without a code, want %v", codes)
	case s.closeCode >= 0 && !containsInt(codes, s.closeCode) && containsInt(c.Close.NonStrictCodes, s.closeCode):
		res.BehaviorClose, res.CloseDetail = NonStrict, fmt.Sprintf("close code %d, strict is %v", s.closeCode, codes)
	case s.closeCode >= 0 && !containsInt(codes, s.closeCode):
		res.BehaviorClose, res.CloseDetail = WrongCode, fmt.Sprintf("close code %d, want %v", s.closeCode, codes)
	case s.tcpEnd == "reset":
		res.BehaviorClose, res.CloseDetail = Unclean, "TCP was reset"
	case strings.HasPrefix(s.tcpEnd, "dropped by the harness"):
		res.BehaviorClose, res.CloseDetail = FailedByClient, "the server did not close TCP"
	case !s.client && s.peerEndFirst:
		res.BehaviorClose, res.CloseDetail = Unclean, "the client closed TCP before the server"
	case s.tcpEnd != "fin" && s.tcpEnd != "local":
		res.BehaviorClose, res.CloseDetail = Unclean, "TCP ended: "+s.tcpEnd
	}
	if c.Informational {
		if res.Behavior != Failed || s.violation == "" {
			res.Behavior = Informational
		}
		if res.BehaviorClose != OK {
			res.CloseDetail = string(res.BehaviorClose) + ": " + res.CloseDetail
		}
		res.BehaviorClose = Informational
	}
}
