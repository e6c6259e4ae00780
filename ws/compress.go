package ws

import (
	"compress/flate"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// CompressionOptions configures permessage-deflate (RFC 7692). The zero
// value leaves compression off.
//
// The compressor is compress/flate, which always uses a 32 KiB window
// (window bits 15). So a server accepts an offer only if it leaves the
// server's own window at 15: an offer with server_max_window_bits below 15
// is declined (RFC 7692 §7.1.2.1), and the next offer, if any, is tried. A
// client never offers client_max_window_bits, so a server may not limit
// the client's window (RFC 7692 §7.1.2.2). Decompression handles every
// window size.
type CompressionOptions struct {
	// Enabled offers (client) or accepts (server) permessage-deflate.
	Enabled bool
	// Level is the compress/flate level, from flate.HuffmanOnly to
	// flate.BestCompression; 0 means flate.DefaultCompression
	// (flate.NoCompression cannot be chosen).
	Level int
	// Threshold is the shortest message that is compressed; shorter ones
	// are sent as they are. 0 means DefaultCompressionThreshold; a
	// negative value compresses every message.
	Threshold int
	// ServerNoContextTakeover makes the server reset its compressor after
	// every message: a client asks for it in its offer, a server answers
	// with it (whether or not the client asked).
	ServerNoContextTakeover bool
	// ClientNoContextTakeover makes the client reset its compressor after
	// every message: a client announces it in its offer, a server asks
	// for it in its answer. Either way the server then keeps no history
	// of the client's messages between them.
	ClientNoContextTakeover bool
	// ServerMaxWindowBits, on a client, asks the server to use an LZ77
	// window of at most 1<<ServerMaxWindowBits bytes (8 to 15; 0 asks
	// nothing). A server ignores it.
	ServerMaxWindowBits int
}

// DefaultCompressionThreshold is the shortest message compressed unless
// CompressionOptions.Threshold says otherwise: shorter messages rarely
// shrink.
const DefaultCompressionThreshold = 64

const extensionName = "permessage-deflate"

func (o *CompressionOptions) level() int {
	if o.Level == 0 {
		return flate.DefaultCompression
	}
	return o.Level
}

func (o *CompressionOptions) threshold() int {
	switch {
	case o.Threshold == 0:
		return DefaultCompressionThreshold
	case o.Threshold < 0:
		return 0
	}
	return o.Threshold
}

func (o *CompressionOptions) check() error {
	if !o.Enabled {
		return nil
	}
	if l := o.level(); l < flate.HuffmanOnly || l > flate.BestCompression || l == flate.NoCompression {
		return fmt.Errorf("ws: compression level %d is not valid", o.Level)
	}
	if b := o.ServerMaxWindowBits; b != 0 && (b < 8 || b > 15) {
		return fmt.Errorf("ws: ServerMaxWindowBits %d is not in 8..15", b)
	}
	return nil
}

// deflateParams are the negotiated parameters of permessage-deflate.
type deflateParams struct {
	serverNoContext bool
	clientNoContext bool
	serverMaxBits   int // 8..15; 15 when not given
	clientMaxBits   int // 8..15; 15 when not given
}

// extension is one element of a Sec-WebSocket-Extensions list.
type extension struct {
	name   string
	params []extParam
}

type extParam struct {
	name, value string
	hasValue    bool
}

// parseExtensions splits the Sec-WebSocket-Extensions headers into
// extensions with their parameters (RFC 6455 §9.1). Quoted values are
// unquoted.
func parseExtensions(h http.Header) ([]extension, error) {
	var out []extension
	for _, v := range h[hdrSecExtensions] {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			parts := strings.Split(e, ";")
			ext := extension{name: strings.TrimSpace(parts[0])}
			if !isToken(ext.name) {
				return nil, fmt.Errorf("extension name %q is not a token", ext.name)
			}
			for _, p := range parts[1:] {
				name, value, hasValue := strings.Cut(strings.TrimSpace(p), "=")
				name, value = strings.TrimSpace(name), strings.TrimSpace(value)
				if hasValue && len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
					value = value[1 : len(value)-1]
				}
				if !isToken(name) || hasValue && !isToken(value) {
					return nil, fmt.Errorf("extension parameter %q is malformed", strings.TrimSpace(p))
				}
				ext.params = append(ext.params, extParam{name: name, value: value, hasValue: hasValue})
			}
			out = append(out, ext)
		}
	}
	return out, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// windowBits parses a max_window_bits value (RFC 7692 §7.1.2: 8 to 15,
// no leading zeros).
func windowBits(p extParam) (int, error) {
	n, err := strconv.Atoi(p.value)
	if err != nil || n < 8 || n > 15 || strconv.Itoa(n) != p.value {
		return 0, fmt.Errorf("%s=%q is not a window size from 8 to 15", p.name, p.value)
	}
	return n, nil
}

