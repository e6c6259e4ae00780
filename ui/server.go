package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glassnet/glassnet/hook"
	"github.com/glassnet/glassnet/internal/httphead"
	"github.com/glassnet/glassnet/netstack"
	"github.com/glassnet/glassnet/trace"
)

//go:embed static
var staticFiles embed.FS

// DefaultAddr is where the browser view listens unless told otherwise: the
// host kernel's loopback, never the stack it observes.
const DefaultAddr = "127.0.0.1:8999"

// Options configures a Server. The zero value is an offline viewer (no
// stack to control) that keeps DefaultHistory events.
type Options struct {
	// Live says that the events come from stacks running now. A live
	// Server has a Stepper and can pause, step and hold; an offline one
	// (glassnet view) only shows its history.
	Live bool
	// Run makes a live Server start running freely; without it the stack
	// stops before its first step until the page says play.
	Run bool
	// Clock is the clock of the stacks the Server controls: it stands
	// still while a step is held, and POST /api/clock/advance moves it.
	// The same clock must be given to the stacks (netstack.Options.Clock).
	Clock *netstack.PausableClock
	// History is how many events are kept; 0 means DefaultHistory.
	History int
	// Token is the secret every request must carry; empty means 128 new
	// random bits.
	Token string
}

// Server is the browser view of one run: a trace.Sink that keeps a bounded
// history of events, a Stepper that the page drives, hold points on the
// stacks it is given (AddNode), and the HTTP and WebSocket API the page
// uses. Put it among a Tracer's sinks with Sink, after the sinks that
// should see a step before it is held.
type Server struct {
	opts  Options
	token string
	hist  *history
	// loopbackOnly is set when the Server listens on a loopback address
	// alone: a request must then name loopback in its Host.
	loopbackOnly bool
	stepper      *trace.Stepper // nil when offline
	static       fs.FS

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Control (control.go).
	mu      sync.Mutex
	mode    string // "step" or "free"
	current uint64 // the event the stepper holds, 0 if none
	target  unitKind
	bps     []*Breakpoint
	hit     string        // the breakpoint that stopped the run last
	stopped chan struct{} // closed (and replaced) when the stepper stops
	ended   bool
	watch   atomic.Bool // the sink must look at events (breakpoints, a target)
	freeRun atomic.Bool // mode is "free": the Stepper is not needed
	track   Tracker     // what the run's events said, for the breakpoints

	skipped  atomic.Uint64          // events the live view thinned, over all pages
	capture  atomic.Bool            // a packet with its bytes was emitted (State.Capture)
	partial  atomic.Pointer[string] // what a recorded run's load left out (State.Partial)
	stateVer atomic.Uint64          // bumped on every change of the state

	// Live pages (live.go).
	cmu     sync.Mutex
	clients map[*liveClient]struct{}
	list    atomic.Pointer[[]*liveClient]
	acked   *sync.Cond // on cmu: a page acknowledged or went away
	// gone runs the run freely once no page has come back for goneGrace
	// after the last one went (removeClient); on cmu.
	gone      *time.Timer
	goneGrace time.Duration

	// Stacks, rules and holds (nodes.go, holds.go).
	nmu      sync.Mutex
	nodes    []*node
	nodeList []string // names of the nodes, in order, also from events when offline
	rules    []*liveRule
	ruleID   uint64
	seeds    hook.RuleSeeds // rules alike added from the page draw apart
	rulesVer atomic.Uint64  // bumped when a rule is added or removed
	hmu      sync.Mutex
	armed    []*armed
	held     []*held
	holdID   uint64
	holdsVer atomic.Uint64
	// decidedHow says how the last units decided ended, so that a
	// second decision on one is told what became of it; on hmu.
	decidedHow decidedUnits
	// heldPending counts held packets whose link "held" step has not
	// been seen yet.
	heldPending atomic.Int64

	conns connCache

	srv      *http.Server
	ln       net.Listener
	done     chan struct{}
	serveErr error // why Serve returned, when not Close; read after done
}

