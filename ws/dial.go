package ws

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/glassnet/glassnet/trace"
)

// DialOptions configures the client side of the opening handshake and the
// connection. The zero value dials with net.Dialer, offers no subprotocol
// and reads messages up to DefaultMaxMessageSize.
type DialOptions struct {
	// NetDial opens the transport connection, for example over a
	// userspace stack; nil means net.Dialer.DialContext.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for wss URLs; nil means a default configuration.
	TLSConfig *tls.Config
	// Header is added to the request. It must not set the headers the
	// handshake owns (Upgrade, Connection, Sec-WebSocket-*); Host sets
	// the Host header.
	Header http.Header
	// Subprotocols offered, in order of preference.
	Subprotocols []string
	// HandshakeTimeout bounds Dial's connecting and opening handshake,
	// and Client's handshake, when its ctx has no earlier deadline, so
	// that a server that accepts the connection and never answers
	// cannot hold the caller; 0 means DefaultHandshakeTimeout, negative
	// no bound but ctx.
	HandshakeTimeout time.Duration
	// ConnOptions are the settings shared with AcceptOptions: message
	// size, close timeout, keepalive, send queue, trace, frame hook and
	// compression.
	ConnOptions
}

// Dial connects to a ws:// or wss:// URL (http:// and https:// are taken
// as ws:// and wss://) and runs the opening handshake. ctx bounds the dial and the handshake, and so does
// DialOptions.HandshakeTimeout (DefaultHandshakeTimeout unless set). On a
// handshake failure the response, if one arrived, is returned with the
// error (its body holds the first kilobyte the server sent). opts may be
// nil.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := handshakeContext(ctx, opts.HandshakeTimeout)
	defer cancel()
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "wss" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dial := opts.NetDial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("ws: dial %s: %w", addr, err)
	}
	if u.Scheme == "wss" {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("ws: dial %s: tls: %w", addr, err)
		}
		nc = tc
	}
	c, resp, err := client(ctx, nc, u, opts)
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return c, resp, nil
}

// Client runs the client side of the opening handshake over an existing
// connection to the server named by rawURL (which supplies the Host header
// and request path). On failure nc is left open for the caller to close.
// opts may be nil; its NetDial and TLSConfig are not used.
func Client(ctx context.Context, nc net.Conn, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	return client(ctx, nc, u, opts)
}

func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("ws: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("ws: URL scheme %q is not ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ws: URL %q has no host", rawURL)
	}
	return u, nil
}

// ownedHeaders are set by the handshake and may not come from
// DialOptions.Header.
var ownedHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Sec-Websocket-Accept"}

// handshakeContext is ctx bounded by a handshake timeout: d, or
// DefaultHandshakeTimeout when d is 0; a negative d leaves ctx as it is.
func handshakeContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d = cmp.Or(d, DefaultHandshakeTimeout); d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