// parseDeflateParams checks the parameters of one permessage-deflate
// offer (server) or answer (client): each known at most once, with a
// valid value (RFC 7692 §7.1). client_max_window_bits may come without a
// value in an offer only.
func parseDeflateParams(params []extParam, offer bool) (p deflateParams, clientBitsOffered bool, err error) {
	p.serverMaxBits, p.clientMaxBits = 15, 15
	seen := map[string]bool{}
	for _, q := range params {
		if seen[q.name] {
			return p, false, fmt.Errorf("duplicate parameter %s", q.name)
		}
		seen[q.name] = true
		switch q.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if q.hasValue {
				return p, false, fmt.Errorf("parameter %s takes no value", q.name)
			}
			if q.name == "server_no_context_takeover" {
				p.serverNoContext = true
			} else {
				p.clientNoContext = true
			}
		case "server_max_window_bits":
			if p.serverMaxBits, err = windowBits(q); err != nil {
				return p, false, err
			}
		case "client_max_window_bits":
			clientBitsOffered = true
			if !q.hasValue && offer {
				continue
			}
			if p.clientMaxBits, err = windowBits(q); err != nil {
				return p, false, err
			}
		default:
			return p, false, fmt.Errorf("unknown parameter %s", q.name)
		}
	}
	return p, clientBitsOffered, nil
}

// negotiateDeflate picks the first acceptable permessage-deflate offer of
// a request and returns the parameters and the answer for the response;
// ok is false when compression is off or no offer is acceptable, which
// declines the extension (RFC 7692 §5).
func negotiateDeflate(h http.Header, o *CompressionOptions) (p deflateParams, answer string, ok bool) {
	if o == nil || !o.Enabled || o.check() != nil {
		return deflateParams{}, "", false
	}
	exts, err := parseExtensions(h)
	if err != nil {
		return deflateParams{}, "", false
	}
	for _, e := range exts {
		if e.name != extensionName {
			continue
		}
		p, _, err := parseDeflateParams(e.params, true)
		if err != nil {
			continue // an invalid offer is declined; try the next
		}
		if p.serverMaxBits < 15 {
			// flate compresses with a 32 KiB window only: this offer
			// cannot be honored.
			continue
		}
		// client_max_window_bits limits what the client sends; the
		// server inflates any window, so it never asks for a limit and
		// accepts whatever the client offered.
		p.clientMaxBits = 15
		p.serverNoContext = p.serverNoContext || o.ServerNoContextTakeover
		p.clientNoContext = p.clientNoContext || o.ClientNoContextTakeover
		answer = extensionName
		for _, q := range e.params {
			if q.name == "server_max_window_bits" {
				// Accepting the parameter means answering it
				// (RFC 7692 §7.1.2.1); only 15 gets here.
				answer += "; server_max_window_bits=15"
			}
		}
		if p.serverNoContext {
			answer += "; server_no_context_takeover"
		}
		if p.clientNoContext {
			answer += "; client_no_context_takeover"
		}
		return p, answer, true
	}
	return deflateParams{}, "", false
}

// deflateOffer is the client's offer for o.
func deflateOffer(o *CompressionOptions) string {
	s := extensionName
	if o.ClientNoContextTakeover {
		s += "; client_no_context_takeover"
	}
	if o.ServerNoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if o.ServerMaxWindowBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(o.ServerMaxWindowBits)
	}
	return s
}

// checkDeflateAnswer validates the server's Sec-WebSocket-Extensions
// answer against the client's offer (RFC 7692 §7.1): nothing but one
// permessage-deflate, no unknown or duplicate parameters, values in
// range, no client_max_window_bits (it was not offered), and a
// server_max_window_bits no larger than requested. A nil result with a
// nil error means the server declined compression.
func checkDeflateAnswer(h http.Header, o *CompressionOptions) (*deflateParams, error) {
	exts, err := parseExtensions(h)
	if err != nil {
		return nil, err
	}
	if len(exts) == 0 {
		return nil, nil
	}
	if o == nil || !o.Enabled {
		return nil, fmt.Errorf("server accepted extension %q that was not offered", strings.Join(h.Values("Sec-WebSocket-Extensions"), ", "))
	}
	if len(exts) > 1 {
		return nil, fmt.Errorf("server accepted %d extensions, only %s was offered", len(exts), extensionName)
	}
	if exts[0].name != extensionName {
		return nil, fmt.Errorf("server accepted extension %q that was not offered", exts[0].name)
	}
	p, clientBits, err := parseDeflateParams(exts[0].params, false)
	if err != nil {
		return nil, fmt.Errorf("%s answer: %v", extensionName, err)
	}
	if clientBits {
		return nil, fmt.Errorf("%s answer: client_max_window_bits was not offered", extensionName)
	}
	if o.ServerMaxWindowBits != 0 && p.serverMaxBits > o.ServerMaxWindowBits {
		return nil, fmt.Errorf("%s answer: server_max_window_bits=%d is larger than the %d offered", extensionName, p.serverMaxBits, o.ServerMaxWindowBits)
	}
	if o.ServerNoContextTakeover && !p.serverNoContext {
		return nil, fmt.Errorf("%s answer: server_no_context_takeover was requested but not granted", extensionName)
	}
	p.clientNoContext = p.clientNoContext || o.ClientNoContextTakeover
	return &p, nil
}