// New returns a Server. A live one starts paused before the first step
// unless Options.Run is set.
func New(opts Options) (*Server, error) {
	tok := opts.Token
	if tok == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("ui: token: %w", err)
		}
		tok = hex.EncodeToString(b[:])
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:    opts,
		token:   tok,
		hist:    newHistory(opts.History),
		static:  static,
		ctx:     ctx,
		cancel:  cancel,
		stopped: make(chan struct{}),
		clients: make(map[*liveClient]struct{}),
		// goneGrace: long enough for a reload, short enough for the
		// peers' TCP to wait it out
		goneGrace: 5 * time.Second,
	}
	s.acked = sync.NewCond(&s.cmu)
	s.setMode("free")
	s.track.init()
	if opts.Live {
		s.stepper = trace.NewStepper(trace.StepOptions{})
		if opts.Clock != nil {
			s.stepper.SetClock(opts.Clock)
		}
		if opts.Run {
			s.stepper.Run()
		} else {
			s.setMode("step")
		}
		s.wg.Add(1)
		go s.followStepper()
	}
	return s, nil
}

// Token returns the secret the page's URL carries.
func (s *Server) Token() string { return s.token }

// Stepper returns the Stepper the page drives (nil when offline). A
// program may drive it too; the page sees what it does.
func (s *Server) Stepper() *trace.Stepper { return s.stepper }

// Start listens on addr (DefaultAddr when empty) on the host's kernel
// stack and serves the page and the API until Close. It returns the URL to
// open, token included.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("ui: %w", err)
	}
	return s.StartOn(ln), nil
}

// maxRequestHead bounds a request's head (its line and header fields),
// read before the token is checked: a browser's, with the cookies every
// page on the host shares (ports do not separate them), fits; a longer
// head is answered 431, where net/http alone would read 1 MiB.
const maxRequestHead = 64 << 10

// StartOn serves the page and the API on ln, a listener on the host's
// kernel stack (glassnet lab opens it before it enters its namespace),
// until Close, and returns the URL to open.
func (s *Server) StartOn(ln net.Listener) string {
	s.ln = ln
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		s.loopbackOnly = true
	}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: httphead.MaxHeaderBytes(maxRequestHead)}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			// Close reports why the page stopped being served.
			s.serveErr = err
		}
	}()
	if s.opts.Live {
		s.wg.Add(1)
		go s.pollConns()
	}
	return URL(ln.Addr().String(), s.token)
}

// Announce is the line a command prints for the view at url: "glassnet: ui
// at URL", and, when the view listens on more than loopback, a second line
// that says so. A view that listens on every address (0.0.0.0 or [::]) is
// announced at 127.0.0.1, an address a browser opens.
func Announce(url string) string {
	rest := strings.TrimPrefix(url, "http://")
	hostport, path, _ := strings.Cut(rest, "/")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "localhost" {
		return "glassnet: ui at " + url
	}
	ip, err := netip.ParseAddr(host)
	if err == nil && ip.IsLoopback() {
		return "glassnet: ui at " + url
	}
	if err == nil && ip.IsUnspecified() {
		return "glassnet: ui at http://" + net.JoinHostPort("127.0.0.1", port) + "/" + path +
			"\nglassnet: the view listens on every address of this host (port " + port + "), not loopback only: whoever reaches it with the token drives the stacks; from elsewhere, open it with this host's address in place of 127.0.0.1 (--ui 127.0.0.1:PORT keeps it on this host)"
	}
	return "glassnet: ui at " + url + "\nglassnet: the view listens on " + hostport + ", not loopback only: whoever reaches it with the token drives the stacks (--ui 127.0.0.1:PORT keeps it on this host)"
}

// URL is the address of the page served at addr with token.
func URL(addr, token string) string {
	return "http://" + addr + "/?token=" + token
}

