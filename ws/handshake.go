package ws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// acceptGUID is appended to the client's key (RFC 6455 §1.3, §4.2.2).
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// The opening handshake's headers as net/http keeps them, in the canonical
// form of their names ("Sec-Websocket-Key"): a lookup by the name as RFC
// 6455 spells it would make the canonical form again, a new string, on
// every request.
var (
	hdrSecKey        = http.CanonicalHeaderKey("Sec-WebSocket-Key")
	hdrSecVersion    = http.CanonicalHeaderKey("Sec-WebSocket-Version")
	hdrSecProtocol   = http.CanonicalHeaderKey("Sec-WebSocket-Protocol")
	hdrSecExtensions = http.CanonicalHeaderKey("Sec-WebSocket-Extensions")
)

// maxHandshakeSize bounds the bytes read for an HTTP request or response
// head during the opening handshake.
const maxHandshakeSize = 16 << 10

// DefaultHandshakeTimeout bounds Upgrade's, Dial's and Client's opening
// handshake unless AcceptOptions.HandshakeTimeout or
// DialOptions.HandshakeTimeout says otherwise (python3-websockets'
// open_timeout is the same 10 seconds).
const DefaultHandshakeTimeout = 10 * time.Second

// AcceptKey returns the Sec-WebSocket-Accept value for a
// Sec-WebSocket-Key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
func AcceptKey(key string) string {
	// The key and the GUID are hashed from a buffer on the stack (a
	// client's key is 24 bytes; a longer one moves the buffer to the
	// heap) and encoded into another: the string returned is the one
	// allocation.
	var in [128]byte
	sum := sha1.Sum(append(append(in[:0], key...), acceptGUID...))
	var out [28]byte // base64 of 20 bytes
	base64.StdEncoding.Encode(out[:], sum[:])
	return string(out[:])
}

// AcceptOptions configures the server side of the opening handshake and
// the connection. The zero value refuses a cross-origin upgrade from a
// browser (see OriginPatterns), chooses no subprotocol, and reads messages
// up to DefaultMaxMessageSize.
type AcceptOptions struct {
	// Subprotocols the server speaks. The first one the client offers
	// that is in this list is chosen.
	Subprotocols []string
	// OriginPatterns are the hosts, besides the request's own Host, from
	// which a browser page may open the connection. A request with an
	// Origin header whose host matches neither Host nor a pattern is
	// rejected with 403 Forbidden; a request without Origin (a client
	// that is not a browser) passes. A pattern is matched with path.Match
	// against the Origin's host (with its port, if any), or, when the
	// pattern contains "://", against scheme://host; case does not
	// matter. Example: "*.example.com", "localhost:*",
	// "https://app.example.com". This guards against cross-site
	// WebSocket hijacking: a browser sends the page's cookies with the
	// upgrade of any page that asks.
	OriginPatterns []string
	// InsecureSkipOriginCheck accepts an upgrade from any origin. It lets
	// every web page the user visits talk to this server with the user's
	// credentials; use it only when the server authenticates otherwise.
	InsecureSkipOriginCheck bool
	// CheckOrigin, if set, vets the request instead of the Origin and
	// OriginPatterns rule (unless InsecureSkipOriginCheck is set); an
	// error rejects it with 403 Forbidden.
	CheckOrigin func(r *http.Request) error
	// ResponseHeader is added to the 101 response.
	ResponseHeader http.Header
	// HandshakeTimeout bounds Upgrade's reading of the request and
	// writing of the answer when its ctx has no earlier deadline, so
	// that a client that connects and sends nothing, or its request a
	// byte at a time, cannot hold the connection; 0 means
	// DefaultHandshakeTimeout, negative no bound but ctx. (Accept runs
	// after net/http has read the request: http.Server's
	// ReadHeaderTimeout bounds that.)
	HandshakeTimeout time.Duration
	// ConnOptions are the settings shared with DialOptions: message
	// size, close timeout, keepalive, send queue, trace, frame hook and
	// compression.
	ConnOptions
}

