package conformance

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// HandshakeExchange is what a handshake case uses: raw HTTP against a
// server under test, or raw answers to a client under test.
type HandshakeExchange struct {
	r         *runner
	c         *Case
	conns     []net.Conn
	done      <-chan error
	clientErr string
}

func (h *HandshakeExchange) cleanup() string {
	for _, nc := range h.conns {
		nc.Close()
	}
	if h.done != nil && h.clientErr == "" {
		h.clientErr = waitClient(h.done, h.r.opts.FailTimeout)
		if h.clientErr == "client did not return" {
			return "the client under test did not return"
		}
	}
	return ""
}

// Host is the Host header value of the server under test.
func (h *HandshakeExchange) Host() string { return h.r.target.Server.Host }

// Path is the request target of the server's echo endpoint.
func (h *HandshakeExchange) Path() string { return h.r.target.Server.Path }

// RoundTrip sends a raw request on a new connection to the server under
// test and reads the response head. The connection is closed when the case
// ends.
func (h *HandshakeExchange) RoundTrip(req []byte) (*http.Response, net.Conn, *bufio.Reader, error) {
	nc, err := h.r.dial()
	if err != nil {
		return nil, nil, nil, err
	}
	h.conns = append(h.conns, nc)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(req); err != nil {
		return nil, nc, nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nc, br, err
	}
	nc.SetDeadline(time.Time{})
	return resp, nc, br, nil
}

// Echo checks that an opened connection works: a text message comes back
// and the close handshake completes cleanly. early, if set, is a message
// already sent behind the request.
func (h *HandshakeExchange) Echo(nc net.Conn, br *bufio.Reader, client bool, early []byte) (Verdict, string) {
	s := newSession(nc, br, client)
	msg := []byte("Hello, handshake!")
	c := &Case{Expect: map[Verdict][]Event{OK: {Message(true, msg)}}}
	if early != nil {
		c.Expect[OK] = append([]Event{Message(true, early)}, c.Expect[OK]...)
	}
	s.write(Encode(client, Text(msg)), 0, 0, false)
	killed := h.r.finish(c, c.Expect, s)
	var res Result
	h.r.evaluate(c, c.Expect, s, killed, &res)
	if !res.Passed() {
		return Failed, fmt.Sprintf("after the handshake: %s (%s); close %s (%s)", res.Behavior, res.Detail, res.BehaviorClose, res.CloseDetail)
	}
	return OK, ""
}

// Accept has the client under test connect and returns its request; the
// case answers it on nc.
func (h *HandshakeExchange) Accept() (*http.Request, net.Conn, *bufio.Reader, error) {
	a, done, err := h.r.startClient(h.c)
	h.done = done
	if err != nil {
		return nil, nil, nil, err
	}
	h.conns = append(h.conns, a.nc)
	if problem := h.r.checkClientRequest(a.req, h.c); problem != "" {
		return a.req, a.nc, a.br, fmt.Errorf("bad request: %s", problem)
	}
	return a.req, a.nc, a.br, nil
}

// ClientError waits for the client under test to return and gives its
// error ("" for none).
func (h *HandshakeExchange) ClientError() (string, bool) {
	h.clientErr = waitClient(h.done, h.r.opts.FailTimeout)
	return h.clientErr, h.clientErr != "client did not return"
}

// serverValid is a request the server must accept.
func serverValid(id, desc string, build func(h *HandshakeExchange, key string) []byte) *Case {
	return &Case{
		ID: id, For: Server, Extra: true,
		Description: desc,
		Expectation: "101 Switching Protocols with the right Sec-WebSocket-Accept and no subprotocol or extension; then an echo and a clean close.",
		Handshake: func(h *HandshakeExchange) (Verdict, string) {
			key := newKey()
			resp, nc, br, err := h.RoundTrip(build(h, key))
			if err != nil {
				return Failed, err.Error()
			}
			if err := checkUpgrade(resp, key); err != nil {
				return Failed, err.Error()
			}
			return h.Echo(nc, br, true, nil)
		},
	}
}