// Addr returns the address Start listens on, or nil.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// End tells the pages that the run is over: nothing will step again.
// The stacks may still trace (a conversation that went wrong leaves its
// connections to close), so the run goes on freely: a step or a held
// packet stopped now could never be played on, as play is refused.
func (s *Server) End() {
	s.mu.Lock()
	s.ended = true
	if s.stepper != nil && s.mode != "free" {
		s.playLocked()
	}
	close(s.stopped)
	s.stopped = make(chan struct{})
	s.mu.Unlock()
	s.changed()
}

// Close stops serving, closes the pages' connections, releases every held
// unit and lets the stepper run freely, so that nothing waits for a page
// that is gone. It is safe to call more than once.
func (s *Server) Close() error {
	// Under s.mu, so that a breakpoint or a held packet's step that check
	// is stopping the run at either has called Next before the stepper
	// runs on below, or sees the view closing and does not stop it: a
	// run stopped after Close would wait for a page that cannot come.
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	if s.stepper != nil {
		s.stepper.Run()
	}
	s.releaseAll("the browser view closed")
	var err error
	if s.srv != nil {
		err = s.srv.Close()
		<-s.done
		if s.serveErr != nil {
			err = fmt.Errorf("ui: serving the view stopped: %w", s.serveErr)
		}
	}
	s.cmu.Lock()
	for c := range s.clients {
		c.conn.CloseNow()
	}
	s.acked.Broadcast()
	s.cmu.Unlock()
	s.wg.Wait()
	return err
}