// SameOrigin rejects a request whose Origin header names a host other than
// the request's Host. Requests without Origin (non-browser clients) pass.
// It is the check a zero AcceptOptions makes.
func SameOrigin(r *http.Request) error {
	return checkOrigin(r, nil)
}

// checkOrigin passes a request without an Origin header, or whose Origin host is the
// request's Host or matches one of patterns (see
// AcceptOptions.OriginPatterns), and names the mismatch otherwise.
func checkOrigin(r *http.Request, patterns []string) error {
	if n := len(r.Header.Values("Origin")); n > 1 {
		// A browser sends one; which of several it meant is not known.
		return fmt.Errorf("%d Origin headers, not one", n)
	}
	vs := r.Header.Values("Origin")
	if len(vs) == 0 {
		return nil
	}
	origin := vs[0]
	if strings.TrimSpace(origin) == "" {
		// No browser sends an empty Origin (RFC 6454 §7.1: an origin
		// or "null"); it is not the absence of one.
		return errors.New("an empty Origin header")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL with a host", origin)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		// An origin is a scheme, a host and a port (RFC 6454 §6.1);
		// "http://evil.example@host" would otherwise pass as host.
		return fmt.Errorf("%q is not an origin (scheme://host[:port])", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		ok, err := path.Match(strings.ToLower(p), strings.ToLower(target))
		if err != nil {
			return fmt.Errorf("origin pattern %q: %w", p, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%q is not allowed for host %q", origin, r.Host)
}

// CheckOriginPattern reports whether p is a well-formed OriginPatterns
// entry, so that a bad pattern is found when it is configured rather
// than on the first cross-origin request.
func CheckOriginPattern(p string) error {
	if p == "" {
		return errors.New("ws: empty origin pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("ws: origin pattern %q: %w", p, err)
	}
	if scheme, host, ok := strings.Cut(p, "://"); ok {
		// an Origin is http or https (a browser page's), with a host
		if scheme != "http" && scheme != "https" && scheme != "*" {
			return fmt.Errorf("ws: origin pattern %q: a page's origin is http:// or https://, not %s://", p, scheme)
		}
		if host == "" {
			return fmt.Errorf("ws: origin pattern %q: no host after ://", p)
		}
	}
	return nil
}

// serverHandshake is the outcome of a valid opening handshake request.
type serverHandshake struct {
	accept      string
	subprotocol string
	// extensions is the Sec-WebSocket-Extensions answer, deflate the
	// negotiated permessage-deflate parameters when it is not empty.
	extensions string
	deflate    deflateParams
}

// deflateState returns the connection's compression state, nil when
// permessage-deflate was not negotiated.
func (hs *serverHandshake) deflateState(o *CompressionOptions) *deflateState {
	if hs.extensions == "" {
		return nil
	}
	return newDeflateState(hs.deflate, false, o)
}

func reject(status int, format string, args ...any) *HandshakeError {
	return &HandshakeError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// checkRequest validates a client's opening handshake (RFC 6455 §4.2.1).
// It does no I/O.
func checkRequest(r *http.Request, opts *AcceptOptions) (serverHandshake, *HandshakeError) {
	if r.Method != http.MethodGet {
		e := reject(http.StatusMethodNotAllowed, "method %s is not allowed, the opening handshake is a GET", r.Method)
		e.header = map[string]string{"Allow": "GET"}
		return serverHandshake{}, e
	}
	switch {
	case r.ProtoMajor != 1:
		return serverHandshake{}, reject(http.StatusHTTPVersionNotSupported, "%s is not supported, use HTTP/1.1", r.Proto)
	case r.ProtoMinor < 1:
		return serverHandshake{}, reject(http.StatusBadRequest, "%s is too old, the opening handshake needs HTTP/1.1 or later", r.Proto)
	}
	if !isResourceTarget(r) {
		return serverHandshake{}, reject(http.StatusBadRequest, "request target %q is neither a path (/chat) nor an http, https, ws or wss URI", clipTraced(r.RequestURI))
	}
	if r.Host == "" {
		return serverHandshake{}, reject(http.StatusBadRequest, "missing Host header")
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		e := reject(http.StatusUpgradeRequired, "Upgrade header %q does not contain websocket", r.Header.Get("Upgrade"))
		e.header = map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"}
		return serverHandshake{}, e
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return serverHandshake{}, reject(http.StatusBadRequest, "Connection header %q does not contain upgrade", r.Header.Get("Connection"))
	}
	if v := r.Header[hdrSecVersion]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		e := reject(http.StatusUpgradeRequired, "Sec-WebSocket-Version %q is not supported, use 13", strings.Join(v, ", "))
		e.header = map[string]string{"Sec-WebSocket-Version": "13", "Upgrade": "websocket", "Connection": "Upgrade"}
		return serverHandshake{}, e
	}
	keys := r.Header[hdrSecKey]
	if len(keys) != 1 {
		return serverHandshake{}, reject(http.StatusBadRequest, "want one Sec-WebSocket-Key header, got %d", len(keys))
	}
	key := strings.TrimSpace(keys[0])
	if !isKey(key) {
		return serverHandshake{}, reject(http.StatusBadRequest, "Sec-WebSocket-Key %q is not 16 bytes in base64", key)
	}
	if herr := checkOffers(r.Header); herr != nil {
		return serverHandshake{}, herr
	}
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		return serverHandshake{}, reject(http.StatusBadRequest, "the opening handshake must not have a body")
	}
	if !opts.InsecureSkipOriginCheck {
		var err error
		if opts.CheckOrigin != nil {
			err = opts.CheckOrigin(r)
		} else {
			err = checkOrigin(r, opts.OriginPatterns)
		}
		if err != nil {
			return serverHandshake{}, reject(http.StatusForbidden, "origin rejected: %v", err)
		}
	}
	hs := serverHandshake{
		accept:      AcceptKey(key),
		subprotocol: chooseSubprotocol(headerTokens(r.Header, hdrSecProtocol), opts.Subprotocols),
	}
	hs.deflate, hs.extensions, _ = negotiateDeflate(r.Header, &opts.Compression)
	return hs, nil
}

// checkOffers refuses, with 400, a Sec-WebSocket-Protocol or
// Sec-WebSocket-Extensions field that is not the list its ABNF says (RFC
// 6455 §4.3: 1#token; §9.1: extensions with token parameters): §4.2.1 has
// a server stop at any violation of the handshake's grammar rather than
// guess what the client meant. Empty list elements are skipped, as RFC
// 9110 §5.6.1.2 asks of a recipient. It looks at the elements where they
// are, and allocates only for a refusal or an extension offer.
func checkOffers(h http.Header) *HandshakeError {
	for _, v := range h[hdrSecProtocol] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !isToken(t) {
				return reject(http.StatusBadRequest, "Sec-WebSocket-Protocol element %q is not a token", clipTraced(t))
			}
		}
	}
	if _, err := parseExtensions(h); err != nil {
		return reject(http.StatusBadRequest, "Sec-WebSocket-Extensions: %v", err)
	}
	return nil
}

// isKey reports whether a Sec-WebSocket-Key value is 16 bytes in base64
// (RFC 6455 §4.2.1 item 5), decoding it into a buffer on the stack.
func isKey(key string) bool {
	var raw [48]byte
	if base64.StdEncoding.DecodedLen(len(key)) > len(raw) {
		return false // far more than 16 bytes
	}
	n, err := base64.StdEncoding.Decode(raw[:], []byte(key))
	return err == nil && n == 16
}

// isResourceTarget reports whether the request target names a resource:
// a path with an optional query (origin-form), or an absolute http, https,
// ws or wss URI with a host (RFC 6455 §4.1, §4.2.1; RFC 9112 §3.2), with
// no fragment either way.
// "*" (asterisk-form, for OPTIONS), host:port (authority-form, for
// CONNECT) and URIs of other schemes name none.
func isResourceTarget(r *http.Request) bool {
	t := r.RequestURI
	if strings.IndexByte(t, '#') >= 0 {
		// Neither form has a fragment (RFC 9112 §3.2.1, §3.2.2), and a
		// WebSocket URI must not have one (RFC 6455 §3): http.ReadRequest
		// would leave "#frag" in the path.
		return false
	}
	if t == "" || strings.HasPrefix(t, "/") {
		// "" is a request made in Go rather than read from a peer.
		return true
	}
	u := r.URL
	if u == nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "ws", "wss":
		return true
	}
	return false
}

// chooseSubprotocol returns the first client offer the server speaks.
func chooseSubprotocol(offers, supported []string) string {
	for _, o := range offers {
		for _, s := range supported {
			if o == s {
				return o
			}
		}
	}
	return ""
}

// headerTokens returns the comma-separated elements of every value of the
// header, trimmed (RFC 9110 §5.6.1), without empty ones.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// headerHasToken reports whether a comma-separated header lists token,
// compared case-insensitively. It looks at the elements where they are,
// without collecting them as headerTokens does.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// status101 begins every 101 response.
const status101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "

// responseHead encodes the 101 response, in one allocation unless
// extra headers outgrow the room it makes.
func responseHead(hs serverHandshake, extra http.Header) []byte {
	size := len(status101) + len(hs.accept) + len("\r\n\r\n")
	if hs.subprotocol != "" {
		size += len("Sec-WebSocket-Protocol: \r\n") + len(hs.subprotocol)
	}
	if hs.extensions != "" {
		size += len("Sec-WebSocket-Extensions: \r\n") + len(hs.extensions)
	}
	if len(extra) > 0 {
		size += 256
	}
	b := make([]byte, 0, size)
	b = append(b, status101...)
	b = append(b, hs.accept...)
	b = append(b, "\r\n"...)
	if hs.subprotocol != "" {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, hs.subprotocol...)
		b = append(b, "\r\n"...)
	}
	if hs.extensions != "" {
		b = append(b, "Sec-WebSocket-Extensions: "...)
		b = append(b, hs.extensions...)
		b = append(b, "\r\n"...)
	}
	if len(extra) > 0 {
		w := bytes.NewBuffer(b)
		extra.Write(w)
		b = w.Bytes()
	}
	return append(b, "\r\n"...)
}