// serverInvalid is a request the server must refuse with status (or any
// 4xx when status is 0).
func serverInvalid(id, desc string, status int, wantHeader string, build func(h *HandshakeExchange, key string) []byte) *Case {
	exp := "The server refuses with a 4xx status and does not switch protocols."
	if status != 0 {
		exp = fmt.Sprintf("The server refuses with %d %s", status, http.StatusText(status))
		if wantHeader != "" {
			exp += " and " + wantHeader
		}
		exp += "."
	}
	return &Case{
		ID: id, For: Server, Extra: true,
		Description: desc, Expectation: exp,
		Handshake: func(h *HandshakeExchange) (Verdict, string) {
			resp, _, _, err := h.RoundTrip(build(h, newKey()))
			if err != nil {
				return Failed, "no HTTP response: " + err.Error()
			}
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusSwitchingProtocols:
				return Failed, "the server switched protocols"
			case resp.Header.Get("Sec-WebSocket-Accept") != "":
				return Failed, "a refusal carries Sec-WebSocket-Accept"
			case status != 0 && resp.StatusCode != status:
				return Failed, fmt.Sprintf("status %s, want %d", resp.Status, status)
			case resp.StatusCode < 400 || resp.StatusCode > 499:
				return Failed, fmt.Sprintf("status %s, want 4xx", resp.Status)
			}
			if wantHeader != "" {
				name, value, _ := strings.Cut(wantHeader, ": ")
				if !hasToken(resp.Header, name, value) {
					return Failed, fmt.Sprintf("the refusal lacks %s", wantHeader)
				}
			}
			return OK, ""
		},
	}
}

// clientValid is an answer the client must take.
func clientValid(id, desc string, protocols []string, answer func(key string) []byte, early []byte) *Case {
	return &Case{
		ID: id, For: Client, Extra: true, Subprotocols: protocols,
		Description: desc,
		Expectation: "The client opens the connection, echoes and closes cleanly.",
		Handshake: func(h *HandshakeExchange) (Verdict, string) {
			req, nc, br, err := h.Accept()
			if err != nil {
				return Failed, err.Error()
			}
			if _, err := nc.Write(answer(req.Header.Get("Sec-WebSocket-Key"))); err != nil {
				return Failed, err.Error()
			}
			return h.Echo(nc, br, false, early)
		},
	}
}

// clientInvalid is an answer the client must refuse: its Connect returns
// a handshake error and it sends no frame.
func clientInvalid(id, desc string, protocols []string, answer func(key string) []byte) *Case {
	return &Case{
		ID: id, For: Client, Extra: true, Subprotocols: protocols,
		Description: desc,
		Expectation: "The client fails the opening handshake: it reports an error and sends nothing.",
		Handshake: func(h *HandshakeExchange) (Verdict, string) {
			req, nc, _, err := h.Accept()
			if err != nil {
				return Failed, err.Error()
			}
			nc.Write(answer(req.Header.Get("Sec-WebSocket-Key")))
			// A masked text frame the client would echo if it took the
			// answer.
			nc.Write(Encode(false, Text([]byte("echo me"))))
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, _ := io.Copy(io.Discard, nc)
			msg, returned := h.ClientError()
			switch {
			case !returned:
				return Failed, "the client did not return"
			case msg == "":
				return Failed, "the client took the answer"
			case n > 0:
				return Failed, fmt.Sprintf("the client sent %d bytes after the answer", n)
			}
			return OK, ""
		},
	}
}