// Handler returns the page and API handler, token check included. Start
// serves it; a program may mount it elsewhere.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(s.static)))
	mux.HandleFunc("GET /static/states.js", serveStatesJS)
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.State()) })
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("GET /api/events/{id}", s.event)
	mux.HandleFunc("GET /api/live", s.serveLive)
	mux.HandleFunc("POST /api/play", s.live(s.play))
	mux.HandleFunc("POST /api/pause", s.live(s.pause))
	mux.HandleFunc("POST /api/step", s.live(s.step))
	mux.HandleFunc("GET /api/breakpoints", s.getBreakpoints)
	mux.HandleFunc("POST /api/breakpoints", s.live(s.setBreakpoints))
	mux.HandleFunc("POST /api/clock/advance", s.live(s.advance))
	mux.HandleFunc("GET /api/conns", s.getConns)
	mux.HandleFunc("GET /api/holds", s.getHolds)
	mux.HandleFunc("POST /api/hold", s.live(s.arm))
	mux.HandleFunc("DELETE /api/hold/{id}", s.live(s.disarm))
	mux.HandleFunc("POST /api/holds/{id}", s.live(s.decide))
	mux.HandleFunc("GET /api/rules", s.getRules)
	mux.HandleFunc("POST /api/rules", s.live(s.addRule))
	mux.HandleFunc("DELETE /api/rules/{id}", s.live(s.deleteRule))
	mux.HandleFunc("GET /api/export", s.export)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A body left unread (a GET's, or one of a request refused before
		// its body is read) is read to its end, up to maxBody, before the
		// server may close the connection: closed with bytes unread, it
		// is reset, and the client can lose the answer.
		defer io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
		if r.ContentLength != 0 && r.Header.Get("Upgrade") == "" {
			// net/http bounds the head's time (ReadHeaderTimeout), not
			// the body's: a body announced and never sent would hold
			// its connection, and the handler, for good.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		// The page shows what the network sent (payloads, HTTP heads,
		// WebSocket text): should any of it ever reach the page as
		// markup, no script it carries runs, and nothing loads from
		// elsewhere. No other site may frame the view (a click there
		// would drive the stack), and no link out carries the token in
		// the address as its Referer.
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		w.Header().Set("Referrer-Policy", "no-referrer")
		if !s.authorized(r) {
			writeError(w, http.StatusUnauthorized, "ui: a token is needed: open the URL glassnet printed")
			return
		}
		if s.loopbackOnly && !isLoopbackHost(r.Host) {
			// A page on a name its owner pointed at 127.0.0.1 afterwards
			// (DNS rebinding) is a site of its own to the browser: it
			// gets no cookie of this view's, and even with the token
			// (leaked, say, from a shared screen) it gets nothing.
			// Through a tunnel (ssh -L) the browser still says localhost.
			writeError(w, http.StatusForbidden, fmt.Sprintf("ui: Host %q is not a loopback name or address, and this view listens on loopback only: open the URL glassnet printed", r.Host))
			return
		}
		if err := sameSiteWrite(r); err != nil {
			// The token cookie goes with requests from any page of the
			// same site (another port of localhost): only this page's
			// own requests, or a program's (no Origin), change anything.
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
		if isAPI(r.URL.Path) {
			if !cleanPath(r.URL.Path) {
				// The ServeMux would redirect to the path cleaned, with
				// a page of HTML, which a script's POST does not follow.
				writeError(w, http.StatusNotFound, "ui: no such API path: "+r.URL.Path)
				return
			}
			jw := &jsonErrors{ResponseWriter: w, r: r}
			defer jw.finish()
			w = jw
		}
		mux.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy lets the page run its own scripts and styles
// (and style attributes, which its views set), load nothing from
// elsewhere, talk to this server alone (its API and its WebSocket), and
// be framed by no page.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// isLoopbackHost reports whether host (a Host header: a name or an
// address, with or without a port) names this machine's loopback:
// localhost or a name under it (RFC 6761), or a loopback address.
func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// sameSiteWrite refuses a request that changes something (not GET or
// HEAD) when a browser says it comes from another page: an Origin other
// than this host, or Sec-Fetch-Site other than same-origin.
func sameSiteWrite(r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if err := sameOrigin(r); err != nil {
		return err
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return fmt.Errorf("ui: a request from another page (Sec-Fetch-Site: %s) cannot drive the view", sfs)
	}
	return nil
}

// authorized reports whether r carries the token: as ?token=, as the
// X-Glassnet-Token header, or as the glassnet_token cookie.
func (s *Server) authorized(r *http.Request) bool {
	cands := []string{r.URL.Query().Get("token"), r.Header.Get("X-Glassnet-Token")}
	if c, err := r.Cookie(tokenCookie); err == nil {
		cands = append(cands, c.Value)
	}
	for _, t := range cands {
		if t != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1 {
			return true
		}
	}
	return false
}

const tokenCookie = "glassnet_token"

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	b, err := fs.ReadFile(s.static, "index.html")
	if err != nil {
		writeError(w, http.StatusNotFound, "ui: no page built in")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

// live wraps a handler that only a live Server can serve.
func (s *Server) live(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.Live {
			writeError(w, http.StatusConflict, "ui: this is a recorded trace: nothing runs to control")
			return
		}
		h(w, r)
	}
}

// maxRange is the most events one GET /api/events returns.
const maxRange = 10000

// queryOnly reports whether r's query holds only the parameters names (and
// the token), each at most once; otherwise it answers 400 naming the one
// that is not, so that a script's misspelt or made-up parameter (limit=)
// is not quietly left out. A query that does not parse (a bad %-escape, a
// ';' between parameters) is a 400 too: url.Query would leave the broken
// pair out, and from=100;to=200 would ask for every event.
func queryOnly(w http.ResponseWriter, r *http.Request, names ...string) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: the query of %s %s does not parse: %v", r.Method, r.URL.Path, err))
		return false
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != "token" && !slices.Contains(names, k) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: unknown query parameter %q: %s %s takes %s", k, r.Method, r.URL.Path, strings.Join(names, " and ")))
			return false
		}
		if len(q[k]) > 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("ui: query parameter %q is given %d times", k, len(q[k])))
			return false
		}
	}
	return true
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !queryOnly(w, r, "from", "to") {
		return
	}
	q := r.URL.Query()
	from, to := uint64(0), uint64(1<<64-1)
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "ui: from is an event ID: "+strconv.Quote(v))
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = strconv.ParseUint(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, "ui: to is an event ID: "+strconv.Quote(v))
			return
		}
	}
	if to < from {
		writeError(w, http.StatusBadRequest, "ui: to is before from")
		return
	}
	evs := s.hist.rangeOf(nil, from, to, maxRange)
	first, last, _ := s.hist.bounds()
	b := append([]byte(nil), `{"events":`...)
	b = eventsJSON(b, evs, s.hist.numbers(nil, evs))
	b = fmt.Appendf(b, `,"first":%d,"last":%d}`, first, last)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		msg := "ui: an event ID is a number: "
		if errors.Is(err, strconv.ErrRange) {
			msg = "ui: an event ID is at most 18446744073709551615: "
		}
		writeError(w, http.StatusBadRequest, msg+strconv.Quote(r.PathValue("id")))
		return
	}
	e, ok := s.hist.get(id)
	if !ok {
		first, last, _ := s.hist.bounds()
		writeError(w, http.StatusNotFound, fmt.Sprintf("ui: event %d is not in the history (it holds %d to %d)", id, first, last))
		return
	}
	b := appendConnNumber(appendEventJSON(nil, &e), s.hist.numbers(nil, []trace.Event{e})[0])
	if len(e.Data) > 0 {
		b = append(b[:len(b)-1], `,"bytes":"`...)
		b = hex.AppendEncode(b, e.Data)
		b = append(b, `"}`...)
	} else if e.Layer == trace.LayerWS && e.Name == "frame" {
		if wire, payload, ok := s.frameBytes(&e); ok {
			b = append(b[:len(b)-1], `,"bytes":"`...)
			b = hex.AppendEncode(b, wire)
			b = append(b, `","payload_hex":"`...)
			b = hex.AppendEncode(b, payload)
			b = append(b, `"}`...)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(appendJSON(nil, v))
}

// writeError writes {"error": msg} with status code.
//
// Every message starts "ui: " (one that came from a parser or from
// ws.Accept gets it here) and is at most maxErrorText bytes: a parser's
// message quotes what it was given, which may be most of a body.
func writeError(w http.ResponseWriter, code int, msg string) {
	if !strings.HasPrefix(msg, "ui: ") {
		msg = "ui: " + msg
	}
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText-len("…")], "") + "…"
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

