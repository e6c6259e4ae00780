package conformance

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Deflate is the permessage-deflate offer (RFC 7692) the harness makes as
// a client, or the answer it gives as a server, for groups 12 and 13. A
// client under test offers plain permessage-deflate, so an answer never
// has client_max_window_bits.
type Deflate struct {
	ServerNoContext bool
	ClientNoContext bool
	// ServerMaxBits, when not 0, is sent as server_max_window_bits.
	ServerMaxBits int
	// ClientMaxBits, when not 0, is sent as client_max_window_bits; -1
	// sends the parameter without a value.
	ClientMaxBits int
}

func (d *Deflate) offer() string {
	s := "permessage-deflate"
	if d.ServerNoContext {
		s += "; server_no_context_takeover"
	}
	if d.ClientNoContext {
		s += "; client_no_context_takeover"
	}
	if d.ServerMaxBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(d.ServerMaxBits)
	}
	switch {
	case d.ClientMaxBits < 0:
		s += "; client_max_window_bits"
	case d.ClientMaxBits > 0:
		s += "; client_max_window_bits=" + strconv.Itoa(d.ClientMaxBits)
	}
	return s
}

func (d *Deflate) answer() string {
	s := "permessage-deflate"
	if d.ServerNoContext {
		s += "; server_no_context_takeover"
	}
	if d.ClientNoContext {
		s += "; client_no_context_takeover"
	}
	if d.ServerMaxBits != 0 {
		s += "; server_max_window_bits=" + strconv.Itoa(d.ServerMaxBits)
	}
	return s
}

// serverPMD is the harness's state as a server that answered d.
func (d *Deflate) serverPMD() *pmd {
	p := &pmd{inTakeover: !d.ClientNoContext, inWindow: 1 << 15, outTakeover: !d.ServerNoContext, outWindow: 1 << 15}
	if d.ServerMaxBits != 0 {
		p.outWindow = 1 << d.ServerMaxBits
	}
	return p
}

// pmd is the harness's permessage-deflate state on one connection.
type pmd struct {
	// Reading what the peer sends.
	inTakeover bool
	inWindow   int // bytes of history the peer may refer to
	inHist     []byte
	// Writing.
	outTakeover bool
	outWindow   int
	outHist     []byte
}

var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// checkDeflateAnswer validates a server's answer to the offer d strictly
// (RFC 7692 §7.1) and returns the harness's state for it.
func checkDeflateAnswer(resp *http.Response, d *Deflate) (*pmd, error) {
	vals := resp.Header.Values("Sec-WebSocket-Extensions")
	if len(vals) == 0 {
		return nil, fmt.Errorf("the server declined permessage-deflate (offer %q)", d.offer())
	}
	ans := strings.Join(vals, ", ")
	if strings.Contains(ans, ",") {
		return nil, fmt.Errorf("the server accepted more than one extension: %q", ans)
	}
	parts := strings.Split(ans, ";")
	if strings.TrimSpace(parts[0]) != "permessage-deflate" {
		return nil, fmt.Errorf("the server accepted %q, not permessage-deflate", ans)
	}
	p := &pmd{inTakeover: true, outTakeover: true, inWindow: 1 << 15, outWindow: 1 << 15}
	seen := map[string]bool{}
	for _, q := range parts[1:] {
		name, value, hasValue := strings.Cut(strings.TrimSpace(q), "=")
		if seen[name] {
			return nil, fmt.Errorf("duplicate parameter %s in %q", name, ans)
		}
		seen[name] = true
		bits := func() (int, error) {
			n, err := strconv.Atoi(strings.Trim(value, `"`))
			if !hasValue || err != nil || n < 8 || n > 15 {
				return 0, fmt.Errorf("bad %s in %q", name, ans)
			}
			return n, nil
		}
		switch name {
		case "server_no_context_takeover":
			p.inTakeover = false
		case "client_no_context_takeover":
			p.outTakeover = false
		case "server_max_window_bits":
			n, err := bits()
			if err != nil {
				return nil, err
			}
			if d.ServerMaxBits != 0 && n > d.ServerMaxBits {
				return nil, fmt.Errorf("server_max_window_bits=%d is more than the %d offered", n, d.ServerMaxBits)
			}
			p.inWindow = 1 << n
		case "client_max_window_bits":
			n, err := bits()
			if err != nil {
				return nil, err
			}
			if d.ClientMaxBits == 0 || d.ClientMaxBits > 0 && n > d.ClientMaxBits {
				return nil, fmt.Errorf("client_max_window_bits=%d was not offered", n)
			}
			p.outWindow = 1 << n
		default:
			return nil, fmt.Errorf("unknown parameter %q in %q", name, ans)
		}
	}
	if d.ServerNoContext && p.inTakeover {
		return nil, fmt.Errorf("server_no_context_takeover was offered but not answered: %q", ans)
	}
	if d.ServerMaxBits != 0 && !seen["server_max_window_bits"] {
		return nil, fmt.Errorf("server_max_window_bits was offered but not answered: %q", ans)
	}
	return p, nil
}

func keepLast(h, p []byte, n int) []byte {
	h = append(h, p...)
	if len(h) > n {
		h = append(h[:0], h[len(h)-n:]...)
	}
	return h
}

