package wsdiff

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/glassnet/glassnet/internal/rawws"
)

// A probe is one client byte stream: an HTTP request head and the bytes
// that follow it in the same write.
type probe struct {
	name string
	head string
	send []byte
	// early sends send in the same write as head, before the answer.
	early bool
	// want is glassnet's outcome, as run records it without the close
	// reasons. Where the libraries differ, notes (notes_test.go) says
	// who is right.
	want string
}

const (
	deflate   = "Sec-WebSocket-Extensions: permessage-deflate"
	bye       = "close 1000; FIN"
	failed    = "close 1002; FIN"
	badUTF8   = "close 1007; FIN"
	tooBig    = "close 1009; FIN"
	upgraded  = "101; "
	deflated  = "101; ext=permessage-deflate; "
	accepted  = "101; close 1000; FIN"
	refusedOf = "%d; FIN"
)

func refused(status int) string { return fmt.Sprintf(refusedOf, status) }

var close1000 = rawws.CloseFrame(1000, "")

// handshakeProbes are opening handshakes; every one is followed by a
// close 1000, so that an accepted one ends at once.
func handshakeProbes() []probe {
	p := func(name, head, want string) probe {
		return probe{name: "handshake: " + name, head: head, send: close1000, want: want}
	}
	v13 := "Sec-WebSocket-Version: 13"
	std := []string{"Host: localhost", "Upgrade: websocket", "Connection: Upgrade"}
	without := func(drop string, extra ...string) string {
		var ls []string
		for _, l := range append(slices.Clone(std), "Sec-WebSocket-Key: "+key, v13) {
			if !strings.HasPrefix(l, drop) {
				ls = append(ls, l)
			}
		}
		return rawRequest("GET /echo HTTP/1.1", append(ls, extra...)...)
	}
	return []probe{
		p("valid", request(), accepted),
		{name: "handshake: a frame in the same write as the request", head: request(), send: slices.Concat(rawws.ClientFrame(true, 0, 1, []byte("early")), close1000),
			early: true, want: `101; text "early"; ` + bye},
		p("version 8", without("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), "426; version=13; upgrade=websocket; FIN"),
		p("no version", without("Sec-WebSocket-Version"), "426; version=13; upgrade=websocket; FIN"),
		p("two versions 13", without("Sec-WebSocket-Version", v13, v13), "426; version=13; upgrade=websocket; FIN"),
		p("version 13, 8", without("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"), "426; version=13; upgrade=websocket; FIN"),
		p("no key", without("Sec-WebSocket-Key"), refused(400)),
		p("two keys", request("Sec-WebSocket-Key: "+key), refused(400)),
		p("key of 15 bytes", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: YWFhYWFhYWFhYWFhYWFh"), refused(400)),
		p("key of 17 bytes", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: YWFhYWFhYWFhYWFhYWFhYWE="), refused(400)),
		p("key not base64", without("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), refused(400)),
		p("Connection: keep-alive, Upgrade", without("Connection", "Connection: keep-alive, Upgrade"), accepted),
		p("Connection: keep-alive", without("Connection", "Connection: keep-alive"), refused(400)),
		p("Connection: upgradex", without("Connection", "Connection: upgradex"), refused(400)),
		p("Connection in two fields", without("Connection", "Connection: keep-alive", "Connection: Upgrade"), accepted),
		p("Upgrade: h2c, WebSocket", without("Upgrade", "Upgrade: h2c, WebSocket"), accepted),
		p("Upgrade: websocket/13", without("Upgrade", "Upgrade: websocket/13"), "426; upgrade=websocket; FIN"),
		p("no Upgrade", without("Upgrade"), "426; upgrade=websocket; FIN"),
		p("HTTP/1.0", rawRequest("GET /echo HTTP/1.0", append(std, "Sec-WebSocket-Key: "+key, v13)...), refused(400)),
		p("HTTP/2.0 on the wire", rawRequest("GET /echo HTTP/2.0", append(std, "Sec-WebSocket-Key: "+key, v13)...), refused(505)),
		p("absolute-form target", rawRequest("GET http://localhost/echo HTTP/1.1", append(std, "Sec-WebSocket-Key: "+key, v13)...), accepted),
		p("absolute-form ws: target", rawRequest("GET ws://localhost/echo HTTP/1.1", append(std, "Sec-WebSocket-Key: "+key, v13)...), accepted),
		p("asterisk-form target", rawRequest("GET * HTTP/1.1", append(std, "Sec-WebSocket-Key: "+key, v13)...), refused(400)),
		p("no Host", without("Host"), refused(400)),
		p("two Host fields", request("Host: evil.example"), refused(400)),
		p("NUL in a field value", request("X-Note: a\x00b"), refused(400)),
		p("obs-fold in a field", request("X-Note: a", " b"), accepted),
		p("method get in lower case", rawRequest("get /echo HTTP/1.1", append(std, "Sec-WebSocket-Key: "+key, v13)...), "405; allow=GET; FIN"),
		p("subprotocol not a token", request("Sec-WebSocket-Protocol: ch at"), refused(400)),
		p("subprotocol quoted", request(`Sec-WebSocket-Protocol: "chat"`), refused(400)),
		p("subprotocol list with an empty element", request("Sec-WebSocket-Protocol: chat, , superchat"), "101; proto=chat; close 1000; FIN"),
		p("extension parameter without a name", request(deflate+"; =x"), refused(400)),
		p("extension with an empty parameter", request(deflate+";;"), refused(400)),
		p("target with a fragment", rawRequest("GET /echo#x HTTP/1.1", append(std, "Sec-WebSocket-Key: "+key, v13)...), refused(400)),
		p("foreign Origin", request("Origin: http://evil.example"), refused(403)),
		p("POST", rawRequest("POST /echo HTTP/1.1", append(std, "Sec-WebSocket-Key: "+key, v13, "Content-Length: 0")...), "405; allow=GET; FIN"),
		p("body announced", request("Content-Length: 5")+"hello", refused(400)),
		p("subprotocol chat", request("Sec-WebSocket-Protocol: chat"), "101; proto=chat; close 1000; FIN"),
		p("subprotocols superchat, chat", request("Sec-WebSocket-Protocol: superchat, chat"), "101; proto=superchat; close 1000; FIN"),
		p("subprotocols in two fields", request("Sec-WebSocket-Protocol: foo", "Sec-WebSocket-Protocol: chat"), "101; proto=chat; close 1000; FIN"),
		p("unknown subprotocol", request("Sec-WebSocket-Protocol: foo"), accepted),
		p("deflate", request(deflate), deflated+bye),
		p("deflate; client_max_window_bits", request(deflate+"; client_max_window_bits"), deflated+bye),
		p("deflate; client_max_window_bits=10", request(deflate+"; client_max_window_bits=10"), deflated+bye),
		p("deflate; client_max_window_bits=16", request(deflate+"; client_max_window_bits=16"), accepted),
		p("deflate; server_no_context_takeover", request(deflate+"; server_no_context_takeover"), "101; ext=permessage-deflate; server_no_context_takeover; "+bye),
		p("deflate; client_no_context_takeover", request(deflate+"; client_no_context_takeover"), "101; ext=permessage-deflate; client_no_context_takeover; "+bye),
		p("deflate; server_max_window_bits=15", request(deflate+"; server_max_window_bits=15"), "101; ext=permessage-deflate; server_max_window_bits=15; "+bye),
		p("deflate; server_max_window_bits=10", request(deflate+"; server_max_window_bits=10"), accepted),
		p("deflate; server_max_window_bits (no value)", request(deflate+"; server_max_window_bits"), accepted),
		p("deflate; unknown parameter", request(deflate+"; foo=1"), accepted),
		p("deflate; duplicate parameter", request(deflate+"; server_no_context_takeover; server_no_context_takeover"), accepted),
		p("deflate; server_no_context_takeover=1", request(deflate+"; server_no_context_takeover=1"), accepted),
		p("deflate; quoted value", request(deflate+`; client_max_window_bits="10"`), deflated+bye),
		p("deflate with a bad offer first", request(deflate+"; foo, permessage-deflate"), deflated+bye),
		p("deflate offered twice", request(deflate+"; client_no_context_takeover, permessage-deflate"), "101; ext=permessage-deflate; client_no_context_takeover; "+bye),
		p("unknown extension", request("Sec-WebSocket-Extensions: x-webkit-deflate-frame"), accepted),
	}
}

// frameProbes are frames sent right behind a valid request, with or
// without a permessage-deflate offer.
func frameProbes() []probe {
	plain := func(name, want string, send ...[]byte) probe {
		return probe{name: name, head: request(), send: slices.Concat(send...), want: upgraded + want}
	}
	z := func(name, want string, send ...[]byte) probe {
		return probe{name: "deflate: " + name, head: request(deflate), send: slices.Concat(send...), want: deflated + want}
	}
	text := func(fin bool, op byte, s string) []byte { return rawws.ClientFrame(fin, 0, op, []byte(s)) }
	var ps []probe
	ps = append(ps,
		plain("echo", `text "hello"; `+bye, text(true, 1, "hello"), close1000),
		plain("close 1000 with a reason", bye, rawws.CloseFrame(1000, "done")),
	)
	for _, op := range []byte{3, 7, 11, 15} {
		ps = append(ps, plain(fmt.Sprintf("opcode %d", op), failed, rawws.ClientFrame(true, 0, op, []byte("x"))))
	}
	for _, rsv := range []byte{4, 2, 1} {
		ps = append(ps, plain(fmt.Sprintf("RSV %d%d%d", rsv>>2, rsv>>1&1, rsv&1), failed, rawws.ClientFrame(true, rsv, 1, []byte("hi"))))
	}
	z1 := rawws.Deflate([]byte("hello hello hello"))
	ps = append(ps,
		z("RSV1 on text", `text "hello hello hello"; `+bye, rawws.ClientFrame(true, 4, 1, z1), close1000),
		z("RSV2 with it", failed, rawws.ClientFrame(true, 6, 1, z1)),
		z("RSV3 with it", failed, rawws.ClientFrame(true, 5, 1, z1)),
		z("uncompressed text", `text "plain"; `+bye, text(true, 1, "plain"), close1000),
		z("RSV1 on a ping", failed, rawws.ClientFrame(true, 4, 9, []byte("x"))),
		z("RSV1 on a close", failed, rawws.ClientFrame(true, 4, 8, []byte{3, 0xe8})),
		z("RSV1 on a continuation", failed, rawws.ClientFrame(false, 4, 1, z1[:5]), rawws.ClientFrame(true, 4, 0, z1[5:])),
		z("fragmented compressed text", `text "hello hello hello"; `+bye, rawws.ClientFrame(false, 4, 1, z1[:5]), rawws.ClientFrame(true, 0, 0, z1[5:]), close1000),
		z("empty compressed message", `text ""; `+bye, rawws.ClientFrame(true, 4, 1, nil), close1000),
		z("compressed with BFINAL set", `text "hello hello hello" ×2; `+bye,
			rawws.ClientFrame(true, 4, 1, deflateFinal([]byte("hello hello hello"))), rawws.ClientFrame(true, 4, 1, deflateFinal([]byte("hello hello hello"))), close1000),
		probe{name: "deflate: server_no_context_takeover, the same text twice", head: request(deflate + "; server_no_context_takeover"),
			send: slices.Concat(rawws.ClientFrame(true, 0, 1, []byte(long)), rawws.ClientFrame(true, 0, 1, []byte(long)), close1000),
			want: "101; ext=permessage-deflate; server_no_context_takeover; text of 104 bytes ×2; " + bye},
		z("two messages sharing a window", `text "hello hello hello" ×2; `+bye,
			slices.Concat(contextTakeover([]byte("hello hello hello"), []byte("hello hello hello")), close1000)),
		z("flush marker not removed", failed,
			rawws.ClientFrame(true, 4, 1, append(z1, 0, 0, 0xff, 0xff)), close1000),
		z("not DEFLATE data", failed, rawws.ClientFrame(true, 4, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff})),
		z("invalid UTF-8 inside", badUTF8, rawws.ClientFrame(true, 4, 1, rawws.Deflate([]byte("ok\xff")))),
		z("zip bomb", tooBig, rawws.ClientFrame(true, 4, 2, rawws.Deflate(make([]byte, 64*maxMessage)))),
		z("zip bomb of exactly the limit", "binary of 65536 bytes; "+bye, rawws.ClientFrame(true, 4, 2, rawws.Deflate(make([]byte, maxMessage))), close1000),
	)
	ps = append(ps,
		plain("ping of 125 bytes", fmt.Sprintf("pong %q; %s", bytes.Repeat([]byte("p"), 125), bye), rawws.ClientFrame(true, 0, 9, bytes.Repeat([]byte("p"), 125)), close1000),
		plain("ping of 126 bytes", failed, rawws.ClientFrame(true, 0, 9, bytes.Repeat([]byte("p"), 126))),
		plain("close of 126 bytes", failed, rawws.CloseFrame(1000, strings.Repeat("r", 124))),
		plain("fragmented ping", failed, rawws.ClientFrame(false, 0, 9, []byte("a")), rawws.ClientFrame(true, 0, 0, []byte("b"))),
		plain("fragmented close", failed, rawws.ClientFrame(false, 0, 8, []byte{3, 0xe8})),
		plain("16-bit length for 5 bytes", failed, rawws.ClientFrameLen(0x81, 16, []byte("hello"))),
		plain("64-bit length for 200 bytes", failed, rawws.ClientFrameLen(0x81, 64, bytes.Repeat([]byte("a"), 200))),
		plain("64-bit length for 5 bytes", failed, rawws.ClientFrameLen(0x81, 64, []byte("hello"))),
		plain("64-bit length with the top bit set", failed, []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
		plain("unmasked", failed, []byte{0x81, 0x02, 'h', 'i'}),
		plain("close of 1 byte", failed, rawws.ClientFrame(true, 0, 8, []byte{3})),
		plain("close without a code", "close (no code); FIN", rawws.ClientFrame(true, 0, 8, nil)),
	)
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000} {
		ps = append(ps, plain(fmt.Sprintf("close %d", code), failed, rawws.CloseFrame(code, "")))
	}
	for _, code := range []uint16{1012, 1013, 1014, 3000, 4999} {
		ps = append(ps, plain(fmt.Sprintf("close %d", code), fmt.Sprintf("close %d; FIN", code), rawws.CloseFrame(code, "")))
	}
	ps = append(ps,
		plain("close reason of invalid UTF-8", badUTF8, rawws.CloseFrame(1000, "\xff\xfe")),
		plain("invalid UTF-8 text", badUTF8, text(true, 1, "ok\xed\xa0\x80")),
		plain("text split at a code point", `text "κόσμε"; `+bye, text(false, 1, "κό"), text(true, 0, "σμε"), close1000),
		plain("text split inside a code point", `text "κόσμε"; `+bye, text(false, 1, "κ\xcf"), text(true, 0, "\x8cσμε"), close1000),
		plain("text ends inside a code point", badUTF8, text(false, 1, "a"), text(true, 0, "\xe2\x82")),
		plain("continuation without a start", failed, text(true, 0, "x")),
		plain("new message inside a fragmented one", failed, text(false, 1, "a"), text(true, 1, "b")),
		plain("ping inside a fragmented message", `pong "p"; text "abcd"; `+bye, text(false, 1, "ab"), rawws.ClientFrame(true, 0, 9, []byte("p")), text(true, 0, "cd"), close1000),
		plain("length announced over the limit", tooBig, []byte{0x82, 0xff}, binary64(maxMessage+1), []byte{0, 0, 0, 0, 'a'}),
		plain("fragments over the limit", tooBig, rawws.ClientFrame(false, 0, 2, make([]byte, maxMessage/2)),
			rawws.ClientFrame(false, 0, 0, make([]byte, maxMessage/2)), rawws.ClientFrame(true, 0, 0, []byte{0})),
		plain("a message at the limit", "binary of 65536 bytes; "+bye, rawws.ClientFrame(true, 0, 2, make([]byte, maxMessage)), close1000),
		plain("data after the close", bye, close1000, text(true, 1, "more")),
		plain("opcode 3, then 64 KiB of frames", failed, rawws.ClientFrame(true, 0, 3, nil), bytes.Repeat(rawws.ClientFrame(true, 0, 2, make([]byte, 1000)), 64)),
		plain("invalid UTF-8, then 64 KiB of frames", badUTF8, text(true, 1, "\xff"), bytes.Repeat(rawws.ClientFrame(true, 0, 2, make([]byte, 1000)), 64)),
		plain("a message over the limit, sent whole", tooBig, rawws.ClientFrame(true, 0, 2, make([]byte, maxMessage+1)), close1000),
		plain("a message over the limit, then 1 MiB more", tooBig, rawws.ClientFrame(true, 0, 2, make([]byte, maxMessage+1)), bytes.Repeat(rawws.ClientFrame(true, 0, 2, make([]byte, 1<<14)), 64)),
	)
	return ps
}

// long is a text long enough to be compressed by every server.
var long = strings.Repeat("a text that compresses ", 4) + strings.Repeat("x", 12)

func binary64(n uint64) []byte {
	return []byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}