// maxBody bounds a request body of the API.
const maxBody = 1 << 20

// bodyTimeout bounds the time a request body takes to arrive; a body
// later than that is answered 408.
var bodyTimeout = 10 * time.Second

// readJSON decodes the request body, one JSON value, into v; an empty body
// leaves v as it is. It writes the 4xx itself (413 past maxBody, 400 for
// anything but one JSON value of v's shape) and reports false then.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		writeError(w, http.StatusRequestTimeout, fmt.Sprintf("ui: the request body did not arrive within %v", bodyTimeout))
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "ui: reading the request: "+err.Error())
		return false
	}
	if len(body) > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("ui: a request body holds at most %d bytes", maxBody))
		return false
	}
	if len(body) == 0 {
		return true
	}
	if string(bytes.TrimSpace(body)) == "null" {
		// encoding/json takes null as "nothing to change": a play or a
		// step would go ahead on a body that is not what was meant
		writeError(w, http.StatusBadRequest, "ui: the body is "+kindName(reflect.TypeOf(v))+", not null")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, decodeError(err, reflect.TypeOf(v)))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "ui: bad JSON: more after the request's object")
		return false
	}
	if f := bodyFault(body); f != "" {
		// encoding/json takes a null as the field left out: a hold's
		// filter of null would hold anything, an edit's window of null
		// (a page's NaN) would change nothing without a word; and it
		// takes the last of a field given twice, which may not be the
		// one meant
		writeError(w, http.StatusBadRequest, "ui: "+f)
		return false
	}
	return true
}

// Nodes returns the names of the stacks the Server knows.
func (s *Server) Nodes() []string {
	s.nmu.Lock()
	defer s.nmu.Unlock()
	return slices.Clone(s.nodeList)
}

func (s *Server) noteNode(name string) {
	if name == "" || name == "demo" {
		return
	}
	s.nmu.Lock()
	if !slices.Contains(s.nodeList, name) {
		s.nodeList = append(s.nodeList, name)
	}
	s.nmu.Unlock()
}

var errNotPaused = errors.New("ui: not paused at a step")