// inflate decompresses a message the peer sent. Only the last inWindow
// bytes of history are given to the decompressor, so a peer that refers
// further back than the negotiated window corrupts the message.
func (p *pmd) inflate(z []byte) ([]byte, error) {
	var dict []byte
	if p.inTakeover {
		dict = p.inHist
	}
	src := io.MultiReader(bytes.NewReader(z), bytes.NewReader(deflateTail), bytes.NewReader([]byte{0x01, 0x00, 0x00, 0xff, 0xff}))
	fr := flate.NewReaderDict(src, dict)
	out, err := io.ReadAll(io.LimitReader(fr, maxReadFrame+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxReadFrame {
		return nil, fmt.Errorf("inflates to more than %d bytes", maxReadFrame)
	}
	if p.inTakeover {
		p.inHist = keepLast(p.inHist, out, p.inWindow)
	}
	return out, nil
}

// deflate compresses a message for the wire, tail stripped.
func (p *pmd) deflate(msg []byte) []byte {
	var dict []byte
	if p.outTakeover {
		dict = p.outHist
	}
	level := flate.DefaultCompression
	if p.outWindow < 1<<15 {
		// compress/flate's window is 32 KiB: without back-references
		// the stream fits any window.
		level, dict = flate.HuffmanOnly, nil
	}
	var b bytes.Buffer
	fw, _ := flate.NewWriterDict(&b, level, dict)
	fw.Write(msg)
	fw.Flush()
	if p.outTakeover {
		p.outHist = keepLast(p.outHist, msg, p.outWindow)
	}
	return bytes.TrimSuffix(b.Bytes(), deflateTail)
}

// SendCompressed sends msg compressed, in frames of at most frag bytes of
// compressed payload (0: one frame), RSV1 on the first (RFC 7692 §6).
func (t *Exchange) SendCompressed(text bool, msg []byte, frag int) {
	op := byte(OpBinary)
	if text {
		op = OpText
	}
	z := t.s.pmd.deflate(msg)
	var frames []Frame
	for first := true; first || len(z) > 0; first = false {
		n := len(z)
		if frag > 0 && n > frag {
			n = frag
		}
		f := Frag(n == len(z), op, z[:n])
		if first {
			f.Rsv = 4
		} else {
			f.Opcode = OpContinuation
		}
		frames = append(frames, f)
		z = z[n:]
	}
	t.Send(frames...)
}

// compressionCases are Autobahn's groups 12 (sizes and fragmentation with
// the default offer) and 13 (parameter combinations), with count messages
// per case instead of Autobahn's 1000.
func compressionCases(opts Options) []*Case {
	count := 2
	type sz struct{ size, frag int }
	var sizes []sz
	for _, n := range []int{16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072} {
		sizes = append(sizes, sz{n, 0})
	}
	for _, n := range []int{256, 1024, 4096, 8192, 16384, 32768, 65536, 131072} {
		sizes = append(sizes, sz{n, 256})
	}
	payloads := []struct {
		name string
		make func(seed, n int) []byte
		text bool
	}{
		{"text (JSON-like)", jsonish, true},
		{"text (repetitive)", func(seed, n int) []byte { return repeat("Hello, world! ", n) }, true},
		{"binary (pattern)", func(seed, n int) []byte { return binaryPattern(n) }, false},
		{"binary (random, incompressible)", randomBytes, false},
		{"text (mixed UTF-8)", func(seed, n int) []byte { return utf8Mixed(seed, n) }, true},
	}
	var cs []*Case
	add := func(group string, sub int, kind string, d *Deflate, role Role, text bool, mk func(seed, n int) []byte) {
		for i, s := range sizes {
			size := s.size
			if opts.Short {
				size = min(size, 16384)
			}
			frag := s.frag
			cs = append(cs, &Case{
				ID: fmt.Sprintf("%s.%d.%d", group, sub, i+1), For: role, Deflate: d,
				Description: fmt.Sprintf("Offer %q (a server), answer %q (a client). Send %d compressed %s messages of %d bytes, in frames of %d bytes (0: unfragmented).",
					d.offer(), d.answer(), count, kind, size, frag),
				Expectation: "Receive echo'ed messages (with payload as sent, compressed or not), in order. Clean close with normal code.",
				Run: func(t *Exchange) {
					var want []Event
					for m := range count {
						p := mk(m+1, size)
						want = append(want, Message(text, p))
						t.SendCompressed(text, p, frag)
					}
					t.Expect(OK, want...)
					t.WaitEvents(count)
				},
			})
		}
	}
	def := &Deflate{ClientMaxBits: -1}
	for i, p := range payloads {
		add("12", i+1, p.name, def, Both, p.text, p.make)
	}
	offers := []*Deflate{
		{},
		{ClientNoContext: true},
		{ServerNoContext: true},
		{ServerNoContext: true, ClientNoContext: true},
		{ClientMaxBits: -1, ServerMaxBits: 15},
		{ClientMaxBits: 9},
		{ClientMaxBits: 15, ServerNoContext: true, ClientNoContext: true},
	}
	for i, d := range offers {
		add("13", i+1, "text (JSON-like)", d, Both, true, jsonish)
	}
	// A server that limits its own window below 15: ws declines such an
	// offer (compress/flate cannot honor it), so only the client side
	// is tested, with a harness server that answers it.
	add("13", len(offers)+1, "text (JSON-like)", &Deflate{ServerMaxBits: 9}, Client, true, jsonish)
	add("13", len(offers)+2, "text (JSON-like)", &Deflate{ServerMaxBits: 8, ServerNoContext: true, ClientNoContext: true}, Client, true, jsonish)
	return cs
}

func jsonish(seed, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"seq":%d,"name":"item-%d","tags":["a","b"],"ok":true},`, seed, i, (seed*31+i)%97)
	}
	return b.Bytes()[:n]
}

func randomBytes(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func utf8Mixed(seed, n int) []byte {
	words := []string{"κόσμε", "hello", "𝄞", "ünïcödé", "世界", " "}
	var b bytes.Buffer
	for i := seed; b.Len() < n; i++ {
		w := words[i%len(words)]
		if b.Len()+len(w) > n {
			b.WriteString(strings.Repeat("x", n-b.Len()))
			break
		}
		b.WriteString(w)
	}
	return b.Bytes()
}