// rejectResponse encodes a 4xx or 5xx response naming the problem.
func rejectResponse(e *HandshakeError) []byte {
	body := e.Error() + "\n"
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", e.Status, http.StatusText(e.Status))
	h := http.Header{}
	for k, v := range e.header {
		h.Set(k, v)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	h.Set("Connection", "close")
	h.Write(&b)
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.Bytes()
}

func traceRequest(tr *trace.Tracer, node, conn string, r *http.Request) {
	// What the peer sent is cut to a readable length: a request may offer
	// 100,000 subprotocols or carry a URI as long as the header limit,
	// and one event is not the place for all of it.
	protos := headerTokens(r.Header, hdrSecProtocol)
	more := ""
	if len(protos) > maxTracedProtocols {
		more = fmt.Sprintf(" (and %d more)", len(protos)-maxTracedProtocols)
		protos = protos[:maxTracedProtocols]
	}
	tr.Emit(trace.Event{
		Node: node, Layer: trace.LayerWS, Dir: trace.In, Name: "handshake", Conn: conn,
		Summary: fmt.Sprintf("%s %s %s key=%s version=%s protocols=%q%s", r.Method, clipTraced(r.RequestURI), clipTraced(r.Proto),
			clipTraced(r.Header.Get("Sec-WebSocket-Key")), clipTraced(r.Header.Get("Sec-WebSocket-Version")), clipAll(protos), more),
		Fields: (&trace.WSHandshake{Method: r.Method, URI: clipTraced(r.RequestURI), Host: clipTraced(r.Host)}).Fields(),
	})
}

// maxTracedProtocols and maxTraced bound what a handshake event repeats
// of the request.
const (
	maxTracedProtocols = 16
	maxTraced          = 256
)

// clipTraced cuts s to maxTraced bytes, saying how long it was.
func clipTraced(s string) string {
	if len(s) <= maxTraced {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", strings.ToValidUTF8(s[:maxTraced], ""), len(s))
}

func clipAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clipTraced(s)
	}
	return out
}