func client(ctx context.Context, nc net.Conn, u *url.URL, opts *DialOptions) (*Conn, *http.Response, error) {
	ctx, cancel := handshakeContext(ctx, opts.HandshakeTimeout)
	defer cancel()
	for k := range opts.Header {
		for _, owned := range ownedHeaders {
			if strings.EqualFold(k, owned) {
				return nil, nil, fmt.Errorf("ws: DialOptions.Header must not set %s", k)
			}
		}
	}
	cfg := opts.config()
	var name string
	if cfg.tracer.Enabled() {
		name = connName(nc)
	}
	stop := watch(ctx, nc.SetDeadline)
	defer stop()

	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])

	host := u.Host
	extra := opts.Header.Clone()
	if h := extra.Get("Host"); h != "" {
		host = h
		extra.Del("Host")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", u.RequestURI(), host)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	if len(opts.Subprotocols) > 0 {
		fmt.Fprintf(&b, "Sec-WebSocket-Protocol: %s\r\n", strings.Join(opts.Subprotocols, ", "))
	}
	if opts.Compression.Enabled {
		if err := opts.Compression.check(); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(&b, "Sec-WebSocket-Extensions: %s\r\n", deflateOffer(&opts.Compression))
	}
	extra.Write(&b)
	b.WriteString("\r\n")
	if strings.ContainsAny(host, "\r\n") || strings.ContainsAny(strings.Join(opts.Subprotocols, ""), "\r\n, ") {
		return nil, nil, fmt.Errorf("ws: invalid Host or subprotocol")
	}
	if cfg.tracer.Enabled() {
		cfg.tracer.Emit(trace.Event{Node: cfg.node, Layer: trace.LayerWS, Dir: trace.Out, Name: "handshake", Conn: name,
			Summary: fmt.Sprintf("GET %s HTTP/1.1 key=%s protocols=%q", u.RequestURI(), key, opts.Subprotocols)})
	}
	if _, err := nc.Write(b.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("ws: handshake: write request: %w", ctxErr(ctx, err))
	}

	lr := &limitedReader{r: nc, left: maxHandshakeSize, on: true}
	br := getReader(lr)
	defer putReader(br)
	req := &http.Request{Method: http.MethodGet, URL: u}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("ws: handshake: read response: %w", ctxErr(ctx, err))
	}
	if cfg.tracer.Enabled() {
		traceResponse(cfg.tracer, cfg.node, name, trace.In, resp.StatusCode, "accept="+resp.Header.Get("Sec-WebSocket-Accept")+
			" protocol="+resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	dp, herr := checkResponse(resp, key, opts.Subprotocols, &opts.Compression)
	if herr != nil {
		if resp.StatusCode != http.StatusSwitchingProtocols {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			if s := strings.TrimSpace(string(body)); s != "" {
				herr.Reason += ": " + s
			}
		}
		return nil, resp, herr
	}
	lr.on = false
	if dp != nil {
		cfg.deflate = newDeflateState(*dp, true, &opts.Compression)
	}
	early := bufferedBytes(br)
	c := newConn(nc, early, true, resp.Header.Get("Sec-WebSocket-Protocol"), cfg)
	c.setBases(len(early))
	c.startKeepAlive()
	return c, resp, nil
}

// checkResponse validates the server's answer (RFC 6455 §4.1, the list
// after "the client MUST validate the server's response") and returns the
// permessage-deflate parameters it accepted, if any.
func checkResponse(resp *http.Response, key string, offered []string, comp *CompressionOptions) (*deflateParams, *HandshakeError) {
	fail := func(format string, args ...any) *HandshakeError {
		return &HandshakeError{Status: resp.StatusCode, Reason: fmt.Sprintf(format, args...)}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fail("expected status 101 Switching Protocols, got %s", resp.Status)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return nil, fail("response Upgrade header %q does not contain websocket", resp.Header.Get("Upgrade"))
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return nil, fail("response Connection header %q does not contain upgrade", resp.Header.Get("Connection"))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key); got != want {
		return nil, fail("Sec-WebSocket-Accept is %q, want %q", got, want)
	}
	dp, err := checkDeflateAnswer(resp.Header, comp)
	if err != nil {
		return nil, fail("%v", err)
	}
	if protos := resp.Header.Values("Sec-WebSocket-Protocol"); len(protos) > 0 {
		if len(protos) > 1 || strings.Contains(protos[0], ",") {
			return nil, fail("server chose more than one subprotocol: %q", strings.Join(protos, ", "))
		}
		offeredIt := false
		for _, o := range offered {
			offeredIt = offeredIt || o == protos[0]
		}
		if !offeredIt {
			return nil, fail("server chose subprotocol %q that was not offered", protos[0])
		}
	}
	return dp, nil
}

// ctxErr is err wrapped with ctx's error when ctx has ended, also when the
// connection's deadline, which is ctx's, fired a moment before ctx's timer
// (ctxDone).
func ctxErr(ctx context.Context, err error) error {
	if e := ctxDone(ctx); e != nil {
		return fmt.Errorf("%w (%w)", e, err)
	}
	return err
}
