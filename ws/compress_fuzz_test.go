package ws

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzExtensions reads any Sec-WebSocket-Extensions value as a server
// reads an offer and as a client reads an answer. An offer the server
// accepts gives an answer that our client, having offered compression,
// accepts with the same parameters; extensions that parse write back as a
// list that parses to the same extensions.
func FuzzExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; client_max_window_bits=8; server_max_window_bits=15",
		"permessage-deflate; server_max_window_bits=10, permessage-deflate",
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; server_max_window_bits=\"15\"",
		"permessage-deflate; server_max_window_bits=\"\"",
		"permessage-deflate; server_max_window_bits=\"",
		"permessage-deflate; server_max_window_bits=015",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; foo, permessage-deflate; client_no_context_takeover",
		"x-webkit-deflate-frame, permessage-deflate;;",
		", ,permessage-deflate ; client_max_window_bits = 9 ,",
		"permessage-deflate; a=b=c",
		"\"permessage-deflate\"",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, v string, noContext bool) {
		h := http.Header{hdrSecExtensions: {v}}
		exts, err := parseExtensions(h)
		if err == nil {
			var list []string
			for _, e := range exts {
				s := e.name
				for _, p := range e.params {
					s += "; " + p.name
					if p.hasValue {
						s += "=" + p.value
					}
				}
				list = append(list, s)
			}
			again, err := parseExtensions(http.Header{hdrSecExtensions: {strings.Join(list, ", ")}})
			if err != nil || len(again) != len(exts) {
				t.Fatalf("%q parsed to %v, written %q, which parses to %v, %v", v, exts, list, again, err)
			}
			for i := range exts {
				a, b := exts[i], again[i]
				if a.name != b.name || len(a.params) != len(b.params) {
					t.Fatalf("%q: %v, then %v", v, exts, again)
				}
				for j := range a.params {
					if a.params[j] != b.params[j] {
						t.Fatalf("%q: %v, then %v", v, exts, again)
					}
				}
			}
		}

		o := &CompressionOptions{Enabled: true, ServerNoContextTakeover: noContext}
		p, answer, ok := negotiateDeflate(h, o)
		if !ok {
			if answer != "" {
				t.Fatalf("%q declined with answer %q", v, answer)
			}
		} else {
			if err != nil {
				t.Fatalf("%q accepted, though it does not parse: %v", v, err)
			}
			cp, err := checkDeflateAnswer(http.Header{hdrSecExtensions: {answer}}, &CompressionOptions{Enabled: true})
			if err != nil || cp == nil || *cp != p {
				t.Fatalf("offer %q: the server answers %q with %+v; the client reads %+v, %v", v, answer, p, cp, err)
			}
			if noContext && !p.serverNoContext {
				t.Fatalf("offer %q: server_no_context_takeover configured, answered %q", v, answer)
			}
		}

		// As an answer: what the client takes it offered.
		if cp, err := checkDeflateAnswer(h, o); err == nil && cp != nil {
			if noContext && !cp.serverNoContext {
				t.Fatalf("answer %q taken without the server_no_context_takeover asked for", v)
			}
			if cp.serverMaxBits < 8 || cp.serverMaxBits > 15 || cp.clientMaxBits != 15 {
				t.Fatalf("answer %q taken as %+v", v, cp)
			}
		}
	})
}