func handshakeCases() []*Case {
	std := func(extra []string, drop ...string) func(h *HandshakeExchange, key string) []byte {
		return func(h *HandshakeExchange, key string) []byte { return request(h.Host(), h.Path(), key, extra, drop...) }
	}
	raw := func(format string) func(h *HandshakeExchange, key string) []byte {
		return func(h *HandshakeExchange, key string) []byte {
			return []byte(strings.NewReplacer("HOST", h.Host(), "PATH", h.Path(), "KEY", key).Replace(format))
		}
	}
	bad := func(keyValue string) func(h *HandshakeExchange, key string) []byte {
		return func(h *HandshakeExchange, key string) []byte {
			return request(h.Host(), h.Path(), keyValue, nil)
		}
	}
	cases := []*Case{
		serverValid("0.1.1", "A minimal valid opening handshake request.", std(nil)),
		serverValid("0.1.2", "Upgrade and Connection as token lists in odd case: \"Upgrade: foo, WebSocket\", \"Connection: keep-alive ,  UPGRADE\".",
			raw("GET PATH HTTP/1.1\r\nHost: HOST\r\nUpgrade: foo, WebSocket\r\nConnection: keep-alive ,  UPGRADE\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\n\r\n")),
		serverValid("0.1.3", "Header names in lower and upper case, Connection split over two header lines.",
			raw("GET PATH HTTP/1.1\r\nhost: HOST\r\nUPGRADE: websocket\r\nconnection: keep-alive\r\nConnection: upgrade\r\nsec-websocket-key: KEY\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n")),
		serverValid("0.1.4", "Subprotocols offered that the server does not speak: it must not choose one.",
			std([]string{"Sec-WebSocket-Protocol: chat, superchat"})),
		serverValid("0.1.5", "An unknown extension offered: the server must not accept it.",
			std([]string{"Sec-WebSocket-Extensions: x-glassnet-unknown; a=1"})),
		serverValid("0.1.6", "A same-origin Origin, a User-Agent and a query string in the request target.",
			func(h *HandshakeExchange, key string) []byte {
				return request(h.Host(), h.Path()+"?a=1&b=%20", key, []string{"Origin: http://" + h.Host(), "User-Agent: conformance"})
			}),
		{
			ID: "0.1.7", For: Server, Extra: true,
			Description: "A text frame sent in the same write as the request, before the response.",
			Expectation: "101, then both the early message and a later one are echoed; clean close.",
			Handshake: func(h *HandshakeExchange) (Verdict, string) {
				key := newKey()
				early := []byte("sent with the request")
				resp, nc, br, err := h.RoundTrip(append(request(h.Host(), h.Path(), key, nil), Encode(true, Text(early))...))
				if err != nil {
					return Failed, err.Error()
				}
				if err := checkUpgrade(resp, key); err != nil {
					return Failed, err.Error()
				}
				return h.Echo(nc, br, true, early)
			},
		},
		serverInvalid("0.2.1", "Sec-WebSocket-Key of 15 bytes.", 400, "", bad("AAECAwQFBgcICQoLDA0O")),
		serverInvalid("0.2.2", "Sec-WebSocket-Key of 17 bytes.", 400, "", bad("AAECAwQFBgcICQoLDA0ODxA=")),
		serverInvalid("0.2.3", "Sec-WebSocket-Key that is not base64.", 400, "", bad("not base64 at all!!!!!==")),
		serverInvalid("0.2.4", "No Sec-WebSocket-Key.", 400, "", std(nil, "Sec-WebSocket-Key")),
		serverInvalid("0.2.5", "Two Sec-WebSocket-Key headers.", 400, "", func(h *HandshakeExchange, key string) []byte {
			return request(h.Host(), h.Path(), key, []string{"Sec-WebSocket-Key: " + newKey()})
		}),
		serverInvalid("0.2.6", "Sec-WebSocket-Version 8.", 426, "Sec-WebSocket-Version: 13", func(h *HandshakeExchange, key string) []byte {
			return request(h.Host(), h.Path(), key, []string{"Sec-WebSocket-Version: 8"}, "Sec-WebSocket-Version")
		}),
		serverInvalid("0.2.7", "No Sec-WebSocket-Version.", 0, "", std(nil, "Sec-WebSocket-Version")),
		serverInvalid("0.2.8", "Sec-WebSocket-Version 13 and 8 in two headers.", 0, "", std([]string{"Sec-WebSocket-Version: 8"})),
		serverInvalid("0.2.9", "No Upgrade header.", 0, "", std(nil, "Upgrade")),
		serverInvalid("0.2.10", "Upgrade: h2c.", 0, "", func(h *HandshakeExchange, key string) []byte {
			return request(h.Host(), h.Path(), key, []string{"Upgrade: h2c"}, "Upgrade")
		}),
		serverInvalid("0.2.11", "Connection: keep-alive, without upgrade.", 400, "", func(h *HandshakeExchange, key string) []byte {
			return request(h.Host(), h.Path(), key, []string{"Connection: keep-alive"}, "Connection")
		}),
		serverInvalid("0.2.12", "No Host header.", 400, "", std(nil, "Host")),
		serverInvalid("0.2.13", "Method POST.", 0, "", raw("POST PATH HTTP/1.1\r\nHost: HOST\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n")),
		serverInvalid("0.2.14", "Method PUT.", 0, "", raw("PUT PATH HTTP/1.1\r\nHost: HOST\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n")),
		serverInvalid("0.2.15", "HTTP/1.0.", 0, "", raw("GET PATH HTTP/1.0\r\nHost: HOST\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\n\r\n")),
		serverInvalid("0.2.16", "A request with a body (Content-Length: 5).", 400, "", raw("GET PATH HTTP/1.1\r\nHost: HOST\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: KEY\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n\r\nhello")),

		clientValid("0.3.1", "A minimal valid 101 response.", nil, func(key string) []byte { return switchingProtocols(key) }, nil),
		clientValid("0.3.2", "Upgrade and Connection in odd case and as token lists, extra headers.", nil, func(key string) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, UPGRADE\r\nsec-websocket-accept: " + acceptKey(key) + "\r\nServer: conformance\r\n\r\n")
		}, nil),
		clientValid("0.3.3", "The server chooses the second of the offered subprotocols.", []string{"chat", "superchat"}, func(key string) []byte {
			return switchingProtocols(key, "Sec-WebSocket-Protocol: superchat")
		}, nil),
		clientValid("0.3.4", "A text frame in the same write as the 101 response.", nil, func(key string) []byte {
			return append(switchingProtocols(key), Encode(false, Text([]byte("sent with the response")))...)
		}, []byte("sent with the response")),

		clientInvalid("0.4.1", "Sec-WebSocket-Accept computed from another key.", nil, func(string) []byte { return switchingProtocols(newKey()) }),
		clientInvalid("0.4.2", "No Sec-WebSocket-Accept.", nil, func(string) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		}),
		clientInvalid("0.4.3", "Status 200 with the right headers.", nil, func(key string) []byte {
			return []byte("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\nContent-Length: 0\r\n\r\n")
		}),
		clientInvalid("0.4.4", "No Upgrade header.", nil, func(key string) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n")
		}),
		clientInvalid("0.4.5", "Upgrade: h2c.", nil, func(key string) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n")
		}),
		clientInvalid("0.4.6", "Connection: keep-alive, without upgrade.", nil, func(key string) []byte {
			return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n")
		}),
		clientInvalid("0.4.7", "The server chooses a subprotocol that was not offered.", []string{"chat"}, func(key string) []byte {
			return switchingProtocols(key, "Sec-WebSocket-Protocol: superchat")
		}),
		clientInvalid("0.4.8", "The server chooses a subprotocol when none was offered.", nil, func(key string) []byte {
			return switchingProtocols(key, "Sec-WebSocket-Protocol: chat")
		}),
		clientInvalid("0.4.9", "The server chooses two subprotocols.", []string{"chat", "superchat"}, func(key string) []byte {
			return switchingProtocols(key, "Sec-WebSocket-Protocol: chat, superchat")
		}),
		clientInvalid("0.4.10", "The server accepts an extension that was not offered.", nil, func(key string) []byte {
			return switchingProtocols(key, "Sec-WebSocket-Extensions: x-glassnet-unknown")
		}),
		clientInvalid("0.4.11", "Status 403 Forbidden.", nil, func(string) []byte {
			return []byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden")
		}),
		clientInvalid("0.4.12", "Status 426 with Sec-WebSocket-Version: 13.", nil, func(string) []byte {
			return []byte("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n")
		}),
	}
	return cases
}