func traceResponse(tr *trace.Tracer, node, conn string, dir trace.Dir, status int, detail string) {
	tr.Emit(trace.Event{
		Node: node, Layer: trace.LayerWS, Dir: dir, Name: "handshake", Conn: conn,
		Summary: fmt.Sprintf("%d %s %s", status, http.StatusText(status), detail),
		Fields:  (&trace.WSHandshake{Status: trace.Some(status)}).Fields(),
	})
}

// Accept runs the server side of the opening handshake for an HTTP request
// received by net/http: it validates r, hijacks the connection and writes
// the 101 response. On failure it has written a 4xx (or 505) response with
// a text body naming the problem and Connection: close, so that net/http
// ends the connection after it, and returns a *HandshakeError. opts may be
// nil.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	cfg := opts.config()
	var name string
	if cfg.tracer.Enabled() {
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			name = a.String()
		}
		name += "->" + r.RemoteAddr
		traceRequest(cfg.tracer, cfg.node, name, r)
	}
	hs, herr := checkRequest(r, opts)
	if herr != nil {
		for k, v := range herr.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// The client asked to leave HTTP: what it sends after its
		// request (a first frame, often in the same segment) is not a
		// request, and net/http would answer it with a 400 of its own
		// on a connection kept alive. A refusal ends the connection,
		// as Upgrade's does.
		w.Header().Set("Connection", "close")
		if r.ContentLength != 0 {
			// A body was announced. net/http reads an unread body
			// (up to 256 KiB) before it answers and again before it
			// closes, with no deadline: one that never comes would
			// hold the connection for ever. Answer, and close.
			defer http.NewResponseController(w).SetReadDeadline(time.Now())
		}
		w.WriteHeader(herr.Status)
		io.WriteString(w, herr.Error()+"\n")
		if cfg.tracer.Enabled() {
			traceResponse(cfg.tracer, cfg.node, name, trace.Out, herr.Status, herr.Reason)
		}
		return nil, herr
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "ws: the connection cannot be taken over: "+err.Error(), http.StatusInternalServerError)
		return nil, fmt.Errorf("ws: accept: hijack: %w", err)
	}
	// net/http may have left a read deadline from its ReadTimeout.
	nc.SetDeadline(time.Time{})
	// The client may have sent frames right behind its request.
	early := bufferedBytes(brw.Reader)
	if _, err := nc.Write(responseHead(hs, opts.ResponseHeader)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("ws: accept: write response: %w", err)
	}
	if cfg.tracer.Enabled() {
		traceResponse(cfg.tracer, cfg.node, name, trace.Out, http.StatusSwitchingProtocols, "accept="+hs.accept+" protocol="+hs.subprotocol)
	}
	cfg.deflate = hs.deflateState(&opts.Compression)
	c := newConn(nc, early, false, hs.subprotocol, cfg)
	c.setBases(len(early))
	c.startKeepAlive()
	return c, nil
}

// bufferedBytes returns what br holds: bytes read past the end of the
// handshake.
func bufferedBytes(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// limitedReader caps the bytes read through it while on is set, so that
// the HTTP head of a handshake cannot grow without bound; afterwards it
// passes reads through.
type limitedReader struct {
	r    io.Reader
	left int
	on   bool
}

var errHeadTooLarge = errors.New("ws: handshake head too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if !l.on {
		return l.r.Read(p)
	}
	if l.left <= 0 {
		return 0, errHeadTooLarge
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}

// Upgrade runs the server side of the opening handshake on a raw
// connection: it reads the HTTP request from nc, validates it and writes
// the response. ctx bounds the handshake, and so does
// AcceptOptions.HandshakeTimeout (DefaultHandshakeTimeout unless set).
// On failure the rejection has been written (when the request could be
// read) and nc is left open for the caller to close. opts may be nil.
func Upgrade(ctx context.Context, nc net.Conn, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	ctx, cancel := handshakeContext(ctx, opts.HandshakeTimeout)
	defer cancel()
	cfg := opts.config()
	stop := watch(ctx, nc.SetDeadline)
	defer stop()
	var name string
	if cfg.tracer.Enabled() {
		name = connName(nc)
	}

	lr := &limitedReader{r: nc, left: maxHandshakeSize, on: true}
	br := getReader(lr)
	defer putReader(br)
	r, hs, herr := readRequest(br, opts)
	if r != nil && cfg.tracer.Enabled() {
		traceRequest(cfg.tracer, cfg.node, name, r)
	}
	if herr != nil {
		if herr.Status != 0 {
			nc.Write(rejectResponse(herr))
			if cfg.tracer.Enabled() {
				traceResponse(cfg.tracer, cfg.node, name, trace.Out, herr.Status, herr.Reason)
			}
		}
		// ctxDone: the connection's deadline, which is ctx's, may
		// fire a moment before ctx's own timer.
		if err := ctxDone(ctx); err != nil {
			return nil, fmt.Errorf("ws: upgrade: %w (%w)", err, herr)
		}
		return nil, herr
	}
	lr.on = false
	if _, err := nc.Write(responseHead(hs, opts.ResponseHeader)); err != nil {
		return nil, fmt.Errorf("ws: upgrade: write response: %w", err)
	}
	if cfg.tracer.Enabled() {
		traceResponse(cfg.tracer, cfg.node, name, trace.Out, http.StatusSwitchingProtocols, "accept="+hs.accept+" protocol="+hs.subprotocol)
	}
	cfg.deflate = hs.deflateState(&opts.Compression)
	early := bufferedBytes(br)
	c := newConn(nc, early, false, hs.subprotocol, cfg)
	c.setBases(len(early))
	c.startKeepAlive()
	return c, nil
}

// readRequest parses and validates an opening handshake request from br.
// A HandshakeError with Status 0 means nothing should be answered (the
// connection failed before a request arrived).
func readRequest(br *bufio.Reader, opts *AcceptOptions) (*http.Request, serverHandshake, *HandshakeError) {
	r, err := http.ReadRequest(br)
	if err != nil {
		if errors.Is(err, io.EOF) || isTimeout(err) || errors.Is(err, net.ErrClosed) {
			return nil, serverHandshake{}, &HandshakeError{Reason: "reading request: " + err.Error()}
		}
		if errors.Is(err, errHeadTooLarge) {
			return nil, serverHandshake{}, reject(http.StatusRequestHeaderFieldsTooLarge, "request head larger than %d bytes", maxHandshakeSize)
		}
		return nil, serverHandshake{}, reject(http.StatusBadRequest, "malformed HTTP request: %v", err)
	}
	if herr := checkHead(r); herr != nil {
		return r, serverHandshake{}, herr
	}
	hs, herr := checkRequest(r, opts)
	return r, hs, herr
}

// checkHead makes the checks of a request head that net/http's server
// makes after http.ReadRequest, which does not make them, so that Upgrade
// refuses what Accept behind net/http never sees: whitespace between a
// field name and its colon (RFC 9112 §5.1; http.ReadRequest keeps
// "Host : evil" as a field named "Host ", which a proxy in front may have
// taken for the Host), and a Host that is not uri-host [":" port] (RFC
// 9112 §3.2). Both are answered 400.
func checkHead(r *http.Request) *HandshakeError {
	for name := range r.Header {
		if !isToken(name) {
			return reject(http.StatusBadRequest, "header field name %q is not a token", clipTraced(name))
		}
	}
	// http.ReadRequest moves the Host field to r.Host; for an
	// absolute-form target it puts the target's host there instead,
	// which url.Parse has checked, and drops the field, which RFC 9112
	// §3.2.2 has a server ignore then.
	if !isHostField(r.Host) {
		return reject(http.StatusBadRequest, "Host %q is not a host and port", clipTraced(r.Host))
	}
	return nil
}

// isHostField reports whether a Host value holds only the characters of
// uri-host [":" port] (RFC 3986 §3.2.2, §3.2.3): unreserved, sub-delims,
// percent-encoding, and the colons and brackets of an IPv6 literal and a
// port. Spaces, "/", "@", "?" and "#" are not among them.
func isHostField(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=%:[]", c) >= 0:
		default:
			return false
		}
	}
	return true
}
